// A hybrid model: the prediction is the outcome of integrating an ODE whose right-hand
// side mixes known terms with parts that are fitted (named constants, a small network),
// trained end to end through the integrator on the same data as every other model. The
// article's conclusion, as a plugin: with the drag law's form known and its constant
// not (grey box), or the drag term a network of the velocity (a universal differential
// equation), or nothing learned at all (a simulator as a model, for comparison).
//
// Training is the universal-differential-equation recipe: full-batch Adam, then L-BFGS
// (strong-Wolfe line search), keeping the parameters with the lowest loss on a held-out
// validation share (early stopping).
#include "integrator.hpp"
#include "ode_system.hpp"

#include <ballista/archive.hpp>
#include <ballista/device.hpp>
#include <ballista/parallel.hpp>
#include <ballista/plugin.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using ballista_ode::Bindings;
using ballista_ode::format_number;
using ballista_ode::IntegrationError;
using ballista_ode::Integrator;
using ballista_ode::IntegratorSettings;
using ballista_ode::OdeSystem;

IntegratorSettings settings_from(const ballista::Parameters& parameters) {
  IntegratorSettings settings;
  settings.method = parameters.get<std::string>("method");
  settings.dt = parameters.get<double>("dt");
  settings.rtol = parameters.get<double>("rtol");
  settings.atol = parameters.get<double>("atol");
  settings.max_time = parameters.get<double>("max_time");
  settings.max_steps = parameters.get<std::int64_t>("max_steps");
  if (settings.dt > settings.max_time) {
    throw ballista::ParameterError("dt", "dt (" + format_number(settings.dt) + " s) must not exceed max_time (" +
                                             format_number(settings.max_time) + " s)");
  }
  return settings;
}

class OdeModel final : public ballista::Model {
 public:
  explicit OdeModel(const ballista::Parameters& parameters)
      : system_(parameters),
        settings_(settings_from(parameters)),
        epochs_(parameters.get<std::int64_t>("epochs")),
        learning_rate_(parameters.get<double>("lr")),
        lbfgs_steps_(parameters.get<std::int64_t>("lbfgs_steps")),
        validation_(parameters.get<double>("validation")),
        patience_(parameters.get<std::int64_t>("patience")),
        gradient_check_(parameters.get<bool>("gradient_check")),
        device_(ballista::chosen_device(parameters)),
        dtype_(parameters.get<std::string>("dtype") == "float32" ? torch::kFloat32 : torch::kFloat64) {}

  std::vector<std::string> required_inputs() const override { return system_.free_names(); }
  std::vector<std::string> required_targets() const override {
    std::vector<std::string> names;
    for (const auto& output : system_.outputs()) {
      names.push_back(output.name);
    }
    return names;
  }

  // Everything runs as one task on one core with a one-thread BLAS: the network's
  // products are small ([n, 32] by [32, 32]), and OpenBLAS's threads would spend their
  // time waking and yielding; it also keeps the bits independent of the thread count.
  void fit(const ballista::Dataset& train, ballista::Context& context) override {
    ballista::parallel_tasks(1, [&](std::int64_t /*task*/) { fit_on_one_core(train, context); });
  }

