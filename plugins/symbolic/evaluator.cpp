// Tree evaluation: a postfix program (operands, then their operation) run on a stack of
// row vectors.
#include "evaluator.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace symbolic {

namespace {


template <class F>
void unary_loop(const double* a, double* out, std::size_t n, F f) {
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = f(a[i]);
  }
}

void unary_rows(Op op, const double* a, double* out, std::size_t n) {
  switch (op) {
    case Op::sqrt: unary_loop(a, out, n, [](double x) { return std::sqrt(x); }); break;
    case Op::sin: unary_loop(a, out, n, [](double x) { return std::sin(x); }); break;
    case Op::cos: unary_loop(a, out, n, [](double x) { return std::cos(x); }); break;
    case Op::tan: unary_loop(a, out, n, [](double x) { return std::tan(x); }); break;
    case Op::exp: unary_loop(a, out, n, [](double x) { return std::exp(x); }); break;
    case Op::log: unary_loop(a, out, n, [](double x) { return std::log(x); }); break;
    case Op::abs: unary_loop(a, out, n, [](double x) { return std::abs(x); }); break;
    case Op::negate: unary_loop(a, out, n, [](double x) { return -x; }); break;
    default: throw std::logic_error("symbolic: not a unary operation");
  }
}

// x^y, with the common whole exponents as products (pow is the costliest operation here).
double power(double x, double y) {
  if (y == 2.0) {
    return x * x;
  }
  if (y == 3.0) {
    return x * x * x;
  }
  if (y == -1.0) {
    return 1.0 / x;
  }
  if (y == 0.5) {
    return std::sqrt(x);
  }
  return std::pow(x, y);
}

double apply_binary(Op op, double a, double b) {
  switch (op) {
    case Op::add: return a + b;
    case Op::subtract: return a - b;
    case Op::multiply: return a * b;
    case Op::divide: return a / b;
    case Op::power: return power(a, b);
    default: throw std::logic_error("symbolic: not a binary operation");
  }
}

// out[i] = f(a[i], b[i]) with either operand possibly a scalar (a null pointer), each
// case its own loop so that the compiler vectorises the arithmetic ones.
template <class F>
void binary_loop(const double* a, double sa, const double* b, double sb, double* out, std::size_t n, F f) {
  if (a != nullptr && b != nullptr) {
    for (std::size_t i = 0; i < n; ++i) {
      out[i] = f(a[i], b[i]);
    }
  } else if (a != nullptr) {
    for (std::size_t i = 0; i < n; ++i) {
      out[i] = f(a[i], sb);
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      out[i] = f(sa, b[i]);
    }
  }
}

void binary_rows(Op op, const double* a, double sa, const double* b, double sb, double* out, std::size_t n) {
  switch (op) {
    case Op::add: binary_loop(a, sa, b, sb, out, n, [](double x, double y) { return x + y; }); break;
    case Op::subtract: binary_loop(a, sa, b, sb, out, n, [](double x, double y) { return x - y; }); break;
    case Op::multiply: binary_loop(a, sa, b, sb, out, n, [](double x, double y) { return x * y; }); break;
    case Op::divide: binary_loop(a, sa, b, sb, out, n, [](double x, double y) { return x / y; }); break;
    case Op::power:
      if (b == nullptr && sb == 2.0) {
        binary_loop(a, sa, b, sb, out, n, [](double x, double /*y*/) { return x * x; });
      } else {
        binary_loop(a, sa, b, sb, out, n, [](double x, double y) { return power(x, y); });
      }
      break;
    default: throw std::logic_error("symbolic: not a binary operation");
  }
}

bool all_finite(const double* values, std::size_t n) {
  // One sum first: it is NaN exactly when a value is not finite (inf·0 is NaN), and it
  // vectorises.
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    sum += values[i] * 0.0;
  }
  return sum == 0.0;
}

}  // namespace

double apply_unary(Op op, double a) {
  switch (op) {
    case Op::sqrt: return std::sqrt(a);
    case Op::sin: return std::sin(a);
    case Op::cos: return std::cos(a);
    case Op::tan: return std::tan(a);
    case Op::exp: return std::exp(a);
    case Op::log: return std::log(a);
    case Op::abs: return std::abs(a);
    case Op::negate: return -a;
    default: throw std::logic_error("symbolic: not a unary operation");
  }
}

