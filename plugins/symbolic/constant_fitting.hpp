// Least-squares fitting of a tree's constants to the targets: Levenberg–Marquardt in
// float64 over the evaluator's forward-mode Jacobian, and the snapping of constants to
// whole numbers when the data does not tell them apart (sin(2.0003·θ) → sin(2·θ)).
#pragma once

#include "evaluator.hpp"
#include "expression_tree.hpp"
#include "simplifier.hpp"

#include <cstdint>
#include <limits>
#include <vector>

namespace symbolic {

// Scratch space reused between fits (one per thread).
struct FitScratch {
  std::vector<double> values;
  std::vector<double> jacobian;
  std::vector<double> trial;
};

// The mean squared error of `tree` against `targets`; +inf when a value is not finite.
double mean_squared_error(const Tree& tree, Evaluator& evaluator, const std::vector<double>& targets,
                          FitScratch& scratch);

// Fits the tree's fitted constants (in place) to minimise the mean squared error against
// `targets`, starting from their current values, with at most `iterations` accepted
// Levenberg–Marquardt steps (Marquardt's scaling of the damping by diag(JᵀJ)). Returns
// the final mean squared error, +inf when the tree is not finite at its start.
double fit_constants(Tree& tree, Evaluator& evaluator, const std::vector<double>& targets, std::int64_t iterations,
                     FitScratch& scratch);

// Tries each fitted constant close to a whole number (within 5%, or 0.05 below 1) as that
// fixed number, refitting the others and simplifying; keeps the change when the error
// grows by at most the factor exp(ln(n)/n) for n rows — the Bayesian information
// criterion's price of one parameter (Schwarz 1978): a constant the data cannot tell
// from the whole number is not worth its parameter — or stays within `floor` (for data
// without noise). Returns the new error.
double snap_constants(Tree& tree, double error, Evaluator& evaluator, const std::vector<double>& targets,
                      std::int64_t iterations, const SimplifyContext& context, double floor, FitScratch& scratch);

}  // namespace symbolic