  void fit_on_one_core(const ballista::Dataset& train, ballista::Context& context) {
    ballista::require_finite(train.inputs, "ode: fit() inputs");
    ballista::require_finite(train.targets, "ode: fit() targets");
    bind_columns(train);
    auto generator = at::make_generator<at::CPUGeneratorImpl>(context.seed());
    fitted_values_.clear();
    for (const auto& constant : system_.fitted()) {
      fitted_values_.push_back(torch::full({}, constant.initial, options()).requires_grad_(true));
    }
    network_.clear();
    for (auto& weight : system_.initial_network(generator, dtype_)) {
      network_.push_back(weight.to(device_).requires_grad_(true));
    }
    fitted_ = true;

    auto x = train.inputs.to(torch::kFloat64);
    auto y = train.targets.to(options());
    torch::Tensor x_valid;
    torch::Tensor y_valid;
    const auto n = x.size(0);
    const auto held = validation_ > 0 && n >= 2
                          ? std::clamp<std::int64_t>(std::llround(validation_ * static_cast<double>(n)), 1, n - 1)
                          : 0;
    if (held > 0) {
      const auto order = torch::randperm(n, generator);
      x_valid = x.index({order.slice(0, 0, held)});
      y_valid = y.index({order.slice(0, 0, held)});
      x = x.index({order.slice(0, held)});
      y = y.index({order.slice(0, held)});
    }
    check_stability(x);

    std::vector<torch::Tensor> parameters = fitted_values_;
    parameters.insert(parameters.end(), network_.begin(), network_.end());
    const auto total = (parameters.empty() ? 0 : epochs_ + lbfgs_steps_);
    const auto cancelled = [&context] { return context.cancelled(); };
    const auto loss_at = [&](const torch::Tensor& inputs, const torch::Tensor& targets) {
      return (forward(inputs, cancelled) - targets).square().mean();
    };
    if (parameters.empty()) {
      return;  // nothing to learn: a simulator as a model
    }
    try {
      auto loss = loss_at(x, y);
      const auto gradients = torch::autograd::grad({loss}, parameters);
      double squared = 0.0;
      for (std::size_t i = 0; i < gradients.size(); ++i) {
        squared += gradients[i].square().sum().item<double>();
        if (i < fitted_values_.size()) {
          context.report_value("initial_gradient_" + system_.fitted()[i].name, gradients[i].item<double>());
        }
      }
      context.report_value("initial_loss", loss.item<double>());
      context.report_value("initial_gradient_norm", std::sqrt(squared));
      if (gradient_check_) {
        check_gradient(parameters, gradients, [&] { return loss_at(x, y); }, context);
      }
    } catch (const IntegrationError& error) {
      if (context.cancelled()) {
        return;
      }
      throw std::runtime_error(std::string("ode: at the initial parameters: ") + error.what());
    }

    // Early stopping: the parameters with the lowest validation loss (the training loss
    // without a validation share) are kept.
    double best = std::numeric_limits<double>::infinity();
    std::vector<torch::Tensor> best_values;
    std::int64_t since_best = 0;
    const auto remember = [&](double training_loss) {
      double score = training_loss;
      if (held > 0) {
        const torch::NoGradGuard no_gradient;
        score = loss_at(x_valid, y_valid).item<double>();
      }
      if (score < best) {
        best = score;
        best_values.clear();
        for (const auto& parameter : parameters) {
          best_values.push_back(parameter.detach().clone());
        }
        since_best = 0;
      } else {
        ++since_best;
      }
    };
    const auto project = [&] {
      const torch::NoGradGuard no_gradient;
      for (std::size_t i = 0; i < fitted_values_.size(); ++i) {
        const auto& constant = system_.fitted()[i];
        fitted_values_[i].clamp_(constant.lower, constant.upper);
      }
    };
    // An optimiser step may land where the integration blows up or never reaches its
    // event (a line search trying a negative drag, say): training stops there and keeps
    // the best parameters so far, with a warning; only the initial parameters failing
    // fails the model (above).
    const auto stopped = [&](const std::string& phase, std::int64_t at, const IntegrationError& error) {
      context.log(ballista::LogLevel::warning, "ode: " + phase + " stopped at step " + std::to_string(at) +
                                                   " (the best parameters so far are kept): " + error.what());
    };
    std::int64_t step = 0;
    torch::optim::Adam adam(parameters, torch::optim::AdamOptions(learning_rate_));
    try {
      for (std::int64_t epoch = 1; epoch <= epochs_ && !context.cancelled(); ++epoch) {
        adam.zero_grad();
        auto loss = loss_at(x, y);
        loss.backward();
        adam.step();
        project();
        const double value = loss.item<double>();
        context.report_progress(++step, total, value);
        remember(value);
        if (held > 0 && since_best >= patience_) {
          break;
        }
      }
    } catch (const IntegrationError& error) {
      if (context.cancelled()) {
        restore(parameters, best_values);
        return;
      }
      stopped("Adam", step + 1, error);
    }
    step = epochs_;
    restore(parameters, best_values);
    torch::optim::LBFGS lbfgs(parameters, torch::optim::LBFGSOptions(1.0).max_iter(1).line_search_fn("strong_wolfe"));
    since_best = 0;
    try {
      for (std::int64_t iteration = 1; iteration <= lbfgs_steps_ && !context.cancelled(); ++iteration) {
        const auto loss = lbfgs.step([&] {
          lbfgs.zero_grad();
          auto value = loss_at(x, y);
          value.backward();
          return value;
        });
        project();
        const double value = loss.item<double>();
        context.report_progress(++step, total, value);
        if (!std::isfinite(value)) {
          break;
        }
        remember(value);
        if (held > 0 && since_best >= patience_) {
          break;
        }
      }
    } catch (const IntegrationError& error) {
      if (!context.cancelled()) {
        stopped("L-BFGS", step - epochs_ + 1, error);
      }
    }
    restore(parameters, best_values);
    for (std::size_t i = 0; i < fitted_values_.size(); ++i) {
      context.report_value(system_.fitted()[i].name, fitted_values_[i].item<double>());
    }
  }

