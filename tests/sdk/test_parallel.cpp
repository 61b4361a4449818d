// parallel_tasks: every task once, one intra-op thread per task, the BLAS on one thread
// meanwhile and as before afterwards, exceptions out, nested calls inline.
#include <ballista/parallel.hpp>

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

namespace {

// OpenBLAS's own thread-count controls (LibTorch's BLAS on Debian; the setup installs it).
struct OpenBlas {
  int (*get)() = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));  // NOLINT
  void (*set)(int) = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));  // NOLINT
};

// Restores the intra-op and BLAS thread counts a test changes.
struct ThreadCounts {
  OpenBlas blas;
  int intra_op = at::get_num_threads();
  int blas_threads = blas.get != nullptr ? blas.get() : 0;
  ThreadCounts() = default;
  ThreadCounts(const ThreadCounts&) = delete;
  ThreadCounts& operator=(const ThreadCounts&) = delete;
  ~ThreadCounts() {
    at::set_num_threads(intra_op);
    if (blas.set != nullptr && blas_threads > 0) {
      blas.set(blas_threads);
    }
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(parallel)

BOOST_AUTO_TEST_CASE(every_task_runs_once_on_its_own_thread_with_a_one_thread_blas) {
  const ThreadCounts saved;
  BOOST_TEST_REQUIRE((saved.blas.get != nullptr && saved.blas.set != nullptr), "OpenBLAS is not LibTorch's BLAS here");
  for (const int threads : {1, 2, 3}) {
    at::set_num_threads(threads);
    saved.blas.set(3);
    for (const std::int64_t count : {0, 1, 2, 5, 7}) {
      std::vector<std::atomic<int>> runs(static_cast<std::size_t>(count));
      std::vector<int> thread_of(static_cast<std::size_t>(count), -1);
      std::vector<int> blas_inside(static_cast<std::size_t>(count), -1);
      std::vector<int> nested(static_cast<std::size_t>(count), -1);
      ballista::parallel_tasks(count, [&](std::int64_t i) {
        const auto at = static_cast<std::size_t>(i);
        ++runs[at];
        thread_of[at] = at::get_thread_num();
        blas_inside[at] = saved.blas.get();
        nested[at] = at::in_parallel_region() ? 1 : 0;
      });
      const auto label = [&] { return std::to_string(count) + " tasks, " + std::to_string(threads) + " threads"; };
      for (std::size_t i = 0; i < runs.size(); ++i) {
        BOOST_TEST(runs[i].load() == 1, label() << ": task " << i << " ran " << runs[i].load() << " times");
        BOOST_TEST(blas_inside[i] == 1, label() << ": BLAS had " << blas_inside[i] << " threads in task " << i);
      }
      BOOST_TEST(saved.blas.get() == 3, label() << ": BLAS threads not restored");
      if (count == 0) {
        continue;
      }
      // Consecutive tasks on the same thread, and as many threads as can be used.
      BOOST_TEST(std::is_sorted(thread_of.begin(), thread_of.end()), label());
      const std::set<int> distinct(thread_of.begin(), thread_of.end());
      BOOST_TEST(distinct.size() == static_cast<std::size_t>(std::min<std::int64_t>(threads, count)), label());
      // Running beside other tasks, ATen's own operations stay on the task's thread.
      const bool beside_others = threads > 1 && count > 1;
      BOOST_TEST(std::all_of(nested.begin(), nested.end(), [&](int n) { return n == (beside_others ? 1 : 0); }),
                 label());
    }
  }
}

BOOST_AUTO_TEST_CASE(exceptions_propagate_and_nested_calls_run_inline) {
  const ThreadCounts saved;
  BOOST_TEST_REQUIRE((saved.blas.get != nullptr && saved.blas.set != nullptr), "OpenBLAS is not LibTorch's BLAS here");
  at::set_num_threads(2);
  saved.blas.set(2);
  std::atomic<int> ran{0};
  BOOST_CHECK_THROW(ballista::parallel_tasks(4,
                                             [&](std::int64_t i) {
                                               ++ran;
                                               if (i == 3) {
                                                 throw std::runtime_error("task 3");
                                               }
                                             }),
                    std::runtime_error);
  BOOST_TEST(ran.load() >= 1);
  BOOST_TEST(saved.blas.get() == 2, "BLAS threads not restored after an exception");
  // A call from inside a task runs its tasks on that task's thread, in order.
  std::vector<std::vector<std::pair<bool, std::int64_t>>> inner(2);
  ballista::parallel_tasks(2, [&](std::int64_t i) {
    const auto outer_thread = std::this_thread::get_id();
    ballista::parallel_tasks(3, [&](std::int64_t j) {
      inner[static_cast<std::size_t>(i)].emplace_back(std::this_thread::get_id() == outer_thread, j);
    });
  });
  for (const auto& calls : inner) {
    BOOST_TEST((calls == std::vector<std::pair<bool, std::int64_t>>{{true, 0}, {true, 1}, {true, 2}}));
  }
  BOOST_TEST(saved.blas.get() == 2);
}

BOOST_AUTO_TEST_SUITE_END()
