// ode: the batched integrator against the `projectile` source (the same law, the same
// step), against closed forms (linear drag, motion without drag at fixed times), the
// loss and its gradient against the same computation in Python PyTorch, the built-in
// finite-difference gradient check, training that recovers the drag constant, and the
// errors a user meets (located parameter errors, events that never occur, blow-ups).
#include "plugin_catalog.hpp"
#include "test_support.hpp"

#include <ballista/parameters.hpp>
#include <ballista/source.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <boost/test/unit_test.hpp>
#include <torch/torch.h>

#include <cmath>
#include <numbers>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace test = ballista::test;
using ballista::ParameterValue;

namespace {

using Overrides = std::map<std::string, ParameterValue>;
using Strings = std::vector<std::string>;

const ballista::host::LoadedPlugin& plugin() {
  static const auto loaded = test::load_bundled_plugin("ode");
  return loaded;
}

ParameterValue strings(Strings values) { return ParameterValue{std::move(values)}; }
ParameterValue real(double value) { return ParameterValue{value}; }
ParameterValue integer(std::int64_t value) { return ParameterValue{value}; }

// The shell with quadratic drag, k given in `constants` or fitted by `fit`.
Overrides drag(Strings constants, Strings fit = {}) {
  return {{"state", strings({"x = 0", "y = 0", "ux = v*cos(theta)", "uy = v*sin(theta)"})},
          {"define", strings({"speed = sqrt(ux^2 + uy^2)"})},
          {"rhs", strings({"x' = ux", "y' = uy", "ux' = -k*speed*ux", "uy' = -g - k*speed*uy"})},
          {"constants", strings(std::move(constants))},
          {"fit", strings(std::move(fit))},
          {"until", strings({"y = 0 falling"})},
          {"output", strings({"s = x"})},
          {"validation", real(0.0)}};
}

Overrides with(Overrides base, const Overrides& changes) {
  for (const auto& [name, value] : changes) {
    base[name] = value;
  }
  return base;
}

// Shots with v in [0, v_max] and theta in [0, pi/2], plus the edge cases v = 0 and theta = 0.
torch::Tensor shots(std::int64_t rows, double v_max, std::uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto table = torch::rand({rows, 2}, generator, torch::kFloat64);
  table.select(1, 0).mul_(v_max);
  table.select(1, 1).mul_(std::numbers::pi / 2);
  table[0][0] = 0.0;
  table[1][1] = 0.0;
  return table;
}

ballista::Dataset dataset(const torch::Tensor& inputs, const torch::Tensor& targets, Strings input_names = {"v", "theta"},
                          Strings target_names = {"s"}) {
  return {inputs, targets, std::move(input_names), std::move(target_names), {}};
}

// The projectile source's ranges (quadratic drag `drag`, its default dt 1e-3).
torch::Tensor projectile_ranges(const torch::Tensor& inputs, double drag) {
  static const auto source = test::load_bundled_plugin("projectile");
  std::map<std::string, ParameterValue> values;
  for (const auto& spec : source.source.parameters) {
    values[spec.name()] = spec.default_value();
  }
  values["drag"] = drag;
  test::RecordingContext context;
  return source.source.create(ballista::Parameters(values))->simulate(inputs, context);
}

// A model with no fitted part, "fitted" (nothing to learn) on `inputs`.
std::unique_ptr<ballista::Model> simulator(const Overrides& overrides, const torch::Tensor& inputs,
                                           Strings input_names = {"v", "theta"}, Strings targets = {"s"}) {
  auto model = test::make_model(plugin(), overrides);
  test::RecordingContext context;
  const auto columns = static_cast<std::int64_t>(targets.size());
  model->fit(dataset(inputs, torch::zeros({inputs.size(0), columns}, torch::kFloat64), std::move(input_names),
                     std::move(targets)),
             context);
  return model;
}

double max_abs(const torch::Tensor& values) { return values.abs().max().item<double>(); }

// The message of the exception `action` throws, or "" if it throws none.
template <class Action>
std::string thrown(Action action) {
  try {
    action();
  } catch (const std::exception& error) {
    return error.what();
  }
  return {};
}

// `text`, and whether it holds `part`, for BOOST_TEST messages.
bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(ode)

// The same law and the same RK4 step as the projectile source, the landing located the
// same way: the ranges agree to rounding (1e-9 asked, fired flat and v = 0 included).
BOOST_AUTO_TEST_CASE(with_the_true_drag_its_ranges_are_the_projectile_sources) {
  const auto inputs = shots(300, 20.0, 1);
  const auto model = simulator(with(drag({"g = 9.81", "k = 0.02"}), {{"dt", real(1e-3)}}), inputs);
  const auto predicted = model->predict(inputs);
  const auto expected = projectile_ranges(inputs, 0.02);
  BOOST_TEST(max_abs(predicted - expected) < 1e-9, "largest difference " << max_abs(predicted - expected));
  BOOST_TEST(predicted[0][0].item<double>() == 0.0);  // v = 0
  BOOST_TEST(predicted[1][0].item<double>() == 0.0);  // fired flat
  BOOST_TEST(model->parameter_count() == 0);
}

// Linear drag du/dt = −k·u − g·ŷ has a closed-form trajectory; the landing from it (60
// digits, mpmath) against RK4 at dt 1e-3 (error ∝ dt⁴) and dopri5 at rtol 1e-10.
BOOST_AUTO_TEST_CASE(linear_drag_lands_where_the_closed_form_says) {
  const auto linear = with(drag({"g = 9.81", "k = 0.5"}),
                           {{"rhs", strings({"x' = ux", "y' = uy", "ux' = -k*ux", "uy' = -g - k*uy"})},
                            {"dt", real(1e-3)}});
  const std::vector<std::pair<double, double>> cases{{10, 0.7}, {5, 1.2}, {20, 0.3}, {1, 0.05}, {8, 1.5}};
  auto inputs = torch::empty({static_cast<std::int64_t>(cases.size()), 2}, torch::kFloat64);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    inputs[static_cast<std::int64_t>(i)][0] = cases[i].first;
    inputs[static_cast<std::int64_t>(i)][1] = cases[i].second;
  }
  const auto rk4 = simulator(linear, inputs)->predict(inputs);
  const auto dopri5 = simulator(with(linear, {{"method", ParameterValue{std::string("dopri5")}},
                                              {"rtol", real(1e-10)},
                                              {"atol", real(1e-12)}}),
                                inputs)
                          ->predict(inputs);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    std::ostringstream arguments;
    arguments.precision(17);
    arguments << "linear_drag_range " << cases[i].first << ' ' << cases[i].second << " 0.5 9.81";
    const double exact = test::parse_rows(test::run_python_reference("ode_reference.py", arguments.str())).at(0).at(0);
    const auto row = static_cast<std::int64_t>(i);
    BOOST_TEST(std::abs(rk4[row][0].item<double>() - exact) <= 1e-9 * exact, i << ": " << rk4[row][0].item<double>()
                                                                               << " vs " << exact);
    BOOST_TEST(std::abs(dopri5[row][0].item<double>() - exact) <= 1e-8 * exact,
               i << ": " << dopri5[row][0].item<double>() << " vs " << exact);
  }
}

