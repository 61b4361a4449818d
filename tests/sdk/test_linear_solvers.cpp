// Linear-in-weights solvers against exact solutions, NumPy's lstsq, LAPACK's gelsd on the
// whole matrix, and a hand-written gradient descent.
#include "test_support.hpp"

#include <ballista/linear_solvers.hpp>

#include <ATen/Parallel.h>
#include <boost/test/unit_test.hpp>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace {

torch::Tensor tensor_of_rows(const std::vector<std::vector<double>>& rows) {
  auto table = torch::empty({static_cast<std::int64_t>(rows.size()), static_cast<std::int64_t>(rows.front().size())},
                            torch::kFloat64);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t j = 0; j < rows[i].size(); ++j) {
      table[static_cast<std::int64_t>(i)][static_cast<std::int64_t>(j)] = rows[i][j];
    }
  }
  return table;
}

// NumPy's answer for F, Y: `command` is "lstsq" or "ridge L2" (numpy_reference.py).
torch::Tensor numpy_solution(const std::string& command, const torch::Tensor& features, const torch::Tensor& targets) {
  ballista::test::TemporaryDirectory work;
  ballista::test::write_csv(work.path() / "f.csv", features);
  ballista::test::write_csv(work.path() / "y.csv", targets);
  const auto space = command.find(' ');
  const auto verb = command.substr(0, space);
  const auto rest = space == std::string::npos ? std::string() : command.substr(space);
  const auto rows = ballista::test::parse_rows(ballista::test::run_python_reference(
      "numpy_reference.py",
      verb + " " + (work.path() / "f.csv").string() + " " + (work.path() / "y.csv").string() + rest));
  BOOST_REQUIRE_EQUAL(rows.size(), static_cast<std::size_t>(features.size(1)));
  return tensor_of_rows(rows);
}

// LAPACK's gelsd on the whole matrix, with NumPy's cut-off: what least_squares computed
// before it streamed, an independent reference for sizes too big to pass through CSV.
torch::Tensor whole_matrix_gelsd(const torch::Tensor& features, const torch::Tensor& targets) {
  const double cutoff =
      std::numeric_limits<double>::epsilon() * static_cast<double>(std::max(features.size(0), features.size(1)));
  return std::get<0>(torch::linalg_lstsq(features, targets, cutoff, std::string("gelsd")));
}

// max |a − b| / max |b|: the solution's error relative to its size.
double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(linear_solvers)

BOOST_AUTO_TEST_CASE(least_squares_recovers_exact_weights) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(7);
  const auto features = torch::rand({50, 4}, generator, torch::kFloat64);
  const auto weights = torch::tensor({{1.5, -2.0}, {0.25, 3.0}, {-4.0, 0.5}, {2.0, 1.0}}, torch::kFloat64);
  const auto solved = ballista::least_squares(features, features.mm(weights));
  BOOST_TEST(torch::allclose(solved, weights, 1e-12, 1e-12));
}

BOOST_AUTO_TEST_CASE(least_squares_equals_numpy_with_several_targets) {
  // Noisy targets, so the residual is not zero and the QR's QᵀY matters.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(21);
  const auto features = torch::randn({300, 5}, generator, torch::kFloat64);
  const auto targets = features.mm(torch::randn({5, 3}, generator, torch::kFloat64)) +
                       0.5 * torch::randn({300, 3}, generator, torch::kFloat64);
  const auto solved = ballista::least_squares(features, targets);
  const auto numpy = numpy_solution("lstsq", features, targets);
  BOOST_TEST(relative_difference(solved, numpy) < 1e-13, "ours " << solved << " NumPy " << numpy);
  // A vector of targets gives a vector of weights, as NumPy's lstsq.
  const auto single = ballista::least_squares(features, targets.select(1, 1));
  BOOST_TEST(single.dim() == 1);
  BOOST_TEST(relative_difference(single, numpy.select(1, 1)) < 1e-13);
}

