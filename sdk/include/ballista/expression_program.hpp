// An expression as a postfix program, for plugins that compile expressions into their
// own kernels rather than evaluate them tensor by tensor (the ode plugin fuses a
// right-hand side into one autograd node). Evaluating the steps in order on a stack
// gives what Expression::evaluate gives: a literal exponent (x^2) is a `power` whose
// exponent step is a `number`.
#pragma once

#include <ballista/expression.hpp>
#include <ballista/version.hpp>

#include <string>
#include <vector>

BALLISTA_NAMESPACE_BEGIN

struct ExpressionStep {
  enum class Kind {
    number,    // push value
    name,      // push the value bound to name (pi and e when unbound: the built-ins)
    negate,    // pop a, push −a
    add,       // pop b, pop a, push a + b
    subtract,  // a − b
    multiply,  // a · b
    divide,    // a / b
    power,     // a ^ b
    sin,       // pop a, push sin(a)
    cos,
    tan,
    exp,
    log,
    sqrt,
    abs,
  };
  Kind kind;
  double value = 0.0;  // number
  std::string name;    // name
};

// The steps of `expression`, operands before their operation, left to right.
BALLISTA_API std::vector<ExpressionStep> postfix_program(const Expression& expression);

BALLISTA_NAMESPACE_END
