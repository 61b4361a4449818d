// Closed-form and gradient solvers for linear-in-weights models (see linear_solvers.hpp).
#include <ballista/linear_solvers.hpp>

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <sstream>
#include <stdexcept>

BALLISTA_NAMESPACE_BEGIN

torch::Tensor least_squares(const torch::Tensor& features, const torch::Tensor& targets, double l2) {
  if (l2 < 0.0) {
    throw std::invalid_argument("least_squares: l2 must be >= 0");
  }
  auto f = features.to(torch::kFloat64).contiguous();
  auto y = targets.to(torch::kFloat64).contiguous();
  if (l2 > 0.0) {
    // Ridge as ordinary least squares on [F; √l2·I] and [Y; 0].
    f = torch::cat({f, std::sqrt(l2) * torch::eye(f.size(1), f.options())});
    y = torch::cat({y, torch::zeros({f.size(1), y.size(1)}, y.options())});
  }
  // gelsd (the SVD), as NumPy's lstsq. Not gelsy: LibTorch 1.13's pivoted QR gives
  // results that differ in the last bits from one process to the next (measured: 4
  // different weight vectors in 20 runs on the cannon data), which would make every run
  // of a basis model irreproducible; gelsd, gelss and gels gave one answer in 20.
  return std::get<0>(torch::linalg_lstsq(f, y, c10::nullopt, std::string("gelsd")));
}

torch::Tensor thresholded_least_squares(const torch::Tensor& features, const torch::Tensor& targets,
                                        double threshold, double l2) {
  const auto f = features.to(torch::kFloat64);
  const auto y = targets.to(torch::kFloat64);
  auto weights = torch::zeros({f.size(1), y.size(1)}, f.options());
  for (std::int64_t output = 0; output < y.size(1); ++output) {
    const auto target = y.slice(1, output, output + 1);
    auto kept = torch::ones({f.size(1)}, torch::kBool);
    auto solution = torch::zeros({f.size(1), 1}, f.options());
    // Each pass drops at least one term or stops, so m + 1 passes always suffice.
    for (std::int64_t pass = 0; pass <= f.size(1); ++pass) {
      const auto columns = kept.nonzero().squeeze(1);
      solution.zero_();
      if (columns.numel() > 0) {
        solution.index_put_({columns}, least_squares(f.index_select(1, columns), target, l2));
      }
      const auto still_kept = kept & (solution.squeeze(1).abs() >= threshold);
      if (torch::equal(still_kept, kept)) {
        break;
      }
      kept = still_kept;
    }
    solution.masked_fill_(~kept.unsqueeze(1), 0.0);
    weights.slice(1, output, output + 1).copy_(solution);
  }
  return weights;
}

torch::Tensor gradient_descent(const torch::Tensor& features, const torch::Tensor& targets,
                               const torch::Tensor& initial, const GradientOptions& options,
                               Context& context) {
  const auto f = features.to(torch::kFloat32).contiguous();
  const auto y = targets.to(torch::kFloat32).contiguous();
  auto weights = initial.to(torch::kFloat32).clone().set_requires_grad(true);
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  if (options.optimizer == "adam") {
    optimizer = std::make_unique<torch::optim::Adam>(
        std::vector<torch::Tensor>{weights}, torch::optim::AdamOptions(options.learning_rate));
  } else if (options.optimizer == "sgd") {
    optimizer = std::make_unique<torch::optim::SGD>(
        std::vector<torch::Tensor>{weights}, torch::optim::SGDOptions(options.learning_rate));
  } else {
    throw std::invalid_argument("unknown optimizer '" + options.optimizer + "' (allowed: adam, sgd)");
  }
  for (std::int64_t epoch = 1; epoch <= options.epochs && !context.cancelled(); ++epoch) {
    optimizer->zero_grad();
    auto loss = torch::mse_loss(f.mm(weights), y);
    loss.backward();
    optimizer->step();
    context.report_progress(epoch, options.epochs, loss.item<double>());
  }
  auto fitted = weights.detach().to(torch::kFloat64);
  if (!context.cancelled()) {
    // What the same objective's optimum would have given, and what it costs to get.
    const auto start = std::chrono::steady_clock::now();
    const auto optimum = least_squares(features, targets);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    context.report_value("final_mse", mean_squared_error(features, fitted, targets));
    context.report_value("optimum_mse", mean_squared_error(features, optimum, targets));
    context.report_value("optimum_seconds", took.count());
  }
  return fitted;
}

double mean_squared_error(const torch::Tensor& features, const torch::Tensor& weights,
                          const torch::Tensor& targets) {
  const auto residual = features.to(torch::kFloat64).mm(weights.to(torch::kFloat64)) -
                        targets.to(torch::kFloat64);
  return residual.square().mean().item<double>();
}

BALLISTA_NAMESPACE_END

BALLISTA_NAMESPACE_BEGIN

namespace {

std::string format_output(const std::string& target, const std::vector<double>& weights,
                          const std::vector<std::string>& labels, int digits) {
  std::string text = target + " =";
  bool first = true;
  for (std::size_t i = 0; i < weights.size() && i < labels.size(); ++i) {
    if (weights[i] == 0.0) {
      continue;
    }
    std::ostringstream magnitude;
    magnitude.precision(digits);
    magnitude << std::abs(weights[i]);
    const bool negative = weights[i] < 0.0;
    if (first) {
      text += negative ? " −" : " ";
    } else {
      text += negative ? " − " : " + ";
    }
    text += magnitude.str();
    const auto& label = labels[i];
    if (!label.empty()) {
      const bool compound = label.find_first_of("+-") != std::string::npos;
      text += "·" + (compound ? "(" + label + ")" : label);
    }
    first = false;
  }
  if (first) {
    text += " 0";
  }
  return text;
}

}  // namespace

std::string format_linear_model(const torch::Tensor& weights, const std::vector<std::string>& labels,
                                const std::vector<std::string>& target_names, int digits) {
  std::string text;
  if (!weights.defined()) {
    return text;
  }
  const auto w = weights.to(torch::kFloat64).contiguous();
  for (std::int64_t output = 0; output < w.size(1); ++output) {
    const auto column = w.select(1, output).contiguous();
    const std::vector<double> values(column.data_ptr<double>(), column.data_ptr<double>() + column.numel());
    const auto index = static_cast<std::size_t>(output);
    if (output > 0) {
      text += "; ";
    }
    std::ostringstream fallback;
    fallback << 'y' << output;
    text += format_output(index < target_names.size() ? target_names[index] : fallback.str(), values, labels, digits);
  }
  return text;
}

BALLISTA_NAMESPACE_END
