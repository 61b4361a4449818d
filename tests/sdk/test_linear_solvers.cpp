// Linear-in-weights solvers against exact solutions and a hand-written gradient descent.
#include "test_support.hpp"

#include <ballista/linear_solvers.hpp>

#include <boost/test/unit_test.hpp>
#include <torch/torch.h>

BOOST_AUTO_TEST_SUITE(linear_solvers)

BOOST_AUTO_TEST_CASE(least_squares_recovers_exact_weights) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(7);
  const auto features = torch::rand({50, 4}, generator, torch::kFloat64);
  const auto weights = torch::tensor({{1.5, -2.0}, {0.25, 3.0}, {-4.0, 0.5}, {2.0, 1.0}}, torch::kFloat64);
  const auto solved = ballista::least_squares(features, features.mm(weights));
  BOOST_TEST(torch::allclose(solved, weights, 1e-12, 1e-12));
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
