// NumPy's legacy random stream (np.random.seed / random / randn), reproduced bit for
// bit so `seed: 0` gives the article's exact data set: MT19937 seeded as
// init_genrand(seed), doubles from two 32-bit draws (53 bits, genrand_res53), and
// normals by the polar Box–Muller method that caches its second value.
#pragma once

#include <cstdint>
#include <random>

namespace ballista::host {

class NumpyRandom {
 public:
  explicit NumpyRandom(std::uint32_t seed) : engine_(seed) {}

  // np.random.random(): uniform on [0, 1).
  double uniform();
  // np.random.randn(): standard normal.
  double normal();
  // An integer uniform on [0, max], as NumPy's legacy randint(0, max + 1), choice()
  // and shuffle() draw it: 32-bit draws masked to max's bit width, rejected above max.
  std::uint32_t interval(std::uint32_t max);

 private:
  std::mt19937 engine_;
  bool has_cached_normal_ = false;
  double cached_normal_ = 0.0;
};

}  // namespace ballista::host