BOOST_AUTO_TEST_CASE(least_squares_equals_numpy_on_an_ill_conditioned_design) {
  // Monomials 1, x, …, x⁷ on [0, 1]: κ(F) ≈ 1e5–1e6 here. Backward-stable solvers agree
  // to about κ·eps relative to the solution; the normal equations (κ²·eps ≈ 1e−4)
  // would not pass.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(22);
  const auto x = torch::rand({400, 1}, generator, torch::kFloat64);
  const auto features = torch::pow(x, torch::arange(8, torch::kFloat64));
  const auto targets = torch::sin(4 * x) + 1e-3 * torch::randn({400, 1}, generator, torch::kFloat64);
  const double condition = torch::linalg_cond(features).item<double>();
  BOOST_TEST_REQUIRE(condition > 1e5);
  const auto solved = ballista::least_squares(features, targets);
  const auto numpy = numpy_solution("lstsq", features, targets);
  const double tolerance = 10 * condition * std::numeric_limits<double>::epsilon();
  BOOST_TEST(relative_difference(solved, numpy) < tolerance,
             "κ " << condition << ", ours " << solved << " NumPy " << numpy);
}

BOOST_AUTO_TEST_CASE(rank_deficient_and_wide_designs_get_numpys_minimum_norm_solution) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(23);
  const auto a = torch::rand({60, 1}, generator, torch::kFloat64);
  const auto b = torch::rand({60, 1}, generator, torch::kFloat64);
  // Columns a, b, a + b, 2a: rank 2.
  const auto dependent = torch::cat({a, b, a + b, 2 * a}, 1);
  const auto targets = torch::rand({60, 2}, generator, torch::kFloat64);
  const auto solved = ballista::least_squares(dependent, targets);
  BOOST_TEST(relative_difference(solved, numpy_solution("lstsq", dependent, targets)) < 1e-10, solved);
  // Fewer rows than columns (n < m): the minimum-norm interpolant.
  const auto wide = torch::rand({3, 6}, generator, torch::kFloat64);
  const auto wide_targets = torch::rand({3, 1}, generator, torch::kFloat64);
  const auto wide_solved = ballista::least_squares(wide, wide_targets);
  BOOST_TEST(relative_difference(wide_solved, numpy_solution("lstsq", wide, wide_targets)) < 1e-12, wide_solved);
  BOOST_TEST(torch::allclose(wide.mm(wide_solved), wide_targets, 1e-12, 1e-12));
  // A column of zeros gets weight zero, as in NumPy.
  const auto with_zero = torch::cat({a, torch::zeros({60, 1}, torch::kFloat64), b}, 1);
  const auto zero_solved = ballista::least_squares(with_zero, targets);
  BOOST_TEST(relative_difference(zero_solved, numpy_solution("lstsq", with_zero, targets)) < 1e-12, zero_solved);
  BOOST_TEST((zero_solved[1] == 0.0).all().item<bool>());
}

BOOST_AUTO_TEST_CASE(ridge_equals_numpys_normal_equations) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(24);
  const auto features = torch::randn({80, 4}, generator, torch::kFloat64);
  const auto targets = torch::randn({80, 2}, generator, torch::kFloat64);
  const auto solved = ballista::least_squares(features, targets, 3.5);
  const auto numpy = numpy_solution("ridge 3.5", features, targets);
  BOOST_TEST(relative_difference(solved, numpy) < 1e-12, "ours " << solved << " NumPy " << numpy);
  // Ridge on a rank-deficient design is well posed: the same normal equations.
  const auto dependent = torch::cat({features, features.slice(1, 0, 1)}, 1);
  BOOST_TEST(relative_difference(ballista::least_squares(dependent, targets, 0.25),
                                 numpy_solution("ridge 0.25", dependent, targets)) < 1e-12);
}

