// A plugin's parameters from a pipeline's mapping (see plugin_parameters.hpp).
#include "plugin_parameters.hpp"

#include "parameter_yaml.hpp"

#include <cstddef>
#include <map>
#include <utility>

namespace ballista::host {

std::optional<Parameters> plugin_parameters(YamlDocument& document, const ModelView& node, const LoadedPlugin& plugin,
                                            const std::string& what) {
  const std::size_t errors_before = document.error_count();
  std::map<std::string, ParameterValue> values;
  for (const auto& spec : plugin.parameters()) {
    const auto value_node = node[spec.name()];
    if (!value_node) {
      if (spec.is_required()) {
        document.error(node.node, what + " needs parameter '" + spec.name() + "' (" + spec.allowed() + ": " +
                                      spec.doc() + "), e.g. " + to_string(spec.default_value()));
      }
      values[spec.name()] = spec.default_value();
      continue;
    }
    const auto value = parameter_from_yaml(value_node, spec);
    const std::string problem = value ? spec.check(*value) : "must be " + spec.allowed() + ", found " +
                                                                 describe_node(value_node);
    if (!problem.empty()) {
      document.error(value_node, what + " parameter '" + spec.name() + "' " + problem);
      continue;
    }
    values[spec.name()] = *value;
  }
  if (document.error_count() != errors_before) {
    return std::nullopt;
  }
  return Parameters(std::move(values));
}

}  // namespace ballista::host