// Trajectory data: each row's targets are the state at the time in its `time` column.
// Without drag the motion is quadratic in t, which RK4 integrates exactly.
BOOST_AUTO_TEST_CASE(outputs_at_fixed_times_follow_the_closed_form) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(4);
  auto inputs = torch::rand({50, 3}, generator, torch::kFloat64) * torch::tensor({10.0, std::numbers::pi / 2, 3.0});
  inputs[0][2] = 0.0;  // at the start
  const Overrides trajectory{{"state", strings({"x = 0", "y = 0", "ux = v*cos(theta)", "uy = v*sin(theta)"})},
                             {"rhs", strings({"x' = ux", "y' = uy", "ux' = 0", "uy' = -g"})},
                             {"constants", strings({"g = 9.81"})},
                             {"until", strings({"t = time"})},
                             {"output", strings({"px = x", "py = y", "when = t"})},
                             {"dt", real(0.01)}};
  const auto v = inputs.select(1, 0);
  const auto theta = inputs.select(1, 1);
  const auto t = inputs.select(1, 2);
  const auto expected = torch::stack({v * torch::cos(theta) * t, v * torch::sin(theta) * t - 9.81 / 2 * t * t, t}, 1);
  for (const std::string method : {"rk4", "dopri5"}) {
    const auto model = simulator(with(trajectory, {{"method", ParameterValue{method}}}), inputs, {"v", "theta", "time"},
                                 {"px", "py", "when"});
    const auto predicted = model->predict(inputs);
    BOOST_TEST(max_abs(predicted - expected) < 1e-11, method << ": " << max_abs(predicted - expected));
  }
}