double* Evaluator::buffer(std::vector<std::vector<double>>& pool, std::size_t level, std::size_t size) {
  if (pool.size() <= level) {
    pool.resize(level + 1);
  }
  auto& b = pool[level];
  if (b.size() < size) {
    b.resize(size);
  }
  return b.data();
}

void Evaluator::emit(const Tree& tree, std::size_t pos, const std::vector<bool>& has_constant, bool freeze,
                     std::vector<Instruction>& program) {
  const Node& node = tree[pos];
  Instruction instruction;
  switch (node.op) {
    case Op::input:
      instruction.kind = Instruction::Kind::column;
      instruction.index = static_cast<std::size_t>(node.index);
      program.push_back(instruction);
      return;
    case Op::named:
      instruction.kind = Instruction::Kind::scalar;
      instruction.value = columns_->named[static_cast<std::size_t>(node.index)];
      program.push_back(instruction);
      return;
    case Op::number:
      instruction.kind = Instruction::Kind::scalar;
      instruction.value = node.value;
      program.push_back(instruction);
      return;
    case Op::constant:
      instruction.kind = Instruction::Kind::constant;
      instruction.index = pos;
      instruction.ordinal = constants_++;
      program.push_back(instruction);
      return;
    default:
      break;
  }
  if (freeze && !has_constant[pos]) {
    // Evaluated once, now: it does not change while the constants are fitted.
    scratch_program_.clear();
    emit(tree, pos, has_constant, false, scratch_program_);
    double* target = buffer(frozen_, frozen_used_, columns_->rows);
    run(scratch_program_, target);
    instruction.kind = Instruction::Kind::frozen;
    instruction.index = frozen_used_++;
    program.push_back(instruction);
    return;
  }
  emit(tree, pos + 1, has_constant, freeze, program);
  if (arity(node.op) == 2) {
    emit(tree, subtree_end(tree, pos + 1), has_constant, freeze, program);
  }
  instruction.kind = Instruction::Kind::operation;
  instruction.op = node.op;
  program.push_back(instruction);
}

void Evaluator::bind(const Tree& tree) {
  tree_ = &tree;
  // Which subtrees hold a fitted constant: reverse prefix order visits operands first.
  std::vector<bool> has_constant(tree.size(), false);
  std::vector<bool> stack;
  for (std::size_t k = tree.size(); k-- > 0;) {
    bool any = tree[k].op == Op::constant;
    for (int i = 0; i < arity(tree[k].op); ++i) {
      any = any || stack.back();
      stack.pop_back();
    }
    has_constant[k] = any;
    stack.push_back(any);
  }
  program_.clear();
  constants_ = 0;
  frozen_used_ = 0;
  emit(tree, 0, has_constant, true, program_);
}

bool Evaluator::run(const std::vector<Instruction>& program, double* out) {
  const std::size_t n = columns_->rows;
  stack_.clear();
  for (const auto& instruction : program) {
    switch (instruction.kind) {
      case Instruction::Kind::column:
        stack_.push_back({columns_->inputs[instruction.index].data(), 0.0});
        break;
      case Instruction::Kind::frozen:
        stack_.push_back({frozen_[instruction.index].data(), 0.0});
        break;
      case Instruction::Kind::scalar:
        stack_.push_back({nullptr, instruction.value});
        break;
      case Instruction::Kind::constant:
        stack_.push_back({nullptr, (*tree_)[instruction.index].value});
        break;
      case Instruction::Kind::operation:
        if (arity(instruction.op) == 1) {
          Slot& a = stack_.back();
          if (a.data == nullptr) {
            a.scalar = apply_unary(instruction.op, a.scalar);
          } else {
            double* target = buffer(buffers_, stack_.size() - 1, n);
            unary_rows(instruction.op, a.data, target, n);
            a.data = target;
          }
        } else {
          const Slot b = stack_.back();  // the right operand: on top
          stack_.pop_back();
          Slot& a = stack_.back();
          if (a.data == nullptr && b.data == nullptr) {
            a.scalar = apply_binary(instruction.op, a.scalar, b.scalar);
          } else {
            double* target = buffer(buffers_, stack_.size() - 1, n);
            binary_rows(instruction.op, a.data, a.scalar, b.data, b.scalar, target, n);
            a.data = target;
          }
        }
        break;
    }
  }
  const Slot& result = stack_.back();
  if (result.data == nullptr) {
    std::fill(out, out + n, result.scalar);
  } else if (result.data != out) {
    std::memcpy(out, result.data, n * sizeof(double));
  }
  return all_finite(out, n);
}

