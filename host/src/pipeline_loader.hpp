// Turns a YAML pipeline file into a typed, validated Pipeline, and back into the
// resolved YAML (every default filled in) that a run directory keeps.
#pragma once

#include "pipeline.hpp"
#include "plugin_catalog.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ballista::host {

// Reads `file`, applies `overrides` ("models.mlp.lr=0.001": a dotted path of mapping
// keys, then a YAML value, replacing or adding the last key), then checks every key and
// value, including each model's parameters against its plugin's declaration (and the
// plugin's own checks, by creating the model once). Throws InputError listing every
// problem found, each with file:line:column, or the --set it came from.
Pipeline load_pipeline(const std::filesystem::path& file, const PluginCatalog& catalog,
                       const std::vector<std::string>& overrides = {});

// The pipeline as YAML with all defaults and derived seeds written out; loading it
// again gives the same Pipeline.
std::string resolved_yaml(const Pipeline& pipeline, const PluginCatalog& catalog);

// `text` (YAML: "0.01", "[64, 64]", "sigmoid") as a value of `spec`'s type, exactly as a
// pipeline would read it; nothing when it does not parse or has another shape. The
// value's range is not checked here: spec.check() does that.
std::optional<ParameterValue> parse_parameter(const std::string& text, const ParameterSpec& spec);

}  // namespace ballista::host
