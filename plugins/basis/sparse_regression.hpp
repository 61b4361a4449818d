// Choosing the terms of a sparse law (the basis plugin's auto_threshold and ensemble): STLSQ
// with a threshold relative to each term's share of the target and a small ridge penalty
// while it selects (SINDy's STLSQ, Brunton et al. 2016), its threshold by k-fold
// cross-validation, and an ensemble of bootstrap fits that reports how often each term is
// chosen (E-SINDy, Fasel et al. 2022). The kept terms are always refitted by the SDK's
// plain least squares, so the weights are the closed form on those terms.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace basis {

// STLSQ on one target column. Terms are scaled to unit rms and the target too, so a
// weight is the term's share of the target: while a share is below `lambda`, that term
// is dropped and the rest refitted, on the normal equations with the ridge penalty
// `ridge`·I (which keeps nearly collinear terms, sin²θ and cos 2θ say, from trading
// huge weights). Returns w [m] for F [n, m], y [n] (float64): the plain least-squares
// weights of the kept terms, exact zeros elsewhere.
torch::Tensor relative_stlsq(const torch::Tensor& features, const torch::Tensor& target, double lambda, double ridge);

struct ThresholdChoice {
  double lambda = 0;                // the chosen relative threshold
  std::vector<double> grid;         // the thresholds tried, increasing
  std::vector<double> cv_mse;       // mean held-out MSE over the folds, per threshold
  std::vector<double> cv_se;        // its standard error
  std::vector<std::int64_t> terms;  // terms kept on all rows, per threshold
};

// The largest relative threshold whose mean held-out MSE over `folds` folds is within one
// standard error of the lowest (the one-standard-error rule: the sparsest model the data
// cannot tell from the best). The rows are dealt into folds by a permutation drawn from
// `seed`; the folds run on parallel tasks, so the choice does not depend on the threads.
ThresholdChoice choose_threshold(const torch::Tensor& features, const torch::Tensor& target, double ridge,
                                 std::int64_t folds, std::uint64_t seed);

struct EnsembleResult {
  torch::Tensor frequency;    // [m]: share of the resamples in which each term was kept
  torch::Tensor mean_weight;  // [m]: its mean weight over the resamples that kept it (0 if none)
};

// STLSQ on `resamples` bootstrap resamples of the rows (drawn from `seed`, run as
// parallel tasks): relative_stlsq at `threshold` when `relative`, else the SDK's absolute
// rule |w| < threshold.
EnsembleResult bootstrap_inclusion(const torch::Tensor& features, const torch::Tensor& target, double threshold,
                                   bool relative, double ridge, std::int64_t resamples, std::uint64_t seed);

}  // namespace basis