// More than one event: the first to occur ends the sample. A wall at x = 5 stops the
// long shots there; the others land as without it.
BOOST_AUTO_TEST_CASE(the_first_of_several_events_ends_the_integration) {
  const auto inputs = shots(100, 12.0, 6);
  const Overrides walls{{"state", strings({"x = 0", "y = 0", "ux = v*cos(theta)", "uy = v*sin(theta)"})},
                        {"rhs", strings({"x' = ux", "y' = uy", "ux' = 0", "uy' = -9.81"})},
                        {"until", strings({"y = 0 falling", "x = 5 rising"})},
                        {"output", strings({"s = x"})}};
  const auto predicted = simulator(walls, inputs)->predict(inputs).squeeze(1);
  const auto v = inputs.select(1, 0);
  const auto range = v * v * torch::sin(2 * inputs.select(1, 1)) / 9.81;
  BOOST_TEST(max_abs(predicted - range.clamp_max(5.0)) < 1e-9, max_abs(predicted - range.clamp_max(5.0)));
  BOOST_TEST((range > 5.0).sum().item<std::int64_t>() > 10);  // the wall is reached by some
}

// The loss and its gradient at the initial parameters, through the steps and the
// event time, against ode_reference.py (the same computation in Python PyTorch).
BOOST_AUTO_TEST_CASE(loss_and_gradient_equal_pytorchs) {
  test::TemporaryDirectory directory;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(8);
  auto inputs = torch::rand({20, 2}, generator, torch::kFloat64) * torch::tensor({10.0, std::numbers::pi / 2});
  inputs = inputs + torch::tensor({0.5, 0.05});
  const auto s = 0.9 * inputs.select(1, 0).square() * torch::sin(2 * inputs.select(1, 1)) / 9.81;
  const auto file = directory.path() / "train.csv";
  test::write_csv(file, torch::cat({inputs, s.unsqueeze(1)}, 1));
  const auto data = dataset(inputs, s.unsqueeze(1));
  const Overrides no_steps{{"epochs", integer(0)}, {"lbfgs_steps", integer(0)}, {"dt", real(0.01)}};

  auto grey = test::make_model(plugin(), with(drag({"g = 9.81"}, {"k = 0.02"}), no_steps));
  test::RecordingContext grey_context(0);
  grey->fit(data, grey_context);
  const auto grey_reference =
      test::parse_rows(test::run_python_reference("ode_reference.py", "grey " + test::shell_quote(file.string()) +
                                                                          " 0.02 0.01"));
  const double loss = grey_context.values().at("initial_loss");
  const double gradient = grey_context.values().at("initial_gradient_k");
  BOOST_TEST(std::abs(loss - grey_reference.at(0).at(0)) <= 1e-10 * grey_reference.at(0).at(0));
  BOOST_TEST(std::abs(gradient - grey_reference.at(1).at(0)) <= 1e-10 * std::abs(grey_reference.at(1).at(0)),
             gradient << " vs " << grey_reference.at(1).at(0));

  const Overrides universal{{"rhs", strings({"x' = ux", "y' = uy", "ux' = net1", "uy' = -g + net2"})},
                            {"define", strings({})},
                            {"net_inputs", strings({"ux", "uy"})},
                            {"net_outputs", integer(2)},
                            {"net_hidden", ParameterValue{std::vector<std::int64_t>{32, 32}}},
                            {"net_activation", ParameterValue{std::string("tanh")}}};
  auto network = test::make_model(plugin(), with(with(drag({"g = 9.81"}), universal), no_steps));
  test::RecordingContext network_context(0);
  network->fit(data, network_context);
  const auto network_reference = test::parse_rows(test::run_python_reference(
      "ode_reference.py", "universal " + test::shell_quote(file.string()) + " 0 32,32 tanh 0.01"));
  const double network_loss = network_context.values().at("initial_loss");
  const double norm = network_context.values().at("initial_gradient_norm");
  BOOST_TEST(std::abs(network_loss - network_reference.at(0).at(0)) <= 1e-10 * network_reference.at(0).at(0));
  BOOST_TEST(std::abs(norm - network_reference.at(1).at(0)) <= 1e-10 * network_reference.at(1).at(0),
             norm << " vs " << network_reference.at(1).at(0));
  BOOST_TEST(network->parameter_count() == 2 * 32 + 32 + 32 * 32 + 32 + 32 * 2 + 2);
}

