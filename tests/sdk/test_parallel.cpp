// parallel_tasks: every task once, one intra-op thread per task, the BLAS on one thread
// meanwhile and as before afterwards, a task's bits independent of the thread count,
// exceptions out, nested calls inline.
#include <ballista/parallel.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
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
      // With more than one thread, ATen's own operations stay on the task's thread, also
      // for a single task.
      BOOST_TEST(std::all_of(nested.begin(), nested.end(), [&](int n) { return n == (threads > 1 ? 1 : 0); }),
                 label());
    }
  }
}

// What a task computes does not depend on the thread count, even when it is the only
// task: ATen would otherwise split its large operations over the threads, at boundaries
// that move with their number (sigmoid's vector and scalar code differ in the last bit
// for some inputs; a long column sum is added up in other pieces).
BOOST_AUTO_TEST_CASE(a_single_task_gives_the_same_bits_at_every_thread_count) {
  const ThreadCounts saved;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto values = torch::rand({100000}, generator, torch::kFloat64) * 20 - 10;
  const auto column = torch::randn({1000000, 1}, generator, torch::kFloat64);
  const auto compute = [&](int threads) {
    at::set_num_threads(threads);
    torch::Tensor sigmoid;
    torch::Tensor sum;
    ballista::parallel_tasks(1, [&](std::int64_t) {
      sigmoid = torch::sigmoid(values);
      sum = (column - column.mean(0)).square().sum(0);
    });
    return std::make_pair(sigmoid, sum);
  };
  const auto [sigmoid, sum] = compute(1);
  for (const int threads : {2, 3, 4, 5}) {
    const auto [other_sigmoid, other_sum] = compute(threads);
    BOOST_TEST(torch::equal(other_sigmoid, sigmoid), "sigmoid at " << threads << " threads");
    BOOST_TEST(torch::equal(other_sum, sum), "column sum at " << threads << " threads");
  }
}

// predict() may run in several threads at once, and each may call parallel_tasks: the
// first call to return must not give OpenBLAS its threads back while another computes.
BOOST_AUTO_TEST_CASE(overlapping_calls_from_several_threads_keep_the_blas_on_one_thread) {
  const ThreadCounts saved;
  BOOST_TEST_REQUIRE((saved.blas.get != nullptr && saved.blas.set != nullptr), "OpenBLAS is not LibTorch's BLAS here");
  saved.blas.set(3);
  std::mutex mutex;
  std::condition_variable changed;
  bool first_inside = false;
  bool second_inside = false;
  bool first_done = false;
  int blas_after_first_returned = -1;
  std::thread first([&] {
    ballista::parallel_tasks(1, [&](std::int64_t) {
      std::unique_lock lock(mutex);
      first_inside = true;
      changed.notify_all();
      changed.wait(lock, [&] { return second_inside; });
    });
    const std::lock_guard lock(mutex);
    first_done = true;
    changed.notify_all();
  });
  std::thread second([&] {
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return first_inside; });
    }
    ballista::parallel_tasks(1, [&](std::int64_t) {
      std::unique_lock lock(mutex);
      second_inside = true;
      changed.notify_all();
      changed.wait(lock, [&] { return first_done; });
      blas_after_first_returned = saved.blas.get();
    });
  });
  first.join();
  second.join();
  BOOST_TEST(blas_after_first_returned == 1);
  BOOST_TEST(saved.blas.get() == 3, "BLAS threads not restored after the last call");
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
