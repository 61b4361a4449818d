// Dimensional analysis of search trees, with the rules of ballista::expression_unit
// (<ballista/units.hpp>) so that a tree the search accepts prints as an expression the
// SDK accepts too: sums of equal units, functions of dimensionless arguments, sqrt and
// abs of anything, and an exponent on a base with units only a constant's value. Fitted
// constants and numbers are dimensionless.
#pragma once

#include "expression_tree.hpp"

#include <ballista/units.hpp>

#include <optional>
#include <vector>

namespace symbolic {

struct UnitTable {
  std::vector<ballista::Unit> inputs;  // by input index
  std::vector<ballista::Unit> named;   // by named-constant index
};

// The unit of `tree`; std::nullopt when it is dimensionally inconsistent.
std::optional<ballista::Unit> tree_unit(const Tree& tree, const UnitTable& units);

}  // namespace symbolic
