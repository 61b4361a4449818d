// Fuzz target: any text through Expression::parse; what parses is evaluated on scalars
// and on tensors with a few bindings. Refusals are ExpressionError with a column inside
// the text (or just past its end); anything else is a finding.
#include <ballista/expression.hpp>

#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

namespace {

using ballista::Expression;
using ballista::ExpressionError;

void check_column(const ExpressionError& error, const std::string& text) {
  if (error.column() < 1 || error.column() > text.size() + 1) {
    std::cerr << "fuzz_expression: column " << error.column() << " outside '" << text << "': " << error.what() << '\n';
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto expression = Expression::parse(text);
    (void)expression.names();
    const Expression::ScalarBindings scalars{{"v", 20.0}, {"theta", 0.85}, {"g", 9.81}, {"x", -1.5}};
    (void)expression.evaluate(scalars);
    const Expression::TensorBindings tensors{
        {"v", torch::tensor({0.0, 4.0, 20.0}, torch::kFloat64)},
        {"theta", torch::tensor({1.2, 0.85, -0.5}, torch::kFloat64)},
        {"g", torch::scalar_tensor(9.81, torch::kFloat64)},
        {"x", torch::tensor({-1.5, 0.0, 1e300}, torch::kFloat64)}};
    (void)expression.evaluate(tensors);
  } catch (const ExpressionError& error) {
    check_column(error, text);
  }
  return 0;
}
