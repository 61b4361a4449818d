// parallel_tasks: at::parallel_for with OpenBLAS held to one thread per caller.
#include <ballista/parallel.hpp>

#include <ATen/Parallel.h>

#include <dlfcn.h>

#include <cstdint>
#include <functional>

BALLISTA_NAMESPACE_BEGIN

namespace {

using GetThreads = int (*)();
using SetThreads = void (*)(int);

// OpenBLAS's thread-count controls, looked up once; null under another BLAS.
struct OpenBlasControls {
  GetThreads get = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
  SetThreads set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
};

const OpenBlasControls& openblas() {
  static const OpenBlasControls controls;
  return controls;
}

// One BLAS thread while alive; the destructor puts back what there was.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas() : previous_(blas_threads()) {
    if (previous_ > 1) {
      set_blas_threads(1);
    }
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;
  ~SingleThreadedBlas() {
    if (previous_ > 1) {
      set_blas_threads(previous_);
    }
  }

 private:
  int previous_;
};

}  // namespace

int blas_threads() {
  const auto& blas = openblas();
  return blas.get != nullptr && blas.set != nullptr ? blas.get() : 0;
}

void set_blas_threads(int threads) {
  if (const auto& blas = openblas(); blas.set != nullptr) {
    blas.set(threads);
  }
}

void parallel_tasks(std::int64_t count, const std::function<void(std::int64_t)>& task) {
  const SingleThreadedBlas single;
  // at::parallel_for runs the range on the calling thread for one task, one thread, or
  // inside another parallel region.
  at::parallel_for(0, count, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      task(i);
    }
  });
}

BALLISTA_NAMESPACE_END
