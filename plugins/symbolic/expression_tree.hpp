// The symbolic search's own expressions: small trees stored as flat arrays in prefix
// order (an operation before its operands), cheap to copy, mutate and evaluate. They are
// printed in the pipeline's expression language (<ballista/expression.hpp>), and read
// back from it through its postfix program, so a discovered law can be pasted into a
// pipeline and a saved model re-reads exactly what it printed.
#pragma once

#include <ballista/expression_program.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace symbolic {

enum class Op : std::uint8_t {
  // Leaves.
  input,     // an input column: Node::index
  named,     // a named constant of the pipeline (g): Node::index
  constant,  // a constant the search fits: Node::value
  number,    // a fixed number (from snapping a constant or folding numbers): Node::value
  // Binary.
  add,
  subtract,
  multiply,
  divide,
  power,
  // Unary.
  sqrt,
  sin,
  cos,
  tan,
  exp,
  log,
  abs,
  negate,  // only in expressions read back from text (-x); the search never makes one
};

int arity(Op op);
bool is_leaf(Op op);
// sin cos tan exp log: the functions `nesting: false` keeps out of each other.
bool is_transcendental(Op op);
// The spelling in the expression language: "+", "sin", ...; empty for leaves.
std::string_view op_text(Op op);
// The operator a user names in `operators` ("+", "^", "sin"); std::nullopt if unknown.
std::optional<Op> parse_operator(std::string_view text);
// The spellings parse_operator() knows, for messages.
std::vector<std::string> operator_names();

struct Node {
  Op op = Op::number;
  std::int32_t index = 0;  // input or named
  double value = 0.0;      // constant or number
};

// Prefix order: a node, then its operands' subtrees, left first.
using Tree = std::vector<Node>;

// One past the last node of the subtree that starts at `begin`.
std::size_t subtree_end(const Tree& tree, std::size_t begin);
// Positions of the fitted constants, in prefix order (the order of their values everywhere).
std::vector<std::size_t> constant_positions(const Tree& tree);
std::int64_t constant_count(const Tree& tree);
// Depth in nodes (a leaf: 1).
int depth(const Tree& tree);
// True if a transcendental function occurs inside the argument of another.
bool has_nested_transcendental(const Tree& tree);

// The names leaves refer to.
struct Symbols {
  std::vector<std::string> inputs;
  std::vector<std::string> named;        // the pipeline's constants
  std::vector<double> named_values;
};

// The tree in the expression language, numbers with `digits` significant digits (17 keeps
// every bit). Parentheses only where precedence needs them. Negative numbers and
// subtractions from zero print as a unary minus, which the language evaluates to the
// same bits.
std::string format_tree(const Tree& tree, const Symbols& symbols, int digits);

// `value` with `digits` significant digits, as printf's %g.
std::string number_text(double value, int digits);

// A key of the subtree [begin, end): equal keys for subtrees that differ only in their
// fitted constants' values; numbers, names and operations all count. Compact bytes, for
// maps and ordering, not for reading.
std::string structure_key(const Tree& tree, std::size_t begin, std::size_t end);
inline std::string structure_key(const Tree& tree) { return structure_key(tree, 0, tree.size()); }
// The same with the fitted constants' values: equal keys for equal subtrees.
std::string exact_key(const Tree& tree, std::size_t begin, std::size_t end);

// The tree of a parsed expression's postfix program; names resolved against `symbols`
// (inputs first, then the named constants; pi and e, when neither, as numbers).
// Throws std::runtime_error naming a name that is none of these.
Tree tree_from_program(const std::vector<ballista::ExpressionStep>& program, const Symbols& symbols);

}  // namespace symbolic
