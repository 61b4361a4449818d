// What a run produces: per model its status, figures, probe predictions, loss curve,
// messages and predictions on the plot grids; per run the sets, the probes' truth, the
// plot grids and the source's messages. Filled by the runner (pipeline_runner.hpp) or a
// child process (isolated_model.hpp), read by the records and the report
// (run_report.hpp, report_page.hpp, run_plots.hpp); no code here but the names of
// the closed sets as the records write them.
#pragma once

#include <ballista/context.hpp>
#include <ballista/model.hpp>

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ballista::host {

struct ProbeResult {
  std::vector<double> point;       // one value per input
  std::vector<double> prediction;  // one value per target
  std::string explanation;         // Model::explain's line for this probe, if any
};

// The input grids the report's plots are drawn on (see plot_grids.hpp):
// "surface" (two inputs: their training ranges, n×n) and "slice" (the first input from
// the bottom of its training range to twice its width, the others at their midpoints).
struct PlotGrid {
  std::string name;
  torch::Tensor inputs;                // [m, d_in], float64
  std::optional<torch::Tensor> truth;  // [m, d_out], noise-free, when the source has a truth
};

// A message a plugin sent through Context::log, kept in the run's record (log.txt,
// metrics.json, the report) as well as shown on the terminal.
struct PluginMessage {
  LogLevel level = LogLevel::info;
  std::string text;
  std::string during;  // a source's: "drawing the data", "the truth at the probes", ...
};
// "debug", "info" or "warning", as the records write a level.
inline const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::warning:
      return "warning";
    case LogLevel::info:
      break;
  }
  return "info";
}
// The level log_level_name() gives NAME as; info for any other text.
inline LogLevel log_level_from_name(std::string_view name) {
  return name == "debug" ? LogLevel::debug : name == "warning" ? LogLevel::warning : LogLevel::info;
}

// Where a model got to in a run. Every model starts pending; the runner sets one of
// the others (failed: fit, predict or saving threw; interrupted: Ctrl-C during its fit;
// skipped: Ctrl-C before it started).
enum class ModelStatus { pending, ok, failed, interrupted, skipped };

// "pending", "ok", "failed", "interrupted" or "skipped", as the records write it.
inline const char* model_status_name(ModelStatus status) {
  switch (status) {
    case ModelStatus::ok:
      return "ok";
    case ModelStatus::failed:
      return "failed";
    case ModelStatus::interrupted:
      return "interrupted";
    case ModelStatus::skipped:
      return "skipped";
    case ModelStatus::pending:
      break;
  }
  return "pending";
}
// The status model_status_name() gives NAME as; nothing for any other text.
inline std::optional<ModelStatus> model_status_from_name(std::string_view name) {
  for (const auto status : {ModelStatus::pending, ModelStatus::ok, ModelStatus::failed, ModelStatus::interrupted,
                            ModelStatus::skipped}) {
    if (name == model_status_name(status)) {
      return status;
    }
  }
  return std::nullopt;
}

// A table a model reported about its fit (Context::report_table): a search's Pareto
// front, the terms' inclusion frequencies. Cells are text, one per column.
struct FitTable {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
};

struct ModelResult {
  std::string name;
  std::string plugin;
  ModelStatus status = ModelStatus::pending;
  std::string error;               // the failure's message, when failed
  double fit_seconds = 0.0;
  double predict_seconds = 0.0;    // all evaluation sets and probes together
  std::int64_t parameter_count = 0;
  std::string description;
  std::map<std::string, std::map<std::string, double>> metrics;  // set → metric → value (outputs averaged)
  // set → target → metric → value, when there are several targets
  std::map<std::string, std::map<std::string, std::map<std::string, double>>> metrics_per_target;
  std::vector<ProbeResult> probes;
  std::vector<double> loss_curve;  // one entry per reported step
  std::map<std::string, double> fit_values;  // Context::report_value: optimum_mse, ...
  std::map<std::string, FitTable> fit_tables;  // Context::report_table: pareto_front, inclusion, ...
  std::vector<PluginMessage> messages;       // Context::log, every level, in order
  std::map<std::string, torch::Tensor> set_predictions;   // evaluation set → [n, d_out]
  std::map<std::string, torch::Tensor> grid_predictions;  // plot grid → [m, d_out]
  std::filesystem::path model_file;  // the saved model, when saved
};

struct RunResult {
  std::map<std::string, Dataset> sets;
  std::vector<ProbeResult> probe_truth;  // noise-free targets at each probe
  std::vector<PlotGrid> grids;
  std::vector<ModelResult> models;
  std::vector<PluginMessage> source_messages;  // a source plugin's Context::log, every level
  bool interrupted = false;
};

}  // namespace ballista::host