  torch::Tensor predict(const torch::Tensor& inputs) const override {
    if (!fitted_) {
      throw std::logic_error("ode: predict() called before fit()");
    }
    ballista::require_finite(inputs, "ode: predict() inputs");
    if (inputs.dim() != 2 || inputs.size(1) != static_cast<std::int64_t>(input_names_.size())) {
      throw std::invalid_argument("ode: predict() expects [n, " + std::to_string(input_names_.size()) +
                                  "] inputs (the columns it was fitted on), got " + ballista::stored_shape(inputs));
    }
    torch::Tensor predictions;
    ballista::parallel_tasks(1, [&](std::int64_t /*task*/) {
      const torch::NoGradGuard no_gradient;
      try {
        predictions = forward(inputs.to(torch::kFloat64), {}).to(torch::kCPU, torch::kFloat64);
      } catch (const IntegrationError& error) {
        throw std::runtime_error(std::string("ode: ") + error.what());
      }
    });
    return predictions;
  }

  std::string describe() const override {
    if (!fitted_) {
      return {};
    }
    std::map<std::string, double> values;
    for (std::size_t i = 0; i < fitted_values_.size(); ++i) {
      values[system_.fitted()[i].name] = fitted_values_[i].item<double>();
    }
    std::string summary;
    const auto& network = system_.network();
    if (!network.inputs.empty()) {
      std::string layers = std::to_string(network.inputs.size());
      for (const auto size : network.hidden) {
        layers += "→" + std::to_string(size);
      }
      layers += "→" + std::to_string(network.outputs);
      std::string inputs;
      for (const auto& name : network.inputs) {
        inputs += (inputs.empty() ? "" : ", ") + name;
      }
      summary = "net(" + inputs + "): " + layers + " " + network.activation;
    }
    return system_.describe(values, summary);
  }

  std::int64_t parameter_count() const override {
    std::int64_t count = static_cast<std::int64_t>(fitted_values_.size());
    for (const auto& weight : network_) {
      count += weight.numel();
    }
    return count;
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    if (!fitted_) {
      throw std::logic_error("ode: save() called before fit()");
    }
    ballista::write_strings(archive, "input_names", input_names_);
    ballista::write_strings(archive, "target_names", target_names_);
    std::vector<std::string> constant_names;
    std::vector<double> constant_values;
    for (const auto& [name, value] : data_constants_) {
      constant_names.push_back(name);
      constant_values.push_back(value);
    }
    ballista::write_strings(archive, "constant_names", constant_names);
    archive.write("constant_values", torch::tensor(constant_values, torch::kFloat64));
    std::vector<double> fitted;
    for (const auto& value : fitted_values_) {
      fitted.push_back(value.item<double>());
    }
    archive.write("fitted", torch::tensor(fitted, torch::kFloat64));
    for (std::size_t i = 0; i < network_.size(); ++i) {
      archive.write("network" + std::to_string(i), network_[i].detach().cpu());
    }
  }

