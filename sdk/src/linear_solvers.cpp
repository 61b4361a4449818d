// Closed-form and gradient solvers for linear-in-weights models (see linear_solvers.hpp).
#include <ballista/linear_solvers.hpp>

#include <ballista/adam.hpp>

#include <torch/torch.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>

BALLISTA_NAMESPACE_BEGIN

namespace {

// Rows per fold: a block of [k, width] doubles stays in L1 (8 KiB at width 8).
constexpr std::int64_t kBlockRows = 128;
// Consecutive slices folded by one thread into one factor before the factors are merged.
constexpr std::int64_t kSlicesPerGroup = 8;

// The fold's loops run over whole padded rows, so their length is a compile-time
// constant for the common widths (and the compiler keeps the dot products in registers).
std::int64_t padded_width(std::int64_t columns) {
  for (const std::int64_t width : {4, 8, 16, 32}) {
    if (columns <= width) {
      return width;
    }
  }
  return (columns + 3) / 4 * 4;
}

template <std::int64_t Width>
struct FoldScratch {
  explicit FoldScratch(std::int64_t /*width*/) {}
  std::array<double, Width> dots{};
  std::array<double, Width> factors{};
};

template <>
struct FoldScratch<0> {
  explicit FoldScratch(std::int64_t width)
      : dots(static_cast<std::size_t>(width)), factors(static_cast<std::size_t>(width)) {}
  std::vector<double> dots;
  std::vector<double> factors;
};

// sqrt(alpha² + Σ block[i, column]²) without the overflow or the underflow of squaring
// (LAPACK's dnrm2 scales for the same reason); 0 when the block's column is all zero.
double column_norm(double alpha, double squares, const double* block, std::int64_t rows, std::int64_t width,
                   std::int64_t column) {
  constexpr double kSmallest = std::numeric_limits<double>::min() / std::numeric_limits<double>::epsilon();
  const double plain = alpha * alpha + squares;
  if (squares >= kSmallest && std::isfinite(plain)) {
    return std::sqrt(plain);
  }
  double largest = 0.0;
  for (std::int64_t i = 0; i < rows; ++i) {
    largest = std::max(largest, std::abs(block[i * width + column]));
  }
  if (largest == 0.0) {
    return 0.0;
  }
  largest = std::max(largest, std::abs(alpha));
  double scaled = (alpha / largest) * (alpha / largest);
  for (std::int64_t i = 0; i < rows; ++i) {
    const double x = block[i * width + column] / largest;
    scaled += x * x;
  }
  return largest * std::sqrt(scaled);
}

// One step of the structured Householder QR of [R; block] (LAPACK's dtpqrt2 with a
// full block): for each of the first m columns j, the reflector that zeroes the block's
// column j into R[j, j], applied to the rest of R's row j and of the block. `factor` is
// [m, width] (R | QᵀY | padding), `block` [rows, width]; both row-major, padding zero.
// Afterwards the block holds only what the first m columns cannot explain; it is
// dropped, since it adds the same constant to ||F·W − Y||² whatever W is.
template <std::int64_t Width>
void fold_block(double* factor, double* block, std::int64_t rows, std::int64_t m, std::int64_t runtime_width) {
  const std::int64_t width = Width > 0 ? Width : runtime_width;
  FoldScratch<Width> scratch(width);
  auto& dots = scratch.dots;
  auto& factors = scratch.factors;
  for (std::int64_t j = 0; j < m; ++j) {
    std::fill(dots.begin(), dots.end(), 0.0);
    for (std::int64_t i = 0; i < rows; ++i) {
      const double* row = block + i * width;
      const double x = row[j];
      for (std::int64_t l = 0; l < width; ++l) {
        dots[static_cast<std::size_t>(l)] += x * row[l];
      }
    }
    double* r = factor + j * width;
    const double alpha = r[j];
    const double norm = column_norm(alpha, dots[static_cast<std::size_t>(j)], block, rows, width, j);
    if (norm == 0.0) {
      continue;  // the block's column is already zero: the reflector is the identity
    }
    // H = I − τ·u·uᵀ with u = (1, x / (α − β)) maps (α, x) to (β, 0).
    const double beta = alpha >= 0.0 ? -norm : norm;
    const double tau = (beta - alpha) / beta;
    const double scale = 1.0 / (alpha - beta);
    for (std::int64_t l = 0; l < width; ++l) {
      const auto index = static_cast<std::size_t>(l);
      if (l <= j) {
        factors[index] = 0.0;
        continue;
      }
      const double projection = r[l] + scale * dots[index];
      r[l] -= tau * projection;
      factors[index] = tau * projection * scale;
    }
    r[j] = beta;
    for (std::int64_t i = 0; i < rows; ++i) {
      double* row = block + i * width;
      const double x = row[j];
      for (std::int64_t l = 0; l < width; ++l) {
        row[l] -= x * factors[static_cast<std::size_t>(l)];
      }
      row[j] = 0.0;
    }
  }
}

void fold(double* factor, double* block, std::int64_t rows, std::int64_t m, std::int64_t width) {
  switch (width) {
    case 4: fold_block<4>(factor, block, rows, m, width); break;
    case 8: fold_block<8>(factor, block, rows, m, width); break;
    case 16: fold_block<16>(factor, block, rows, m, width); break;
    case 32: fold_block<32>(factor, block, rows, m, width); break;
    default: fold_block<0>(factor, block, rows, m, width); break;
  }
}

// Minimum-norm least squares for a small system A [p, m], B [p, d] (column-major), by
// one-sided Jacobi SVD (Hestenes 1958; accurate to high relative precision, Demmel &
// Veselić 1992): rotate pairs of A's columns until all are orthogonal, A·V = U·Σ, then
// W = Σ_k v_k·(u_kᵀB)/σ_k over the σ_k > rcond·σ_max — the rank rule of LAPACK's gelsd
// (NumPy's lstsq). Ours rather than LAPACK's because the system is tiny: LibTorch's
// first linalg call in a process costs more (~0.6 ms) than a whole small fit, and a
// fixed order of rotations gives the same bits in every process. Writes W [m, d],
// row-major, to `weights`.
void minimum_norm_solution(std::vector<double> a, const std::vector<double>& b, std::int64_t p, std::int64_t m,
                           std::int64_t d, double rcond, double* weights) {
  std::fill(weights, weights + m * d, 0.0);
  // Column k of A [p, m] and of V [m, m].
  const auto column = [p](std::vector<double>& values, std::int64_t k) { return values.data() + k * p; };
  const auto v_column = [m](std::vector<double>& values, std::int64_t k) { return values.data() + k * m; };
  double a_largest = 0.0;
  for (const double x : a) {
    a_largest = std::max(a_largest, std::abs(x));
  }
  double b_largest = 0.0;
  for (const double x : b) {
    b_largest = std::max(b_largest, std::abs(x));
  }
  if (a_largest == 0.0 || b_largest == 0.0) {
    return;
  }
  // Powers of two (exact) bring both to ~1, so no square below over- or underflows.
  const int a_exponent = std::ilogb(a_largest);
  const int b_exponent = std::ilogb(b_largest);
  for (double& x : a) {
    x = std::ldexp(x, -a_exponent);
  }
  std::vector<double> v(static_cast<std::size_t>(m * m), 0.0);
  for (std::int64_t k = 0; k < m; ++k) {
    v[static_cast<std::size_t>(k * m + k)] = 1.0;
  }
  const double tolerance = std::sqrt(static_cast<double>(p)) * std::numeric_limits<double>::epsilon();
  constexpr int kMaxSweeps = 64;  // convergence is quadratic: ~10 sweeps in practice
  for (int sweep = 0; sweep < kMaxSweeps; ++sweep) {
    bool rotated = false;
    for (std::int64_t i = 0; i + 1 < m; ++i) {
      for (std::int64_t j = i + 1; j < m; ++j) {
        double* ai = column(a, i);
        double* aj = column(a, j);
        double alpha = 0.0;
        double beta = 0.0;
        double gamma = 0.0;
        for (std::int64_t r = 0; r < p; ++r) {
          alpha += ai[r] * ai[r];
          beta += aj[r] * aj[r];
          gamma += ai[r] * aj[r];
        }
        if (gamma == 0.0 || std::abs(gamma) <= tolerance * std::sqrt(alpha * beta)) {
          continue;
        }
        rotated = true;
        // The rotation that makes columns i and j orthogonal (Golub & Van Loan §8.5).
        const double zeta = (beta - alpha) / (2.0 * gamma);
        const double t = std::copysign(1.0, zeta) / (std::abs(zeta) + std::hypot(1.0, zeta));
        const double c = 1.0 / std::hypot(1.0, t);
        const double s = c * t;
        for (std::int64_t r = 0; r < p; ++r) {
          const double x = ai[r];
          const double y = aj[r];
          ai[r] = c * x - s * y;
          aj[r] = s * x + c * y;
        }
        double* vi = v_column(v, i);
        double* vj = v_column(v, j);
        for (std::int64_t r = 0; r < m; ++r) {
          const double x = vi[r];
          const double y = vj[r];
          vi[r] = c * x - s * y;
          vj[r] = s * x + c * y;
        }
      }
    }
    if (!rotated) {
      break;
    }
  }
  std::vector<double> squares(static_cast<std::size_t>(m), 0.0);
  double largest = 0.0;
  for (std::int64_t k = 0; k < m; ++k) {
    const double* ak = column(a, k);
    for (std::int64_t r = 0; r < p; ++r) {
      squares[static_cast<std::size_t>(k)] += ak[r] * ak[r];
    }
    largest = std::max(largest, std::sqrt(squares[static_cast<std::size_t>(k)]));
  }
  for (std::int64_t k = 0; k < m; ++k) {
    const double sigma = std::sqrt(squares[static_cast<std::size_t>(k)]);
    if (!(sigma > rcond * largest)) {
      continue;  // numerically zero: left out, which is what makes the answer minimum-norm
    }
    const double* ak = column(a, k);
    const double* vk = v_column(v, k);
    for (std::int64_t t = 0; t < d; ++t) {
      const double* bt = b.data() + t * p;
      double projection = 0.0;
      for (std::int64_t r = 0; r < p; ++r) {
        projection += ak[r] * std::ldexp(bt[r], -b_exponent);
      }
      const double coefficient = projection / squares[static_cast<std::size_t>(k)];
      for (std::int64_t r = 0; r < m; ++r) {
        weights[r * d + t] += vk[r] * coefficient;
      }
    }
  }
  for (std::int64_t i = 0; i < m * d; ++i) {
    weights[i] = std::ldexp(weights[i], b_exponent - a_exponent);
  }
}

void require_least_squares_shape(std::int64_t features, std::int64_t targets) {
  if (features < 1 || targets < 1) {
    throw std::invalid_argument("least squares: needs at least one feature and one target column (got " +
                                std::to_string(features) + " and " + std::to_string(targets) + ")");
  }
}

void require_l2(double l2) {
  if (!(l2 >= 0.0)) {
    throw std::invalid_argument("least_squares: l2 must be >= 0");
  }
}

}  // namespace

