// Recursive-descent parser and evaluator for the expression language of expression.hpp.
#include <ballista/expression.hpp>
#include <ballista/expression_program.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <numbers>
#include <optional>
#include <variant>

BALLISTA_NAMESPACE_BEGIN

namespace {

enum class Function { sin, cos, tan, exp, log, sqrt, abs };

constexpr std::array<std::pair<std::string_view, Function>, 7> kFunctions{{
    {"sin", Function::sin},
    {"cos", Function::cos},
    {"tan", Function::tan},
    {"exp", Function::exp},
    {"log", Function::log},
    {"sqrt", Function::sqrt},
    {"abs", Function::abs},
}};

std::string function_list() {
  std::string text;
  for (const auto& [name, function] : kFunctions) {
    text += (text.empty() ? "" : ", ") + std::string(name);
  }
  return text;
}

}  // namespace

// cppcheck reads members used only through std::visit as unused; they are not.
struct Expression::Node {
  struct Number {
    // cppcheck-suppress unusedStructMember
    double value;
  };
  struct Name {
    // cppcheck-suppress unusedStructMember
    std::string name;
  };
  struct Negate {
    std::shared_ptr<const Node> operand;
  };
  struct Power {  // base ^ exponent
    std::shared_ptr<const Node> base, exponent;
  };
  struct Call {
    // cppcheck-suppress unusedStructMember
    Function function;
    std::shared_ptr<const Node> argument;
  };
  // a op1 b op2 c ... of one precedence level ('+' '-', or '*' '/'), applied left to
  // right as ((a op1 b) op2 c): a long sum is one level deep, not one level per term.
  struct Chain {
    std::shared_ptr<const Node> first;
    // cppcheck-suppress unusedStructMember
    std::vector<std::pair<char, std::shared_ptr<const Node>>> rest;
  };
  std::variant<Number, Name, Negate, Power, Call, Chain> kind;
  // cppcheck-suppress unusedStructMember
  std::size_t column;  // 1-based, where this node starts in the text
  std::size_t depth = 1;  // of the tree below (evaluation and destruction recurse that deep)
};