  void load(torch::serialize::InputArchive& archive) override {
    const auto require = [](bool condition, const std::string& message) {
      if (!condition) {
        throw std::runtime_error("ode: the stored model is inconsistent: " + message);
      }
    };
    ballista::Dataset names;
    names.input_names = ballista::read_strings(archive, "input_names");
    names.target_names = ballista::read_strings(archive, "target_names");
    const auto constant_names = ballista::read_strings(archive, "constant_names");
    const auto constant_values = ballista::read_tensor(archive, "constant_values");
    require(constant_values.scalar_type() == torch::kFloat64 && constant_values.dim() == 1 &&
                constant_values.size(0) == static_cast<std::int64_t>(constant_names.size()),
            "constant_values is " + ballista::stored_shape(constant_values) + " for " +
                std::to_string(constant_names.size()) + " constant names");
    for (std::size_t i = 0; i < constant_names.size(); ++i) {
      names.constants.emplace_back(constant_names[i], constant_values[static_cast<std::int64_t>(i)].item<double>());
    }
    bind_columns(names);
    const auto fitted = ballista::read_tensor(archive, "fitted");
    require(fitted.scalar_type() == torch::kFloat64 && fitted.dim() == 1 &&
                fitted.size(0) == static_cast<std::int64_t>(system_.fitted().size()),
            "fitted is " + ballista::stored_shape(fitted) + ", parameter fit names " +
                std::to_string(system_.fitted().size()) + " constants");
    fitted_values_.clear();
    for (std::int64_t i = 0; i < fitted.size(0); ++i) {
      fitted_values_.push_back(torch::full({}, fitted[i].item<double>(), options()));
    }
    auto generator = at::make_generator<at::CPUGeneratorImpl>(0);
    const auto shapes = system_.initial_network(generator, dtype_);
    network_.clear();
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      const auto weight = ballista::read_tensor(archive, "network" + std::to_string(i));
      require(weight.scalar_type() == dtype_ && weight.sizes() == shapes[i].sizes(),
              "network" + std::to_string(i) + " is " + ballista::stored_shape(weight) + ", the parameters give " +
                  ballista::stored_shape(shapes[i]));
      network_.push_back(weight.to(device_));
    }
    fitted_ = true;
  }

 private:
  torch::TensorOptions options() const { return torch::TensorOptions().dtype(dtype_).device(device_); }

  // Which input column each name the equations read comes from (or which constant of
  // the pipeline), and which output each target is.
  void bind_columns(const ballista::Dataset& data) {
    input_names_ = data.input_names;
    target_names_ = data.target_names;
    data_constants_.clear();
    for (const auto& [name, value] : data.constants) {
      data_constants_[name] = value;
    }
    columns_.clear();
    for (const auto& name : system_.free_names()) {
      const auto found = std::find(input_names_.begin(), input_names_.end(), name);
      if (found != input_names_.end()) {
        columns_.emplace_back(name, found - input_names_.begin());
      } else if (data_constants_.count(name) == 0) {
        throw std::invalid_argument("ode: the equations read '" + name +
                                    "', which is neither one of the data's inputs nor a constant of the pipeline");
      }
    }
    outputs_.clear();
    for (const auto& target : target_names_) {
      const auto& outputs = system_.outputs();
      const auto found = std::find_if(outputs.begin(), outputs.end(),
                                      [&](const ballista_ode::Equation& output) { return output.name == target; });
      if (found == outputs.end()) {
        throw std::invalid_argument("ode: no output gives the data's target '" + target + "' (see parameter output)");
      }
      outputs_.push_back(static_cast<std::size_t>(found - outputs.begin()));
    }
  }

  // Inputs, constants and fitted constants, as the expressions read them.
  Bindings scope_for(const torch::Tensor& inputs) const {
    Bindings scope;
    for (const auto& [name, value] : data_constants_) {
      scope[name] = torch::full({}, value, options());
    }
    for (const auto& [name, value] : system_.constants()) {
      scope[name] = torch::full({}, value, options());
    }
    for (std::size_t i = 0; i < fitted_values_.size(); ++i) {
      scope[system_.fitted()[i].name] = fitted_values_[i];
    }
    const auto on_device = inputs.to(options());
    for (const auto& [name, column] : columns_) {
      scope[name] = on_device.select(1, column);
    }
    return scope;
  }

  torch::Tensor initial_state(Bindings& scope, std::int64_t rows) const {
    std::vector<torch::Tensor> columns;
    for (const auto& equation : system_.initial()) {
      columns.push_back(equation.expression.evaluate(scope).to(options()).expand({rows}));
    }
    return torch::stack(columns, 1);
  }

  // The predictions [n, targets] at `inputs` [n, d] (float64, the fitted columns).
  torch::Tensor forward(const torch::Tensor& inputs, const std::function<bool()>& cancelled) const {
    auto scope = scope_for(inputs);
    const auto rows = inputs.size(0);
    const auto start = initial_state(scope, rows);
    const Integrator integrator(system_, settings_);
    const auto outcome = integrator.integrate(start, scope, network_, cancelled);
    system_.bind_state(outcome.time, outcome.state, scope);
    std::vector<torch::Tensor> columns;
    for (const auto index : outputs_) {
      columns.push_back(system_.outputs()[index].expression.evaluate(scope).to(options()).expand({rows}));
    }
    return torch::stack(columns, 1);
  }

  // RK4 damps a mode of rate λ only while |λ|·dt stays within its stability limit: a dt
  // too coarse for the system at the training rows' start is refused, not trained on.
  void check_stability(const torch::Tensor& inputs) const {
    if (settings_.method != "rk4" || inputs.size(0) == 0) {
      return;
    }
    const torch::NoGradGuard no_gradient;
    auto scope = scope_for(inputs);
    const auto start = initial_state(scope, inputs.size(0));
    const Integrator integrator(system_, settings_);
    const auto [rate, row] = integrator.fastest_rate(start, scope, network_);
    if (rate * settings_.dt > Integrator::kRk4StabilityLimit) {
      throw std::invalid_argument(
          "ode: dt = " + format_number(settings_.dt) + " s is too large for stability: the system's fastest rate at "
          "the start of training row " + std::to_string(row) + " is " + format_number(rate, 4) + "/s (|λ|·dt = " +
          format_number(rate * settings_.dt, 3) + " > " + format_number(Integrator::kRk4StabilityLimit) +
          ", RK4's limit); use dt <= " + format_number(Integrator::kRk4StabilityLimit / rate, 3) +
          " or method: dopri5");
    }
  }

  // The built-in gradient check: autograd's derivative through the solver and the event
  // time against a five-point central difference of the loss, for every fitted constant
  // and the first weights of each network layer. Reports the largest relative
  // difference as gradient_check_max_relative_error (and logs it).
  void check_gradient(const std::vector<torch::Tensor>& parameters, const std::vector<torch::Tensor>& gradients,
                      const std::function<torch::Tensor()>& loss, ballista::Context& context) const {
    const torch::NoGradGuard no_gradient;
    double worst = 0.0;
    std::string where;
    for (std::size_t p = 0; p < parameters.size(); ++p) {
      const auto flat = parameters[p].view({-1});
      const auto derivative = gradients[p].reshape({-1});
      for (std::int64_t i = 0; i < std::min<std::int64_t>(flat.numel(), 4); ++i) {
        const double value = flat[i].item<double>();
        const double h = 1e-4 * std::max(std::abs(value), 1e-2);
        const auto at = [&](double shift) {
          flat[i].fill_(value + shift);
          return loss().item<double>();
        };
        const double estimate = (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h);
        flat[i].fill_(value);
        const double exact = derivative[i].item<double>();
        const double error = std::abs(exact - estimate) / std::max(std::abs(exact), 1e-8);
        if (error >= worst) {
          worst = error;
          where = p < fitted_values_.size() ? system_.fitted()[p].name
                                            : "network" + std::to_string(p - fitted_values_.size()) + "[" +
                                                  std::to_string(i) + "]";
        }
      }
    }
    context.report_value("gradient_check_max_relative_error", worst);
    context.log(ballista::LogLevel::info, "ode: gradient check: autograd through the solver and finite differences "
                                          "differ by at most " + format_number(worst, 3) + " (relative, at " + where +
                                          ")");
  }

  static void restore(std::vector<torch::Tensor>& parameters, const std::vector<torch::Tensor>& values) {
    if (values.empty()) {
      return;
    }
    const torch::NoGradGuard no_gradient;
    for (std::size_t i = 0; i < parameters.size(); ++i) {
      parameters[i].copy_(values[i]);
    }
  }

  OdeSystem system_;
  IntegratorSettings settings_;
  std::int64_t epochs_;
  double learning_rate_;
  std::int64_t lbfgs_steps_;
  double validation_;
  std::int64_t patience_;
  bool gradient_check_;
  torch::Device device_;
  torch::Dtype dtype_;

  bool fitted_ = false;
  std::vector<std::string> input_names_;
  std::vector<std::string> target_names_;
  std::map<std::string, double> data_constants_;
  std::vector<std::pair<std::string, std::int64_t>> columns_;
  std::vector<std::size_t> outputs_;
  std::vector<torch::Tensor> fitted_values_;  // 0-dim, in the order of parameter fit
  std::vector<torch::Tensor> network_;        // weight, bias, weight, … (see OdeSystem)
};

