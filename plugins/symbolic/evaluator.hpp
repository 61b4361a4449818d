// Evaluates a search tree at every row of the data, in float64: the values alone, or the
// values with their derivatives with respect to the tree's fitted constants (forward mode,
// one derivative channel per constant), which the constant fitting needs for its Jacobian.
//
// bind() compiles a tree into a postfix program once; each subtree without fitted
// constants (sin(2·θ), v·v) is evaluated then and kept, so the many evaluations of a
// constant fitting only redo the parts that its constants change. The program reads the
// constants' current values from the bound tree, which the caller may change in place
// (but not reshape) between calls. One Evaluator per thread: it keeps scratch buffers.
#pragma once

#include "expression_tree.hpp"

#include <cstddef>
#include <vector>

namespace symbolic {

// A unary operation (sqrt sin cos tan exp log abs negate) of one number, as the
// evaluator computes it; the simplifier folds constants with it.
double apply_unary(Op op, double a);

// The rows a search evaluates on, column by column.
struct Columns {
  std::size_t rows = 0;
  std::vector<std::vector<double>> inputs;  // [d_in][rows]
  std::vector<double> named;                // the pipeline's constants, by Node::index
};

class Evaluator {
 public:
  explicit Evaluator(const Columns& columns) : columns_(&columns) {}

  const Columns& columns() const { return *columns_; }

  // Compiles `tree` for the calls below, which read its constants. `tree` must outlive
  // them and keep its shape.
  void bind(const Tree& tree);
  // The bound tree's value at every row, into `out` (resized to the row count). False if
  // one of them is not a finite number.
  bool values(std::vector<double>& out);
  // The values, and into `jacobian` (resized to k·rows for k fitted constants) the
  // derivative of row i's value with respect to constant j (prefix order) at
  // jacobian[j·rows + i]. False if a value or a derivative is not finite.
  bool values_and_jacobian(std::vector<double>& out, std::vector<double>& jacobian);

  // bind(tree), then values(out).
  bool values(const Tree& tree, std::vector<double>& out) {
    bind(tree);
    return values(out);
  }

 private:
  struct Instruction {
    enum class Kind { column, frozen, scalar, constant, operation };
    Kind kind = Kind::scalar;
    Op op = Op::number;
    std::size_t index = 0;   // column, frozen buffer, or the constant's position in the tree
    std::size_t ordinal = 0;  // constant: its number among the constants (its Jacobian row)
    double value = 0.0;       // scalar
  };
  struct Slot {
    const double* data = nullptr;  // rows, or null for a scalar
    double scalar = 0.0;
  };
  struct DualSlot {
    enum class Gradient { none, unit, dense };
    Gradient gradient = Gradient::none;
    std::size_t unit = 0;  // the constant a lone constant leaf is
  };

  void emit(const Tree& tree, std::size_t pos, const std::vector<bool>& has_constant, bool freeze,
            std::vector<Instruction>& program);
  bool run(const std::vector<Instruction>& program, double* out);
  double* buffer(std::vector<std::vector<double>>& pool, std::size_t level, std::size_t size);

  const Columns* columns_;
  const Tree* tree_ = nullptr;
  std::vector<Instruction> program_;
  std::size_t constants_ = 0;
  std::vector<std::vector<double>> frozen_;
  std::size_t frozen_used_ = 0;
  std::vector<Instruction> scratch_program_;
  std::vector<std::vector<double>> buffers_;
  std::vector<std::vector<double>> dual_values_;
  std::vector<std::vector<double>> dual_gradients_;
  std::vector<double> partial_a_;
  std::vector<double> partial_b_;
  std::vector<Slot> stack_;
  std::vector<DualSlot> dual_stack_;
};

}  // namespace symbolic
