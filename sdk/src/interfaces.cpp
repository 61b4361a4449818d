// Out-of-line virtual destructors: they anchor the vtables and type information of the
// SDK interfaces in one place.
#include <ballista/context.hpp>
#include <ballista/model.hpp>
#include <ballista/source.hpp>

BALLISTA_NAMESPACE_BEGIN

Context::~Context() = default;
void Context::report_value(std::string_view /*name*/, double /*value*/) {}
Model::~Model() = default;
std::vector<std::string> Model::explain(const torch::Tensor& /*inputs*/) const { return {}; }
Source::~Source() = default;

BALLISTA_NAMESPACE_END
