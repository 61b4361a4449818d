// Expression trees in prefix order: structure, printing, keys, and reading back.
#include "expression_tree.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numbers>
#include <stdexcept>

namespace symbolic {

namespace {

struct OperatorSpelling {
  Op op;
  std::string_view text;  // cppcheck-suppress unusedStructMember ; read through kOperators
};

// Every operator a user may name, in the order messages list them.
constexpr std::array<OperatorSpelling, 12> kOperators{{
    {Op::add, "+"},
    {Op::subtract, "-"},
    {Op::multiply, "*"},
    {Op::divide, "/"},
    {Op::power, "^"},
    {Op::sqrt, "sqrt"},
    {Op::sin, "sin"},
    {Op::cos, "cos"},
    {Op::tan, "tan"},
    {Op::exp, "exp"},
    {Op::log, "log"},
    {Op::abs, "abs"},
}};

// Precedence levels of printed text, as the expression language parses it.
constexpr int kSum = 1;
constexpr int kProduct = 2;
constexpr int kUnaryMinus = 3;
constexpr int kAtom = 5;

class Printer {
 public:
  Printer(const Tree& tree, const Symbols& symbols, int digits) : tree_(tree), symbols_(symbols), digits_(digits) {}

  // The text of the subtree at `pos` and its precedence level. `flip` is the position of
  // a leading negative number or negation whose sign the caller has already written.
  std::string print(std::size_t pos, int& level, std::size_t flip = kNone) const {
    const Node& node = tree_[pos];
    switch (node.op) {
      case Op::input:
        level = kAtom;
        return symbols_.inputs.at(static_cast<std::size_t>(node.index));
      case Op::named:
        level = kAtom;
        return symbols_.named.at(static_cast<std::size_t>(node.index));
      case Op::constant:
      case Op::number: {
        const bool negative = std::signbit(node.value);
        if (pos == flip) {
          level = kAtom;
          return number_text(std::abs(node.value), digits_);
        }
        level = negative ? kUnaryMinus : kAtom;
        return negative ? "-" + number_text(-node.value, digits_) : number_text(node.value, digits_);
      }
      case Op::negate: {
        if (pos == flip) {
          return print(pos + 1, level);
        }
        int inner = 0;
        const auto text = print(pos + 1, inner);
        level = kUnaryMinus;
        return "-" + (inner >= kUnaryMinus ? text : "(" + text + ")");
      }
      case Op::add:
      case Op::subtract: {
        const auto right = subtree_end(tree_, pos + 1);
        int left_level = 0;
        auto text = print(pos + 1, left_level);
        if (left_level < kSum) {
          text = "(" + text + ")";
        }
        // a + (-b) prints as a - b and a - (-b) as a + b: the same bits.
        const auto negative = leading_negative(right);
        bool minus = node.op == Op::subtract;
        int right_level = 0;
        std::string right_text;
        if (negative != kNone) {
          minus = !minus;
          right_text = print(right, right_level, negative);
        } else {
          right_text = print(right, right_level);
        }
        if (right_level <= kSum || right_level == kUnaryMinus) {
          right_text = "(" + right_text + ")";
        }
        level = kSum;
        return text + (minus ? " - " : " + ") + right_text;
      }
      case Op::multiply:
      case Op::divide: {
        const auto right = subtree_end(tree_, pos + 1);
        int left_level = 0;
        auto text = print(pos + 1, left_level, flip);
        if (left_level < kProduct) {
          text = "(" + text + ")";
        }
        int right_level = 0;
        auto right_text = print(right, right_level);
        if (right_level < 4) {
          right_text = "(" + right_text + ")";
        }
        level = kProduct;
        return text + (node.op == Op::multiply ? "*" : "/") + right_text;
      }
      case Op::power: {
        const auto right = subtree_end(tree_, pos + 1);
        int base_level = 0;
        auto base = print(pos + 1, base_level);
        if (base_level < kAtom) {
          base = "(" + base + ")";
        }
        int exponent_level = 0;
        auto exponent = print(right, exponent_level);
        if (exponent_level < kAtom) {
          exponent = "(" + exponent + ")";
        }
        level = 4;
        return base + "^" + exponent;
      }
      default: {
        int inner = 0;
        const auto argument = print(pos + 1, inner);
        level = kAtom;
        return std::string(op_text(node.op)) + "(" + argument + ")";
      }
    }
  }

  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);