BOOST_AUTO_TEST_CASE(slice_and_block_boundaries_match_lapack_on_the_whole_matrix) {
  // The fold takes 128 rows at a time, streamed_least_squares asks for slices of
  // kLeastSquaresSlice rows and folds groups of 8 slices in parallel: one size short of,
  // at and a few rows past each of those, against gelsd on the whole matrix.
  constexpr std::int64_t slice = ballista::kLeastSquaresSlice;
  for (const std::int64_t rows : {1L, 127L, 128L, 131L, slice - 1, slice, slice + 3, 8 * slice, 8 * slice + 5}) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<std::uint64_t>(rows));
    const auto features = torch::rand({rows, 3}, generator, torch::kFloat64);
    const auto targets = features.mm(torch::tensor({{2.0}, {-1.0}, {0.5}}, torch::kFloat64)) +
                         0.1 * torch::randn({rows, 1}, generator, torch::kFloat64);
    const auto solved = ballista::least_squares(features, targets);
    BOOST_TEST(relative_difference(solved, whole_matrix_gelsd(features, targets)) < 1e-11, rows << " rows");
  }
  // Near the boundaries against NumPy too.
  for (const std::int64_t rows : {127L, 129L, slice + 3}) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<std::uint64_t>(rows + 1));
    const auto features = torch::randn({rows, 4}, generator, torch::kFloat64);
    const auto targets = torch::randn({rows, 2}, generator, torch::kFloat64);
    BOOST_TEST(relative_difference(ballista::least_squares(features, targets),
                                   numpy_solution("lstsq", features, targets)) < 1e-12, rows << " rows");
  }
}

BOOST_AUTO_TEST_CASE(streamed_rows_give_the_same_bits_on_every_fit_and_thread_count) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(25);
  const std::int64_t rows = 9 * ballista::kLeastSquaresSlice + 17;  // two groups of slices
  const auto features = torch::randn({rows, 6}, generator, torch::kFloat64);
  const auto targets = torch::randn({rows, 2}, generator, torch::kFloat64);
  std::vector<std::int64_t> asked;
  const auto slices = [&](std::int64_t begin, std::int64_t end) {
    return std::make_pair(features.slice(0, begin, end), targets.slice(0, begin, end));
  };
  const auto first = ballista::streamed_least_squares(rows, 6, 2, slices);
  BOOST_TEST(relative_difference(first, whole_matrix_gelsd(features, targets)) < 1e-12);
  BOOST_TEST(torch::equal(first, ballista::least_squares(features, targets)));
  const int threads = at::get_num_threads();
  for (const int count : {1, 2, 3}) {
    at::set_num_threads(count);
    BOOST_TEST(torch::equal(first, ballista::streamed_least_squares(rows, 6, 2, slices)), count << " threads");
  }
  at::set_num_threads(threads);
}

BOOST_AUTO_TEST_CASE(accumulators_fold_and_merge_rows_in_any_grouping) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(26);
  const auto features = torch::randn({500, 3}, generator, torch::kFloat64);
  const auto targets = torch::randn({500, 1}, generator, torch::kFloat64);
  const auto reference = numpy_solution("lstsq", features, targets);
  ballista::LeastSquaresAccumulator whole(3, 1);
  whole.add(features, targets);
  ballista::LeastSquaresAccumulator head(3, 1);
  ballista::LeastSquaresAccumulator tail(3, 1);
  head.add(features.slice(0, 0, 7), targets.slice(0, 0, 7));
  head.add(features.slice(0, 7, 300).t().contiguous().t(), targets.slice(0, 7, 300));  // column-major rows
  tail.add(features.slice(0, 300), targets.slice(0, 300));
  head.merge(tail);
  BOOST_TEST(whole.rows() == 500);
  BOOST_TEST(head.rows() == 500);
  BOOST_TEST(relative_difference(whole.solve(), reference) < 1e-13);
  BOOST_TEST(relative_difference(head.solve(), reference) < 1e-13);
  // Other dtypes are read as float64.
  ballista::LeastSquaresAccumulator single(3, 1);
  ballista::LeastSquaresAccumulator widened(3, 1);
  single.add(features.to(torch::kFloat32), targets.to(torch::kFloat32));
  widened.add(features.to(torch::kFloat32).to(torch::kFloat64), targets.to(torch::kFloat32).to(torch::kFloat64));
  BOOST_TEST(torch::equal(single.solve(), widened.solve()));
  // No rows: nothing to fit, every weight zero.
  BOOST_TEST(torch::equal(ballista::LeastSquaresAccumulator(3, 2).solve(), torch::zeros({3, 2}, torch::kFloat64)));
}

