// Solvers for models that are linear in their weights (y = F·W for a feature matrix F):
// the closed-form least-squares optimum, and the full-batch gradient descent that the
// founding article uses, so plugins can offer both and users can see what each costs.
#pragma once

#include <ballista/context.hpp>
#include <ballista/version.hpp>

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

BALLISTA_NAMESPACE_BEGIN

// W [m, d_out] minimising ||F·W − Y||² + l2·||W||² for F [n, m], Y [n, d_out], computed
// in float64 with LAPACK's SVD solver (gelsd, as NumPy's lstsq) on F stacked over √l2·I,
// so the normal equations are never formed: κ(F), not κ(FᵀF), governs the accuracy.
// Rank-deficient F gets the minimum-norm solution rather than a failure. The same
// inputs give the same bits in every process (ballista reproduce relies on it). REQUIRES: l2 >= 0.
BALLISTA_API torch::Tensor least_squares(const torch::Tensor& features, const torch::Tensor& targets,
                                         double l2 = 0.0);

// Sequentially thresholded least squares (STLSQ, as in SINDy, Brunton et al. 2016):
// solve, zero every weight with |w| < threshold, re-solve on the remaining columns, and
// repeat until the set of kept terms stops changing. Returns W [m, d_out] with exact
// zeros for dropped terms; each output column is thresholded on its own.
BALLISTA_API torch::Tensor thresholded_least_squares(const torch::Tensor& features, const torch::Tensor& targets,
                                                     double threshold, double l2 = 0.0);

struct BALLISTA_API GradientOptions {
  std::string optimizer = "adam";  // "adam" or "sgd" (plain, no momentum)
  double learning_rate = 0.01;
  std::int64_t epochs = 1000;
};

// Minimises the mean squared error of F·W against Y from `initial` W [m, d_out] with
// full-batch steps in float32 (as the article's PyTorch code does), reporting each
// epoch's loss through `context` and stopping early if it is cancelled.
// Returns the final W as float64. Unless cancelled, it then reports through
// Context::report_value how far that is from the closed-form optimum of the same
// objective: "final_mse" (of the returned W, in float64), "optimum_mse" (of
// least_squares(F, Y)) and "optimum_seconds" (the time least_squares took).
BALLISTA_API torch::Tensor gradient_descent(const torch::Tensor& features, const torch::Tensor& targets,
                                            const torch::Tensor& initial, const GradientOptions& options,
                                            Context& context);

// Mean squared error of F·W against Y, in float64.
BALLISTA_API double mean_squared_error(const torch::Tensor& features, const torch::Tensor& weights,
                                       const torch::Tensor& targets);

BALLISTA_NAMESPACE_END

BALLISTA_NAMESPACE_BEGIN

// Formats a fitted linear-in-weights model for describe(), one "target = …" per output
// joined by "; ": "s = 0.1019·v^2*sin(2*theta) − 0.0012·v + 0.3" from weights
// [m, d_out] and one label per row ("" labels the intercept). Labels containing + or −
// are parenthesised; coefficients keep `digits` significant digits; exactly-zero
// weights are left out.
BALLISTA_API std::string format_linear_model(const torch::Tensor& weights,
                                             const std::vector<std::string>& labels,
                                             const std::vector<std::string>& target_names,
                                             int digits = 4);

BALLISTA_NAMESPACE_END
