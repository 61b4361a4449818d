// Metrics of predictions against targets, per output column averaged into one figure.
#pragma once

#include <torch/types.h>

#include <string>

namespace ballista::host {

// `metric` is one of mse, rmse, mae, r2, max_error; tensors are [n, d_out].
// r2 is computed per output (1 − SS_res/SS_tot) and averaged over outputs. Computed on
// one thread: the same bits at every thread count.
double compute_metric(const std::string& metric, const torch::Tensor& predictions, const torch::Tensor& targets);

}  // namespace ballista::host