 private:
  // The position of the negative number or negation that a product or quotient starting
  // at `pos` leads with (so the product is printed as a subtraction); kNone if none.
  std::size_t leading_negative(std::size_t pos) const {
    while (tree_[pos].op == Op::multiply || tree_[pos].op == Op::divide) {
      ++pos;
    }
    const Node& node = tree_[pos];
    if (node.op == Op::negate || ((node.op == Op::constant || node.op == Op::number) && std::signbit(node.value))) {
      return pos;
    }
    return kNone;
  }

  const Tree& tree_;
  const Symbols& symbols_;
  int digits_;
};

void append_raw(std::string& key, const void* data, std::size_t size) {
  key.append(static_cast<const char*>(data), size);
}

}  // namespace

std::string number_text(double value, int digits) {
  std::array<char, 64> buffer{};
  (void)std::snprintf(buffer.data(), buffer.size(), "%.*g", digits, value);
  return buffer.data();
}


int arity(Op op) {
  switch (op) {
    case Op::input:
    case Op::named:
    case Op::constant:
    case Op::number:
      return 0;
    case Op::add:
    case Op::subtract:
    case Op::multiply:
    case Op::divide:
    case Op::power:
      return 2;
    default:
      return 1;
  }
}

bool is_leaf(Op op) { return arity(op) == 0; }

bool is_transcendental(Op op) {
  return op == Op::sin || op == Op::cos || op == Op::tan || op == Op::exp || op == Op::log;
}

std::string_view op_text(Op op) {
  if (op == Op::negate) {
    return "-";
  }
  for (const auto& spelling : kOperators) {
    if (spelling.op == op) {
      return spelling.text;
    }
  }
  return {};
}

std::optional<Op> parse_operator(std::string_view text) {
  for (const auto& spelling : kOperators) {
    if (spelling.text == text) {
      return spelling.op;
    }
  }
  return std::nullopt;
}

std::vector<std::string> operator_names() {
  std::vector<std::string> names;
  for (const auto& spelling : kOperators) {
    names.emplace_back(spelling.text);
  }
  return names;
}

std::size_t subtree_end(const Tree& tree, std::size_t begin) {
  std::size_t open = 1;  // nodes still to read
  std::size_t pos = begin;
  while (open > 0) {
    open += static_cast<std::size_t>(arity(tree[pos].op));
    --open;
    ++pos;
  }
  return pos;
}

std::vector<std::size_t> constant_positions(const Tree& tree) {
  std::vector<std::size_t> positions;
  for (std::size_t i = 0; i < tree.size(); ++i) {
    if (tree[i].op == Op::constant) {
      positions.push_back(i);
    }
  }
  return positions;
}

std::int64_t constant_count(const Tree& tree) {
  return std::count_if(tree.begin(), tree.end(), [](const Node& node) { return node.op == Op::constant; });
}

int depth(const Tree& tree) {
  // Reverse prefix order is a postfix walk: each node's depth is 1 + its deepest operand's.
  std::vector<int> stack;
  for (auto node = tree.rbegin(); node != tree.rend(); ++node) {
    int deepest = 0;
    for (int i = 0; i < arity(node->op); ++i) {
      deepest = std::max(deepest, stack.back());
      stack.pop_back();
    }
    stack.push_back(deepest + 1);
  }
  return stack.empty() ? 0 : stack.back();
}

bool has_nested_transcendental(const Tree& tree) {
  // For each node, whether its subtree holds a transcendental function; a
  // transcendental node whose operand holds one is nested.
  std::vector<bool> stack;
  for (auto node = tree.rbegin(); node != tree.rend(); ++node) {
    bool inside = false;
    for (int i = 0; i < arity(node->op); ++i) {
      inside = inside || stack.back();
      stack.pop_back();
    }
    if (is_transcendental(node->op)) {
      if (inside) {
        return true;
      }
      inside = true;
    }
    stack.push_back(inside);
  }
  return false;
}

