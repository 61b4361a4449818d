// Metrics: each against its definition written out as plain loops in long double, and
// the same bits at every thread count.
#include "evaluator.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <boost/test/unit_test.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cmath>
#include <string>
#include <vector>

using ballista::host::compute_metric;

namespace {

// The definitions, column by column (r2 averaged over the columns, the rest over every
// cell), accumulated in long double.
double reference(const std::string& metric, const torch::Tensor& predictions, const torch::Tensor& targets) {
  const auto p = predictions.contiguous();
  const auto t = targets.contiguous();
  const auto rows = p.size(0);
  const auto columns = p.size(1);
  const double* pd = p.data_ptr<double>();
  const double* td = t.data_ptr<double>();
  long double squares = 0;
  long double absolutes = 0;
  long double worst = 0;
  long double r2_sum = 0;
  for (std::int64_t c = 0; c < columns; ++c) {
    long double mean = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
      mean += td[r * columns + c];
    }
    mean /= static_cast<long double>(rows);
    long double residual = 0;
    long double total = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
      const long double error = static_cast<long double>(pd[r * columns + c]) - td[r * columns + c];
      residual += error * error;
      absolutes += std::fabs(error);
      worst = std::max(worst, std::fabs(error));
      const long double spread = td[r * columns + c] - mean;
      total += spread * spread;
    }
    squares += residual;
    r2_sum += 1 - residual / total;
  }
  const auto cells = static_cast<long double>(rows * columns);
  if (metric == "mse") {
    return static_cast<double>(squares / cells);
  }
  if (metric == "rmse") {
    return static_cast<double>(std::sqrt(squares / cells));
  }
  if (metric == "mae") {
    return static_cast<double>(absolutes / cells);
  }
  if (metric == "max_error") {
    return static_cast<double>(worst);
  }
  return static_cast<double>(r2_sum / static_cast<long double>(columns));
}

const std::vector<std::string> kMetrics{"mse", "rmse", "mae", "max_error", "r2"};

}  // namespace

BOOST_AUTO_TEST_SUITE(evaluator)

BOOST_AUTO_TEST_CASE(metrics_follow_their_definitions) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto targets = torch::randn({500, 2}, generator, torch::kFloat64) * torch::tensor({1.0, 40.0}, torch::kFloat64);
  const auto predictions = targets + 0.3 * torch::randn({500, 2}, generator, torch::kFloat64);
  for (const auto& metric : kMetrics) {
    const double expected = reference(metric, predictions, targets);
    BOOST_TEST(compute_metric(metric, predictions, targets) == expected, boost::test_tools::tolerance(1e-12));
  }
  // A worked case: errors 1, −1, 2 against targets 0, 2, 4 (mean 2, SS_tot 8, SS_res 6).
  const auto t = torch::tensor({0.0, 2.0, 4.0}, torch::kFloat64).unsqueeze(1);
  const auto p = torch::tensor({1.0, 1.0, 6.0}, torch::kFloat64).unsqueeze(1);
  BOOST_TEST(compute_metric("mse", p, t) == 2.0);
  BOOST_TEST(compute_metric("mae", p, t) == 4.0 / 3.0, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(compute_metric("max_error", p, t) == 2.0);
  BOOST_TEST(compute_metric("r2", p, t) == 0.25);
  BOOST_CHECK_THROW((void)compute_metric("mape", p, t), std::invalid_argument);
}

// A constant target (issue 14: r2 printed -nan): scikit-learn's r2_score gives 1.0 for
// exact predictions, 0.0 otherwise, and averages over targets (r2_score([[2,1],[2,2],
// [2,3]], [[2,1],[2,2],[2,4]]) = (1 + 0.5) / 2 = 0.75, computed with Debian's sklearn 1.2).
BOOST_AUTO_TEST_CASE(r2_of_a_constant_target_is_finite_as_in_scikit_learn) {
  const auto constant = torch::full({3, 1}, 2.0, torch::kFloat64);
  BOOST_TEST(compute_metric("r2", constant, constant) == 1.0);
  BOOST_TEST(compute_metric("r2", torch::tensor({1.0, 2.0, 3.0}, torch::kFloat64).unsqueeze(1), constant) == 0.0);
  const auto targets = torch::tensor({2.0, 1.0, 2.0, 2.0, 2.0, 3.0}, torch::kFloat64).reshape({3, 2});
  const auto predictions = torch::tensor({2.0, 1.0, 2.0, 2.0, 2.0, 4.0}, torch::kFloat64).reshape({3, 2});
  BOOST_TEST(compute_metric("r2", predictions, targets) == 0.75);
}

// 10^6 rows: long enough for ATen to split its sums over the threads, which adds them
// up in pieces that move with the thread count (r2's column sums then differ in the last
// bit between 1 and 2 threads). A metric must not change with --threads.
BOOST_AUTO_TEST_CASE(metrics_are_the_same_bits_at_every_thread_count) {
  const int threads_before = at::get_num_threads();
  auto generator = at::make_generator<at::CPUGeneratorImpl>(8);
  const auto targets = torch::randn({1000000, 2}, generator, torch::kFloat64);
  const auto predictions = targets + 0.01 * torch::randn({1000000, 2}, generator, torch::kFloat64);
  at::set_num_threads(1);
  std::vector<double> one_thread;
  for (const auto& metric : kMetrics) {
    one_thread.push_back(compute_metric(metric, predictions, targets));
  }
  for (const int threads : {2, 3, 4}) {
    at::set_num_threads(threads);
    for (std::size_t i = 0; i < kMetrics.size(); ++i) {
      const double value = compute_metric(kMetrics[i], predictions, targets);
      BOOST_TEST(std::bit_cast<std::uint64_t>(value) == std::bit_cast<std::uint64_t>(one_thread[i]),
                 kMetrics[i] << " at " << threads << " threads: " << value << " against " << one_thread[i]);
    }
  }
  at::set_num_threads(threads_before);
}

BOOST_AUTO_TEST_SUITE_END()
