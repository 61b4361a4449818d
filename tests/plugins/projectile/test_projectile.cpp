// projectile (a data source): ranges against the closed forms without drag and with
// linear drag, against an independent NumPy solution with quadratic drag (hodograph
// quadrature, no time stepping), RK4's fourth order, input checks and discovery.
#include "plugin_catalog.hpp"
#include "test_support.hpp"

#include <ballista/parameters.hpp>
#include <ballista/source.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <boost/test/unit_test.hpp>
#include <torch/torch.h>

#include <array>
#include <chrono>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace test = ballista::test;
using ballista::ParameterValue;

namespace {

using Overrides = std::map<std::string, ParameterValue>;
using Shots = std::vector<std::array<double, 2>>;  // (v m/s, theta rad)

const ballista::host::LoadedPlugin& plugin() {
  static const auto loaded = test::load_bundled_plugin("projectile");
  return loaded;
}

std::unique_ptr<ballista::Source> make_source(const Overrides& overrides) {
  std::map<std::string, ParameterValue> values;
  for (const auto& spec : plugin().source.parameters) {
    values[spec.name()] = spec.default_value();
  }
  for (const auto& [name, value] : overrides) {
    values[name] = value;
  }
  return plugin().source.create(ballista::Parameters(values));
}

torch::Tensor table(const Shots& shots) {
  auto inputs = torch::empty({static_cast<std::int64_t>(shots.size()), 2}, torch::kFloat64);
  for (std::size_t i = 0; i < shots.size(); ++i) {
    inputs[static_cast<std::int64_t>(i)][0] = shots[i][0];
    inputs[static_cast<std::int64_t>(i)][1] = shots[i][1];
  }
  return inputs;
}

// The plugin's range for each shot.
std::vector<double> ranges(const Overrides& overrides, const Shots& shots) {
  test::RecordingContext context;
  const auto s = make_source(overrides)->simulate(table(shots), context);
  BOOST_REQUIRE(s.dtype() == torch::kFloat64);
  BOOST_REQUIRE((s.sizes() == torch::IntArrayRef{static_cast<std::int64_t>(shots.size()), 1}));
  const auto column = s.squeeze(1).contiguous();
  return {column.data_ptr<double>(), column.data_ptr<double>() + column.numel()};
}

Overrides drag(double coefficient, const std::string& law, double dt = 1e-3) {
  return {{"drag", ParameterValue{coefficient}}, {"drag_law", ParameterValue{law}}, {"dt", ParameterValue{dt}}};
}

// Ranges from tests/reference/projectile_reference.py (quadratic drag, g = 9.81).
std::vector<double> numpy_quadratic_ranges(double coefficient, const Shots& shots) {
  test::TemporaryDirectory directory;
  const auto file = directory.path() / "shots.csv";
  test::write_csv(file, table(shots));
  const auto rows = test::parse_rows(
      test::run_python_reference("projectile_reference.py", "quadratic 9.81 " + std::to_string(coefficient) + " " +
                                                                 test::shell_quote(file.string())));
  std::vector<double> s;
  for (const auto& row : rows) {
    s.push_back(row.at(0));
  }
  BOOST_REQUIRE_EQUAL(s.size(), shots.size());
  return s;
}

// Keeps the warnings a source logs.
class LoggingContext final : public ballista::Context {
 public:
  void report_progress(std::int64_t /*step*/, std::int64_t /*total*/, double /*loss*/) override {}
  bool cancelled() const override { return false; }
  torch::Device device() const override { return torch::kCPU; }
  std::uint64_t seed() const override { return 0; }
  void log(ballista::LogLevel level, std::string_view message) override {
    if (level == ballista::LogLevel::warning) {
      warnings.emplace_back(message);
    }
  }
  std::vector<std::string> warnings;
};

// The message of what `call` throws as E, or "" if it does not throw.
template <class E, class F>
std::string error_of(F&& call) {
  try {
    call();
  } catch (const E& error) {
    return error.what();
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(projectile)

BOOST_AUTO_TEST_CASE(without_drag_the_range_is_the_closed_form) {
  Shots shots;
  for (const double v : {0.5, 1.0, 2.5, 7.0, 10.0, 40.0, 300.0}) {
    for (const double theta : {1e-6, 0.01, 0.2, 0.5, std::numbers::pi / 4, 1.0, 1.3, 1.55}) {
      shots.push_back({v, theta});
    }
  }
  for (const double g : {9.81, 1.62}) {
    const auto s = ranges({{"g", ParameterValue{g}}}, shots);
    for (std::size_t i = 0; i < shots.size(); ++i) {
      const auto [v, theta] = shots[i];
      BOOST_TEST(s[i] == v * v * std::sin(2 * theta) / g, boost::test_tools::tolerance(1e-9));
    }
  }
  // Never leaves the ground, or goes straight up and falls back on the gun.
  const auto edge = ranges({}, {{0.0, 0.7}, {5.0, 0.0}, {0.0, 0.0}, {5.0, std::numbers::pi / 2}});
  BOOST_TEST(edge[0] == 0.0);
  BOOST_TEST(edge[1] == 0.0);
  BOOST_TEST(edge[2] == 0.0);
  BOOST_TEST(std::abs(edge[3]) < 1e-12);
}

BOOST_AUTO_TEST_CASE(linear_drag_matches_the_closed_form_trajectory) {
  // du/dt = −g e_y − k u:  x(t) = (v cosθ / k)(1 − e^{−kt}),
  //                        y(t) = ((v sinθ + g/k) / k)(1 − e^{−kt}) − g t / k.
  // y is concave with one positive root, the landing time: found by bisection.
  constexpr double g = 9.81;
  const Shots shots{{1.0, 0.3}, {10.0, 0.7}, {10.0, 1.4}, {35.0, std::numbers::pi / 4}, {120.0, 0.2}, {4.0, 1e-4}};
  for (const double k : {0.05, 0.4, 2.0}) {
    const auto s = ranges(drag(k, "linear"), shots);
    for (std::size_t i = 0; i < shots.size(); ++i) {
      const auto [v, theta] = shots[i];
      const auto decayed = [&](double t) { return -std::expm1(-k * t); };  // 1 − e^{−kt}, accurately
      const auto y = [&](double t) { return (v * std::sin(theta) + g / k) / k * decayed(t) - g * t / k; };
      double low = 0.0;  // y > 0 just after 0
      double high = 2 * v * std::sin(theta) / g;
      while (y(high) > 0) {
        high *= 2;
      }
      for (int step = 0; step < 200; ++step) {
        const double middle = (low + high) / 2;
        (y(middle) > 0 ? low : high) = middle;
      }
      const double expected = v * std::cos(theta) / k * decayed((low + high) / 2);
      BOOST_TEST(s[i] == expected, "k " << k << " v " << v << " theta " << theta << boost::test_tools::tolerance(1e-9));
    }
  }
}

BOOST_AUTO_TEST_CASE(quadratic_drag_matches_numpy) {
  Shots shots;
  for (const double v : {2.0, 10.0, 30.0, 80.0}) {
    for (const double theta : {0.05, 0.3, 0.6, 0.9, 1.3}) {
      shots.push_back({v, theta});
    }
  }
  for (const double k : {0.01, 0.1}) {
    const auto expected = numpy_quadratic_ranges(k, shots);
    const auto s = ranges(drag(k, "quadratic"), shots);
    for (std::size_t i = 0; i < shots.size(); ++i) {
      BOOST_TEST(s[i] == expected[i], "k " << k << " v " << shots[i][0] << " theta " << shots[i][1]
                                            << boost::test_tools::tolerance(1e-9));
    }
  }
}

BOOST_AUTO_TEST_CASE(halving_dt_divides_the_error_by_sixteen) {
  // RK4 is fourth order and the landing step is solved exactly, so the range error is
  // C·dt⁴: each halving divides it by 2⁴ = 16. A linear interpolation of the landing
  // would show order 2 here.
  const Shots shots{{30.0, 0.9}, {60.0, 0.4}};
  const auto expected = numpy_quadratic_ranges(0.05, shots);
  std::vector<std::vector<double>> errors;
  for (const double dt : {0.04, 0.02, 0.01}) {
    const auto s = ranges(drag(0.05, "quadratic", dt), shots);
    errors.push_back({std::abs(s[0] - expected[0]), std::abs(s[1] - expected[1])});
  }
  for (std::size_t shot = 0; shot < shots.size(); ++shot) {
    for (std::size_t halving = 0; halving + 1 < errors.size(); ++halving) {
      const double order = std::log2(errors[halving][shot] / errors[halving + 1][shot]);
      BOOST_TEST_MESSAGE("projectile: shot " << shot << " error " << errors[halving][shot] << " m → "
                                             << errors[halving + 1][shot] << " m, order " << order);
      BOOST_TEST(order > 3.5, "shot " << shot << " errors " << errors[halving][shot] << " → "
                                      << errors[halving + 1][shot] << ", order " << order);
      BOOST_TEST(order < 4.5, "order " << order);
    }
  }
}

BOOST_AUTO_TEST_CASE(drag_always_shortens_the_range) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto draws = torch::rand({60, 2}, generator, torch::kFloat64);
  Shots shots;
  for (std::int64_t i = 0; i < draws.size(0); ++i) {
    shots.push_back({0.1 + 200 * draws[i][0].item<double>(), 0.01 + 1.55 * draws[i][1].item<double>()});
  }
  const auto vacuum = ranges({}, shots);
  for (const auto& law : {"quadratic", "linear"}) {
    for (const double k : {1e-4, 0.01, 0.3}) {
      const auto s = ranges(drag(k, law), shots);
      for (std::size_t i = 0; i < shots.size(); ++i) {
        BOOST_TEST((s[i] > 0 && s[i] < vacuum[i]), law << " " << k << ": " << s[i] << " vs " << vacuum[i]);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_inputs_and_parameters_are_refused) {
  const auto source = make_source({});
  test::RecordingContext context;
  const auto simulate = [&](const torch::Tensor& inputs) { return source->simulate(inputs, context); };
  auto message = error_of<std::invalid_argument>([&] { simulate(table({{1, 0.5}, {2, 0.5}, {-1, 0.5}, {-3, 0.5}})); });
  BOOST_TEST(message.find("row 2") != std::string::npos, message);
  BOOST_TEST(message.find("v = -1 ") != std::string::npos, message);
  message = error_of<std::invalid_argument>([&] { simulate(table({{1, 0.5}, {2, 1.6}})); });
  BOOST_TEST(message.find("row 1") != std::string::npos, message);
  BOOST_TEST(message.find("theta = 1.6") != std::string::npos, message);
  message = error_of<std::invalid_argument>([&] { simulate(table({{1, -0.1}})); });
  BOOST_TEST(message.find("row 0") != std::string::npos, message);
  message = error_of<std::invalid_argument>([&] { simulate(table({{std::nan(""), 0.5}})); });
  BOOST_TEST(message.find("v = nan") != std::string::npos, message);
  BOOST_CHECK_THROW(simulate(torch::ones({3, 1}, torch::kFloat64)), std::invalid_argument);
  // Just above π/2 is outside too.
  BOOST_CHECK_THROW(simulate(table({{1, std::nextafter(std::numbers::pi / 2, 2.0)}})), std::invalid_argument);

  try {
    (void)make_source({{"dt", ParameterValue{2.0}}, {"max_time", ParameterValue{1.0}}});
    BOOST_ERROR("dt > max_time was accepted");
  } catch (const ballista::ParameterError& error) {
    BOOST_TEST(error.parameter() == "dt");
  }
  // Not landed by max_time: NaN for that row only, and a warning that says why.
  LoggingContext logging;
  const auto s = make_source({{"max_time", ParameterValue{1.0}}})
                     ->simulate(table({{1.0, 0.5}, {100.0, 1.2}, {90.0, 1.0}}), logging);
  BOOST_TEST(std::isfinite(s[0][0].item<double>()));
  BOOST_TEST(std::isnan(s[1][0].item<double>()));
  BOOST_TEST(std::isnan(s[2][0].item<double>()));
  BOOST_REQUIRE_EQUAL(logging.warnings.size(), 1U);
  BOOST_TEST(logging.warnings[0].find("2 of 3 shots were still in the air at max_time = 1 s (first: row 1") !=
                 std::string::npos,
             logging.warnings[0]);
  // A step too coarse for the drag (RK4 would be unstable and land anywhere): the row
  // that is too fast, or the parameters themselves when even the terminal speed is.
  message = error_of<std::invalid_argument>(
      [&] { make_source(drag(0.1, "quadratic", 0.01))->simulate(table({{10, 0.5}, {2000, 0.5}}), context); });
  BOOST_TEST(message.find("row 1") != std::string::npos, message);
  BOOST_TEST(message.find("dt <= 0.0025") != std::string::npos, message);
  try {
    (void)make_source(drag(10.0, "linear", 0.5));
    BOOST_ERROR("dt 0.5 with linear drag 10/s was accepted");
  } catch (const ballista::ParameterError& error) {
    BOOST_TEST(error.parameter() == "dt");
  }
}

BOOST_AUTO_TEST_CASE(a_thousand_shots_take_well_under_a_second) {
  // The article's input ranges, with quadratic drag, at the default dt.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(0);
  auto inputs = torch::rand({1000, 2}, generator, torch::kFloat64);
  inputs.select(1, 0).mul_(10);
  inputs.select(1, 1).mul_(std::numbers::pi / 2);
  const auto source = make_source(drag(0.05, "quadratic"));
  test::RecordingContext context;
  const auto start = std::chrono::steady_clock::now();
  const auto s = source->simulate(inputs, context);
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  BOOST_TEST_MESSAGE("projectile: 1000 shots at dt 1e-3 in " << elapsed.count() << " s");
  BOOST_TEST(torch::isfinite(s).all().item<bool>());
  BOOST_TEST(elapsed.count() < 1.0);
}

BOOST_AUTO_TEST_CASE(the_catalog_lists_it_as_a_source) {
  const ballista::host::PluginCatalog catalog({test::plugin_dir()});
  const auto* found = catalog.find("projectile");
  BOOST_REQUIRE(found != nullptr);
  BOOST_TEST((found->kind == ballista::host::PluginKind::source));
  BOOST_TEST((found->source.inputs == std::vector<std::string>{"v", "theta"}));
  BOOST_TEST((found->source.targets == std::vector<std::string>{"s"}));
  BOOST_TEST(static_cast<bool>(found->source.create));
  BOOST_TEST(!found->summary.empty());
  std::vector<std::string> names;
  for (const auto& spec : found->parameters()) {
    names.push_back(spec.name());
  }
  BOOST_TEST((names == std::vector<std::string>{"g", "drag", "drag_law", "dt", "max_time"}));
}

BOOST_AUTO_TEST_SUITE_END()