ballista::PluginDefinition define_ode() {
  using ballista::ParameterSpec;
  using Strings = std::vector<std::string>;
  return {
      {
          ParameterSpec::string_list("state", Strings{"x = 0", "y = 0", "ux = v*cos(theta)", "uy = v*sin(theta)"},
                                     "the state variables and their initial values: NAME = EXPRESSION over the "
                                     "inputs and constants (the defaults of state, rhs, until and output are the "
                                     "article's cannon without drag)")
              .non_empty(),
          ParameterSpec::string_list("rhs", Strings{"x' = ux", "y' = uy", "ux' = 0", "uy' = -9.81"},
                                     "one NAME' = EXPRESSION per state variable, over the state, t, definitions, "
                                     "net1 … netK, inputs and constants")
              .non_empty(),
          ParameterSpec::string_list("define", {},
                                     "intermediate quantities, NAME = EXPRESSION, evaluated in order at each step "
                                     "(speed = sqrt(ux^2 + uy^2))"),
          ParameterSpec::string_list("constants", {}, "known constants, NAME = NUMBER (the pipeline's are read too)"),
          ParameterSpec::string_list("fit", {},
                                     "constants training chooses: NAME = INITIAL, optionally 'in [LOW, HIGH]' "
                                     "(k = 0.01 in [0, inf])"),
          ParameterSpec::string_list("until", Strings{"y = 0 falling"},
                                     "events that end a sample's integration, the first to occur: 'EXPRESSION = "
                                     "EXPRESSION [falling|rising]', or 't = EXPRESSION' for a time per sample")
              .non_empty(),
          ParameterSpec::string_list("output", Strings{"s = x"},
                                     "each target, TARGET = EXPRESSION of the state, t and definitions at the event")
              .non_empty(),
          ParameterSpec::string_list("net_inputs", {},
                                     "what the learned network reads (state, t, definitions, inputs); empty: no "
                                     "network. Its outputs are net1 … netK"),
          ParameterSpec::integer("net_outputs", 1, "the network's outputs K (net1 … netK)").at_least(1),
          ParameterSpec::integer_list("net_hidden", {32, 32}, "the network's hidden layer sizes").at_least(1),
          ParameterSpec::choice("net_activation", "tanh", {"tanh", "sigmoid", "softplus"},
                                "the hidden layers' activation"),
          ParameterSpec::choice("method", "rk4", {"rk4", "dopri5"},
                                "rk4: classic Runge–Kutta with fixed step dt; dopri5: adaptive Dormand–Prince 5(4) "
                                "with rtol, atol"),
          ParameterSpec::real("dt", 0.01, "rk4's step (dopri5: its first step), s").greater_than(0),
          ParameterSpec::real("rtol", 1e-6, "dopri5's relative tolerance").greater_than(0),
          ParameterSpec::real("atol", 1e-9, "dopri5's absolute tolerance").greater_than(0),
          ParameterSpec::real("max_time", 1000.0, "a sample whose event has not occurred by then fails the model, s")
              .greater_than(0),
          ParameterSpec::integer("max_steps", 1000000, "a cap on the steps of one integration").at_least(1),
          ParameterSpec::integer("epochs", 300, "full-batch Adam steps").at_least(0),
          ParameterSpec::real("lr", 0.01, "Adam's learning rate").greater_than(0),
          ParameterSpec::integer("lbfgs_steps", 50, "L-BFGS steps after Adam (strong-Wolfe line search)").at_least(0),
          ParameterSpec::real("validation", 0.2,
                              "share of the training rows held out to keep the best parameters and stop early; 0: "
                              "none")
              .at_least(0)
              .at_most(0.5),
          ParameterSpec::integer("patience", 30, "steps without a better validation loss before stopping")
              .at_least(1),
          ParameterSpec::boolean("gradient_check", false,
                                 "before training, compare the gradient through the solver with finite "
                                 "differences (fit value gradient_check_max_relative_error)"),
          ParameterSpec::choice("dtype", "float64", {"float64", "float32"}, "the integration's precision"),
          ballista::device_parameter(),
      },
      [](const ballista::Parameters& parameters) { return std::make_unique<OdeModel>(parameters); },
  };
}

}  // namespace

BALLISTA_PLUGIN("ode", "0.1.0",
                "an ODE with known terms and fitted parts (constants, a network), trained through its integrator",
                define_ode)