LeastSquaresAccumulator::LeastSquaresAccumulator(std::int64_t features, std::int64_t targets)
    : features_(features), targets_(targets), width_(padded_width(features + targets)) {
  require_least_squares_shape(features, targets);
  factor_.assign(static_cast<std::size_t>(features_ * width_), 0.0);
}

void LeastSquaresAccumulator::add(const torch::Tensor& features, const torch::Tensor& targets) {
  if (features.dim() != 2 || targets.dim() != 2 || features.size(1) != features_ || targets.size(1) != targets_ ||
      features.size(0) != targets.size(0)) {
    std::ostringstream message;
    message << "least squares: expected features [k, " << features_ << "] and targets [k, " << targets_
            << "], got " << features.sizes() << " and " << targets.sizes();
    throw std::invalid_argument(message.str());
  }
  const auto f = features.to(torch::kCPU, torch::kFloat64);
  const auto y = targets.to(torch::kCPU, torch::kFloat64);
  const auto f_rows = f.accessor<double, 2>();
  const auto y_rows = y.accessor<double, 2>();
  const std::int64_t count = f.size(0);
  std::vector<double> block(static_cast<std::size_t>(kBlockRows * width_), 0.0);
  for (std::int64_t start = 0; start < count; start += kBlockRows) {
    const std::int64_t block_rows = std::min(kBlockRows, count - start);
    for (std::int64_t i = 0; i < block_rows; ++i) {
      double* row = block.data() + i * width_;
      for (std::int64_t j = 0; j < features_; ++j) {
        row[j] = f_rows[start + i][j];
      }
      for (std::int64_t t = 0; t < targets_; ++t) {
        row[features_ + t] = y_rows[start + i][t];
      }
    }
    fold(factor_.data(), block.data(), block_rows, features_, width_);
  }
  rows_ += count;
}

