// symbolic: laws recovered from data, checked against the true formulas at random points
// (also outside the data); the fitted constants of a linear-in-constants law against
// NumPy's least squares; the front's errors against the expressions themselves, evaluated
// by ballista::Expression; the same bits at 1 and 2 threads and after save/load; and hard
// units checked by ballista::expression_unit.
#include "test_support.hpp"

#include <ballista/archive.hpp>
#include <ballista/expression.hpp>
#include <ballista/parameters.hpp>
#include <ballista/units.hpp>

#include <ATen/Parallel.h>
#include <boost/test/unit_test.hpp>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace test = ballista::test;
using ballista::ParameterValue;

namespace {

using Overrides = std::map<std::string, ParameterValue>;

ParameterValue integer(std::int64_t value) { return ParameterValue{value}; }
ParameterValue text(const char* value) { return ParameterValue{std::string(value)}; }
ParameterValue list(std::vector<std::string> values) { return ParameterValue{std::move(values)}; }

// A Context that keeps what the model reports: tables, values, progress and log lines.
class CapturingContext final : public ballista::Context {
 public:
  explicit CapturingContext(std::uint64_t seed = 0, bool cancel = false) : seed_(seed), cancel_(cancel) {}
  void report_progress(std::int64_t step, std::int64_t total, double /*loss*/) override {
    steps.emplace_back(step, total);
  }
  bool cancelled() const override { return cancel_; }
  torch::Device device() const override { return torch::kCPU; }
  std::uint64_t seed() const override { return seed_; }
  void log(ballista::LogLevel /*level*/, std::string_view message) override { messages.emplace_back(message); }
  void report_value(std::string_view name, double value) override { values[std::string(name)] = value; }
  void report_table(std::string_view name, const std::vector<std::string>& columns,
                    const std::vector<std::vector<std::string>>& rows) override {
    table_name = std::string(name);
    table_columns = columns;
    table_rows = rows;
  }

  std::vector<std::pair<std::int64_t, std::int64_t>> steps;
  std::vector<std::string> messages;
  std::map<std::string, double> values;
  std::string table_name;
  std::vector<std::string> table_columns;
  std::vector<std::vector<std::string>> table_rows;

 private:
  std::uint64_t seed_;
  bool cancel_;
};

torch::Tensor uniform(std::int64_t rows, std::int64_t columns, double low, double high, std::uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::rand({rows, columns}, generator, torch::kFloat64) * (high - low) + low;
}

torch::Tensor normal(std::int64_t rows, std::uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randn({rows, 1}, generator, torch::kFloat64);
}

// The cannon without noise: s = v²·sin(2θ)/g.
torch::Tensor cannon_law(const torch::Tensor& x) {
  const auto v = x.select(1, 0);
  return (v * v * torch::sin(2 * x.select(1, 1)) / 9.81).unsqueeze(1);
}

// Largest |prediction − truth| / (|truth| + floor) over the rows.
double relative_error(const torch::Tensor& predicted, const torch::Tensor& truth, double floor) {
  return ((predicted - truth).abs() / (truth.abs() + floor)).max().item<double>();
}

// An expression of the front, evaluated by the SDK at the columns of `data`.
torch::Tensor evaluate(const std::string& text, const ballista::Dataset& data) {
  ballista::Expression::TensorBindings bindings;
  for (std::size_t j = 0; j < data.input_names.size(); ++j) {
    bindings[data.input_names[j]] = data.inputs.select(1, static_cast<std::int64_t>(j));
  }
  for (const auto& [name, value] : data.constants) {
    bindings[name] = torch::scalar_tensor(value, torch::kFloat64);
  }
  return ballista::Expression::parse(text).evaluate(bindings).expand({data.inputs.size(0)});
}

}  // namespace

BOOST_AUTO_TEST_SUITE(symbolic)

