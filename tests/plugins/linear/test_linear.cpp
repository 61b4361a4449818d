// linear: closed form against NumPy's lstsq; the article's SGD path.
#include "test_support.hpp"

#include <ballista/linear_solvers.hpp>
#include <ballista/parameters.hpp>

#include <boost/test/unit_test.hpp>
#include <torch/torch.h>

namespace test = ballista::test;
using ballista::ParameterValue;

BOOST_AUTO_TEST_SUITE(linear)

BOOST_AUTO_TEST_CASE(lstsq_equals_numpy_lstsq) {
  const auto plugin = test::load_bundled_plugin("linear");
  const auto data = test::article_dataset_from_numpy();
  auto model = test::make_model(plugin, {{"solver", ParameterValue{std::string("lstsq")}}});
  test::RecordingContext context;
  model->fit(data, context);
  // Recover the weights from predictions at the unit vectors and the origin.
  const auto origin = model->predict(torch::zeros({1, 2}, torch::kFloat64)).item<double>();
  const auto unit = model->predict(torch::eye(2, torch::kFloat64)).squeeze(1) - origin;
  test::TemporaryDirectory directory;
  const auto design = torch::cat({data.inputs, torch::ones({1000, 1}, torch::kFloat64)}, 1);
  test::write_csv(directory.path() / "x.csv", design);
  test::write_csv(directory.path() / "y.csv", data.targets);
  const auto reference = test::parse_rows(test::run_python_reference(
      "numpy_reference.py",
      "lstsq " + (directory.path() / "x.csv").string() + " " + (directory.path() / "y.csv").string()));
  BOOST_REQUIRE_EQUAL(reference.size(), 3U);
  BOOST_TEST(unit[0].item<double>() == reference[0][0], boost::test_tools::tolerance(1e-6));
  BOOST_TEST(unit[1].item<double>() == reference[1][0], boost::test_tools::tolerance(1e-6));
  BOOST_TEST(origin == reference[2][0], boost::test_tools::tolerance(1e-6));
  BOOST_TEST(model->parameter_count() == 3);
  const auto text = model->describe();
  BOOST_TEST(text.rfind("s = ", 0) == 0U, text);
  BOOST_TEST(text.find("·v") != std::string::npos, text);
  BOOST_TEST(text.find("·theta") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(ridge_equals_scikit_learn_ridge) {
  const auto plugin = test::load_bundled_plugin("linear");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(9);
  const auto x = torch::rand({120, 3}, generator, torch::kFloat64) * 4 - 1;
  const auto y = torch::cat({x.mm(torch::tensor({{1.0}, {-2.0}, {0.5}}, torch::kFloat64)) + 3.0,
                             torch::randn({120, 1}, generator, torch::kFloat64)},
                            1);
  auto model = test::make_model(plugin, {{"l2", ParameterValue{2.5}}});
  test::RecordingContext context;
  model->fit({x, y, {"a", "b", "c"}, {"p", "q"}, {}}, context);
  test::TemporaryDirectory directory;
  test::write_csv(directory.path() / "x.csv", x);
  test::write_csv(directory.path() / "y.csv", y);
  const auto reference = test::parse_rows(test::run_python_reference(
      "sklearn_reference.py",
      "ridge " + (directory.path() / "x.csv").string() + " " + (directory.path() / "y.csv").string() + " 2.5"));
  BOOST_REQUIRE_EQUAL(reference.size(), 4U);  // 3 coefficient rows, then the intercepts
  const auto origin = model->predict(torch::zeros({1, 3}, torch::kFloat64));
  const auto unit = model->predict(torch::eye(3, torch::kFloat64)) - origin;
  for (std::size_t j = 0; j < 2; ++j) {
    const auto column = static_cast<std::int64_t>(j);
    BOOST_TEST(origin[0][column].item<double>() == reference[3][j], boost::test_tools::tolerance(1e-6));
    for (std::size_t i = 0; i < 3; ++i) {
      BOOST_TEST(unit[static_cast<std::int64_t>(i)][column].item<double>() == reference[i][j],
                 boost::test_tools::tolerance(1e-6));
    }
  }
  BOOST_CHECK_THROW((void)test::make_model(plugin, {{"l2", ParameterValue{1.0}},
                                                   {"solver", ParameterValue{std::string("sgd")}}}),
                    ballista::ParameterError);
}

BOOST_AUTO_TEST_CASE(past_a_slice_of_rows_equals_numpy_and_scikit_learn) {
  // The closed form streams centred rows in slices of kLeastSquaresSlice: a few rows past
  // one slice, two targets, plain (vs NumPy's lstsq with a column of ones) and ridge (vs
  // scikit-learn's Ridge).
  const auto plugin = test::load_bundled_plugin("linear");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(17);
  const std::int64_t rows = ballista::kLeastSquaresSlice + 5;
  const auto x = torch::rand({rows, 3}, generator, torch::kFloat64) * 4 - 1;
  const auto y = torch::cat({x.mm(torch::tensor({{1.0}, {-2.0}, {0.5}}, torch::kFloat64)) + 3.0,
                             torch::randn({rows, 1}, generator, torch::kFloat64)},
                            1);
  test::TemporaryDirectory directory;
  test::write_csv(directory.path() / "x.csv", x);
  test::write_csv(directory.path() / "x1.csv", torch::cat({x, torch::ones({rows, 1}, torch::kFloat64)}, 1));
  test::write_csv(directory.path() / "y.csv", y);
  const auto files = [&](const std::string& features) {
    return (directory.path() / features).string() + " " + (directory.path() / "y.csv").string();
  };
  const auto check = [&](const ballista::Model& model, const std::vector<std::vector<double>>& reference) {
    BOOST_REQUIRE_EQUAL(reference.size(), 4U);  // 3 coefficient rows, then the intercepts
    const auto origin = model.predict(torch::zeros({1, 3}, torch::kFloat64));
    const auto unit = model.predict(torch::eye(3, torch::kFloat64)) - origin;
    for (std::size_t j = 0; j < 2; ++j) {
      const auto column = static_cast<std::int64_t>(j);
      BOOST_TEST(origin[0][column].item<double>() == reference[3][j], boost::test_tools::tolerance(1e-10));
      for (std::size_t i = 0; i < 3; ++i) {
        BOOST_TEST(unit[static_cast<std::int64_t>(i)][column].item<double>() == reference[i][j],
                   boost::test_tools::tolerance(1e-10));
      }
    }
  };
  test::RecordingContext context;
  auto plain = test::make_model(plugin, {});
  plain->fit({x, y, {"a", "b", "c"}, {"p", "q"}, {}}, context);
  check(*plain, test::parse_rows(test::run_python_reference("numpy_reference.py", "lstsq " + files("x1.csv"))));
  auto ridge = test::make_model(plugin, {{"l2", ParameterValue{2.5}}});
  ridge->fit({x, y, {"a", "b", "c"}, {"p", "q"}, {}}, context);
  check(*ridge,
        test::parse_rows(test::run_python_reference("sklearn_reference.py", "ridge " + files("x.csv") + " 2.5")));
}

BOOST_AUTO_TEST_CASE(the_articles_figures) {
  // The article: linear regression reaches a training MSE of 2.3885 with SGD.
  const auto plugin = test::load_bundled_plugin("linear");
  const auto data = test::article_dataset_from_numpy();
  auto exact = test::make_model(plugin, {});
  auto sgd = test::make_model(plugin, {{"solver", ParameterValue{std::string("sgd")}}});
  test::RecordingContext context;
  exact->fit(data, context);
  sgd->fit(data, context);
  const auto mse = [&](const ballista::Model& model) {
    return (model.predict(data.inputs) - data.targets).square().mean().item<double>();
  };
  BOOST_TEST(std::abs(mse(*exact) - 2.3882) <= 1e-4, "lstsq MSE " << mse(*exact));
  BOOST_TEST(mse(*sgd) == 2.3882, boost::test_tools::tolerance(0.02));
}

BOOST_AUTO_TEST_CASE(sgd_runs_the_articles_500_epochs_and_approaches_the_optimum) {
  const auto plugin = test::load_bundled_plugin("linear");
  const auto data = test::article_dataset_from_numpy();
  auto sgd = test::make_model(plugin, {{"solver", ParameterValue{std::string("sgd")}}});
  auto exact = test::make_model(plugin, {});
  test::RecordingContext sgd_context;
  test::RecordingContext exact_context;
  sgd->fit(data, sgd_context);
  exact->fit(data, exact_context);
  BOOST_TEST(sgd_context.losses().size() == 500U);
  const auto mse = [&](const ballista::Model& model) {
    return (model.predict(data.inputs) - data.targets).square().mean().item<double>();
  };
  // Gradient descent never beats the least-squares optimum, and after 500 epochs it is close.
  BOOST_TEST(mse(*sgd) >= mse(*exact));
  BOOST_TEST(mse(*sgd) < 1.2 * mse(*exact));
  BOOST_TEST(sgd_context.losses().back() < sgd_context.losses().front());
}

BOOST_AUTO_TEST_CASE(without_intercept_the_fit_goes_through_the_origin) {
  const auto plugin = test::load_bundled_plugin("linear");
  const auto x = torch::tensor({{1.0}, {2.0}, {3.0}}, torch::kFloat64);
  const auto y = torch::tensor({{2.0}, {4.0}, {7.0}}, torch::kFloat64);
  auto model = test::make_model(plugin, {{"fit_intercept", ParameterValue{false}}});
  test::RecordingContext context;
  model->fit({x, y, {"x"}, {"y"}, {}}, context);
  // Closed form through the origin: w = Σxy / Σx² = (2 + 8 + 21) / 14.
  BOOST_TEST(model->predict(torch::tensor({{1.0}}, torch::kFloat64)).item<double>() == 31.0 / 14.0,
             boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(save_load_round_trip_is_bit_identical) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(13);
  const auto x = torch::rand({40, 2}, generator, torch::kFloat64) * 3;
  const auto y = torch::cat({x.select(1, 0).square().unsqueeze(1) / 9.81, torch::sin(x.prod(1)).unsqueeze(1)}, 1);
  const ballista::Dataset data{x, y, {"x", "y"}, {"p", "q"}, {{"g", 9.81}}};
  test::check_save_load_round_trip(test::load_bundled_plugin("linear"), {{"l2", ParameterValue{0.5}}}, data,
                                   torch::rand({25, 2}, generator, torch::kFloat64) * 4);
}

BOOST_AUTO_TEST_SUITE_END()
