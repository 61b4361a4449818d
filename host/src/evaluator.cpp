// Metrics (see evaluator.hpp).
#include "evaluator.hpp"

#include <torch/torch.h>

#include <stdexcept>

namespace ballista::host {

double compute_metric(const std::string& metric, const torch::Tensor& predictions, const torch::Tensor& targets) {
  const auto error = predictions.to(torch::kFloat64) - targets.to(torch::kFloat64);
  if (metric == "mse") {
    return error.square().mean().item<double>();
  }
  if (metric == "rmse") {
    return std::sqrt(error.square().mean().item<double>());
  }
  if (metric == "mae") {
    return error.abs().mean().item<double>();
  }
  if (metric == "max_error") {
    return error.abs().max().item<double>();
  }
  if (metric == "r2") {
    const auto residual = error.square().sum(0);
    const auto total = (targets - targets.mean(0)).square().sum(0);
    return (1.0 - residual / total).mean().item<double>();
  }
  throw std::invalid_argument("unknown metric '" + metric + "'");
}

}  // namespace ballista::host