namespace {

using Node = Expression::Node;
using NodePtr = std::shared_ptr<const Node>;

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  NodePtr parse() {
    NodePtr root = parse_sum();
    skip_space();
    if (pos_ < text_.size()) {
      fail(std::string("unexpected '") + text_[pos_] + "'");
    }
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ExpressionError(what + " at column " + std::to_string(pos_ + 1), pos_ + 1);
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_])) != 0) {
      ++pos_;
    }
  }
  bool accept(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  // Trees deeper than this (a thousand nested parentheses, calls or signs) are refused:
  // parsing, evaluating and freeing them recurse once per level. A sum or product of
  // many terms is one level (a Chain).
  static constexpr std::size_t kMaxDepth = 1000;
  NodePtr make(Node::Power power, std::size_t column) const {
    const auto depth = 1 + std::max(power.base->depth, power.exponent->depth);
    return checked(std::make_shared<const Node>(Node{std::move(power), column, depth}));
  }
  NodePtr checked(NodePtr node) const {
    if (node->depth > kMaxDepth) {
      fail("the expression nests deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    return node;
  }

  // OPERAND (OP OPERAND)* with OP one of `ops`: the operand alone, or a Chain.
  template <class ParseOperand>
  NodePtr parse_chain(std::string_view ops, ParseOperand parse_operand) {
    const std::size_t column = pos_ + 1;
    NodePtr first = parse_operand();
    Node::Chain chain{first, {}};
    std::size_t depth = first->depth;
    for (;;) {
      skip_space();
      if (pos_ >= text_.size() || ops.find(text_[pos_]) == std::string_view::npos) {
        break;
      }
      const char op = text_[pos_++];
      chain.rest.emplace_back(op, parse_operand());
      depth = std::max(depth, chain.rest.back().second->depth);
    }
    if (chain.rest.empty()) {
      return first;
    }
    return checked(std::make_shared<const Node>(Node{std::move(chain), column, depth + 1}));
  }
  NodePtr parse_sum() {
    return parse_chain("+-", [this] { return parse_product(); });
  }
  NodePtr parse_product() {
    return parse_chain("*/", [this] { return parse_unary(); });
  }
  NodePtr parse_unary() {
    // Every nesting (parentheses, calls, signs, exponents) passes through here.
    if (++nesting_ > kMaxDepth) {
      fail("the expression nests deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    struct Leave {
      std::size_t& nesting;
      ~Leave() { --nesting; }
    } leave{nesting_};
    skip_space();
    const std::size_t column = pos_ + 1;
    if (accept('-')) {
      NodePtr operand = parse_unary();
      const auto depth = operand->depth + 1;
      return checked(std::make_shared<const Node>(Node{Node::Negate{std::move(operand)}, column, depth}));
    }
    if (accept('+')) {
      return parse_unary();
    }
    return parse_power();
  }
  NodePtr parse_power() {
    NodePtr base = parse_primary();
    skip_space();
    const std::size_t column = pos_ + 1;
    if (accept('^')) {
      // Right-associative, and the exponent may carry its own sign: 2^-1, a^b^c = a^(b^c).
      return make({base, parse_unary()}, column);
    }
    return base;
  }
  NodePtr parse_primary() {
    skip_space();
    const std::size_t column = pos_ + 1;
    if (pos_ >= text_.size()) {
      fail("expected a number, a name or '(' but the expression ended");
    }
    const char c = text_[pos_];
    if (accept('(')) {
      NodePtr inner = parse_sum();
      if (!accept(')')) {
        fail("expected ')' to close the '(' at column " + std::to_string(column));
      }
      return inner;
    }
    if ((std::isdigit(static_cast<unsigned char>(c)) != 0) || c == '.') {
      return parse_number(column);
    }
    if ((std::isalpha(static_cast<unsigned char>(c)) != 0) || c == '_') {
      const std::size_t start = pos_;
      while (pos_ < text_.size() && ((std::isalnum(static_cast<unsigned char>(text_[pos_])) != 0) ||
                                     text_[pos_] == '_')) {
        ++pos_;
      }
      std::string name(text_.substr(start, pos_ - start));
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == '(') {
        for (const auto& [function_name, function] : kFunctions) {
          if (function_name == name) {
            ++pos_;
            NodePtr argument = parse_sum();
            if (!accept(')')) {
              fail("expected ')' to close the call of " + name);
            }
            const auto depth = argument->depth + 1;
            return checked(std::make_shared<const Node>(Node{Node::Call{function, argument}, column, depth}));
          }
        }
        pos_ = start;
        fail("unknown function '" + name + "' (known: " + function_list() + ")");
      }
      return std::make_shared<const Node>(Node{Node::Name{std::move(name)}, column});
    }
    fail(std::string("expected a number, a name or '(' but found '") + c + "'");
  }
  NodePtr parse_number(std::size_t column) {
    const std::string rest(text_.substr(pos_));
    // strtod would also read C's hexadecimal numbers (0x10, 0x1p-3).
    if (rest.size() > 1 && rest[0] == '0' && (rest[1] == 'x' || rest[1] == 'X')) {
      fail("hexadecimal numbers are not part of the language: write numbers in decimal (16, not 0x10)");
    }
    char* end = nullptr;
    const double value = std::strtod(rest.c_str(), &end);
    if (end == rest.c_str()) {
      fail("malformed number");
    }
    pos_ += static_cast<std::size_t>(end - rest.c_str());
    return std::make_shared<const Node>(Node{Node::Number{value}, column});
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t nesting_ = 0;  // parse_unary calls in progress
};

void collect_names(const Node& node, std::vector<std::string>& names) {
  std::visit(
      [&](const auto& kind) {
        using K = std::decay_t<decltype(kind)>;
        if constexpr (std::is_same_v<K, Node::Name>) {
          for (const auto& known : names) {
            if (known == kind.name) {
              return;
            }
          }
          names.push_back(kind.name);
        } else if constexpr (std::is_same_v<K, Node::Negate>) {
          collect_names(*kind.operand, names);
        } else if constexpr (std::is_same_v<K, Node::Power>) {
          collect_names(*kind.base, names);
          collect_names(*kind.exponent, names);
        } else if constexpr (std::is_same_v<K, Node::Call>) {
          collect_names(*kind.argument, names);
        } else if constexpr (std::is_same_v<K, Node::Chain>) {
          collect_names(*kind.first, names);
          for (const auto& [op, operand] : kind.rest) {
            collect_names(*operand, names);
          }
        }
      },
      node.kind);
}

std::optional<double> builtin_constant(std::string_view name) {
  if (name == "pi") {
    return std::numbers::pi;
  }
  if (name == "e") {
    return std::numbers::e;
  }
  return std::nullopt;
}

template <class Bindings>
[[noreturn]] void unbound(const Node& node, const std::string& name, const Bindings& bindings) {
  std::string known;
  for (const auto& [bound, value] : bindings) {
    known += (known.empty() ? "" : ", ") + bound;
  }
  throw ExpressionError("unknown name '" + name + "' at column " + std::to_string(node.column) +
                            " (known: " + (known.empty() ? "" : known + ", ") + "pi, e)",
                        node.column);
}

// Scalars and tensors share one evaluator; the few operations that differ are overloaded.
double apply(Function function, double x) {
  switch (function) {
    case Function::sin: return std::sin(x);
    case Function::cos: return std::cos(x);
    case Function::tan: return std::tan(x);
    case Function::exp: return std::exp(x);
    case Function::log: return std::log(x);
    case Function::sqrt: return std::sqrt(x);
    case Function::abs: return std::abs(x);
  }
  return x;
}
torch::Tensor apply(Function function, const torch::Tensor& x) {
  switch (function) {
    case Function::sin: return torch::sin(x);
    case Function::cos: return torch::cos(x);
    case Function::tan: return torch::tan(x);
    case Function::exp: return torch::exp(x);
    case Function::log: return torch::log(x);
    case Function::sqrt: return torch::sqrt(x);
    case Function::abs: return torch::abs(x);
  }
  return x;
}
double power(double base, double exponent) { return std::pow(base, exponent); }
torch::Tensor power(const torch::Tensor& base, const torch::Tensor& exponent) {
  return torch::pow(base, exponent);
}

double constant_as(double value, const Expression::ScalarBindings& /*unused*/) { return value; }
torch::Tensor constant_as(double value, const Expression::TensorBindings& /*unused*/) {
  return torch::scalar_tensor(value, torch::kFloat64);
}

template <class Value, class Bindings>
Value evaluate_node(const Node& node, const Bindings& bindings) {
  return std::visit(
      [&](const auto& kind) -> Value {
        using K = std::decay_t<decltype(kind)>;
        if constexpr (std::is_same_v<K, Node::Number>) {
          return constant_as(kind.value, bindings);
        } else if constexpr (std::is_same_v<K, Node::Name>) {
          if (const auto found = bindings.find(kind.name); found != bindings.end()) {
            return found->second;
          }
          if (const auto value = builtin_constant(kind.name)) {
            return constant_as(*value, bindings);
          }
          unbound(node, kind.name, bindings);
        } else if constexpr (std::is_same_v<K, Node::Negate>) {
          return -evaluate_node<Value>(*kind.operand, bindings);
        } else if constexpr (std::is_same_v<K, Node::Call>) {
          return apply(kind.function, evaluate_node<Value>(*kind.argument, bindings));
        } else if constexpr (std::is_same_v<K, Node::Chain>) {
          Value value = evaluate_node<Value>(*kind.first, bindings);
          for (const auto& [op, operand] : kind.rest) {
            const Value next = evaluate_node<Value>(*operand, bindings);
            switch (op) {
              case '+': value = value + next; break;
              case '-': value = value - next; break;
              case '*': value = value * next; break;
              default: value = value / next; break;
            }
          }
          return value;
        } else {
          const Value base = evaluate_node<Value>(*kind.base, bindings);
          // A literal exponent keeps pow on its scalar fast path (x^2 is x*x, exactly).
          if (const auto* literal = std::get_if<Node::Number>(&kind.exponent->kind)) {
            if constexpr (std::is_same_v<Value, double>) {
              return std::pow(base, literal->value);
            } else {
              return torch::pow(base, literal->value);
            }
          }
          return power(base, evaluate_node<Value>(*kind.exponent, bindings));
        }
      },
      node.kind);
}

}  // namespace

Expression Expression::parse(std::string_view text) {
  return Expression(std::string(text), Parser(text).parse());
}

std::vector<std::string> Expression::function_names() {
  std::vector<std::string> result;
  for (const auto& [name, function] : kFunctions) {
    result.emplace_back(name);
  }
  return result;
}

std::vector<std::string> Expression::names() const {
  std::vector<std::string> result;
  collect_names(*root_, result);
  return result;
}

namespace {

void append_steps(const Node& node, std::vector<ExpressionStep>& steps) {
  std::visit(
      [&](const auto& kind) {
        using K = std::decay_t<decltype(kind)>;
        using Kind = ExpressionStep::Kind;
        if constexpr (std::is_same_v<K, Node::Number>) {
          steps.push_back({Kind::number, kind.value, {}});
        } else if constexpr (std::is_same_v<K, Node::Name>) {
          steps.push_back({Kind::name, 0.0, kind.name});
        } else if constexpr (std::is_same_v<K, Node::Negate>) {
          append_steps(*kind.operand, steps);
          steps.push_back({Kind::negate, 0.0, {}});
        } else if constexpr (std::is_same_v<K, Node::Call>) {
          append_steps(*kind.argument, steps);
          constexpr std::array<Kind, 7> kinds{Kind::sin, Kind::cos, Kind::tan, Kind::exp,
                                              Kind::log, Kind::sqrt, Kind::abs};
          steps.push_back({kinds.at(static_cast<std::size_t>(kind.function)), 0.0, {}});
        } else if constexpr (std::is_same_v<K, Node::Chain>) {
          append_steps(*kind.first, steps);
          for (const auto& [op, operand] : kind.rest) {
            append_steps(*operand, steps);
            steps.push_back({op == '+'   ? Kind::add
                             : op == '-' ? Kind::subtract
                             : op == '*' ? Kind::multiply
                                         : Kind::divide,
                             0.0,
                             {}});
          }
        } else {
          append_steps(*kind.base, steps);
          append_steps(*kind.exponent, steps);
          steps.push_back({Kind::power, 0.0, {}});
        }
      },
      node.kind);
}

}  // namespace

std::vector<ExpressionStep> postfix_program(const Expression& expression) {
  // Parsed again from its text: the tree is private to Expression, and this runs once
  // per compiled expression.
  std::vector<ExpressionStep> steps;
  append_steps(*Parser(expression.text()).parse(), steps);
  return steps;
}

torch::Tensor Expression::evaluate(const TensorBindings& bindings) const {
  return evaluate_node<torch::Tensor>(*root_, bindings);
}

double Expression::evaluate(const ScalarBindings& bindings) const {
  return evaluate_node<double>(*root_, bindings);
}

BALLISTA_NAMESPACE_END
