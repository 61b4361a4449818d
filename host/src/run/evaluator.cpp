// Metrics (see evaluator.hpp).
#include "evaluator.hpp"

#include <ballista/parallel.hpp>

#include <torch/torch.h>

#include <stdexcept>

namespace ballista::host {

namespace {

double metric_on_this_thread(const std::string& metric, const torch::Tensor& predictions,
                             const torch::Tensor& targets) {
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
    // A constant target has no variance to explain: as scikit-learn's r2_score
    // (force_finite), 1 for exact predictions and 0 otherwise, never -nan or -inf.
    const auto score = torch::where(total > 0, 1.0 - residual / total,
                                    torch::where(residual == 0, torch::ones_like(total), torch::zeros_like(total)));
    return score.mean().item<double>();
  }
  throw std::invalid_argument("unknown metric '" + metric + "'");
}

}  // namespace

double compute_metric(const std::string& metric, const torch::Tensor& predictions, const torch::Tensor& targets) {
  // On one thread: ATen splits a long sum over the threads at boundaries that depend on
  // their number (r2's column sums over 10^6 rows differ in the last bit between 1 and 2
  // threads), and a metric must not change with --threads.
  double value = 0;
  ballista::parallel_tasks(1, [&](std::int64_t) { value = metric_on_this_thread(metric, predictions, targets); });
  return value;
}

}  // namespace ballista::host
