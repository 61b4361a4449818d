// `ballista check-plugin NAME`: generic checks every model or source plugin must pass,
// in the spirit of scikit-learn's check_estimator. They use synthetic data, so they need
// no pipeline; parameters the plugin requires (basis's `functions`) are given as overrides.
#pragma once

#include "plugin_catalog.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace ballista::host {

struct CheckOutcome {
  std::string name;    // "shapes", "save and load", ...
  bool passed = false;
  bool skipped = false;  // the check does not apply to this plugin (then not passed either)
  std::string detail;  // what was checked, what went wrong, or why it was skipped
};

// The command: runs every check on plugin `name`, its parameters at their defaults
// except `overrides` ("NAME=VALUE", VALUE as in a pipeline: `epochs=20`,
// `functions=[x1, x1^2]`). A model plugin gets synthetic inputs named x1, x2, ... in
// [-1, 1] and targets y1, y2, ...; a model that reads particular inputs or predicts
// particular targets by name (Model::required_inputs, required_targets) gets exactly
// those instead, and the shape checks that vary their number are skipped. A source
// plugin's declared inputs, and the inputs a model reads by name, are drawn uniformly
// from [0, 1], or from `ranges` ("NAME=LOW,HIGH", one of those inputs; refused for a
// model plugin that reads none by name). Prints one line per check as soon as it
// finishes (flushed, so a plugin that crashes the process leaves the lines of the
// checks before), then one line per declared parameter with the values the `parameters`
// check tried, and a summary. Exit status 0 when no check failed (skipped ones do not),
// 1 when one failed, 2 for an unknown plugin, a bad override or a bad range.
int check_plugin_command(const PluginCatalog& catalog, const std::string& name,
                         const std::vector<std::string>& overrides, const std::vector<std::string>& ranges,
                         std::ostream& out);

}  // namespace ballista::host