// The built-in check: autograd through the solver and the event time agrees with
// finite differences, for a fitted constant and for network weights.
BOOST_AUTO_TEST_CASE(the_gradient_check_agrees_with_finite_differences) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(9);
  const auto inputs = torch::rand({12, 2}, generator, torch::kFloat64) * torch::tensor({10.0, 1.5}) + 0.05;
  const auto targets = projectile_ranges(inputs, 0.02);
  const Overrides checked{{"epochs", integer(0)}, {"lbfgs_steps", integer(0)}, {"gradient_check", ParameterValue{true}}};
  for (const auto& overrides :
       {with(drag({"g = 9.81"}, {"k = 0.01 in [0, inf]"}), checked),
        with(with(drag({"g = 9.81"}), checked),
             {{"rhs", strings({"x' = ux", "y' = uy", "ux' = net1", "uy' = -g + net2"})},
              {"net_inputs", strings({"ux", "uy"})},
              {"net_outputs", integer(2)},
              {"net_hidden", ParameterValue{std::vector<std::int64_t>{8}}}})}) {
    auto model = test::make_model(plugin(), overrides);
    test::RecordingContext context(3);
    model->fit(dataset(inputs, targets), context);
    const double error = context.values().at("gradient_check_max_relative_error");
    BOOST_TEST(error < 1e-6, "relative difference " << error);
  }
}

// The grey box on noisy ranges from the projectile source: k comes back within 1% of
// the truth, and the far shots (v up to 20, never seen) are predicted to the noise.
BOOST_AUTO_TEST_CASE(grey_box_recovers_the_drag_constant) {
  const auto inputs = shots(202, 10.0, 11).slice(0, 2);  // without the edge cases
  auto generator = at::make_generator<at::CPUGeneratorImpl>(12);
  const auto targets = projectile_ranges(inputs, 0.02) + 0.01 * torch::randn({inputs.size(0), 1}, generator,
                                                                            torch::kFloat64);
  auto model = test::make_model(plugin(), with(drag({"g = 9.81"}, {"k = 0.005 in [0, inf]"}),
                                               {{"epochs", integer(10)}, {"lbfgs_steps", integer(20)},
                                                {"validation", real(0.2)}}));
  test::RecordingContext context(5);
  model->fit(dataset(inputs, targets), context);
  const double k = context.values().at("k");
  BOOST_TEST(std::abs(k - 0.02) < 0.01 * 0.02, "k = " << k);
  const auto far = shots(200, 20.0, 13).slice(0, 2) + torch::tensor({0.0, 0.01});
  const auto far_inputs = torch::stack({10.0 + far.select(1, 0) / 2, far.select(1, 1)}, 1);
  const double mse = (model->predict(far_inputs) - projectile_ranges(far_inputs, 0.02)).square().mean().item<double>();
  BOOST_TEST(mse < 2e-4, "far MSE " << mse);
  BOOST_TEST(has(model->describe(), "ux' = -0.02"), model->describe());
  BOOST_TEST(context.losses().size() <= 30U);
  BOOST_TEST(model->parameter_count() == 1);
}

