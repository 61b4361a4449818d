// What a run leaves behind: the comparison table on the terminal and, in the run
// directory, metrics.json (every figure of that table and more) and loss curves.
#pragma once

#include "pipeline.hpp"
#include "run_results.hpp"

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ballista::host {

// "s(v=4, theta=1.2)": a probe's column heading.
std::string probe_label(const Pipeline& pipeline, const ProbeSpec& probe, const std::string& target);

// Lines about a model beyond its describe() text: how far a gradient solver stopped
// from the least-squares optimum (from its fit_values), and what explains each probe.
std::vector<std::string> model_notes(const Pipeline& pipeline, const ModelResult& model);

// A plugin message as the log, the table and the report show it: "warning: TEXT",
// the text escaped by printable() and cut at 4000 bytes.
std::string message_text(const PluginMessage& message);

// A plugin message as `run` shows and logs it: "  mlp: warning: TEXT", a source's
// with what it was computing ("  source projectile (drawing the data): info: TEXT").
std::string plugin_message_line(const std::string& who, const PluginMessage& message);

// A model's line once it has finished, as `run` shows and logs it: "  mlp: ok (fit
// 2.59 s)", or its status and the failure's message.
std::string model_outcome_line(const ModelResult& model);

// The side-by-side table: one row per model (errors per set and metric, fit seconds,
// parameter count, prediction at each probe), a final row with the true probe values.
std::string comparison_table(const Pipeline& pipeline, const RunResult& run);

// "What each model is:", then a line per model (its describe() text, or its failure)
// and its notes (model_notes: the gradient solver's gap, probe explanations, what the
// plugin logged). Printed after the table unless `run --quiet`.
std::string model_summary(const Pipeline& pipeline, const RunResult& run);

// metrics.json as a string. `state` is "running", "complete" or "interrupted". Text that
// is not UTF-8 (a Latin-1 file name or `units`, a plugin's describe()) has its bad bytes
// replaced by U+FFFD, never failing the write.
std::string metrics_json(const Pipeline& pipeline, const RunResult& run, const std::string& state);

// metrics.csv: one row per model × set × metric (× target when there are several; an
// empty target is the average over targets, as in the table), with the model's status,
// fit and predict seconds and parameter count; a model without metrics (failed,
// skipped) has one row with its status and error.
std::string metrics_csv(const RunResult& run);

// What metrics.json and metrics.csv say of a run in progress at one moment: the document
// without its models, and each model's part as RunningRecords rendered it (shared, so a
// snapshot copies pointers, not texts). json() and csv() assemble the files' texts, and
// may run later, on another thread.
struct RecordsSnapshot {
  std::string document;  // metrics.json with "models": []
  std::vector<std::shared_ptr<const std::string>> json_entries;
  std::vector<std::shared_ptr<const std::string>> csv_rows;

  std::string json() const;
  std::string csv() const;
};

// metrics.json and metrics.csv of a run in progress, taken after every model: the same
// text as metrics_json(pipeline, run, "running") and metrics_csv(run), but a model's
// part is rendered again only when its status has changed since the last call. A sweep
// of 200 models re-rendered every finished model after each one (quadratic: 13.8 ms a
// model, most of it building JSON).
class RunningRecords {
 public:
  RecordsSnapshot snapshot(const Pipeline& pipeline, const RunResult& run);

 private:
  struct Cached {
    bool rendered = false;
    ModelStatus status = ModelStatus::pending;
    std::shared_ptr<const std::string> text;
  };
  static std::shared_ptr<const std::string> cached(std::vector<Cached>& cache, std::size_t index,
                                                   const ModelResult& model,
                                                   const std::function<std::string()>& render);
  std::vector<Cached> json_entries_;
  std::vector<Cached> csv_rows_;
};

}  // namespace ballista::host
