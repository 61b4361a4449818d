// parallel_tasks: at::parallel_for with OpenBLAS held to one thread per caller.
#include <ballista/parallel.hpp>

#include <ATen/Parallel.h>

#include <dlfcn.h>

#include <cstdint>
#include <functional>

BALLISTA_NAMESPACE_BEGIN

namespace {

// OpenBLAS's thread-count controls, if OpenBLAS is the BLAS in this process (it is
// LibTorch's on Debian). Looked up at run time so that another BLAS simply lacks them.
class OpenBlasThreads {
 public:
  OpenBlasThreads()
      : get_(reinterpret_cast<Get>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"))),  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
        set_(reinterpret_cast<Set>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {}  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)

  // Sets one thread; the destructor puts back what there was.
  class SingleThread {
   public:
    explicit SingleThread(const OpenBlasThreads& blas)
        : set_(blas.set_), previous_(blas.get_ != nullptr && set_ != nullptr ? blas.get_() : 0) {
      if (previous_ > 1) {
        set_(1);
      }
    }
    SingleThread(const SingleThread&) = delete;
    SingleThread& operator=(const SingleThread&) = delete;
    ~SingleThread() {
      if (previous_ > 1) {
        set_(previous_);
      }
    }

   private:
    void (*set_)(int);
    int previous_;
  };

 private:
  using Get = int (*)();
  using Set = void (*)(int);
  Get get_;
  Set set_;
};

}  // namespace

void parallel_tasks(std::int64_t count, const std::function<void(std::int64_t)>& task) {
  static const OpenBlasThreads blas;
  const OpenBlasThreads::SingleThread single(blas);
  // at::parallel_for runs the range on the calling thread for one task, one thread, or
  // inside another parallel region.
  at::parallel_for(0, count, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      task(i);
    }
  });
}

BALLISTA_NAMESPACE_END
