// The search over expressions: genetic programming on a fixed number of islands, each a
// population under regularised evolution (tournament selection, the oldest member
// replaced; Real et al. 2019) with its own random stream, evolved an epoch at a time in
// parallel (ballista::parallel_tasks), then merged and migrated in island order on the
// calling thread. Nothing an island computes depends on which thread runs it or how many
// there are, so the result is the same bits at any thread count for a given seed — when
// the evaluation budget, not the clock, ends the search.
#pragma once

#include "dimensions.hpp"
#include "evaluator.hpp"
#include "expression_tree.hpp"
#include "simplifier.hpp"

#include <ballista/units.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace symbolic {

enum class UnitsMode { off, soft, hard };

struct SearchSettings {
  std::vector<Op> binary;  // the operators the search may use
  std::vector<Op> unary;
  std::int64_t islands = 8;
  std::int64_t population = 40;        // per island; also the children per island per epoch
  std::int64_t max_complexity = 20;    // nodes
  std::int64_t max_evaluations = 100000;
  double time_limit = 0.0;             // seconds; 0: none
  double parsimony = 0.02;             // selection: log error + parsimony · complexity
  std::int64_t lm_iterations = 10;     // Levenberg–Marquardt steps per candidate
  bool nesting = false;                // a transcendental function inside another
  UnitsMode units = UnitsMode::off;
  double units_penalty = 100.0;        // soft units: factor on the error
  std::uint64_t seed = 0;
};

struct SearchProblem {
  Columns columns;              // the rows the search fits on
  std::vector<double> targets;  // one per row
  // Soft or hard units: the unit of each leaf and of the target.
  std::optional<UnitTable> units;
  ballista::Unit target_unit;
};

struct Candidate {
  Tree tree;
  double mse = 0.0;   // on the search rows
  double loss = 0.0;  // what selection and the front compare: the mse, times the units penalty
  bool units_ok = true;  // consistent, with the target's units (always, without units)
  std::int64_t complexity = 0;
  double fitness = 0.0;           // lower is better
  std::uint64_t fingerprint = 0;  // of the values at a few fixed rows
  std::int64_t birth = 0;
};

struct SearchOutcome {
  std::vector<Candidate> front;  // by complexity, each with a lower loss than every simpler one
  std::int64_t evaluations = 0;  // candidate expressions produced and scored
  std::int64_t epochs = 0;
  bool out_of_time = false;
  bool cancelled = false;
  // What the search simplified and snapped constants with, for the caller's final refit.
  SimplifyContext simplify;
  double snap_floor = 0.0;
};

// Called on the calling thread between epochs.
struct SearchMonitor {
  std::function<bool()> cancelled;
  // epoch (1-based), the epochs the evaluation budget allows, the lowest loss so far.
  std::function<void(std::int64_t, std::int64_t, double)> progress;
};

SearchOutcome run_search(const SearchProblem& problem, const SearchSettings& settings, const SearchMonitor& monitor);

// The candidates that no simpler one beats: sorted by complexity, each with a loss lower
// than (1 − 1e-6) times every simpler one's, one per complexity; an entry with the same
// values at the fingerprint rows as a simpler one is a duplicate and left out.
std::vector<Candidate> pareto_front(std::vector<Candidate> candidates);

// Whether the tree's units are those of the target (false when inconsistent).
bool units_match(const Tree& tree, const SearchProblem& problem);

}  // namespace symbolic
