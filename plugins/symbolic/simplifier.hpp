// Rewrites a search tree into a canonical, no larger form, so that equivalent candidates
// look alike (the search's cache and its front see one of them, not a dozen):
//   - constant folding: an operation on numbers is a number; one on a fitted constant and
//     numbers or named constants is one fitted constant (c·c → c, c·g → c, c + 2 → c;
//     named constants only without units);
//   - sums and products are flattened, their constants merged into one, their operands
//     sorted (commutative operands in one canonical order), so x·(c·y) and c·y·x agree;
//   - identities: x − x → 0, x/x → 1, x·1, x + 0, x^1 → x, x·0 → 0, x^0 → 1,
//     log(exp(x)) → x, like terms merged (c₁·x + c₂·x → c·x, x + x → 2·x);
//   - a term subtracted with a coefficient gets the coefficient's sign (x − c·y → x + c·y).
// Never introduces an operator the search was not given (the rewrite is skipped instead).
#pragma once

#include "expression_tree.hpp"

#include <array>
#include <vector>

namespace symbolic {

struct SimplifyContext {
  // Indexed by Op: the operators the result may use.
  std::array<bool, 32> allowed{};
  // The named constants' values, for folding them into fitted constants.
  std::vector<double> named_values;
  // Whether a named constant may join a fitted one (c·g → c). Not with units: g has
  // units, a fitted constant has none.
  bool absorb_named = true;

  bool allows(Op op) const { return allowed[static_cast<std::size_t>(op)]; }
};

Tree simplify(const Tree& tree, const SimplifyContext& context);

}  // namespace symbolic
