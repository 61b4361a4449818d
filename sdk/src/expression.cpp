// Recursive-descent parser and evaluator for the expression language of expression.hpp.
#include <ballista/expression.hpp>

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
  struct Binary {
    // cppcheck-suppress unusedStructMember
    char op;
    std::shared_ptr<const Node> left, right;
  };
  struct Call {
    // cppcheck-suppress unusedStructMember
    Function function;
    std::shared_ptr<const Node> argument;
  };
  std::variant<Number, Name, Negate, Binary, Call> kind;
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
  // Trees deeper than this (a sum of a thousand terms, a thousand nested parentheses)
  // are refused: parsing, evaluating and freeing them recurse once per level.
  static constexpr std::size_t kMaxDepth = 1000;
  NodePtr make(Node::Binary binary, std::size_t column) const {
    const auto depth = 1 + std::max(binary.left->depth, binary.right->depth);
    return checked(std::make_shared<const Node>(Node{std::move(binary), column, depth}));
  }
  NodePtr checked(NodePtr node) const {
    if (node->depth > kMaxDepth) {
      fail("the expression nests deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    return node;
  }

  NodePtr parse_sum() {
    NodePtr left = parse_product();
    for (;;) {
      skip_space();
      const std::size_t column = pos_ + 1;
      if (accept('+')) {
        left = make({'+', left, parse_product()}, column);
      } else if (accept('-')) {
        left = make({'-', left, parse_product()}, column);
      } else {
        return left;
      }
    }
  }
  NodePtr parse_product() {
    NodePtr left = parse_unary();
    for (;;) {
      skip_space();
      const std::size_t column = pos_ + 1;
      if (accept('*')) {
        left = make({'*', left, parse_unary()}, column);
      } else if (accept('/')) {
        left = make({'/', left, parse_unary()}, column);
      } else {
        return left;
      }
    }
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
      return make({'^', base, parse_unary()}, column);
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
        } else if constexpr (std::is_same_v<K, Node::Binary>) {
          collect_names(*kind.left, names);
          collect_names(*kind.right, names);
        } else if constexpr (std::is_same_v<K, Node::Call>) {
          collect_names(*kind.argument, names);
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
        } else {
          const Value left = evaluate_node<Value>(*kind.left, bindings);
          // A literal exponent keeps pow on its scalar fast path (x^2 is x*x, exactly).
          if (kind.op == '^') {
            if (const auto* literal = std::get_if<Node::Number>(&kind.right->kind)) {
              if constexpr (std::is_same_v<Value, double>) {
                return std::pow(left, literal->value);
              } else {
                return torch::pow(left, literal->value);
              }
            }
          }
          const Value right = evaluate_node<Value>(*kind.right, bindings);
          switch (kind.op) {
            case '+': return left + right;
            case '-': return left - right;
            case '*': return left * right;
            case '/': return left / right;
            default: return power(left, right);
          }
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

torch::Tensor Expression::evaluate(const TensorBindings& bindings) const {
  return evaluate_node<torch::Tensor>(*root_, bindings);
}

double Expression::evaluate(const ScalarBindings& bindings) const {
  return evaluate_node<double>(*root_, bindings);
}

BALLISTA_NAMESPACE_END
