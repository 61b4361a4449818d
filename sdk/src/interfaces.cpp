// Out-of-line virtual destructors: they anchor the vtables and type information of the
// SDK interfaces in one place.
#include <ballista/collective.hpp>
#include <ballista/context.hpp>
#include <ballista/model.hpp>
#include <ballista/source.hpp>

#include <torch/torch.h>

#include <cmath>
#include <sstream>
#include <stdexcept>

BALLISTA_NAMESPACE_BEGIN

Context::~Context() = default;
void Context::report_value(std::string_view /*name*/, double /*value*/) {}
void Context::report_table(std::string_view /*name*/, const std::vector<std::string>& /*columns*/,
                           const std::vector<std::vector<std::string>>& /*rows*/) {}
Collective& Context::collective() { return single_process(); }
Model::~Model() = default;
bool Model::data_parallel() const { return false; }
std::vector<std::string> Model::explain(const torch::Tensor& /*inputs*/) const { return {}; }
std::vector<std::string> Model::required_inputs() const { return {}; }
std::vector<std::string> Model::required_targets() const { return {}; }

void require_finite(const torch::Tensor& values, const std::string& what) {
  // A sum is finite only if every term is (NaN and ±inf propagate through it): one
  // reduction, ~20× cheaper than the element-wise search (0.01 s against 0.18 s on
  // 2·10⁷ doubles), clears the common case; only a non-finite (or overflowing) sum
  // pays for the search below.
  if (!values.is_floating_point() || std::isfinite(values.sum(torch::kFloat64).item<double>())) {
    return;
  }
  const auto bad = torch::isfinite(values).logical_not();
  if (!bad.any().item<bool>()) {
    return;
  }
  const auto first = bad.reshape({bad.size(0), -1}).nonzero()[0];
  const auto row = first[0].item<std::int64_t>();
  const auto column = first[1].item<std::int64_t>();
  std::ostringstream message;
  message << what << ": row " << row << ", column " << column << " is "
          << values.reshape({values.size(0), -1})[row][column].item<double>() << "; "
          << "values must be finite numbers";
  throw std::invalid_argument(message.str());
}
Source::~Source() = default;

BALLISTA_NAMESPACE_END