BOOST_AUTO_TEST_CASE(recovers_the_cannon_law_without_noise) {
  // 300 noise-free shots: the search must find v²·sin(2θ)/g exactly, so its predictions
  // match the formula also far outside the data (v up to 30 instead of 10).
  const auto plugin = test::load_bundled_plugin("symbolic");
  const auto x = uniform(300, 2, 0, 1, 1) * torch::tensor({10.0, M_PI / 2}, torch::kFloat64);
  const ballista::Dataset data{x, cannon_law(x), {"v", "theta"}, {"s"}, {{"g", 9.81}}};
  auto model = test::make_model(plugin, {{"max_evaluations", integer(120000)}});
  CapturingContext context(5);
  model->fit(data, context);
  const auto far = uniform(500, 2, 0, 1, 2) * torch::tensor({30.0, M_PI / 2}, torch::kFloat64);
  const double error = relative_error(model->predict(far), cannon_law(far), 1e-3);
  BOOST_TEST(error < 1e-6, model->describe() << ": relative error " << error);
  BOOST_TEST(model->parameter_count() <= 1, model->describe());
}

BOOST_AUTO_TEST_CASE(recovers_a_law_with_an_offset_and_a_product) {
  // y = 2.5·x·z + 1.25 − sin(x): recovered exactly (no noise); checked on a wider box.
  const auto plugin = test::load_bundled_plugin("symbolic");
  const auto law = [](const torch::Tensor& t) {
    const auto a = t.select(1, 0);
    const auto b = t.select(1, 1);
    return (2.5 * a * b + 1.25 - torch::sin(a)).unsqueeze(1);
  };
  const auto x = uniform(200, 2, -2, 2, 3);
  const ballista::Dataset data{x, law(x), {"x", "z"}, {"y"}, {}};
  auto model = test::make_model(plugin, {{"max_evaluations", integer(120000)},
                                         {"operators", list({"+", "-", "*", "/", "sin", "cos"})}});
  CapturingContext context(7);
  model->fit(data, context);
  const auto wide = uniform(500, 2, -4, 4, 4);
  const double error = relative_error(model->predict(wide), law(wide), 1e-2);
  BOOST_TEST(error < 1e-6, model->describe() << ": relative error " << error);
}

BOOST_AUTO_TEST_CASE(fitted_constants_equal_numpys_least_squares) {
  // y = 1.5 + 0.7·x + noise, with + and * only and at most 5 nodes: the most accurate
  // expression is a + b·x (or an equivalent such as (x + a)·b), whose Levenberg–Marquardt
  // constants must give NumPy's least-squares line.
  const auto plugin = test::load_bundled_plugin("symbolic");
  const auto x = uniform(80, 1, 0, 4, 5);
  const auto y = 1.5 + 0.7 * x + 0.3 * normal(80, 6);
  const ballista::Dataset data{x, y, {"x"}, {"y"}, {}};
  auto model = test::make_model(plugin, {{"operators", list({"+", "*"})},
                                         {"max_complexity", integer(5)},
                                         {"max_evaluations", integer(6000)},
                                         {"choose", text("accuracy")}});
  CapturingContext context(1);
  model->fit(data, context);
  test::TemporaryDirectory directory;
  test::write_csv(directory.path() / "f.csv", torch::cat({torch::ones_like(x), x}, 1));
  test::write_csv(directory.path() / "y.csv", y);
  const auto weights = test::parse_rows(test::run_python_reference(
      "numpy_reference.py", "lstsq " + (directory.path() / "f.csv").string() + " " + (directory.path() / "y.csv").string()));
  BOOST_REQUIRE_EQUAL(weights.size(), 2U);
  const auto queries = torch::linspace(-3, 8, 12, torch::kFloat64).unsqueeze(1);
  const auto expected = weights[0][0] + weights[1][0] * queries;
  const double error = relative_error(model->predict(queries), expected, 1.0);
  BOOST_TEST(error < 1e-9, model->describe() << " vs NumPy " << weights[0][0] << " + " << weights[1][0]
                                             << "·x: relative error " << error);
  BOOST_TEST(model->parameter_count() == 2);
}

