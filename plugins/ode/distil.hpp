// Distilling a learned network term into a sparse formula: a library of candidate terms
// generated from the network's inputs (their products and powers up to a degree, and
// optionally their Euclidean norm), and sequentially thresholded least squares (STLSQ,
// Brunton, Proctor & Kutz 2016, the algorithm of SINDy) fitted to the network's outputs.
// The formula then stands in for the network in the right-hand side (OdeSystem's
// LearnedTerm) and its coefficients are refitted through the solver.
#pragma once

#include <ballista/expression.hpp>

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ballista_ode {

// Candidate terms, each a monomial of the primitives: "1", "ux", "ux*uy", "uy^2",
// "sqrt(ux^2 + uy^2)*ux", …
struct Library {
  std::vector<std::string> texts;
  std::vector<ballista::Expression> terms;
};

// Every monomial of `inputs` of total degree 0 … `degree` (the constant term "1"
// first, then by degree, in the order of `inputs`). With `norm`, the inputs' Euclidean
// norm sqrt(a^2 + b^2 + …) is one more primitive, taken to the first power only (its
// square is a polynomial of the inputs, already in the library), and only when there
// are at least two inputs (the norm of one input is its absolute value, written abs(a)).
Library candidate_library(const std::vector<std::string>& inputs, std::int64_t degree, bool norm);

// The result of sequential thresholding: coefficients [J, K] of the J library terms for
// K targets, and which are kept (a bool mask [J, K]; a dropped coefficient is 0).
struct SparseFit {
  torch::Tensor coefficients;
  torch::Tensor kept;
};

// Which terms of `coefficients` [J, K] contribute at least `threshold` of each target's
// root-mean-square: |c_jk|·rms(F_j) ≥ threshold·rms(Y_k), rms taken over the rows of
// `features` [N, J] and `targets` [N, K]. Scale-free: rescaling a term or a target
// leaves the choice unchanged.
torch::Tensor significant_terms(const torch::Tensor& features, const torch::Tensor& targets,
                                const torch::Tensor& coefficients, double threshold);

// STLSQ: least squares of each target on the library (minimum-norm, through
// ballista::least_squares), then repeatedly dropping the terms that are not significant
// (above) and refitting on the terms left, until the kept set no longer changes.
// float64 throughout. Throws std::invalid_argument for mismatched shapes, a threshold
// outside [0, 1] or non-finite values.
SparseFit sequential_thresholding(const torch::Tensor& features, const torch::Tensor& targets, double threshold);

// "-0.02013*sqrt(ux^2 + uy^2)*ux + 0.5*uy" for column `k`: the kept `terms` with their
// coefficients (4 significant digits), "0" when none is kept.
std::string formula_text(const std::vector<std::string>& terms, const torch::Tensor& coefficients,
                         const torch::Tensor& kept, std::int64_t k);

}  // namespace ballista_ode
