// Units of a tree: a stack machine over the reversed prefix order, as the evaluator.
#include "dimensions.hpp"

#include <cmath>

namespace symbolic {

std::optional<ballista::Unit> tree_unit(const Tree& tree, const UnitTable& units) {
  // Each entry: its unit, and its value when it is a constant (numbers and operations on
  // them, as expression_unit reads them: named constants and functions have none).
  struct Entry {
    ballista::Unit unit;
    std::optional<double> value;
  };
  std::vector<Entry> stack;
  for (std::size_t k = tree.size(); k-- > 0;) {
    const Node& node = tree[k];
    switch (node.op) {
      case Op::input:
        stack.push_back({units.inputs.at(static_cast<std::size_t>(node.index)), std::nullopt});
        continue;
      case Op::named:
        stack.push_back({units.named.at(static_cast<std::size_t>(node.index)), std::nullopt});
        continue;
      case Op::constant:
      case Op::number:
        stack.push_back({ballista::Unit(), node.value});
        continue;
      default:
        break;
    }
    if (arity(node.op) == 1) {
      Entry& a = stack.back();
      switch (node.op) {
        case Op::sqrt:
          a.unit = a.unit.power(0.5);
          if (a.value) {
            a.value = std::sqrt(*a.value);
          }
          break;
        case Op::abs:
          if (a.value) {
            a.value = std::abs(*a.value);
          }
          break;
        case Op::negate:
          if (a.value) {
            a.value = -*a.value;
          }
          break;
        default:  // sin cos tan exp log
          if (!a.unit.dimensionless()) {
            return std::nullopt;
          }
          a.value.reset();
          break;
      }
      continue;
    }
    const Entry a = stack.back();  // the left operand
    stack.pop_back();
    const Entry b = stack.back();
    Entry result;
    switch (node.op) {
      case Op::add:
      case Op::subtract:
        if (!(a.unit == b.unit)) {
          return std::nullopt;
        }
        result.unit = a.unit;
        break;
      case Op::multiply: result.unit = a.unit * b.unit; break;
      case Op::divide: result.unit = a.unit / b.unit; break;
      default:  // power
        if (!b.unit.dimensionless()) {
          return std::nullopt;
        }
        if (a.unit.dimensionless()) {
          result.unit = ballista::Unit();
        } else if (b.value) {
          result.unit = a.unit.power(*b.value);
        } else {
          return std::nullopt;
        }
        break;
    }
    if (a.value && b.value) {
      switch (node.op) {
        case Op::add: result.value = *a.value + *b.value; break;
        case Op::subtract: result.value = *a.value - *b.value; break;
        case Op::multiply: result.value = *a.value * *b.value; break;
        case Op::divide: result.value = *a.value / *b.value; break;
        default: result.value = std::pow(*a.value, *b.value); break;
      }
    }
    stack.back() = result;
  }
  return stack.back().unit;
}

}  // namespace symbolic