BOOST_AUTO_TEST_CASE(the_front_reports_its_expressions_errors_without_duplicates) {
  // Each row of the pareto_front table: its expression, evaluated by ballista::Expression,
  // has the reported MSE on the training rows; complexities rise and errors fall; no two
  // expressions have the same values; exactly one row is chosen, by PySR's "best" rule
  // recomputed from the table.
  const auto plugin = test::load_bundled_plugin("symbolic");
  const auto x = uniform(150, 2, 0.5, 3, 8);
  const auto y = (x.select(1, 0).square() / x.select(1, 1)).unsqueeze(1) + 0.05 * normal(150, 9);
  const ballista::Dataset data{x, y, {"a", "b"}, {"y"}, {}};
  auto model = test::make_model(plugin, {{"max_evaluations", integer(30000)}});
  CapturingContext context(3);
  model->fit(data, context);
  BOOST_TEST(context.table_name == "pareto_front");
  BOOST_TEST(context.table_columns == (std::vector<std::string>{"complexity", "mse", "expression", "chosen"}));
  const auto& rows = context.table_rows;
  BOOST_REQUIRE(!rows.empty());
  std::vector<torch::Tensor> values;
  std::vector<double> losses;
  std::vector<double> sizes;
  std::size_t chosen = rows.size();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const auto predicted = evaluate(row[2], data);
    const double mse = (predicted - y.squeeze(1)).square().mean().item<double>();
    const double reported = std::stod(row[1]);
    // The table shows 6 digits; the expression 5 (so its error may differ slightly).
    BOOST_TEST(std::abs(mse - reported) <= 1e-3 * reported + 1e-12, row[2] << ": " << mse << " vs " << row[1]);
    losses.push_back(reported);
    sizes.push_back(std::stod(row[0]));
    if (i > 0) {
      BOOST_TEST(sizes[i] > sizes[i - 1]);
      BOOST_TEST(losses[i] < losses[i - 1]);
    }
    for (const auto& other : values) {
      BOOST_TEST(!torch::allclose(predicted, other, 1e-9, 1e-12), row[2] << " duplicates a simpler expression");
    }
    values.push_back(predicted);
    if (row[3] == "yes") {
      BOOST_TEST(chosen == rows.size(), "two chosen rows");
      chosen = i;
    }
  }
  BOOST_REQUIRE(chosen < rows.size());
  std::size_t best = rows.size();
  double best_score = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (losses[i] > 1.5 * losses.back()) {
      continue;
    }
    const double score = i == 0 ? 0.0 : -std::log(losses[i] / losses[i - 1]) / (sizes[i] - sizes[i - 1]);
    if (score > best_score) {
      best_score = score;
      best = i;
    }
  }
  BOOST_TEST(chosen == best);
  BOOST_TEST(model->describe() == "y = " + rows[chosen][2]);
  BOOST_TEST(context.values.at("evaluations") >= 30000);
  BOOST_TEST(context.values.at("front_size") == static_cast<double>(rows.size()));
  BOOST_TEST(context.values.count("search_seconds") == 1U);
  // Progress: one report per epoch, counting up to the announced total.
  BOOST_REQUIRE(!context.steps.empty());
  BOOST_TEST(context.steps.back().first == context.steps.back().second);
}