// Distilling: a network learns the decay rate of u' = −0.7·u from the values at the end
// times alone; STLSQ over {1, u, u²} along the trajectories, refitted through the
// solver, gives back −0.7·u alone, which then extrapolates to starting values 2.5× the
// training ones where the network did not (closed form u0·exp(−0.7·T)).
BOOST_AUTO_TEST_CASE(distilling_turns_the_network_into_the_law) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(21);
  const auto decay = [](const torch::Tensor& inputs) {
    return (inputs.select(1, 0) * torch::exp(-0.7 * inputs.select(1, 1))).unsqueeze(1);
  };
  const auto inputs = torch::stack({0.5 + 1.5 * torch::rand({200}, generator, torch::kFloat64),
                                    0.2 + 1.8 * torch::rand({200}, generator, torch::kFloat64)},
                                   1);
  const Overrides learned{{"state", strings({"u = u0"})},
                          {"rhs", strings({"u' = net1"})},
                          {"until", strings({"t = T"})},
                          {"output", strings({"z = u"})},
                          {"net_inputs", strings({"u"})},
                          {"net_hidden", ParameterValue{std::vector<std::int64_t>{8}}},
                          {"dt", real(0.05)},
                          {"epochs", integer(200)},
                          {"lr", real(0.02)},
                          {"lbfgs_steps", integer(20)},
                          {"validation", real(0.0)}};
  const Strings names{"u0", "T"};
  auto network = test::make_model(plugin(), learned);
  test::RecordingContext network_context(5);
  network->fit(dataset(inputs, decay(inputs), names, {"z"}), network_context);
  auto model = test::make_model(plugin(), with(learned, {{"distil", ParameterValue{true}}}));
  test::RecordingContext context(5);
  model->fit(dataset(inputs, decay(inputs), names, {"z"}), context);

  const auto& description = model->describe();
  BOOST_TEST(has(description, "u' = -0.7"), description);
  BOOST_TEST(!has(description, "u^2"), description);
  BOOST_TEST(model->parameter_count() == 1);
  BOOST_TEST(context.values().at("distil_terms") == 1.0);
  BOOST_TEST(context.values().at("distil_relative_residual") < 0.05);
  const auto far = torch::stack({2.0 + 3.0 * torch::rand({100}, generator, torch::kFloat64),
                                 0.2 + 1.8 * torch::rand({100}, generator, torch::kFloat64)},
                                1);
  const double distilled = (model->predict(far) - decay(far)).square().mean().item<double>();
  const double raw = (network->predict(far) - decay(far)).square().mean().item<double>();
  BOOST_TEST(distilled < 1e-10, "far MSE of the formula " << distilled);
  BOOST_TEST(distilled < raw / 100, "far MSE of the formula " << distilled << ", of the network " << raw);
  // The distilled model saves and loads like any other.
  test::check_save_load_round_trip(plugin(), with(learned, {{"distil", ParameterValue{true}}, {"epochs", integer(20)}}),
                                   dataset(inputs, decay(inputs), names, {"z"}), far);
}

