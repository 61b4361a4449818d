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
#include "distil.hpp"
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
#include <optional>
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

// distil, distil_degree, distil_norm, distil_threshold, distil_steps.
struct DistilSettings {
  bool enabled = false;
  std::int64_t degree = 2;
  bool norm = false;
  double threshold = 0.1;
  std::int64_t steps = 30;
};

DistilSettings distil_settings_from(const ballista::Parameters& parameters, const OdeSystem& system) {
  DistilSettings settings;
  settings.enabled = parameters.get<bool>("distil");
  settings.degree = parameters.get<std::int64_t>("distil_degree");
  settings.norm = parameters.get<bool>("distil_norm");
  settings.threshold = parameters.get<double>("distil_threshold");
  settings.steps = parameters.get<std::int64_t>("distil_steps");
  if (settings.enabled && system.network().inputs.empty()) {
    throw ballista::ParameterError("distil", "distilling replaces the network by a formula: give the network's "
                                             "inputs (net_inputs) and use net1 … netK in the right-hand side");
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
        distil_(distil_settings_from(parameters, system_)),
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
    formula_.reset();
    fitted_ = true;

    Split data;
    data.x = train.inputs.to(torch::kFloat64);
    data.y = train.targets.to(options());
    const auto n = data.x.size(0);
    data.held = validation_ > 0 && n >= 2
                    ? std::clamp<std::int64_t>(std::llround(validation_ * static_cast<double>(n)), 1, n - 1)
                    : 0;
    if (data.held > 0) {
      const auto order = torch::randperm(n, generator);
      data.x_valid = data.x.index({order.slice(0, 0, data.held)});
      data.y_valid = data.y.index({order.slice(0, 0, data.held)});
      data.x = data.x.index({order.slice(0, data.held)});
      data.y = data.y.index({order.slice(0, data.held)});
    }
    check_stability(data.x);

    std::vector<torch::Tensor> parameters = fitted_values_;
    parameters.insert(parameters.end(), network_.begin(), network_.end());
    if (parameters.empty()) {
      return;  // nothing to learn: a simulator as a model
    }
    const auto cancelled = [&context] { return context.cancelled(); };
    try {
      auto loss = loss_at(data.x, data.y, cancelled);
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
        check_gradient(parameters, gradients, [&] { return loss_at(data.x, data.y, cancelled); }, context);
      }
    } catch (const IntegrationError& error) {
      if (context.cancelled()) {
        return;
      }
      throw std::runtime_error(std::string("ode: at the initial parameters: ") + error.what());
    }

    Progress progress{0, epochs_ + lbfgs_steps_ + (distil_.enabled ? kDistilRounds * distil_.steps : 0)};
    optimise(parameters, epochs_, lbfgs_steps_, data, progress, context);
    if (distil_.enabled && !context.cancelled()) {
      distil(data, progress, context);
    }
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
    if (!formula_) {
      return system_.describe(values, summary);
    }
    std::vector<std::string> formulas;
    std::string names;
    for (std::int64_t k = 0; k < formula_->kept.size(1); ++k) {
      formulas.push_back(ballista_ode::formula_text(formula_->texts, formula_->coefficients().detach().cpu(),
                                                    formula_->kept.cpu(), k));
      names += (k == 0 ? "" : ", ") + network.output_names()[static_cast<std::size_t>(k)];
    }
    return system_.describe(values, names + " distilled from " + summary, formulas);
  }

  std::int64_t parameter_count() const override {
    std::int64_t count = static_cast<std::int64_t>(fitted_values_.size());
    for (const auto& weight : network_) {
      count += weight.numel();
    }
    if (formula_) {
      count += static_cast<std::int64_t>(formula_->kept.sum().item<double>());
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
    archive.write("distilled", torch::tensor(formula_ ? 1 : 0, torch::kInt64));
    if (formula_) {
      ballista::write_strings(archive, "formula_terms", formula_->texts);
      archive.write("formula_coefficients", formula_->coefficients().detach().to(torch::kCPU, torch::kFloat64));
      archive.write("formula_kept", formula_->kept.to(torch::kCPU, torch::kFloat64));
    }
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
    const auto distilled = ballista::read_tensor(archive, "distilled");
    require(distilled.scalar_type() == torch::kInt64 && distilled.dim() == 0, "distilled is " +
                                                                                   ballista::stored_shape(distilled));
    network_.clear();
    formula_.reset();
    if (distilled.item<std::int64_t>() != 0) {
      ballista_ode::Formula formula;
      formula.texts = ballista::read_strings(archive, "formula_terms");
      for (const auto& text : formula.texts) {
        formula.terms.push_back(ballista::Expression::parse(text));
      }
      const auto coefficients = ballista::read_tensor(archive, "formula_coefficients");
      const auto kept = ballista::read_tensor(archive, "formula_kept");
      const auto terms = static_cast<std::int64_t>(formula.texts.size());
      const auto outputs = system_.network().outputs;
      for (const auto& [name, tensor] : {std::pair{"formula_coefficients", coefficients}, std::pair{"formula_kept", kept}}) {
        require(tensor.scalar_type() == torch::kFloat64 && tensor.dim() == 2 && tensor.size(0) == terms &&
                    tensor.size(1) == outputs,
                std::string(name) + " is " + ballista::stored_shape(tensor) + " for " + std::to_string(terms) +
                    " terms and " + std::to_string(outputs) + " network outputs");
      }
      formula.weights = coefficients.to(options());
      formula.scale = torch::ones_like(formula.weights);
      formula.kept = kept.to(options());
      formula_ = std::move(formula);
    } else {
      auto generator = at::make_generator<at::CPUGeneratorImpl>(0);
      const auto shapes = system_.initial_network(generator, dtype_);
      for (std::size_t i = 0; i < shapes.size(); ++i) {
        const auto weight = ballista::read_tensor(archive, "network" + std::to_string(i));
        require(weight.scalar_type() == dtype_ && weight.sizes() == shapes[i].sizes(),
                "network" + std::to_string(i) + " is " + ballista::stored_shape(weight) + ", the parameters give " +
                    ballista::stored_shape(shapes[i]));
        network_.push_back(weight.to(device_));
      }
    }
    fitted_ = true;
  }

 private:
  // The training rows, and the validation share held out of them (held rows; none if 0).
  struct Split {
    torch::Tensor x, y, x_valid, y_valid;
    std::int64_t held = 0;
  };
  // The steps reported so far, of all the optimiser's phases, and their planned total.
  struct Progress {
    std::int64_t step;
    std::int64_t total;
  };
  // Rounds of refitting a distilled formula through the solver and dropping the terms
  // that no longer contribute.
  static constexpr std::int64_t kDistilRounds = 3;

  torch::TensorOptions options() const { return torch::TensorOptions().dtype(dtype_).device(device_); }

  ballista_ode::LearnedTerm learned_term() const { return {network_, formula_ ? &*formula_ : nullptr}; }

  torch::Tensor loss_at(const torch::Tensor& inputs, const torch::Tensor& targets,
                        const std::function<bool()>& cancelled) const {
    return (forward(inputs, cancelled) - targets).square().mean();
  }

  // Full-batch Adam for `epochs` steps, then L-BFGS (strong-Wolfe line search) for
  // `lbfgs_steps`, projecting the fitted constants into their bounds after each step.
  // Early stopping: the parameters with the lowest validation loss (the training loss
  // without a validation share) are kept, and a phase ends after `patience_` steps
  // without a better one.
  void optimise(std::vector<torch::Tensor>& parameters, std::int64_t epochs, std::int64_t lbfgs_steps,
                const Split& data, Progress& progress, ballista::Context& context) {
    const auto cancelled = [&context] { return context.cancelled(); };
    // The starting point is kept unless a step does better: a phase whose first step
    // fails leaves the parameters where they were, not at the step's trial point.
    double best = std::numeric_limits<double>::infinity();
    std::vector<torch::Tensor> best_values;
    for (const auto& parameter : parameters) {
      best_values.push_back(parameter.detach().clone());
    }
    std::int64_t since_best = 0;
    const auto remember = [&](double training_loss) {
      double score = training_loss;
      if (data.held > 0) {
        const torch::NoGradGuard no_gradient;
        score = loss_at(data.x_valid, data.y_valid, cancelled).item<double>();
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
    // event (a line search trying a negative drag, say): the phase stops there and keeps
    // the best parameters so far, with a warning; only the initial parameters failing
    // fails the model (in fit).
    const auto stopped = [&](const std::string& phase, std::int64_t at, const IntegrationError& error) {
      context.log(ballista::LogLevel::warning, "ode: " + phase + " stopped at step " + std::to_string(at) +
                                                   " (the best parameters so far are kept): " + error.what());
    };
    const auto report = [&](double value) { context.report_progress(++progress.step, progress.total, value); };
    const auto adam_start = progress.step;
    std::int64_t step = 0;
    if (epochs > 0) {
      torch::optim::Adam adam(parameters, torch::optim::AdamOptions(learning_rate_));
      try {
        for (step = 1; step <= epochs && !context.cancelled(); ++step) {
          adam.zero_grad();
          auto loss = loss_at(data.x, data.y, cancelled);
          loss.backward();
          adam.step();
          project();
          const double value = loss.item<double>();
          report(value);
          remember(value);
          if (data.held > 0 && since_best >= patience_) {
            break;
          }
        }
      } catch (const IntegrationError& error) {
        if (context.cancelled()) {
          restore(parameters, best_values);
          return;
        }
        stopped("Adam", step, error);
      }
      progress.step = adam_start + epochs;
      restore(parameters, best_values);
    }
    if (lbfgs_steps == 0 || context.cancelled()) {
      return;
    }
    torch::optim::LBFGS lbfgs(parameters, torch::optim::LBFGSOptions(1.0).max_iter(1).line_search_fn("strong_wolfe"));
    since_best = 0;
    try {
      for (step = 1; step <= lbfgs_steps && !context.cancelled(); ++step) {
        const auto loss = lbfgs.step([&] {
          lbfgs.zero_grad();
          auto value = loss_at(data.x, data.y, cancelled);
          value.backward();
          return value;
        });
        project();
        const double value = loss.item<double>();
        report(value);
        if (!std::isfinite(value)) {
          break;
        }
        remember(value);
        if (data.held > 0 && since_best >= patience_) {
          break;
        }
      }
    } catch (const IntegrationError& error) {
      if (!context.cancelled()) {
        stopped("L-BFGS", step, error);
      }
    }
    restore(parameters, best_values);
  }

  // Replaces the trained network by a sparse formula: the library of its inputs
  // (distil_degree, distil_norm) is evaluated along the training trajectories and fitted
  // to the network's outputs there by STLSQ; the formula then stands in for the network
  // and its coefficients (with the fitted constants) are refitted through the solver by
  // L-BFGS, dropping the terms that no longer contribute, for up to kDistilRounds
  // rounds. If the trajectories cannot be integrated, the network is kept (a warning).
  void distil(const Split& data, Progress& progress, ballista::Context& context) {
    const auto& network = system_.network();
    const auto library = ballista_ode::candidate_library(network.inputs, distil_.degree, distil_.norm);
    std::vector<torch::Tensor> feature_parts;
    std::vector<torch::Tensor> output_parts;
    try {
      const torch::NoGradGuard no_gradient;
      auto scope = scope_for(data.x);
      const auto rows = data.x.size(0);
      const auto start = initial_state(scope, rows);
      const Integrator integrator(system_, settings_);
      const auto learned = learned_term();
      const auto observe = [&](const torch::Tensor& time, const torch::Tensor& state, const torch::Tensor& active) {
        auto at = scope;  // a copy: the integrator's own bindings are left as they are
        system_.bind_state(time, state, at);
        const auto chosen = active.nonzero().squeeze(1);
        std::vector<torch::Tensor> columns;
        columns.reserve(library.terms.size());
        for (const auto& term : library.terms) {
          columns.push_back(term.evaluate(at).to(torch::kFloat64).expand({rows}));
        }
        feature_parts.push_back(torch::stack(columns, 1).index_select(0, chosen).cpu());
        output_parts.push_back(
            system_.learned_output(learned, at, rows).index_select(0, chosen).to(torch::kCPU, torch::kFloat64));
      };
      integrator.integrate(start, scope, learned, [&context] { return context.cancelled(); }, observe);
    } catch (const IntegrationError& error) {
      if (!context.cancelled()) {
        context.log(ballista::LogLevel::warning,
                    std::string("ode: the network is kept, not distilled: its training trajectories failed: ") +
                        error.what());
      }
      return;
    }
    const auto features = torch::cat(feature_parts);
    const auto outputs = torch::cat(output_parts);
    const auto sparse = ballista_ode::sequential_thresholding(features, outputs, distil_.threshold);
    const auto residual = (features.matmul(sparse.coefficients) - outputs).square().mean().sqrt() /
                          outputs.square().mean().sqrt().clamp_min(std::numeric_limits<double>::min());
    context.report_value("distil_samples", static_cast<double>(features.size(0)));
    context.report_value("distil_relative_residual", residual.item<double>());

    auto kept = sparse.kept;
    auto coefficients = sparse.coefficients;
    // Each coefficient's unit: its output's root-mean-square over its term's, along the
    // trajectories (1 where either is 0).
    const auto term_size = features.square().mean(0).sqrt();
    const auto output_size = outputs.square().mean(0).sqrt();
    auto scale = output_size.unsqueeze(0) / term_size.unsqueeze(1);
    scale = torch::where(torch::isfinite(scale) & (scale > 0), scale, torch::ones_like(scale));
    for (std::int64_t round = 1; round <= kDistilRounds; ++round) {
      const auto rows = kept.any(1).nonzero().squeeze(1);
      ballista_ode::Formula formula;
      for (std::int64_t i = 0; i < rows.numel(); ++i) {
        const auto j = static_cast<std::size_t>(rows[i].item<std::int64_t>());
        formula.texts.push_back(library.texts[j]);
        formula.terms.push_back(library.terms[j]);
      }
      formula.scale = scale.index_select(0, rows).to(options());
      formula.weights = (coefficients.index_select(0, rows).to(options()) / formula.scale).requires_grad_(true);
      formula.kept = kept.index_select(0, rows).to(options());
      formula_ = std::move(formula);
      std::vector<torch::Tensor> parameters = fitted_values_;
      parameters.push_back(formula_->weights);
      optimise(parameters, 0, distil_.steps, data, progress, context);
      if (context.cancelled()) {
        break;
      }
      auto refitted = torch::zeros_like(coefficients);
      refitted.index_copy_(0, rows, formula_->coefficients().detach().to(torch::kCPU, torch::kFloat64));
      const auto still = ballista_ode::significant_terms(features, outputs, refitted, distil_.threshold) & kept;
      if (torch::equal(still, kept)) {
        break;
      }
      kept = still;
      coefficients = refitted * kept;
    }
    network_.clear();
    context.report_value("distil_terms", formula_->kept.sum().item<double>());
  }

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
    const auto outcome = integrator.integrate(start, scope, learned_term(), cancelled);
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
    const auto [rate, row] = integrator.fastest_rate(start, scope, learned_term());
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
  DistilSettings distil_;
  torch::Device device_;
  torch::Dtype dtype_;

  bool fitted_ = false;
  std::vector<std::string> input_names_;
  std::vector<std::string> target_names_;
  std::map<std::string, double> data_constants_;
  std::vector<std::pair<std::string, std::int64_t>> columns_;
  std::vector<std::size_t> outputs_;
  std::vector<torch::Tensor> fitted_values_;  // 0-dim, in the order of parameter fit
  std::vector<torch::Tensor> network_;        // weight, bias, weight, … (see OdeSystem); empty once distilled
  std::optional<ballista_ode::Formula> formula_;  // the network's stand-in once distilled
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
          ParameterSpec::boolean("distil", false,
                                 "after training, replace the network by a sparse formula: STLSQ over a library "
                                 "of its inputs, fitted to its outputs along the training trajectories, then the "
                                 "formula's coefficients refitted through the solver (describe shows it)"),
          ParameterSpec::integer("distil_degree", 2, "the library's terms: products and powers of the network's "
                                                     "inputs up to this total degree (and a constant)")
              .at_least(1)
              .at_most(4),
          ParameterSpec::boolean("distil_norm", false,
                                 "add the norm of the network's inputs, sqrt(a^2 + b^2 + ...), to the library's "
                                 "primitives (to the first power)"),
          ParameterSpec::real("distil_threshold", 0.1,
                              "a term is kept only while it contributes more than this share of its output's "
                              "root-mean-square along the trajectories")
              .at_least(0)
              .at_most(1),
          ParameterSpec::integer("distil_steps", 30, "L-BFGS steps of each refit of the formula through the solver")
              .at_least(1),
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
          ParameterSpec::boolean("fused", true,
                                 "evaluate the right-hand side as one compiled kernel with its own backward "
                                 "(CPU, float64; faster); false: operation by operation in LibTorch"),
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