BOOST_AUTO_TEST_CASE(choice_rules_accuracy_and_complexity) {
  const auto plugin = test::load_bundled_plugin("symbolic");
  const auto x = uniform(120, 1, -2, 2, 10);
  const auto y = torch::exp(x) + 0.1 * normal(120, 11);
  const ballista::Dataset data{x, y, {"x"}, {"y"}, {}};
  for (const std::int64_t limit : {3, 6}) {
    auto model = test::make_model(plugin, {{"max_evaluations", integer(8000)},
                                           {"choose", text("complexity")},
                                           {"complexity", integer(limit)}});
    CapturingContext context(2);
    model->fit(data, context);
    const auto& rows = context.table_rows;
    std::size_t expected = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (std::stoll(rows[i][0]) <= limit) {
        expected = i;
      }
    }
    BOOST_TEST(rows[expected][3] == "yes", "complexity ≤ " << limit);
  }
  auto accurate = test::make_model(plugin, {{"max_evaluations", integer(8000)}, {"choose", text("accuracy")}});
  CapturingContext context(2);
  accurate->fit(data, context);
  BOOST_TEST(context.table_rows.back()[3] == "yes");
}

BOOST_AUTO_TEST_CASE(the_same_bits_at_one_and_two_threads_and_from_the_same_seed) {
  const auto plugin = test::load_bundled_plugin("symbolic");
  const auto x = uniform(200, 2, -1, 1, 12);
  const auto y = torch::sin(3 * x.select(1, 0)).unsqueeze(1) * x.select(1, 1).unsqueeze(1) + 0.01 * normal(200, 13);
  const ballista::Dataset data{x, y, {"p", "q"}, {"y"}, {}};
  const auto queries = uniform(50, 2, -1.5, 1.5, 14);
  const int threads = at::get_num_threads();
  const auto fitted = [&](int count) {
    at::set_num_threads(count);
    auto model = test::make_model(plugin, {{"max_evaluations", integer(15000)}});
    CapturingContext context(21);
    model->fit(data, context);
    at::set_num_threads(threads);
    return std::make_pair(model->predict(queries), model->describe());
  };
  const auto one = fitted(1);
  const auto two = fitted(2);
  const auto again = fitted(2);
  BOOST_TEST(torch::equal(one.first, two.first), one.second << " vs " << two.second);
  BOOST_TEST(one.second == two.second);
  BOOST_TEST(torch::equal(two.first, again.first));
}

BOOST_AUTO_TEST_CASE(save_load_round_trip_is_bit_identical) {
  const auto plugin = test::load_bundled_plugin("symbolic");
  const auto x = uniform(60, 3, 0.5, 2, 15);
  const auto y = torch::cat({(x.select(1, 0) * x.select(1, 2) / 9.81).unsqueeze(1),
                             torch::log(x.select(1, 1)).unsqueeze(1) + 0.3},
                            1);
  const ballista::Dataset data{x, y, {"a", "b", "c"}, {"u", "w"}, {{"g", 9.81}}};
  test::check_save_load_round_trip(plugin, {{"max_evaluations", integer(6000)}}, data, uniform(40, 3, 0.1, 4, 16));
}

BOOST_AUTO_TEST_CASE(two_targets_get_two_independent_laws) {
  const auto plugin = test::load_bundled_plugin("symbolic");
  const auto x = uniform(100, 2, -2, 2, 17);
  const auto a = x.select(1, 0);
  const auto b = x.select(1, 1);
  const auto truth = [](const torch::Tensor& t) {
    return torch::stack({t.select(1, 0) * t.select(1, 1), t.select(1, 0) - 3 * t.select(1, 1)}, 1);
  };
  const ballista::Dataset data{x, truth(x), {"a", "b"}, {"m", "d"}, {}};
  auto model = test::make_model(plugin, {{"max_evaluations", integer(20000)}});
  CapturingContext context(4);
  model->fit(data, context);
  const auto wide = uniform(100, 2, -5, 5, 18);
  const auto predicted = model->predict(wide);
  BOOST_TEST(predicted.sizes() == torch::IntArrayRef({100, 2}));
  BOOST_TEST(relative_error(predicted, truth(wide), 1e-2) < 1e-9, model->describe());
  BOOST_TEST(model->describe().rfind("m = ", 0) == 0, model->describe());
  BOOST_TEST(model->describe().find("; d = ") != std::string::npos, model->describe());
}