BOOST_AUTO_TEST_CASE(bad_least_squares_input_is_an_error) {
  const auto features = torch::ones({4, 2}, torch::kFloat64);
  const auto targets = torch::ones({4, 1}, torch::kFloat64);
  BOOST_CHECK_THROW((void)ballista::least_squares(features, targets, -1.0), std::invalid_argument);
  BOOST_CHECK_THROW((void)ballista::least_squares(features, torch::ones({3, 1}, torch::kFloat64)),
                    std::invalid_argument);
  BOOST_CHECK_THROW((void)ballista::least_squares(torch::ones({4}, torch::kFloat64), targets), std::invalid_argument);
  auto bad = features.clone();
  bad[2][1] = std::nan("");
  BOOST_CHECK_THROW((void)ballista::least_squares(bad, targets), std::invalid_argument);
  bad[2][1] = std::numeric_limits<double>::infinity();
  BOOST_CHECK_THROW((void)ballista::least_squares(features, bad.slice(1, 0, 1).contiguous() * bad.slice(1, 1, 2)),
                    std::invalid_argument);
  BOOST_CHECK_THROW(ballista::LeastSquaresAccumulator(0, 1), std::invalid_argument);
  ballista::LeastSquaresAccumulator accumulator(2, 1);
  BOOST_CHECK_THROW(accumulator.add(features, torch::ones({4, 2}, torch::kFloat64)), std::invalid_argument);
  BOOST_CHECK_THROW(accumulator.merge(ballista::LeastSquaresAccumulator(3, 1)), std::invalid_argument);
  BOOST_CHECK_THROW((void)ballista::streamed_least_squares(
                        10, 2, 1, [&](std::int64_t, std::int64_t) { return std::make_pair(features, targets); }),
                    std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(sgd_follows_the_gradient_descent_recurrence) {
  // Full-batch SGD on the mean squared error: W ← W − lr·(2/(n·d_out))·Fᵀ(FW − Y),
  // computed here in float64 by hand; the solver runs in float32.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto features = torch::rand({40, 3}, generator, torch::kFloat64);
  const auto targets = torch::rand({40, 1}, generator, torch::kFloat64);
  const auto initial = torch::full({3, 1}, 0.1, torch::kFloat64);
  ballista::test::RecordingContext context;
  const auto solved = ballista::gradient_descent(features, targets, initial, {"sgd", 0.05, 200}, context);
  auto expected = initial.clone();
  for (int step = 0; step < 200; ++step) {
    expected -= 0.05 * (2.0 / 40.0) * features.t().mm(features.mm(expected) - targets);
  }
  BOOST_TEST(torch::allclose(solved, expected, 1e-5, 1e-6), "solver " << solved << " recurrence " << expected);
  BOOST_TEST(context.losses().size() == 200U);
  BOOST_TEST(context.last_total() == 200);
  BOOST_TEST(context.losses().back() < context.losses().front());
}

// gradient_descent against the loop it stands for, written here with LibTorch's autograd
// and torch::optim (the article's code path, in C++): the same losses and weights to the
// bit, for Adam and SGD, one and several weights and outputs (a [1, 1] weight is the
// case where autograd computes the gradient as (gradientᵀ·F)ᵀ).
BOOST_AUTO_TEST_CASE(gradient_descent_is_the_autograd_loop_to_the_bit) {
  struct Case {
    std::int64_t features, outputs;
    std::string optimizer;
    double learning_rate;
  };
  for (const auto& c : std::vector<Case>{{6, 1, "adam", 0.1}, {1, 1, "adam", 0.05}, {1, 1, "sgd", 0.05},
                                         {3, 2, "sgd", 0.05}, {4, 3, "adam", 0.01}}) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(c.features * 10 + c.outputs);
    const auto features = torch::rand({257, c.features}, generator, torch::kFloat64) * 3;
    const auto targets = features.mm(torch::randn({c.features, c.outputs}, generator, torch::kFloat64)) +
                         0.1 * torch::randn({257, c.outputs}, generator, torch::kFloat64);
    const auto initial = 0.1 * torch::randn({c.features, c.outputs}, generator, torch::kFloat64);
    const std::int64_t epochs = 300;
    ballista::test::RecordingContext context;
    const auto solved = ballista::gradient_descent(features, targets, initial, {c.optimizer, c.learning_rate, epochs},
                                                   context);
    // The reference: autograd and torch::optim, in float32.
    const auto f = features.to(torch::kFloat32);
    const auto y = targets.to(torch::kFloat32);
    auto weights = initial.to(torch::kFloat32).clone().set_requires_grad(true);
    std::unique_ptr<torch::optim::Optimizer> optimizer;
    if (c.optimizer == "adam") {
      optimizer = std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{weights},
                                                       torch::optim::AdamOptions(c.learning_rate));
    } else {
      optimizer = std::make_unique<torch::optim::SGD>(std::vector<torch::Tensor>{weights},
                                                      torch::optim::SGDOptions(c.learning_rate));
    }
    std::vector<double> losses;
    for (std::int64_t epoch = 0; epoch < epochs; ++epoch) {
      optimizer->zero_grad();
      auto loss = torch::mse_loss(f.mm(weights), y);
      loss.backward();
      optimizer->step();
      losses.push_back(loss.item<double>());
    }
    BOOST_TEST(context.losses() == losses, c.optimizer << " " << c.features << "x" << c.outputs << ": losses");
    BOOST_TEST(torch::equal(solved, weights.detach().to(torch::kFloat64)),
               c.optimizer << " " << c.features << "x" << c.outputs << ": weights");
  }
}

