// `ballista compare`: models × metrics across runs, from their metrics.json files.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <filesystem>
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
// status 0, or 2 with a message for a run that is not there, a damaged metrics.json
// (naming the file and the field) or a bad option.
int compare_runs(const std::vector<std::string>& runs, const CompareOptions& options, std::ostream& out);

// A JSON object file of a run directory (metrics.json, environment.json), parsed. Throws
// std::runtime_error "FILE: what is wrong" for a file that is missing, a directory, a
// FIFO or device, not JSON (e.g. cut short), or JSON other than an object (`what` says
// which: "the recorded environment").
nlohmann::json read_run_record(const std::filesystem::path& file, const std::string& what);

// A run's metrics.json, read as above and checked for every field compare and reproduce
// read: an object with (where present) a string `pipeline`, whose `models` is an array
// of objects, each with (where present) a string name and status, metrics {SET: {METRIC: number or null}}, probes [{prediction:
// {TARGET: number or null}}], a number or null fit_seconds and a whole parameter_count.
// Throws std::runtime_error naming the file and the field: "RUN/metrics.json:
// models[1].metrics.test.mse: expected a number or null, found an array".
nlohmann::json read_run_metrics(const std::filesystem::path& file);

}  // namespace ballista::host
