// Arithmetic expressions over named columns and constants ("v^2*sin(2*theta)/g"),
// shared by the basis plugin (features) and the host (formula data sources), so both
// read the same language: numbers, names, + - * / ^ (right-associative, binds tighter
// than unary minus), parentheses, and the functions sin cos tan exp log sqrt abs.
// `pi` and `e` are predefined unless a binding overrides them.
#pragma once

#include <ballista/version.hpp>

#include <torch/types.h>

#include <cstddef>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

BALLISTA_NAMESPACE_BEGIN

// A parse or evaluation error; column() is 1-based within the expression text.
class BALLISTA_API ExpressionError : public std::runtime_error {
 public:
  ExpressionError(const std::string& message, std::size_t column)
      : std::runtime_error(message), column_(column) {}
  std::size_t column() const { return column_; }

 private:
  std::size_t column_;
};

// An immutable parsed expression; cheap to copy, safe to evaluate from several threads.
class BALLISTA_API Expression {
 public:
  struct Node;
  using TensorBindings = std::map<std::string, torch::Tensor, std::less<>>;
  using ScalarBindings = std::map<std::string, double, std::less<>>;

  // Throws ExpressionError naming the column of the first problem.
  static Expression parse(std::string_view text);

  // The built-in functions ("sin", "cos", …): names a user may not redefine.
  static std::vector<std::string> function_names();

  const std::string& text() const { return text_; }
  // Every name the expression reads, in order of first use (functions excluded).
  std::vector<std::string> names() const;

  // Element-wise over broadcastable tensors. Throws ExpressionError for an unbound name.
  torch::Tensor evaluate(const TensorBindings& bindings) const;
  double evaluate(const ScalarBindings& bindings) const;

 private:
  Expression(std::string text, std::shared_ptr<const Node> root)
      : text_(std::move(text)), root_(std::move(root)) {}
  std::string text_;
  std::shared_ptr<const Node> root_;
};

BALLISTA_NAMESPACE_END