BOOST_AUTO_TEST_CASE(gradient_descent_reports_its_gap_to_the_least_squares_optimum) {
  // Few steps from zero: far from the optimum. The optimum's MSE is checked against
  // NumPy's lstsq on the same data, the reached MSE against the returned weights.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto features = torch::rand({60, 3}, generator, torch::kFloat64);
  const auto targets = features.mm(torch::tensor({{2.0}, {-1.0}, {0.5}}, torch::kFloat64)) +
                       0.1 * torch::randn({60, 1}, generator, torch::kFloat64);
  ballista::test::RecordingContext context;
  const auto solved =
      ballista::gradient_descent(features, targets, torch::zeros({3, 1}, torch::kFloat64), {"adam", 0.01, 20}, context);
  const auto& values = context.values();
  BOOST_REQUIRE(values.count("final_mse") == 1U && values.count("optimum_mse") == 1U &&
                values.count("optimum_seconds") == 1U);
  const double reached = (features.mm(solved) - targets).square().mean().item<double>();
  BOOST_TEST(values.at("final_mse") == reached, boost::test_tools::tolerance(1e-12));
  ballista::test::TemporaryDirectory work;
  ballista::test::write_csv(work.path() / "f.csv", features);
  ballista::test::write_csv(work.path() / "y.csv", targets);
  const auto numpy = ballista::test::parse_rows(ballista::test::run_python_reference(
      "numpy_reference.py", "lstsq " + (work.path() / "f.csv").string() + " " + (work.path() / "y.csv").string()));
  BOOST_REQUIRE_EQUAL(numpy.size(), 3U);
  const auto optimum = torch::tensor({numpy[0][0], numpy[1][0], numpy[2][0]}, torch::kFloat64).reshape({3, 1});
  const double optimum_mse = (features.mm(optimum) - targets).square().mean().item<double>();
  BOOST_TEST(values.at("optimum_mse") == optimum_mse, boost::test_tools::tolerance(1e-10));
  BOOST_TEST(values.at("final_mse") > 2 * values.at("optimum_mse"));
  BOOST_TEST(values.at("optimum_seconds") >= 0.0);
}

BOOST_AUTO_TEST_CASE(describes_a_fit_in_the_users_terms) {
  const auto weights = torch::tensor({{0.1019}, {-0.0012}, {0.0}, {0.3}}, torch::kFloat64);
  BOOST_TEST(ballista::format_linear_model(weights, {"v^2*sin(2*theta)", "v", "theta", ""}, {"s"}) ==
             "s = 0.1019·v^2*sin(2*theta) − 0.0012·v + 0.3");
  const auto compound = torch::tensor({{-2.0}}, torch::kFloat64);
  BOOST_TEST(ballista::format_linear_model(compound, {"v-1"}, {"s"}) == "s = −2·(v-1)");
}

BOOST_AUTO_TEST_SUITE_END()
