// `ballista check-plugin NAME`: generic checks every model plugin must pass, in the
// spirit of scikit-learn's check_estimator. They use synthetic data, so they need no
// pipeline; parameters the plugin requires (basis's `functions`) are given as overrides.
#pragma once

#include "plugin_catalog.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace ballista::host {

struct CheckOutcome {
  std::string name;    // "shapes", "save and load", ...
  bool passed = false;
  std::string detail;  // what was checked, or what went wrong
};

// The command: runs every check on model plugin `name`, its parameters at their
// defaults except `overrides` ("NAME=VALUE", VALUE as in a pipeline: `epochs=20`,
// `functions=[x1, x1^2]`; the synthetic inputs are named x1, x2, ..., the targets y1,
// y2, ...), and prints one line per check and a summary. Exit status 0 when every check
// passed, 1 when one failed, 2 for an unknown plugin, a source plugin or a bad override.
int check_plugin_command(const PluginCatalog& catalog, const std::string& name,
                         const std::vector<std::string>& overrides, std::ostream& out);

}  // namespace ballista::host