std::string format_tree(const Tree& tree, const Symbols& symbols, int digits) {
  if (tree.empty()) {
    return {};
  }
  int level = 0;
  return Printer(tree, symbols, digits).print(0, level);
}

namespace {

// The subtree's operations, names and numbers as bytes; with `constants`, the fitted
// constants' values too.
std::string subtree_key(const Tree& tree, std::size_t begin, std::size_t end, bool constants) {
  std::string key;
  key.reserve((end - begin) * 3);
  for (std::size_t i = begin; i < end; ++i) {
    const Node& node = tree[i];
    key.push_back(static_cast<char>('A' + static_cast<int>(node.op)));
    if (node.op == Op::input || node.op == Op::named) {
      append_raw(key, &node.index, sizeof(node.index));
    } else if (node.op == Op::number || (constants && node.op == Op::constant)) {
      append_raw(key, &node.value, sizeof(node.value));
    }
  }
  return key;
}

}  // namespace

std::string structure_key(const Tree& tree, std::size_t begin, std::size_t end) {
  return subtree_key(tree, begin, end, false);
}

std::string exact_key(const Tree& tree, std::size_t begin, std::size_t end) { return subtree_key(tree, begin, end, true); }

Tree tree_from_program(const std::vector<ballista::ExpressionStep>& program, const Symbols& symbols) {
  using Kind = ballista::ExpressionStep::Kind;
  std::vector<Tree> stack;
  const auto unary = [&stack](Op op) {
    if (stack.empty()) {
      throw std::runtime_error("malformed expression program");
    }
    auto& operand = stack.back();
    operand.insert(operand.begin(), Node{op, 0, 0.0});
  };
  const auto binary = [&stack](Op op) {
    if (stack.size() < 2) {
      throw std::runtime_error("malformed expression program");
    }
    Tree right = std::move(stack.back());
    stack.pop_back();
    Tree& left = stack.back();
    left.insert(left.begin(), Node{op, 0, 0.0});
    left.insert(left.end(), right.begin(), right.end());
  };
  for (const auto& step : program) {
    switch (step.kind) {
      case Kind::number:
        stack.push_back({Node{Op::number, 0, step.value}});
        break;
      case Kind::name: {
        const auto input = std::find(symbols.inputs.begin(), symbols.inputs.end(), step.name);
        const auto named = std::find(symbols.named.begin(), symbols.named.end(), step.name);
        if (input != symbols.inputs.end()) {
          stack.push_back({Node{Op::input, static_cast<std::int32_t>(input - symbols.inputs.begin()), 0.0}});
        } else if (named != symbols.named.end()) {
          stack.push_back({Node{Op::named, static_cast<std::int32_t>(named - symbols.named.begin()), 0.0}});
        } else if (step.name == "pi" || step.name == "e") {
          stack.push_back({Node{Op::number, 0, step.name == "pi" ? std::numbers::pi : std::numbers::e}});
        } else {
          throw std::runtime_error("it reads '" + step.name + "', which is neither an input nor a constant");
        }
        break;
      }
      case Kind::negate: unary(Op::negate); break;
      case Kind::add: binary(Op::add); break;
      case Kind::subtract: binary(Op::subtract); break;
      case Kind::multiply: binary(Op::multiply); break;
      case Kind::divide: binary(Op::divide); break;
      case Kind::power: binary(Op::power); break;
      case Kind::sin: unary(Op::sin); break;
      case Kind::cos: unary(Op::cos); break;
      case Kind::tan: unary(Op::tan); break;
      case Kind::exp: unary(Op::exp); break;
      case Kind::log: unary(Op::log); break;
      case Kind::sqrt: unary(Op::sqrt); break;
      case Kind::abs: unary(Op::abs); break;
    }
  }
  if (stack.size() != 1) {
    throw std::runtime_error("malformed expression program");
  }
  // The last entry of a local vector: no copy elision applies, the move saves a copy.
  // cppcheck-suppress returnStdMoveLocal
  return std::move(stack.back());
}

}  // namespace symbolic
