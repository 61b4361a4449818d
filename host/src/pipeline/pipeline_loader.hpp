// Turns a YAML pipeline file into a typed, validated Pipeline. The way back, the
// resolved YAML that a run directory keeps, is resolved_yaml.hpp's.
#pragma once

#include "pipeline.hpp"
#include "plugin_catalog.hpp"

#include <filesystem>
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

}  // namespace ballista::host
