// `ballista schema`: a JSON Schema (draft 2020-12) of the pipeline format, with every
// discovered plugin's parameters, so editors can complete and check pipelines (e.g.
// yaml-language-server's `# yaml-language-server: $schema=pipeline.schema.json`).
// The loader stays the authority: expressions, distributions' arguments, CSV contents
// and cross-references (set names in `train`, probe inputs) are checked only there.
#pragma once

#include "plugin_catalog.hpp"

#include <nlohmann/json.hpp>

namespace ballista::host {

nlohmann::json pipeline_schema(const PluginCatalog& catalog);

}  // namespace ballista::host
