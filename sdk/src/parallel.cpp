// parallel_tasks: at::parallel_for with OpenBLAS held to one thread per caller.
#include <ballista/parallel.hpp>

#include <ballista/blas.hpp>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <mutex>

BALLISTA_NAMESPACE_BEGIN

namespace {

// One BLAS thread while any is alive, in any thread; when the last one goes, the count
// there was before the first. Counted, so that parallel_tasks called from several
// threads at once (concurrent predict() calls) never gives one of them back a
// multi-threaded BLAS while another still computes.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas() {
    auto& hold = shared();
    const std::lock_guard lock(hold.mutex);
    if (hold.holders++ == 0) {
      hold.saved = blas_threads();
      if (hold.saved > 1) {
        set_blas_threads(1);
      }
    }
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;
  ~SingleThreadedBlas() {
    auto& hold = shared();
    const std::lock_guard lock(hold.mutex);
    if (--hold.holders == 0 && hold.saved > 1) {
      set_blas_threads(hold.saved);
    }
  }

 private:
  // Process-wide (per library that links the SDK): how many are alive, and the count to
  // put back.
  struct Hold {
    std::mutex mutex;
    int holders = 0;
    int saved = 0;
  };
  static Hold& shared() {
    static Hold hold;
    return hold;
  }
};

}  // namespace

void parallel_tasks(std::int64_t count, const std::function<void(std::int64_t)>& task) {
  if (count <= 0) {
    return;
  }
  const SingleThreadedBlas single;
  // at::parallel_for runs a range of one index on the calling thread outside any
  // parallel region, where ATen would split a task's large operations over the threads
  // at boundaries that depend on their number (other bits for sigmoid's scalar tail, for
  // sums over a long dimension). Asking for at least two indices opens the region (with
  // more than one thread) also for a single task; the extra index does nothing.
  at::parallel_for(0, std::max<std::int64_t>(count, 2), 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < std::min(end, count); ++i) {
      task(i);
    }
  });
}

BALLISTA_NAMESPACE_END