void LeastSquaresAccumulator::merge(const LeastSquaresAccumulator& other) {
  if (other.features_ != features_ || other.targets_ != targets_) {
    throw std::invalid_argument("least squares: cannot merge accumulators of different shapes");
  }
  // Its factor's rows stand for its rows: the same ||R·W − QᵀY||² up to a constant.
  auto block = other.factor_;
  fold(factor_.data(), block.data(), features_, features_, width_);
  rows_ += other.rows_;
}

void LeastSquaresAccumulator::combine(Collective& collective) {
  if (collective.size() == 1) {
    return;
  }
  // The factor and the row count in one message; counts below 2⁵³ travel exactly.
  auto packed = torch::empty({static_cast<std::int64_t>(factor_.size()) + 1}, torch::kFloat64);
  std::copy(factor_.begin(), factor_.end(), packed.data_ptr<double>());
  packed[static_cast<std::int64_t>(factor_.size())] = static_cast<double>(rows_);
  const auto parts = collective.gather(packed);
  std::fill(factor_.begin(), factor_.end(), 0.0);
  rows_ = 0;
  for (const auto& part : parts) {
    if (part.numel() != packed.numel() || part.scalar_type() != torch::kFloat64) {
      throw std::runtime_error("least squares: the ranks' factors differ in shape (features or targets differ)");
    }
    const auto* values = part.data_ptr<double>();
    std::vector<double> block(values, values + factor_.size());
    fold(factor_.data(), block.data(), features_, features_, width_);
    rows_ += static_cast<std::int64_t>(values[factor_.size()]);
  }
}