bool Evaluator::values(std::vector<double>& out) {
  out.resize(columns_->rows);
  return run(program_, out.data());
}

bool Evaluator::values_and_jacobian(std::vector<double>& out, std::vector<double>& jacobian) {
  using Gradient = DualSlot::Gradient;
  using Kind = Instruction::Kind;
  const std::size_t n = columns_->rows;
  const std::size_t k = constants_;
  partial_a_.resize(n);
  partial_b_.resize(n);
  double* pa = partial_a_.data();
  double* pb = partial_b_.data();
  dual_stack_.clear();
  for (const auto& instruction : program_) {
    const std::size_t level = dual_stack_.size();
    if (instruction.kind != Kind::operation) {
      double* value = buffer(dual_values_, level, n);
      DualSlot slot;
      switch (instruction.kind) {
        case Kind::column:
          std::memcpy(value, columns_->inputs[instruction.index].data(), n * sizeof(double));
          break;
        case Kind::frozen:
          std::memcpy(value, frozen_[instruction.index].data(), n * sizeof(double));
          break;
        case Kind::scalar:
          std::fill(value, value + n, instruction.value);
          break;
        default:
          std::fill(value, value + n, (*tree_)[instruction.index].value);
          slot.gradient = Gradient::unit;
          slot.unit = instruction.ordinal;
          break;
      }
      dual_stack_.push_back(slot);
      continue;
    }
    const Op op = instruction.op;
    // Partial derivatives of the result with respect to each operand, row by row; then
    // the chain rule: gradient = pa·∇a + pb·∇b.
    if (arity(op) == 1) {
      const std::size_t at = level - 1;
      double* a = dual_values_[at].data();
      DualSlot& slot = dual_stack_.back();
      bool evaluated = false;
      if (slot.gradient != Gradient::none) {
        // Partials from the operand (and the value, where that is cheaper).
        switch (op) {
          case Op::sqrt: unary_loop(a, pa, n, [](double x) { return 0.5 / std::sqrt(x); }); break;
          case Op::sin:
          case Op::cos:
            // Value and partial together: sin and cos of one argument are one sincos call.
            for (std::size_t i = 0; i < n; ++i) {
              const double s = std::sin(a[i]);
              const double c = std::cos(a[i]);
              pa[i] = op == Op::sin ? c : -s;
              a[i] = op == Op::sin ? s : c;
            }
            evaluated = true;
            break;
          case Op::tan: unary_loop(a, pa, n, [](double x) {
              const double t = std::tan(x);
              return 1.0 + t * t;
            });
            break;
          case Op::exp: unary_loop(a, pa, n, [](double x) { return std::exp(x); }); break;
          case Op::log: unary_loop(a, pa, n, [](double x) { return 1.0 / x; }); break;
          case Op::abs: unary_loop(a, pa, n, [](double x) { return x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : 0.0); }); break;
          default: std::fill(pa, pa + n, -1.0); break;  // negate
        }
      }
      if (!evaluated) {
        unary_rows(op, a, a, n);
      }
      if (slot.gradient == Gradient::unit) {
        double* g = buffer(dual_gradients_, at, n * k);
        std::fill(g, g + n * k, 0.0);
        std::memcpy(g + slot.unit * n, pa, n * sizeof(double));
        slot.gradient = Gradient::dense;
      } else if (slot.gradient == Gradient::dense) {
        double* g = dual_gradients_[at].data();
        for (std::size_t j = 0; j < k; ++j) {
          for (std::size_t i = 0; i < n; ++i) {
            g[j * n + i] *= pa[i];
          }
        }
      }
      continue;
    }
    // Binary: the right operand is on top (level − 1), the left one below (level − 2);
    // the result goes to level − 2.
    const DualSlot right = dual_stack_.back();
    dual_stack_.pop_back();
    DualSlot& left = dual_stack_.back();
    const std::size_t at = level - 2;
    double* a = dual_values_[at].data();
    const double* b = dual_values_[at + 1].data();
    const bool need_a = left.gradient != Gradient::none;
    const bool need_b = right.gradient != Gradient::none;
    if (!need_a && !need_b) {
      binary_rows(op, a, 0.0, b, 0.0, a, n);
      continue;
    }
    switch (op) {
      case Op::add:
        std::fill(pa, pa + n, 1.0);
        std::fill(pb, pb + n, 1.0);
        for (std::size_t i = 0; i < n; ++i) {
          a[i] = a[i] + b[i];
        }
        break;
      case Op::subtract:
        std::fill(pa, pa + n, 1.0);
        std::fill(pb, pb + n, -1.0);
        for (std::size_t i = 0; i < n; ++i) {
          a[i] = a[i] - b[i];
        }
        break;
      case Op::multiply:
        for (std::size_t i = 0; i < n; ++i) {
          pa[i] = b[i];
          pb[i] = a[i];
          a[i] = a[i] * b[i];
        }
        break;
      case Op::divide:
        for (std::size_t i = 0; i < n; ++i) {
          const double v = a[i] / b[i];
          pa[i] = 1.0 / b[i];
          pb[i] = -v / b[i];
          a[i] = v;
        }
        break;
      default:  // power
        for (std::size_t i = 0; i < n; ++i) {
          const double x = a[i];
          const double y = b[i];
          const double v = power(x, y);
          if (need_a) {
            pa[i] = y == 2.0 ? 2.0 * x : (x != 0.0 ? y * v / x : y * std::pow(x, y - 1.0));
          }
          if (need_b) {
            pb[i] = v == 0.0 ? 0.0 : v * std::log(x);
          }
          a[i] = v;
        }
        break;
    }
    double* out_gradient = buffer(dual_gradients_, at, n * k);
    // The left operand's gradient, when dense, already lives where the result goes: each
    // element is read before it is written.
    const double* ga = left.gradient == Gradient::dense ? out_gradient : nullptr;
    const double* gb = right.gradient == Gradient::dense ? dual_gradients_[at + 1].data() : nullptr;
    for (std::size_t j = 0; j < k; ++j) {
      double* o = out_gradient + j * n;
      const double* ja = ga != nullptr ? ga + j * n : nullptr;
      const double* jb = gb != nullptr ? gb + j * n : nullptr;
      const bool a_one = left.gradient == Gradient::unit && left.unit == j;
      const bool b_one = right.gradient == Gradient::unit && right.unit == j;
      if (ja != nullptr && jb != nullptr) {
        for (std::size_t i = 0; i < n; ++i) {
          o[i] = pa[i] * ja[i] + pb[i] * jb[i];
        }
      } else if (ja != nullptr) {
        if (b_one) {
          for (std::size_t i = 0; i < n; ++i) {
            o[i] = pa[i] * ja[i] + pb[i];
          }
        } else {
          for (std::size_t i = 0; i < n; ++i) {
            o[i] = pa[i] * ja[i];
          }
        }
      } else if (jb != nullptr) {
        if (a_one) {
          for (std::size_t i = 0; i < n; ++i) {
            o[i] = pa[i] + pb[i] * jb[i];
          }
        } else {
          for (std::size_t i = 0; i < n; ++i) {
            o[i] = pb[i] * jb[i];
          }
        }
      } else {
        for (std::size_t i = 0; i < n; ++i) {
          o[i] = (a_one ? pa[i] : 0.0) + (b_one ? pb[i] : 0.0);
        }
      }
    }
    left.gradient = Gradient::dense;
  }
  const DualSlot& result = dual_stack_.back();
  out.resize(n);
  std::memcpy(out.data(), dual_values_[0].data(), n * sizeof(double));
  jacobian.assign(n * k, 0.0);
  if (result.gradient == Gradient::unit) {
    std::fill(jacobian.begin() + static_cast<std::ptrdiff_t>(result.unit * n),
              jacobian.begin() + static_cast<std::ptrdiff_t>((result.unit + 1) * n), 1.0);
  } else if (result.gradient == Gradient::dense) {
    std::memcpy(jacobian.data(), dual_gradients_[0].data(), n * k * sizeof(double));
  }
  return all_finite(out.data(), n) && all_finite(jacobian.data(), jacobian.size());
}

}  // namespace symbolic
