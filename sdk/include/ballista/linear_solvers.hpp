// Solvers for models that are linear in their weights (y = F·W for a feature matrix F):
// the closed-form least-squares optimum, and the full-batch gradient descent that the
// founding article uses, so plugins can offer both and users can see what each costs.
#pragma once

#include <ballista/collective.hpp>
#include <ballista/context.hpp>
#include <ballista/version.hpp>

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

BALLISTA_NAMESPACE_BEGIN

// W [m, d_out] minimising ||F·W − Y||² + l2·||W||² for F [n, m], Y [n, d_out] (Y [n]
// gives W [m]), computed in float64: F is reduced to its m×m triangular factor by a
// Householder QR in fixed slices (LeastSquaresAccumulator), and that factor, stacked
// over √l2·I, is solved through its SVD with the rank rule of LAPACK's gelsd (NumPy's
// lstsq). The normal equations are never formed: κ(F), not κ(FᵀF), governs the
// accuracy. Rank-deficient F gets the minimum-norm solution, singular values up to
// eps·max(n, m)·σ_max counting as zero (NumPy's default), rather than a failure. The
// same inputs give the same bits in every process (ballista reproduce relies on it).
// Throws std::invalid_argument for l2 < 0, mismatched shapes or non-finite values.
BALLISTA_API torch::Tensor least_squares(const torch::Tensor& features, const torch::Tensor& targets,
                                         double l2 = 0.0);
// The same over the rows that all the ranks of `collective` hold (each passes its own
// share): each rank folds its rows, the factors are combined (combine()), and every
// rank gets the same W. With single_process() it is the call above.
BALLISTA_API torch::Tensor least_squares(const torch::Tensor& features, const torch::Tensor& targets, double l2,
                                         Collective& collective);

// Least squares over rows that arrive a slice at a time, so that F is never held whole
// (TSQR: Demmel, Grigori, Hoemmen, Langou 2012). Each slice of [F | Y] is folded, in
// the order given, into the triangular factor [R | QᵀY] of a Householder QR. Since
// ||F·W − Y||² = ||R·W − QᵀY||² + (a term free of W), solve() returns that m×m
// system's minimum-norm solution through its SVD (one-sided Jacobi), with the rank
// cut-off F's own shape would get under gelsd: the same answer as NumPy's lstsq on F,
// from a QR rather than the normal equations, so κ(F), not κ(FᵀF), governs the
// accuracy. The same rows added in the same slices and order give the same bits in
// every process. Not thread-safe: use one accumulator per thread and combine them with
// merge().
class BALLISTA_API LeastSquaresAccumulator {
 public:
  // For m = `features` columns of F and d = `targets` columns of Y.
  // Throws std::invalid_argument unless both are at least 1.
  LeastSquaresAccumulator(std::int64_t features, std::int64_t targets);

  // Folds in the rows F [k, m], Y [k, d] (any real dtype and strides; float64 inside).
  // Throws std::invalid_argument for any other shapes.
  void add(const torch::Tensor& features, const torch::Tensor& targets);
  // Folds in every row `other` has seen, after this one's. Throws std::invalid_argument
  // if its m or d differ.
  void merge(const LeastSquaresAccumulator& other);
  // Makes this accumulator hold the rows that every rank's accumulator holds, rank 0's
  // first: the factors are gathered and folded in rank order, so every rank ends with
  // the same bits, and solve() then answers for all the rows (to ~κ(F)·eps of what one
  // process folding them all would answer). Every rank calls it (collective.hpp).
  void combine(Collective& collective);

  // Rows folded in so far.
  std::int64_t rows() const { return rows_; }
  // W [m, d] minimising ||F·W − Y||² + l2·||W||² over the rows folded in, as
  // least_squares. Throws std::invalid_argument if l2 < 0, or if the rows held a NaN or
  // an infinity (or values so large that their squares overflow).
  torch::Tensor solve(double l2 = 0.0) const;

 private:
  std::int64_t features_;
  std::int64_t targets_;
  std::int64_t width_;  // m + d, padded to the width of the fold's vector loops
  std::int64_t rows_ = 0;
  std::vector<double> factor_;  // [m, width_], row-major: R | QᵀY | zero padding
};

// The rows [begin, end) of a least-squares problem: F [end − begin, m] and Y
// [end − begin, d]. streamed_least_squares may call it from several threads at once,
// for different ranges.
using LeastSquaresRows = std::function<std::pair<torch::Tensor, torch::Tensor>(std::int64_t begin, std::int64_t end)>;

// The length of the row ranges streamed_least_squares asks for (the last may be
// shorter): short enough for a range's features to stay in cache, long enough for
// LibTorch's per-operation cost not to matter.
inline constexpr std::int64_t kLeastSquaresSlice = 32768;

// least_squares over n rows that `rows` produces a range at a time, so that F [n, m] is
// never formed: ranges of kLeastSquaresSlice rows, folded in parallel in fixed groups of
// consecutive ranges, the groups merged in order. Which ranges are asked for and the
// order of the folds depend on n alone, never on the thread count. Exceptions thrown by
// `rows` propagate. Throws std::invalid_argument if n < 0, m < 1, d < 1 or l2 < 0, or if
// `rows` returns tensors of other shapes.
BALLISTA_API torch::Tensor streamed_least_squares(std::int64_t n, std::int64_t features, std::int64_t targets,
                                                  const LeastSquaresRows& rows, double l2 = 0.0);
// The same over every rank's rows: `n` and `rows` are this rank's share.
BALLISTA_API torch::Tensor streamed_least_squares(std::int64_t n, std::int64_t features, std::int64_t targets,
                                                  const LeastSquaresRows& rows, double l2, Collective& collective);

// Sequentially thresholded least squares (STLSQ, as in SINDy, Brunton et al. 2016):
// solve, zero every weight with |w| < threshold, re-solve on the remaining columns, and
// repeat until the set of kept terms stops changing. Returns W [m, d_out] with exact
// zeros for dropped terms; each output column is thresholded on its own.
BALLISTA_API torch::Tensor thresholded_least_squares(const torch::Tensor& features, const torch::Tensor& targets,
                                                     double threshold, double l2 = 0.0);
// The same over every rank's rows (each re-solve combines the ranks' factors).
BALLISTA_API torch::Tensor thresholded_least_squares(const torch::Tensor& features, const torch::Tensor& targets,
                                                     double threshold, double l2, Collective& collective);

struct BALLISTA_API GradientOptions {
  std::string optimizer = "adam";  // "adam" or "sgd" (plain, no momentum)
  double learning_rate = 0.01;
  std::int64_t epochs = 1000;
};

// Minimises the mean squared error of F·W against Y from `initial` W [m, d_out] with
// full-batch steps in float32 (as the article's PyTorch code does), reporting each
// epoch's loss through `context` and stopping early if it is cancelled. On several
// ranks (context.collective()), F and Y are this rank's share of the rows and each
// step sums the shares' gradients and losses in one all-reduce: the same steps as one
// process on all the rows, up to float32 rounding.
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
// The same over every rank's rows.
BALLISTA_API double mean_squared_error(const torch::Tensor& features, const torch::Tensor& weights,
                                       const torch::Tensor& targets, Collective& collective);

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