torch::Tensor LeastSquaresAccumulator::solve(double l2) const {
  require_l2(l2);
  if (!std::all_of(factor_.begin(), factor_.end(), [](double x) { return std::isfinite(x); })) {
    throw std::invalid_argument(
        "least squares: the features or targets hold a NaN or an infinity (or values whose squares overflow)");
  }
  // [R; √l2·I] and [QᵀY; 0], column by column: ridge as ordinary least squares.
  const std::int64_t m = features_;
  const std::int64_t height = l2 > 0.0 ? 2 * m : m;
  std::vector<double> a(static_cast<std::size_t>(height * m), 0.0);
  std::vector<double> b(static_cast<std::size_t>(height * targets_), 0.0);
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t k = 0; k < m; ++k) {
      a[static_cast<std::size_t>(k * height + i)] = factor_[static_cast<std::size_t>(i * width_ + k)];
    }
    for (std::int64_t t = 0; t < targets_; ++t) {
      b[static_cast<std::size_t>(t * height + i)] = factor_[static_cast<std::size_t>(i * width_ + m + t)];
    }
    if (l2 > 0.0) {
      a[static_cast<std::size_t>(i * height + m + i)] = std::sqrt(l2);
    }
  }
  // NumPy's (and LAPACK's) default cut-off for F itself: singular values below
  // eps·max(n, m)·σ_max count as zero. R has F's singular values, but only m rows.
  const std::int64_t rows_with_ridge = rows_ + (l2 > 0.0 ? m : 0);
  const double rcond = std::numeric_limits<double>::epsilon() * static_cast<double>(std::max(rows_with_ridge, m));
  auto weights = torch::empty({m, targets_}, torch::TensorOptions().dtype(torch::kFloat64));
  minimum_norm_solution(std::move(a), b, height, m, targets_, rcond, weights.data_ptr<double>());
  return weights;
}