// The fused right-hand side (one compiled node with its own backward) against the same
// equations evaluated op by op by LibTorch, whose autograd gives the reference
// derivatives: the loss and its gradient for every function the expressions know, a
// variable exponent, pi, and a network's outputs read by the rates (the network itself
// fused too, for each activation).
BOOST_AUTO_TEST_CASE(the_fused_right_hand_side_matches_libtorchs_autograd) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(31);
  const auto inputs = torch::stack({0.2 + torch::rand({40}, generator, torch::kFloat64),
                                    0.3 + torch::rand({40}, generator, torch::kFloat64)},
                                   1);
  const auto targets = torch::rand({40, 1}, generator, torch::kFloat64);
  const Overrides functions{
      {"state", strings({"a = a0", "b = 1"})},
      {"define", strings({"q = sqrt(a^2 + b^2)"})},
      {"rhs", strings({"a' = -k1*sin(a)*cos(b) + exp(-k2*b)/(1 + abs(a - 0.5)) - q/10",
                       "b' = -k3*tan(0.3*b) + log(2 + a^2)*b^k4 - pi/100"})},
      {"fit", strings({"k1 = 0.7", "k2 = 0.4", "k3 = 0.9", "k4 = 1.3"})},
      {"until", strings({"t = T"})},
      {"output", strings({"z = a + b"})},
      {"dt", real(0.05)},
      {"epochs", integer(0)},
      {"lbfgs_steps", integer(0)},
      {"validation", real(0.0)}};
  const Overrides network = with(drag({"g = 9.81"}, {"k = 0.01"}),
                                 {{"rhs", strings({"x' = ux", "y' = uy", "ux' = -k*speed*ux + net1",
                                                   "uy' = -g - k*speed*uy + net2/2"})},
                                  {"net_inputs", strings({"ux", "speed"})},
                                  {"net_outputs", integer(2)},
                                  {"net_hidden", ParameterValue{std::vector<std::int64_t>{6}}},
                                  {"epochs", integer(0)},
                                  {"lbfgs_steps", integer(0)}});
  const auto shells = shots(52, 10.0, 32).slice(0, 2);  // v > 0: the speed's sqrt has a derivative
  const auto ranges = projectile_ranges(shells, 0.02);
  const auto fitted = [&](const Overrides& base, bool fused, const ballista::Dataset& data) {
    auto model = test::make_model(plugin(), with(base, {{"fused", ParameterValue{fused}}}));
    test::RecordingContext context;
    model->fit(data, context);
    return context.values();
  };
  const auto relative = [](double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-300); };
  const auto equations = dataset(inputs, targets, {"a0", "T"}, {"z"});
  const auto fused = fitted(functions, true, equations);
  const auto reference = fitted(functions, false, equations);
  for (const auto* name : {"initial_loss", "initial_gradient_k1", "initial_gradient_k2", "initial_gradient_k3",
                           "initial_gradient_k4", "initial_gradient_norm"}) {
    BOOST_TEST(relative(fused.at(name), reference.at(name)) < 1e-12,
               name << ": fused " << fused.at(name) << ", op by op " << reference.at(name));
  }
  for (const auto* activation : {"tanh", "sigmoid", "softplus"}) {
    const auto net = with(network, {{"net_activation", ParameterValue{std::string(activation)}},
                                    {"net_hidden", ParameterValue{std::vector<std::int64_t>{6, 5}}}});
    const auto with_network = fitted(net, true, dataset(shells, ranges));
    const auto network_reference = fitted(net, false, dataset(shells, ranges));
    for (const auto* name : {"initial_loss", "initial_gradient_k", "initial_gradient_norm"}) {
      BOOST_TEST(relative(with_network.at(name), network_reference.at(name)) < 1e-12,
                 activation << " " << name << ": fused " << with_network.at(name) << ", op by op "
                            << network_reference.at(name));
    }
  }
}

BOOST_AUTO_TEST_CASE(save_and_load_give_the_same_bits) {
  const auto inputs = shots(60, 10.0, 14).slice(0, 2);
  const auto targets = projectile_ranges(inputs, 0.02);
  test::check_save_load_round_trip(plugin(),
                                   with(drag({"g = 9.81"}, {"k = 0.01"}),
                                        {{"epochs", integer(3)}, {"lbfgs_steps", integer(2)}}),
                                   dataset(inputs, targets), shots(25, 15.0, 15));
}

