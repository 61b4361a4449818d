// NumPy-compatible random stream (see numpy_random.hpp; numpy/random/src/legacy).
#include "numpy_random.hpp"

#include <cmath>

namespace ballista::host {

double NumpyRandom::uniform() {
  const auto a = static_cast<std::uint32_t>(engine_() >> 5U);
  const auto b = static_cast<std::uint32_t>(engine_() >> 6U);
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

std::uint32_t NumpyRandom::interval(std::uint32_t max) {
  if (max == 0) {
    return 0;
  }
  std::uint32_t mask = max;
  for (unsigned shift = 1; shift < 32; shift *= 2) {
    mask |= mask >> shift;
  }
  std::uint32_t value = 0;
  do {
    value = static_cast<std::uint32_t>(engine_()) & mask;
  } while (value > max);
  return value;
}

double NumpyRandom::normal() {
  if (has_cached_normal_) {
    has_cached_normal_ = false;
    return cached_normal_;
  }
  double x1 = 0.0;
  double x2 = 0.0;
  double r2 = 0.0;
  do {
    x1 = 2.0 * uniform() - 1.0;
    x2 = 2.0 * uniform() - 1.0;
    r2 = x1 * x1 + x2 * x2;
  } while (r2 >= 1.0 || r2 == 0.0);
  const double f = std::sqrt(-2.0 * std::log(r2) / r2);
  cached_normal_ = f * x1;
  has_cached_normal_ = true;
  return f * x2;
}

}  // namespace ballista::host