namespace {

// The accumulator of n rows that `rows` produces a range at a time (streamed_least_squares).
LeastSquaresAccumulator streamed_accumulator(std::int64_t n, std::int64_t features, std::int64_t targets,
                                             const LeastSquaresRows& rows) {
  if (n < 0) {
    throw std::invalid_argument("least squares: negative row count " + std::to_string(n));
  }
  constexpr std::int64_t kGroupRows = kLeastSquaresSlice * kSlicesPerGroup;
  const std::int64_t groups = std::max<std::int64_t>(1, (n + kGroupRows - 1) / kGroupRows);
  std::vector<LeastSquaresAccumulator> parts(static_cast<std::size_t>(groups),
                                             LeastSquaresAccumulator(features, targets));
  const auto fold_group = [&](std::int64_t group) {
    auto& part = parts[static_cast<std::size_t>(group)];
    const std::int64_t end = std::min(n, (group + 1) * kGroupRows);
    for (std::int64_t begin = group * kGroupRows; begin < end; begin += kLeastSquaresSlice) {
      const std::int64_t stop = std::min(end, begin + kLeastSquaresSlice);
      const auto [f, y] = rows(begin, stop);
      if (f.dim() != 2 || f.size(0) != stop - begin) {
        throw std::invalid_argument("least squares: rows(" + std::to_string(begin) + ", " + std::to_string(stop) +
                                    ") returned " + std::to_string(f.dim() == 2 ? f.size(0) : -1) + " rows");
      }
      part.add(f, y);
    }
  };
  if (groups == 1) {
    fold_group(0);
  } else {
    at::parallel_for(0, groups, 1, [&](std::int64_t first, std::int64_t last) {
      for (std::int64_t group = first; group < last; ++group) {
        fold_group(group);
      }
    });
  }
  for (std::size_t group = 1; group < parts.size(); ++group) {
    parts.front().merge(parts[group]);
  }
  return std::move(parts.front());
}

}  // namespace

torch::Tensor streamed_least_squares(std::int64_t n, std::int64_t features, std::int64_t targets,
                                     const LeastSquaresRows& rows, double l2) {
  require_least_squares_shape(features, targets);
  require_l2(l2);
  return streamed_accumulator(n, features, targets, rows).solve(l2);
}

torch::Tensor streamed_least_squares(std::int64_t n, std::int64_t features, std::int64_t targets,
                                     const LeastSquaresRows& rows, double l2, Collective& collective) {
  require_least_squares_shape(features, targets);
  require_l2(l2);
  auto accumulator = streamed_accumulator(n, features, targets, rows);
  accumulator.combine(collective);
  return accumulator.solve(l2);
}

torch::Tensor least_squares(const torch::Tensor& features, const torch::Tensor& targets, double l2) {
  return least_squares(features, targets, l2, single_process());
}

torch::Tensor least_squares(const torch::Tensor& features, const torch::Tensor& targets, double l2,
                            Collective& collective) {
  require_l2(l2);
  if (features.dim() != 2 || (targets.dim() != 1 && targets.dim() != 2) || features.size(0) != targets.size(0)) {
    std::ostringstream message;
    message << "least_squares: expected features [n, m] and targets [n, d] or [n], got " << features.sizes()
            << " and " << targets.sizes();
    throw std::invalid_argument(message.str());
  }
  const auto f = features.to(torch::kCPU, torch::kFloat64);
  const auto y = (targets.dim() == 1 ? targets.unsqueeze(1) : targets).to(torch::kCPU, torch::kFloat64);
  torch::Tensor weights;
  if (f.size(1) == 0 || y.size(1) == 0) {
    weights = torch::zeros({f.size(1), y.size(1)}, f.options());
  } else {
    weights = streamed_least_squares(
        f.size(0), f.size(1), y.size(1),
        [&](std::int64_t begin, std::int64_t end) {
          return std::make_pair(f.slice(0, begin, end), y.slice(0, begin, end));
        },
        l2, collective);
  }
  return targets.dim() == 1 ? weights.squeeze(1) : weights;
}

torch::Tensor thresholded_least_squares(const torch::Tensor& features, const torch::Tensor& targets,
                                        double threshold, double l2) {
  return thresholded_least_squares(features, targets, threshold, l2, single_process());
}