// Refusals located at the parameter, with what is wrong and what is allowed.
BOOST_AUTO_TEST_CASE(bad_equations_are_refused_at_the_parameter) {
  const auto refusal = [](const Overrides& overrides) -> std::pair<std::string, std::string> {
    try {
      (void)test::make_model(plugin(), overrides);
    } catch (const ballista::ParameterError& error) {
      return {error.parameter(), error.what()};
    }
    return {};
  };
  const auto base = drag({"g = 9.81", "k = 0.02"});
  const auto missing = refusal(with(base, {{"rhs", strings({"x' = ux", "y' = uy", "ux' = 0"})}}));
  BOOST_TEST(missing.first == "rhs");
  BOOST_TEST(has(missing.second, "no equation for uy' (every state variable needs one: x, y, ux, uy)"), missing.second);
  const auto stranger = refusal(with(base, {{"rhs", strings({"x' = ux", "y' = uy", "ux' = 0", "uy' = 0", "z' = 1"})}}));
  BOOST_TEST(has(stranger.second, "'z' is not a state variable (the state: x, y, ux, uy)"), stranger.second);
  const auto initial = refusal(with(base, {{"state", strings({"x = 0", "y = x", "ux = v", "uy = v"})}}));
  BOOST_TEST(initial.first == "state");
  BOOST_TEST(has(initial.second, "reads 'x', a state variable, which an initial value cannot read"), initial.second);
  const auto syntax = refusal(with(base, {{"define", strings({"speed = sqrt(ux^2 + )"})}}));
  BOOST_TEST(syntax.first == "define");
  BOOST_TEST(has(syntax.second, "define[0] 'speed = sqrt(ux^2 + )'"), syntax.second);
  const auto bounds = refusal(with(base, {{"fit", strings({"c = 2 in [0, 1]"})}}));
  BOOST_TEST(has(bounds.second, "the initial value must lie within [LOW, HIGH]"), bounds.second);
  const auto clash = refusal(with(base, {{"fit", strings({"g = 9"})}}));
  BOOST_TEST(has(clash.second, "'g' is already a constant"), clash.second);
  const auto event = refusal(with(base, {{"until", strings({"y falling"})}}));
  BOOST_TEST(has(event.second, "expected 'EXPRESSION = EXPRESSION [falling|rising]'"), event.second);
  // Names the equations read but do not define are the data's inputs (or the pipeline's
  // constants): the host checks them against the data at validation.
  const auto model = test::make_model(plugin(), with(base, {{"rhs", strings({"x' = ux", "y' = uy", "ux' = -drag*ux",
                                                                             "uy' = -g"})}}));
  BOOST_TEST(model->required_inputs() == (Strings{"v", "theta", "drag"}));
  BOOST_TEST(model->required_targets() == Strings{"s"});
}

// Integration failures: a failed model with the count of samples concerned, never a hang.
BOOST_AUTO_TEST_CASE(integration_failures_count_the_samples) {
  const auto inputs = shots(40, 10.0, 16).slice(0, 2);
  const auto base = drag({"g = 9.81", "k = 0.02"});
  // An event that never occurs within the time cap.
  const auto never = simulator(with(base, {{"until", strings({"y = 1000 rising"})}, {"max_time", real(5.0)}}), inputs);
  const auto late = thrown([&] { (void)never->predict(inputs); });
  BOOST_TEST(has(late, "the event 'y = 1000 rising' did not occur within max_time = 5 s for 38 of 38 samples "
                       "(first: row 0)"),
             late);
  // A solution that blows up in finite time (u' = u², u = 1/(1/u0 − t)).
  const auto blowing = simulator(with(base, {{"rhs", strings({"x' = ux", "y' = uy", "ux' = ux^2", "uy' = -g"})}}),
                                 inputs);
  const auto blown = thrown([&] { (void)blowing->predict(inputs); });
  BOOST_TEST(has(blown, "the integration blew up (NaN or inf in the state) for "), blown);
  // A step too large for the system's fastest rate is refused before training.
  auto stiff = test::make_model(plugin(), with(drag({"g = 9.81"}, {"k = 5"}), {{"dt", real(0.5)}}));
  test::RecordingContext context;
  const auto unstable = thrown([&] { stiff->fit(dataset(inputs, projectile_ranges(inputs, 0.02)), context); });
  BOOST_TEST(has(unstable, "s is too large for stability: the system's fastest rate at the start of training row"),
             unstable);
  BOOST_TEST(has(unstable, "or method: dopri5"), unstable);
}

BOOST_AUTO_TEST_SUITE_END()
