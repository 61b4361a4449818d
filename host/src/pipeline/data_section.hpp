// The `data` section of a pipeline, read for the loader: its source (a formula, a csv
// file, or a source plugin with its parameters), its sets (the source's own table, a
// split of it, sets drawn anew or from another source), the shuffle and the units. Every
// problem is reported into the YamlDocument, where it was written.
// A csv source's file is read here, to check its columns and cells; drawn rows are not
// (run draws them). The sets' seeds are the loader's to resolve, once it knows the
// pipeline's seed and training set.
#pragma once

#include "pipeline.hpp"
#include "plugin_catalog.hpp"
#include "yaml_document.hpp"

#include <ballista/expression.hpp>

#include <set>
#include <string>

namespace ballista::host {

// What the `data` section gives the rest of the loader.
struct DataSection {
  DataSpec data;
  std::set<std::string> explicit_seeds;  // the sets with a `seed:` of their own
  Expression::ScalarBindings constants;  // the constants of the source read last, which probes may use
};

// `node` (the pipeline's `data`) read and checked, including that its sets fit in this
// machine's memory; source plugins are looked up in `catalog`.
DataSection read_data_section(YamlDocument& document, const PluginCatalog& catalog, const YAML::Node& node);

}  // namespace ballista::host