torch::Tensor thresholded_least_squares(const torch::Tensor& features, const torch::Tensor& targets,
                                        double threshold, double l2, Collective& collective) {
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
        solution.index_put_({columns}, least_squares(f.index_select(1, columns), target, l2, collective));
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
  if (options.optimizer != "adam" && options.optimizer != "sgd") {
    throw std::invalid_argument("unknown optimizer '" + options.optimizer + "' (allowed: adam, sgd)");
  }
  const bool adam = options.optimizer == "adam";
  // The loop torch::optim::Adam or SGD would run on loss = mse_loss(F·W, Y) with autograd
  // (tests/sdk checks it bit for bit), written out: the same ATen calls in the same
  // order, on buffers made once, without recording a graph; for six weights and 1000 rows
  // the graph and the optimizer's bookkeeping were most of each epoch's time.
  const auto f = features.to(torch::kFloat32).contiguous();
  const auto y = targets.to(torch::kFloat32).contiguous();
  auto& collective = context.collective();
  const bool shared = collective.size() > 1;
  // On several ranks: each share's gradient of the summed squared error over all
  // elements, and its loss, scaled by 1/(all the rows' elements) and summed over the ranks.
  const auto elements = total_over_ranks(collective, y.numel());
  const auto scale = torch::full({}, 1.0 / static_cast<double>(std::max<std::int64_t>(1, elements)), f.options());
  std::vector<torch::Tensor> message;
  auto weights = initial.to(torch::kFloat32).clone();
  auto prediction = torch::empty({f.size(0), weights.size(1)}, f.options());
  auto prediction_gradient = torch::empty_like(prediction);
  auto gradient = torch::empty_like(weights);
  const auto one = torch::ones({}, f.options());
  // Autograd's backward of F·W for W: (gradientᵀ·F)ᵀ when W's strides are those of a
  // column-major matrix (here: a [1, 1] W), else Fᵀ·gradient.
  const bool column_major = weights.stride(0) == 1 && weights.stride(1) == weights.size(0);
  torch::Tensor average;
  torch::Tensor average_sq;
  torch::Tensor denominator;
  if (adam) {
    average = torch::zeros_like(weights);
    average_sq = torch::zeros_like(weights);
    denominator = torch::empty_like(weights);
  }
  for (std::int64_t epoch = 1; epoch <= options.epochs && !context.cancelled(); ++epoch) {
    // No autograd bookkeeping (the buffers stay ordinary tensors); the kernels are the same.
    const c10::InferenceMode inference;
    at::mm_out(prediction, f, weights);
    double loss = 0.0;
    if (shared) {
      at::mse_loss_backward_out(prediction_gradient, scale, prediction, y, at::Reduction::Sum);
      message = {gradient, at::mse_loss(prediction, y, at::Reduction::Sum).mul_(scale).reshape({1})};
    } else {
      loss = at::mse_loss(prediction, y).item<double>();
      at::mse_loss_backward_out(prediction_gradient, one, prediction, y, at::Reduction::Mean);
    }
    if (column_major) {
      gradient.copy_(prediction_gradient.t().mm(f).t());
    } else {
      at::mm_out(gradient, f.t(), prediction_gradient);
    }
    if (shared) {
      collective.sum(message);  // in place: message[0] is `gradient`
      loss = message[1].item<double>();
    }
    if (adam) {
      adam_step(weights, gradient, average, average_sq, denominator, epoch, options.learning_rate);
    } else {
      weights.add_(gradient, -options.learning_rate);
    }
    context.report_progress(epoch, options.epochs, loss);
  }
  auto fitted = weights.to(torch::kFloat64);
  if (!context.cancelled()) {
    // What the same objective's optimum would have given, and what it costs to get.
    const auto start = std::chrono::steady_clock::now();
    const auto optimum = least_squares(features, targets, 0.0, collective);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    context.report_value("final_mse", mean_squared_error(features, fitted, targets, collective));
    context.report_value("optimum_mse", mean_squared_error(features, optimum, targets, collective));
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

double mean_squared_error(const torch::Tensor& features, const torch::Tensor& weights,
                          const torch::Tensor& targets, Collective& collective) {
  if (collective.size() == 1) {
    return mean_squared_error(features, weights, targets);
  }
  const auto residual = features.to(torch::kFloat64).mm(weights.to(torch::kFloat64)) -
                        targets.to(torch::kFloat64);
  std::vector<torch::Tensor> sums{torch::stack({residual.square().sum(), torch::scalar_tensor(
                                                    static_cast<double>(residual.numel()), torch::kFloat64)})};
  collective.sum(sums);
  return (sums[0][0] / sums[0][1]).item<double>();
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