BOOST_AUTO_TEST_CASE(simplification_leaves_the_plain_law) {
  // y = x exactly: the front is the single expression "x" (no x*1, x + 0, x/x*x...).
  const auto plugin = test::load_bundled_plugin("symbolic");
  const auto x = uniform(50, 1, -3, 3, 19);
  const ballista::Dataset data{x, x.clone(), {"x"}, {"y"}, {}};
  auto model = test::make_model(plugin, {{"max_evaluations", integer(5000)}});
  CapturingContext context(6);
  model->fit(data, context);
  BOOST_TEST(model->describe() == "y = x");
  BOOST_TEST(model->parameter_count() == 0);
  BOOST_REQUIRE_EQUAL(context.table_rows.size(), 1U);
  BOOST_TEST(context.table_rows[0][2] == "x");
}

BOOST_AUTO_TEST_CASE(hard_units_keep_only_consistent_expressions) {
  // The cannon with units: every expression of the hard-units front has the unit of s
  // by ballista::expression_unit; without units, the front holds some that do not.
  const auto plugin = test::load_bundled_plugin("symbolic");
  const auto x = uniform(200, 2, 0, 1, 20) * torch::tensor({10.0, M_PI / 2}, torch::kFloat64);
  const auto y = cannon_law(x) + 0.01 * normal(200, 21);
  ballista::Dataset data{x, y, {"v", "theta"}, {"s"}, {{"g", 9.81}}};
  data.units = {{"v", "m/s"}, {"theta", "rad"}, {"s", "m"}, {"g", "m/s^2"}};
  const auto units = ballista::parse_units(data.units);
  const auto consistent = [&](const std::string& expression) {
    const auto unit = ballista::expression_unit(ballista::Expression::parse(expression), units);
    return unit && *unit == ballista::Unit::parse("m");
  };
  auto hard = test::make_model(plugin, {{"max_evaluations", integer(40000)}, {"units", text("hard")}});
  CapturingContext hard_context(8);
  hard->fit(data, hard_context);
  BOOST_REQUIRE(!hard_context.table_rows.empty());
  for (const auto& row : hard_context.table_rows) {
    BOOST_TEST(consistent(row[2]), row[2] << " has units other than m");
  }
  const auto far = uniform(200, 2, 0, 1, 22) * torch::tensor({20.0, M_PI / 2}, torch::kFloat64);
  BOOST_TEST(relative_error(hard->predict(far), cannon_law(far), 1.0) < 0.01, hard->describe());

  auto off = test::make_model(plugin, {{"max_evaluations", integer(10000)}});
  CapturingContext off_context(8);
  off->fit(data, off_context);
  bool any_inconsistent = false;
  for (const auto& row : off_context.table_rows) {
    any_inconsistent = any_inconsistent || !consistent(row[2]);
  }
  BOOST_TEST(any_inconsistent);

  // A name without a unit is named in the error.
  data.units = {{"v", "m/s"}, {"s", "m"}, {"g", "m/s^2"}};
  auto missing = test::make_model(plugin, {{"max_evaluations", integer(1000)}, {"units", text("soft")}});
  try {
    missing->fit(data, hard_context);
    BOOST_FAIL("fitted with a name that has no unit");
  } catch (const std::invalid_argument& error) {
    BOOST_TEST(std::string(error.what()).find("'theta'") != std::string::npos, error.what());
  }
}

