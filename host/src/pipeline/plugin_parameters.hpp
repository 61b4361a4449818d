// A plugin's declared parameters read from a pipeline's mapping: a model's, as one
// variant of its sweep sees it, or a source plugin's (the data's, or a set's source).
// Shared by the models and data sections of the loader. Checks each value's type and
// range against the declaration and reports into the document; the plugin's own checks
// (creating the model or source once) and what a sweep is are the caller's.
#pragma once

#include "plugin_catalog.hpp"
#include "yaml_document.hpp"

#include <ballista/parameters.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ballista::host {

// One swept parameter's value in one variant: the value's node in the document (a
// handle, not a copy) and its label in the model's name.
struct SweptValue {
  std::string parameter;
  YAML::Node value;
  // cppcheck-suppress unusedStructMember ; read through structured bindings
  std::string label;
};
using Variant = std::vector<SweptValue>;

// A model's mapping as one variant of its sweep sees it: the swept parameters' values
// in place of their `{sweep: [...]}`. Nothing is copied into a new YAML node, since
// yaml-cpp merges the memory of every node assigned into another (a sweep of 3000
// values held gigabytes).
// A source plugin's mapping is seen through one with an empty variant.
struct ModelView {
  const YAML::Node& node;
  const Variant& variant;
  YAML::Node operator[](const std::string& key) const {
    for (const auto& swept : variant) {
      if (swept.parameter == key) {
        return swept.value;
      }
    }
    return node[key];
  }
};

// Every declared parameter of `plugin` from `node` (defaults for those not written);
// nothing if any is wrong (each error reported where it was written).
std::optional<Parameters> plugin_parameters(YamlDocument& document, const ModelView& node, const LoadedPlugin& plugin,
                                            const std::string& what);

}  // namespace ballista::host
