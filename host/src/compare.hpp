// `ballista compare`: models × metrics across runs, from their metrics.json files.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace ballista::host {

struct CompareOptions {
  std::vector<std::string> columns;     // "set:metric" (default: every one found)
  std::optional<std::string> baseline;  // a run; adds value − baseline's per model
  std::optional<std::string> sort;      // a column header; ascending
  std::string format = "table";         // table | markdown | csv | json
  bool colour = false;                  // best value per column in green (terminals)
};

// Each of `runs` is a run directory or a pipeline name (its runs/<name>/latest). Exit
// status 0, or 2 with a message for a run that is not there or a bad option.
int compare_runs(const std::vector<std::string>& runs, const CompareOptions& options, std::ostream& out);

}  // namespace ballista::host