BOOST_AUTO_TEST_CASE(errors_before_fit_bad_inputs_and_operators) {
  const auto plugin = test::load_bundled_plugin("symbolic");
  auto model = test::make_model(plugin, {{"max_evaluations", integer(500)}});
  BOOST_CHECK_THROW((void)model->predict(torch::ones({2, 1}, torch::kFloat64)), std::logic_error);
  BOOST_TEST(model->describe().empty());
  const auto x = torch::linspace(1, 2, 10, torch::kFloat64).unsqueeze(1);
  auto y = 2 * x;
  y[3][0] = std::nan("");
  CapturingContext context;
  try {
    model->fit({x, y, {"x"}, {"y"}, {}}, context);
    BOOST_FAIL("fitted a NaN target");
  } catch (const std::invalid_argument& error) {
    BOOST_TEST(std::string(error.what()).find("symbolic: fit() targets: row 3, column 0 is nan") != std::string::npos,
               error.what());
  }
  model->fit({x, 2 * x, {"x"}, {"y"}, {}}, context);
  auto bad = x.clone();
  bad[1][0] = std::numeric_limits<double>::infinity();
  BOOST_CHECK_THROW((void)model->predict(bad), std::invalid_argument);
  try {
    (void)test::make_model(plugin, {{"operators", list({"+", "pow"})}});
    BOOST_FAIL("accepted an unknown operator");
  } catch (const ballista::ParameterError& error) {
    BOOST_TEST(error.parameter() == "operators");
    BOOST_TEST(std::string(error.what()).find("operators[1] 'pow'") != std::string::npos, error.what());
  }
}

BOOST_AUTO_TEST_CASE(a_cancelled_fit_stops_after_the_first_population_and_still_predicts) {
  const auto plugin = test::load_bundled_plugin("symbolic");
  const auto x = uniform(100, 1, 0, 1, 23);
  auto model = test::make_model(plugin, {});  // the default budget: would take seconds
  CapturingContext context(0, true);
  const auto start = std::chrono::steady_clock::now();
  model->fit({x, 3 * x, {"x"}, {"y"}, {}}, context);
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
  BOOST_TEST(seconds.count() < 5.0);
  BOOST_TEST(context.steps.empty());
  BOOST_TEST(model->predict(x).sizes() == torch::IntArrayRef({100, 1}));
}

BOOST_AUTO_TEST_CASE(damaged_files_are_refused_with_a_reason) {
  const auto plugin = test::load_bundled_plugin("symbolic");
  const auto x = uniform(30, 1, 0, 1, 24);
  auto model = test::make_model(plugin, {{"max_evaluations", integer(500)}});
  CapturingContext context;
  model->fit({x, 2 * x + 1, {"x"}, {"y"}, {}}, context);
  torch::serialize::OutputArchive archive;
  model->save(archive);
  test::TemporaryDirectory directory;
  const auto file = directory.path() / "m.pt";
  archive.save_to(file.string());
  // The same file with one entry replaced.
  const auto tampered = [&](const std::string& key, const torch::Tensor& value) {
    torch::serialize::InputArchive in;
    in.load_from(file.string());
    torch::serialize::OutputArchive out;
    for (const auto& name : {"format", "parameter_counts", "front_targets", "front_complexity", "front_mse",
                             "front_chosen", "constant_values"}) {
      torch::Tensor stored;
      in.read(name, stored);
      out.write(name, name == key ? value : stored);
    }
    for (const auto& name : {"input_names", "target_names", "constant_names", "expressions", "front_expressions"}) {
      ballista::write_strings(out, name, ballista::read_strings(in, name));
    }
    const auto path = directory.path() / ("bad-" + key + ".pt");
    out.save_to(path.string());
    auto fresh = test::make_model(plugin, {{"max_evaluations", integer(500)}});
    torch::serialize::InputArchive reread;
    reread.load_from(path.string());
    try {
      fresh->load(reread);
    } catch (const std::exception& error) {
      return std::string(error.what());
    }
    return std::string("loaded");
  };
  BOOST_TEST(tampered("format", torch::tensor({7}, torch::kInt64)).find("format 7") != std::string::npos);
  BOOST_TEST(tampered("parameter_counts", torch::tensor({99}, torch::kInt64)).find("fitted constants") !=
             std::string::npos);
  BOOST_TEST(tampered("front_chosen", torch::tensor({5}, torch::kInt64)).find("not on its stored front") !=
             std::string::npos);
  BOOST_TEST(tampered("front_mse", torch::ones({1000}, torch::kFloat64)).find("front_mse") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
