// A plugin parameter's value read from YAML as a pipeline writes it ("0.01", "[64, 64]",
// "sigmoid"), and written back. The one reading shared by the pipeline loader, model
// files (a saved model's parameters, reread through the plugin's declaration) and
// `check-plugin --set`, so that a value means the same everywhere.
// It reads a value's shape and type only: its range is spec.check()'s, and where the
// value was written and how a problem is reported are the caller's.
#pragma once

#include <ballista/parameters.hpp>

#include <yaml-cpp/emitter.h>
#include <yaml-cpp/node/node.h>

#include <optional>
#include <string>

namespace ballista::host {

// A YAML value as a value of `spec`'s type, or nothing when it has another shape.
std::optional<ParameterValue> parameter_from_yaml(const YAML::Node& node, const ParameterSpec& spec);

// `text` (YAML: "0.01", "[64, 64]", "sigmoid") as a value of `spec`'s type, exactly as a
// pipeline would read it; nothing when it does not parse or has another shape. The
// value's range is not checked here: spec.check() does that.
std::optional<ParameterValue> parse_parameter(const std::string& text, const ParameterSpec& spec);

// `value` as a pipeline writes it, so parameter_from_yaml reads it back: lists in flow
// style ([64, 64]), reals as to_string() writes them.
void emit_parameter_value(YAML::Emitter& out, const ParameterValue& value);

}  // namespace ballista::host
