// Pipeline → YAML: the reverse of pipeline_loader, for the pipeline.resolved.yaml a run
// directory keeps (and `ballista reproduce` and an --isolate child load again). Every
// default, every derived seed and each set's rows are written out, with the parameters'
// docs as comments, so the file says all a run used. Its text must stay stable: the
// run directory's id is its hash.
// It writes only: reading and checking a pipeline are the loader's.
#pragma once

#include "pipeline.hpp"
#include "plugin_catalog.hpp"

#include <string>

namespace ballista::host {

// The pipeline as YAML with all defaults and derived seeds written out; loading it
// again gives the same Pipeline.
std::string resolved_yaml(const Pipeline& pipeline, const PluginCatalog& catalog);

}  // namespace ballista::host
