// basis: the article's six functions, fitted in closed form, against NumPy (which builds
// the features itself); the recovered law s = v²·sin(2θ)/g.
#include "test_support.hpp"

#include <ballista/linear_solvers.hpp>
#include <ballista/parameters.hpp>

#include <boost/test/unit_test.hpp>
#include <torch/torch.h>

#include <cmath>
#include <limits>

namespace test = ballista::test;
using ballista::ParameterValue;

namespace {

const std::vector<std::string> kArticleFunctions{"v",   "v^2",           "v*sin(theta)", "v*sin(2*theta)",
                                                 "v^2*sin(theta)", "v^2*sin(2*theta)"};

// The fitted weights, read back through predict(): one unit feature at a time is not
// possible for a basis model, so solve the 6×6 system of predictions at six points.
torch::Tensor weights_of(const ballista::Model& model) {
  const auto points = torch::tensor({{1.0, 0.3}, {2.0, 0.7}, {3.0, 1.1}, {4.0, 0.2}, {5.0, 1.4}, {6.5, 0.9}},
                                    torch::kFloat64);
  const auto v = points.select(1, 0);
  const auto t = points.select(1, 1);
  const auto features =
      torch::stack({v, v * v, v * torch::sin(t), v * torch::sin(2 * t), v * v * torch::sin(t), v * v * torch::sin(2 * t)}, 1);
  return torch::linalg_solve(features, model.predict(points)).squeeze(1);
}

// The article's data set with `rows` rows, drawn by NumPy.
ballista::Dataset cannon_from_numpy(std::int64_t rows) {
  const auto table =
      test::parse_rows(test::run_python_reference("numpy_reference.py", "cannon 0 " + std::to_string(rows)));
  BOOST_REQUIRE_EQUAL(table.size(), static_cast<std::size_t>(rows));
  auto inputs = torch::empty({rows, 2}, torch::kFloat64);
  auto targets = torch::empty({rows, 1}, torch::kFloat64);
  auto in = inputs.accessor<double, 2>();
  auto out = targets.accessor<double, 2>();
  for (std::int64_t i = 0; i < rows; ++i) {
    const auto& row = table[static_cast<std::size_t>(i)];
    in[i][0] = row[0];
    in[i][1] = row[1];
    out[i][0] = row[2];
  }
  return {inputs, targets, {"v", "theta"}, {"s"}, {{"g", 9.81}}};
}

// NumPy's weights for the article's six functions on `data`.
torch::Tensor numpy_article_weights(const ballista::Dataset& data) {
  test::TemporaryDirectory directory;
  test::write_csv(directory.path() / "data.csv", torch::cat({data.inputs, data.targets}, 1));
  const auto reference = test::parse_rows(test::run_python_reference(
      "numpy_reference.py", "article-basis " + (directory.path() / "data.csv").string()));
  BOOST_REQUIRE_EQUAL(reference.size(), 6U);
  auto weights = torch::empty({6, 1}, torch::kFloat64);
  for (std::int64_t i = 0; i < 6; ++i) {
    weights[i][0] = reference[static_cast<std::size_t>(i)][0];
  }
  return weights;
}

torch::Tensor article_features(const torch::Tensor& inputs) {
  const auto v = inputs.select(1, 0);
  const auto t = inputs.select(1, 1);
  return torch::stack(
      {v, v * v, v * torch::sin(t), v * torch::sin(2 * t), v * v * torch::sin(t), v * v * torch::sin(2 * t)}, 1);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(basis)

BOOST_AUTO_TEST_CASE(lstsq_across_slice_boundaries_predicts_as_numpys_weights) {
  // The closed form streams its rows in slices of kLeastSquaresSlice: fit on a few rows
  // past one slice, predict on more than two, and compare the predictions with the
  // features times NumPy's lstsq weights.
  const auto plugin = test::load_bundled_plugin("basis");
  const auto data = cannon_from_numpy(ballista::kLeastSquaresSlice + 3);
  auto model = test::make_model(plugin, {{"functions", ParameterValue{kArticleFunctions}}});
  test::RecordingContext context;
  model->fit(data, context);
  const auto weights = numpy_article_weights(data);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(31);
  const auto points = torch::rand({2 * ballista::kLeastSquaresSlice + 11, 2}, generator, torch::kFloat64) *
                      torch::tensor({10.0, 1.5}, torch::kFloat64);
  const auto predicted = model->predict(points);
  const auto expected = article_features(points).mm(weights);
  BOOST_TEST(predicted.sizes() == expected.sizes());
  // The weights agree to ~1e-12 relative (κ of the six features ≈ 1e3 here); the
  // predictions are up to ~1e2·|w|, so 1e-9 absolute is tight.
  BOOST_TEST((predicted - expected).abs().max().item<double>() < 1e-9,
             "max difference " << (predicted - expected).abs().max().item<double>());
  // The same rows predicted alone give the same numbers.
  const auto few = model->predict(points.slice(0, 40000, 40005));
  BOOST_TEST(torch::allclose(few, predicted.slice(0, 40000, 40005), 1e-14, 0.0));
}

BOOST_AUTO_TEST_CASE(repeated_fits_give_identical_bits) {
  const auto plugin = test::load_bundled_plugin("basis");
  const auto data = test::article_dataset_from_numpy();
  auto generator = at::make_generator<at::CPUGeneratorImpl>(41);
  const auto x = torch::rand({3 * ballista::kLeastSquaresSlice, 2}, generator, torch::kFloat64) * 3;
  const ballista::Dataset large{x, torch::sin(x.sum(1, true)), {"v", "theta"}, {"s"}, {{"g", 9.81}}};
  for (const auto* set : {&data, &large}) {
    auto first = test::make_model(plugin, {{"functions", ParameterValue{kArticleFunctions}}});
    auto second = test::make_model(plugin, {{"functions", ParameterValue{kArticleFunctions}}});
    test::RecordingContext context;
    first->fit(*set, context);
    second->fit(*set, context);
    BOOST_TEST(torch::equal(first->predict(set->inputs), second->predict(set->inputs)));
  }
}

BOOST_AUTO_TEST_CASE(lstsq_equals_numpy_and_recovers_one_over_g) {
  const auto plugin = test::load_bundled_plugin("basis");
  const auto data = test::article_dataset_from_numpy();
  auto model = test::make_model(plugin, {{"functions", ParameterValue{kArticleFunctions}}});
  test::RecordingContext context;
  model->fit(data, context);
  test::TemporaryDirectory directory;
  test::write_csv(directory.path() / "data.csv", torch::cat({data.inputs, data.targets}, 1));
  const auto reference = test::parse_rows(test::run_python_reference(
      "numpy_reference.py", "article-basis " + (directory.path() / "data.csv").string()));
  BOOST_REQUIRE_EQUAL(reference.size(), 6U);
  const auto weights = weights_of(*model);
  for (std::int64_t i = 0; i < 6; ++i) {
    const double expected = reference[static_cast<std::size_t>(i)][0];
    // 1e-6 relative; absolute 1e-9 for the near-zero weights of the unneeded terms.
    BOOST_TEST(std::abs(weights[i].item<double>() - expected) <= 1e-6 * std::abs(expected) + 1e-9,
               "weight " << i << ": " << weights[i].item<double>() << " vs NumPy " << expected);
  }
  BOOST_TEST(weights[5].item<double>() == 1.0 / 9.81, boost::test_tools::tolerance(0.01));
  BOOST_TEST(model->describe().find("0.1019·v^2*sin(2*theta)") != std::string::npos, model->describe());
  BOOST_TEST(model->parameter_count() == 6);
}

BOOST_AUTO_TEST_CASE(the_articles_figures_and_stlsq_keeps_the_one_true_term) {
  // The article: MSE 0.000091 and s ≈ 0.10·v²·sin(2θ).
  const auto plugin = test::load_bundled_plugin("basis");
  const auto data = test::article_dataset_from_numpy();
  auto exact = test::make_model(plugin, {{"functions", ParameterValue{kArticleFunctions}}});
  auto sparse = test::make_model(plugin, {{"functions", ParameterValue{kArticleFunctions}},
                                          {"solver", ParameterValue{std::string("stlsq")}}});
  test::RecordingContext context;
  exact->fit(data, context);
  sparse->fit(data, context);
  const auto mse = [&](const ballista::Model& model) {
    return (model.predict(data.inputs) - data.targets).square().mean().item<double>();
  };
  BOOST_TEST(std::abs(mse(*exact) - 9.12e-5) <= 0.05e-5, "lstsq MSE " << mse(*exact));
  BOOST_TEST(std::abs(weights_of(*exact)[5].item<double>() - 0.1019) <= 0.0005);
  const auto sparse_weights = weights_of(*sparse);
  for (std::int64_t i = 0; i < 5; ++i) {
    BOOST_TEST(std::abs(sparse_weights[i].item<double>()) < 1e-12, "term " << i << " kept");
  }
  // The one-term refit has the closed form w = Σ f·s / Σ f², f = v²·sin(2θ).
  const auto v = data.inputs.select(1, 0);
  const auto feature = v * v * torch::sin(2 * data.inputs.select(1, 1));
  const double expected = (feature * data.targets.squeeze(1)).sum().item<double>() / feature.square().sum().item<double>();
  BOOST_TEST(sparse_weights[5].item<double>() == expected, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(sparse->parameter_count() == 1);
  BOOST_TEST(sparse->describe() == "s = 0.1019·v^2*sin(2*theta)");
}

BOOST_AUTO_TEST_CASE(adam_runs_the_articles_epochs_and_reaches_the_optimum_region) {
  const auto plugin = test::load_bundled_plugin("basis");
  const auto data = test::article_dataset_from_numpy();
  auto adam = test::make_model(plugin, {{"functions", ParameterValue{kArticleFunctions}},
                                        {"solver", ParameterValue{std::string("adam")}}});
  auto exact = test::make_model(plugin, {{"functions", ParameterValue{kArticleFunctions}}});
  test::RecordingContext adam_context;
  test::RecordingContext exact_context;
  adam->fit(data, adam_context);
  exact->fit(data, exact_context);
  BOOST_TEST(adam_context.losses().size() == 5000U);  // lr 0.1, 5000 epochs by default
  const auto mse = [&](const ballista::Model& model) {
    return (model.predict(data.inputs) - data.targets).square().mean().item<double>();
  };
  BOOST_TEST(mse(*adam) >= mse(*exact) * (1 - 1e-9));
  BOOST_TEST(mse(*adam) < 2 * mse(*exact));
}

BOOST_AUTO_TEST_CASE(constants_and_intercept) {
  const auto plugin = test::load_bundled_plugin("basis");
  const auto x = torch::linspace(0.5, 3, 20, torch::kFloat64).unsqueeze(1);
  const auto y = 2.0 * torch::exp(x) / 9.81 + 0.5;
  auto model = test::make_model(plugin, {{"functions", ParameterValue{std::vector<std::string>{"exp(x)/g"}}},
                                         {"fit_intercept", ParameterValue{true}}});
  test::RecordingContext context;
  model->fit({x, y, {"x"}, {"y"}, {{"g", 9.81}}}, context);
  BOOST_TEST(model->describe() == "y = 2·exp(x)/g + 0.5");
}

BOOST_AUTO_TEST_CASE(bad_functions_are_parameter_errors) {
  const auto plugin = test::load_bundled_plugin("basis");
  try {
    (void)test::make_model(plugin, {{"functions", ParameterValue{std::vector<std::string>{"v", "sin(v"}}}});
    BOOST_FAIL("accepted an unbalanced parenthesis");
  } catch (const ballista::ParameterError& error) {
    BOOST_TEST(error.parameter() == "functions");
    BOOST_TEST(std::string(error.what()).find("functions[1] 'sin(v'") != std::string::npos, error.what());
  }
  auto model = test::make_model(plugin, {{"functions", ParameterValue{std::vector<std::string>{"phi"}}}});
  test::RecordingContext context;
  const auto x = torch::ones({3, 1}, torch::kFloat64);
  try {
    model->fit({x, x, {"v"}, {"s"}, {}}, context);
    BOOST_FAIL("fitted a function of an unknown input");
  } catch (const std::invalid_argument& error) {
    BOOST_TEST(std::string(error.what()).find("unknown name 'phi'") != std::string::npos, error.what());
  }
}

BOOST_AUTO_TEST_CASE(non_finite_cells_are_named_and_huge_finite_values_pass) {
  // The plugin clears finite data with one sum before searching cell by cell: a NaN or
  // inf must still be named, and values whose sum overflows must still pass.
  const auto plugin = test::load_bundled_plugin("basis");
  auto model = test::make_model(plugin, {{"functions", ParameterValue{std::vector<std::string>{"x"}}}});
  test::RecordingContext context;
  const auto x = torch::linspace(1, 2, 10, torch::kFloat64).unsqueeze(1);
  auto y = 3 * x;
  y[7][0] = std::numeric_limits<double>::infinity();
  try {
    model->fit({x, y, {"x"}, {"y"}, {}}, context);
    BOOST_FAIL("fitted an infinite target");
  } catch (const std::invalid_argument& error) {
    BOOST_TEST(std::string(error.what()).find("basis: fit() targets: row 7, column 0 is inf") != std::string::npos,
               error.what());
  }
  model->fit({x, 3 * x, {"x"}, {"y"}, {}}, context);
  auto bad = x.clone();
  bad[4][0] = std::nan("");
  try {
    (void)model->predict(bad);
    BOOST_FAIL("predicted at a NaN");
  } catch (const std::invalid_argument& error) {
    BOOST_TEST(std::string(error.what()).find("row 4, column 0 is nan") != std::string::npos, error.what());
  }
  const auto huge = torch::full({3, 1}, 1e308, torch::kFloat64);
  BOOST_CHECK_NO_THROW((void)model->predict(huge));
}

BOOST_AUTO_TEST_CASE(save_load_round_trip_is_bit_identical) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(13);
  const auto x = torch::rand({40, 2}, generator, torch::kFloat64) * 3;
  const auto y = torch::cat({x.select(1, 0).square().unsqueeze(1) / 9.81, torch::sin(x.prod(1)).unsqueeze(1)}, 1);
  const ballista::Dataset data{x, y, {"x", "y"}, {"p", "q"}, {{"g", 9.81}}};
  test::check_save_load_round_trip(test::load_bundled_plugin("basis"), {{"functions", ParameterValue{std::vector<std::string>{"x^2/g", "sin(x*y)"}}},
                                                   {"solver", ParameterValue{std::string("stlsq")}}}, data,
                                   torch::rand({25, 2}, generator, torch::kFloat64) * 4);
}


// --- library: candidate terms generated from primitives (issue 18) ----------------------

namespace {

const std::vector<std::string> kCannonPrimitives{"poly", "sin", "cos"};

ballista::Dataset article_with_units() {
  auto data = test::article_dataset_from_numpy();
  data.units = {{"v", "m/s"}, {"theta", "rad"}, {"s", "m"}, {"g", "m/s^2"}};
  return data;
}

std::map<std::string, ParameterValue> discovery(std::map<std::string, ParameterValue> more) {
  more.emplace("library", ParameterValue{kCannonPrimitives});
  more.emplace("solver", ParameterValue{std::string("stlsq")});
  more.emplace("auto_threshold", ParameterValue{true});
  return more;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_library_spans_the_brute_force_terms_and_fits_as_numpy) {
  // NumPy builds the same library by brute force, as functions rather than names, and
  // fits it: the same count of terms, and the same predictions (the library is rank
  // deficient, cos(2θ) = cos²θ − sin²θ: both sides give lstsq's minimum-norm solution).
  const auto plugin = test::load_bundled_plugin("basis");
  const auto data = test::article_dataset_from_numpy();
  auto model = test::make_model(plugin, {{"library", ParameterValue{kCannonPrimitives}}});
  test::RecordingContext context;
  model->fit(data, context);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto queries = torch::rand({50, 2}, generator, torch::kFloat64) * torch::tensor({10.0, 1.5}, torch::kFloat64);
  test::TemporaryDirectory directory;
  test::write_csv(directory.path() / "data.csv", torch::cat({data.inputs, data.targets}, 1));
  test::write_csv(directory.path() / "queries.csv", queries);
  const auto reference = test::parse_rows(test::run_python_reference(
      "numpy_reference.py", "library " + (directory.path() / "data.csv").string() + " " +
                                (directory.path() / "queries.csv").string()));
  BOOST_REQUIRE_EQUAL(reference.size(), 51U);
  BOOST_TEST(context.values().at("library_terms") == reference[0][0]);
  const auto predicted = model->predict(queries);
  for (std::int64_t i = 0; i < 50; ++i) {
    const double expected = reference[static_cast<std::size_t>(i) + 1][0];
    BOOST_TEST(std::abs(predicted[i][0].item<double>() - expected) <= 1e-6 * (1 + std::abs(expected)),
               "query " << i << ": " << predicted[i][0].item<double>() << " vs NumPy " << expected);
  }
}

BOOST_AUTO_TEST_CASE(a_library_leaves_out_squares_that_are_monomials) {
  // [poly, sqrt], degree 1, products of two, over (v, theta), counted by hand: v, theta;
  // sqrt(v), sqrt(theta); the four monomial × sqrt products; and of the sqrt × sqrt pairs
  // only sqrt(v)*sqrt(theta): sqrt(v)*sqrt(v) is v, already there. 9 terms; without
  // `poly` the squares stay: sqrt(v), sqrt(theta) and the three pairs, 5 terms.
  const auto plugin = test::load_bundled_plugin("basis");
  const auto data = test::article_dataset_from_numpy();
  for (const auto& [primitives, expected] :
       std::vector<std::pair<std::vector<std::string>, double>>{{{"poly", "sqrt"}, 9.0}, {{"sqrt"}, 5.0}}) {
    auto model = test::make_model(plugin, {{"library", ParameterValue{primitives}},
                                           {"library_degree", ParameterValue{std::int64_t{1}}}});
    test::RecordingContext context;
    model->fit(data, context);
    BOOST_TEST(context.values().at("library_terms") == expected);
  }
}

BOOST_AUTO_TEST_CASE(strict_units_leave_v_squared_over_g_times_a_function_of_the_angle) {
  // Worked by hand: a term v^a·f(θ)·g^k has units m^(a+k)·s^(−a−2k); a range in metres
  // needs a + k = 1 and a + 2k = 0, so a = 2, k = −1, and sin or cos of a speed is not a
  // quantity. From degree-2 monomials, sin and cos of θ and 2θ, products of two, that
  // leaves v²/g times 1, sin θ, sin 2θ, cos θ, cos 2θ.
  const auto plugin = test::load_bundled_plugin("basis");
  auto model = test::make_model(plugin, {{"library", ParameterValue{kCannonPrimitives}},
                                         {"units", ParameterValue{std::string("strict")}}});
  test::RecordingContext context;
  model->fit(article_with_units(), context);
  BOOST_TEST(context.values().at("library_terms") == 5.0);
  const auto text = model->describe();
  for (const auto* term : {"v^2/g", "v^2*sin(theta)/g", "v^2*sin(2*theta)/g", "v^2*cos(theta)/g", "v^2*cos(2*theta)/g"}) {
    BOOST_TEST(text.find(std::string("·") + term) != std::string::npos, term << " in " << text);
  }
  BOOST_TEST(model->parameter_count() == 5);
  // Without the units of every input and target, strict says which is missing.
  auto data = test::article_dataset_from_numpy();
  data.units = {{"v", "m/s"}, {"s", "m"}};
  auto refused = test::make_model(plugin, {{"library", ParameterValue{kCannonPrimitives}},
                                           {"units", ParameterValue{std::string("strict")}}});
  BOOST_CHECK_EXCEPTION(refused->fit(data, context), std::invalid_argument, [](const std::invalid_argument& error) {
    return std::string(error.what()).find("'theta' has none") != std::string::npos;
  });
  // A target whose units no term can reach (a mass from speeds, angles and g) is refused, not fitted.
  data.units = {{"v", "m/s"}, {"theta", "rad"}, {"s", "kg"}, {"g", "m/s^2"}};
  BOOST_CHECK_EXCEPTION(refused->fit(data, context), std::invalid_argument, [](const std::invalid_argument& error) {
    return std::string(error.what()).find("no candidate term has the units of 's'") != std::string::npos;
  });
  data.units = {{"v", "m/s"}, {"theta", "rad"}, {"s", "furlong"}};
  BOOST_CHECK_EXCEPTION(refused->fit(data, context), std::invalid_argument, [](const std::invalid_argument& error) {
    return std::string(error.what()).find("unknown unit 'furlong'") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(cross_validated_stlsq_finds_the_law_with_and_without_units) {
  // The article's 1000 shots: the chosen threshold keeps one term, v²·sin(2θ)/g (under
  // strict units) or v²·sin(2θ) (without), whose weight is the one-term least-squares
  // closed form w = Σ f·s / Σ f².
  const auto plugin = test::load_bundled_plugin("basis");
  const auto data = article_with_units();
  const auto v = data.inputs.select(1, 0);
  const auto law = v * v * torch::sin(2 * data.inputs.select(1, 1));
  const auto s = data.targets.squeeze(1);
  const double one_term = (law * s).sum().item<double>() / law.square().sum().item<double>();
  for (const bool strict : {true, false}) {
    auto model = test::make_model(
        plugin, discovery({{"units", ParameterValue{std::string(strict ? "strict" : "off")}}}));
    test::RecordingContext context(7);
    model->fit(data, context);
    BOOST_TEST(model->parameter_count() == 1, model->describe());
    const auto weight = model->predict(torch::tensor({{1.0, M_PI / 4}}, torch::kFloat64)).item<double>();
    BOOST_TEST(weight == one_term, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(model->describe().find(strict ? "·v^2*sin(2*theta)/g" : "·v^2*sin(2*theta)") != std::string::npos,
               model->describe());
    // 1/g within 0.5%: the law itself.
    BOOST_TEST(std::abs(weight * 9.81 - 1) < 0.005, "weight " << weight);
    const auto& cv = context.tables().at("threshold_cv");
    BOOST_TEST(cv.columns.size() == 5U);
    BOOST_TEST(cv.rows.size() == 21U);
    std::int64_t chosen = 0;
    for (const auto& row : cv.rows) {
      chosen += row[4] == "chosen" ? 1 : 0;
    }
    BOOST_TEST(chosen == 1);
  }
}

BOOST_AUTO_TEST_CASE(the_ensemble_reports_each_terms_inclusion_and_keeps_the_law) {
  const auto plugin = test::load_bundled_plugin("basis");
  const auto data = article_with_units();
  auto model = test::make_model(plugin, discovery({{"units", ParameterValue{std::string("strict")}},
                                                   {"ensemble", ParameterValue{std::int64_t{100}}}}));
  test::RecordingContext context(11);
  model->fit(data, context);
  BOOST_TEST(model->parameter_count() == 1, model->describe());
  const auto& inclusion = context.tables().at("inclusion");
  BOOST_REQUIRE(!inclusion.rows.empty());
  BOOST_TEST(inclusion.rows[0][0] == "v^2*sin(2*theta)/g");
  BOOST_TEST(inclusion.rows[0][2] == "1");
  BOOST_TEST(inclusion.rows[0][4] == "kept");
  for (std::size_t i = 1; i < inclusion.rows.size(); ++i) {
    BOOST_TEST(std::stod(inclusion.rows[i][2]) < 0.5, inclusion.rows[i][0] << " chosen in " << inclusion.rows[i][2]);
  }
  // The refit of the kept term on every row is the one-term closed form.
  const auto v = data.inputs.select(1, 0);
  const auto law = v * v * torch::sin(2 * data.inputs.select(1, 1)) / 9.81;
  const auto s = data.targets.squeeze(1);
  const double expected = (law * s).sum().item<double>() / law.square().sum().item<double>();
  const auto weight = model->predict(torch::tensor({{std::sqrt(9.81), M_PI / 4}}, torch::kFloat64)).item<double>();
  BOOST_TEST(weight == expected, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(discovery_gives_the_same_bits_at_any_thread_count_and_survives_save_load) {
  const auto plugin = test::load_bundled_plugin("basis");
  const auto data = article_with_units();
  const auto overrides = discovery({{"ensemble", ParameterValue{std::int64_t{20}}}});
  const auto threads = at::get_num_threads();
  std::vector<torch::Tensor> predictions;
  std::vector<std::string> tables;
  for (const int count : {1, 2, 3}) {
    at::set_num_threads(count);
    auto model = test::make_model(plugin, overrides);
    test::RecordingContext context(5);
    model->fit(data, context);
    predictions.push_back(model->predict(data.inputs));
    std::string text;
    for (const auto& [name, table] : context.tables()) {
      for (const auto& row : table.rows) {
        for (const auto& cell : row) {
          text += cell + ",";
        }
      }
    }
    tables.push_back(text);
  }
  at::set_num_threads(threads);
  BOOST_TEST(torch::equal(predictions[0], predictions[1]));
  BOOST_TEST(torch::equal(predictions[0], predictions[2]));
  BOOST_TEST(tables[0] == tables[1]);
  BOOST_TEST(tables[0] == tables[2]);
  test::check_save_load_round_trip(plugin, overrides, data, data.inputs.slice(0, 0, 20));
  test::check_save_load_round_trip(plugin, {{"library", ParameterValue{kCannonPrimitives}}, {"units", ParameterValue{std::string("strict")}}},
                                   data, data.inputs.slice(0, 0, 20));
}

BOOST_AUTO_TEST_CASE(library_options_that_cannot_work_are_parameter_errors) {
  const auto plugin = test::load_bundled_plugin("basis");
  const auto refused = [&](const std::map<std::string, ParameterValue>& overrides, const std::string& parameter,
                           const std::string& words) {
    BOOST_CHECK_EXCEPTION(test::make_model(plugin, overrides), ballista::ParameterError,
                          [&](const ballista::ParameterError& error) {
                            const bool ok = error.parameter() == parameter &&
                                            std::string(error.what()).find(words) != std::string::npos;
                            BOOST_TEST(ok, error.parameter() << ": " << error.what());
                            return ok;
                          });
  };
  refused({}, "functions", "give `functions`, a `library`, or both");
  refused({{"library", ParameterValue{std::vector<std::string>{"poly", "tanh"}}}}, "library",
          "unknown primitive 'tanh' (allowed: poly, sin, cos, exp, log, sqrt, abs)");
  refused({{"library", ParameterValue{kCannonPrimitives}}, {"auto_threshold", ParameterValue{true}}}, "auto_threshold",
          "needs `solver: stlsq` (solver is lstsq)");
  refused({{"library", ParameterValue{kCannonPrimitives}}, {"ensemble", ParameterValue{std::int64_t{10}}}}, "ensemble",
          "needs `solver: stlsq`");
  refused({{"functions", ParameterValue{kArticleFunctions}}, {"units", ParameterValue{std::string("strict")}}}, "units",
          "give a `library`");
}

BOOST_AUTO_TEST_SUITE_END()
