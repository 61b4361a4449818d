// Cross-validated thresholds and bootstrap inclusion for STLSQ (see sparse_regression.hpp).
#include "sparse_regression.hpp"

#include <ballista/linear_solvers.hpp>
#include <ballista/parallel.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <utility>

namespace basis {

namespace {

// Which terms STLSQ keeps, from the scaled problem's normal equations: G = F̃ᵀF̃/n and
// c = F̃ᵀỹ/n for unit-rms columns F̃ and target ỹ. The normal equations are fine here:
// they only decide the support (the ridge bounds their condition number by
// (max eigenvalue + ridge)/ridge), and the weights come from a QR refit afterwards.
torch::Tensor kept_terms(const torch::Tensor& gram, const torch::Tensor& correlation, double lambda, double ridge) {
  const auto terms = gram.size(0);
  auto active = torch::ones({terms}, torch::kBool);
  for (std::int64_t round = 0; round <= terms; ++round) {
    const auto index = active.nonzero().squeeze(1);
    if (index.numel() == 0) {
      break;
    }
    const auto system = gram.index_select(0, index).index_select(1, index) +
                        ridge * torch::eye(index.numel(), gram.options());
    const auto weights = torch::linalg_solve(system, correlation.index_select(0, index));
    const auto small = weights.abs() < lambda;
    if (!small.any().item<bool>()) {
      break;
    }
    active.index_put_({index.masked_select(small)}, false);
  }
  return active;
}

// Plain least squares on the kept terms, zeros elsewhere.
torch::Tensor refit(const torch::Tensor& features, const torch::Tensor& target, const torch::Tensor& active) {
  auto weights = torch::zeros({features.size(1)}, torch::kFloat64);
  const auto index = active.nonzero().squeeze(1);
  if (index.numel() > 0) {
    weights.index_put_({index}, ballista::least_squares(features.index_select(1, index), target));
  }
  return weights;
}

// One STLSQ problem, scaled once and solved at any threshold: the normal equations of the
// unit-rms terms and target.
class ScaledProblem {
 public:
  ScaledProblem(torch::Tensor features, torch::Tensor target)
      : features_(std::move(features)), target_(std::move(target)) {
    const auto rows = static_cast<double>(features_.size(0));
    auto column_rms = features_.square().mean(0).sqrt();
    column_rms = torch::where(column_rms > 0, column_rms, torch::ones_like(column_rms));
    const auto target_rms = std::max(target_.square().mean().sqrt().item<double>(), 1e-300);
    const auto scaled = features_ / column_rms;
    gram_ = scaled.t().mm(scaled) / rows;
    correlation_ = scaled.t().mv(target_ / target_rms) / rows;
  }
  torch::Tensor solve(double lambda, double ridge) const {
    return refit(features_, target_, kept_terms(gram_, correlation_, lambda, ridge));
  }

 private:
  torch::Tensor features_;
  torch::Tensor target_;
  torch::Tensor gram_;
  torch::Tensor correlation_;
};

}  // namespace

torch::Tensor relative_stlsq(const torch::Tensor& features, const torch::Tensor& target, double lambda, double ridge) {
  return ScaledProblem(features, target).solve(lambda, ridge);
}

ThresholdChoice choose_threshold(const torch::Tensor& features, const torch::Tensor& target, double ridge,
                                 std::int64_t folds, std::uint64_t seed) {
  ThresholdChoice choice;
  constexpr int kPoints = 21;  // 1e-5 .. 1, four per decade
  for (int i = 0; i < kPoints; ++i) {
    choice.grid.push_back(std::pow(10.0, -5.0 + 0.25 * i));
  }
  const auto rows = features.size(0);
  folds = std::max<std::int64_t>(1, std::min(folds, rows));
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto order = torch::randperm(rows, generator, torch::kInt64);
  // errors[f][t]: fold f's held-out MSE at threshold t.
  std::vector<std::vector<double>> errors(static_cast<std::size_t>(folds), std::vector<double>(kPoints));
  ballista::parallel_tasks(folds, [&](std::int64_t fold) {
    const auto begin = fold * rows / folds;
    const auto end = (fold + 1) * rows / folds;
    const auto held = order.slice(0, begin, end);
    const auto kept = torch::cat({order.slice(0, 0, begin), order.slice(0, end, rows)});
    const auto train_f = features.index_select(0, kept);
    const auto train_y = target.index_select(0, kept);
    const auto test_f = features.index_select(0, held);
    const auto test_y = target.index_select(0, held);
    const ScaledProblem problem(train_f, train_y);
    for (int t = 0; t < kPoints; ++t) {
      const auto weights = problem.solve(choice.grid[static_cast<std::size_t>(t)], ridge);
      errors[static_cast<std::size_t>(fold)][static_cast<std::size_t>(t)] =
          (test_f.mv(weights) - test_y).square().mean().item<double>();
    }
  });
  const ScaledProblem whole(features, target);
  std::size_t best = 0;
  for (std::size_t t = 0; t < choice.grid.size(); ++t) {
    double mean = 0;
    for (const auto& fold : errors) {
      mean += fold[t] / static_cast<double>(folds);
    }
    double variance = 0;
    for (const auto& fold : errors) {
      variance += (fold[t] - mean) * (fold[t] - mean) / static_cast<double>(std::max<std::int64_t>(folds - 1, 1));
    }
    choice.cv_mse.push_back(mean);
    choice.cv_se.push_back(std::sqrt(variance / static_cast<double>(folds)));
    choice.terms.push_back(whole.solve(choice.grid[t], ridge).count_nonzero().item<std::int64_t>());
    if (mean < choice.cv_mse[best]) {
      best = t;
    }
  }
  auto chosen = best;
  for (std::size_t t = best; t < choice.grid.size(); ++t) {
    if (choice.cv_mse[t] <= choice.cv_mse[best] + choice.cv_se[best] && choice.terms[t] > 0) {
      chosen = t;
    }
  }
  choice.lambda = choice.grid[chosen];
  return choice;
}

EnsembleResult bootstrap_inclusion(const torch::Tensor& features, const torch::Tensor& target, double threshold,
                                   bool relative, double ridge, std::int64_t resamples, std::uint64_t seed) {
  const auto rows = features.size(0);
  const auto terms = features.size(1);
  // The resamples' rows are drawn up front, in order, so each task's data is fixed
  // whatever thread runs it.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto picks = torch::randint(rows, {resamples, rows}, generator, torch::kInt64);
  auto weights = torch::zeros({resamples, terms}, torch::kFloat64);
  ballista::parallel_tasks(resamples, [&](std::int64_t r) {
    const auto f = features.index_select(0, picks[r]);
    const auto y = target.index_select(0, picks[r]);
    weights[r].copy_(relative ? relative_stlsq(f, y, threshold, ridge)
                              : ballista::thresholded_least_squares(f, y.unsqueeze(1), threshold).squeeze(1));
  });
  const auto counts = (weights != 0).to(torch::kFloat64).sum(0);
  EnsembleResult result;
  result.frequency = counts / static_cast<double>(resamples);
  result.mean_weight = torch::where(counts > 0, weights.sum(0) / counts.clamp_min(1), torch::zeros_like(counts));
  return result;
}

}  // namespace basis
