// Runs a validated pipeline: draws the sets, trains every model on the training set,
// evaluates each on every evaluation set and at the probes. A model that throws fails
// alone; the others still run.
#pragma once

#include "pipeline.hpp"
#include "plugin_catalog.hpp"

#include <ballista/model.hpp>

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ballista::host {

struct ProbeResult {
  std::vector<double> point;       // one value per input
  std::vector<double> prediction;  // one value per target
  std::string explanation;         // Model::explain's line for this probe, if any
};

// The input grids the report's plots are drawn on (see plot_grids in run_plots.hpp):
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
// "debug", "info" or "warning".
const char* log_level_name(LogLevel level);

struct ModelResult {
  std::string name;
  std::string plugin;
  std::string status = "pending";  // ok | failed | interrupted | skipped
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

// Set (from a signal handler) to stop the run: the model being trained stops at its
// next step and is marked interrupted, later models are skipped.
std::atomic<bool>& cancellation_flag();

// Hears the messages plugins log, as they are logged: `who` is the model's name, or
// "source NAME" for a source plugin (then message.during says what it was computing).
using MessageObserver = std::function<void(const std::string& who, const PluginMessage& message)>;
using StepObserver = std::function<void(const std::string& model, std::int64_t step, std::int64_t total, double loss)>;
// `executor` (optional) trains and evaluates one model in place of the runner, e.g. in
// another process (`--isolate`): it fills `result` (messages included) or throws, which
// fails that model; the messages it leaves in `result` are passed to the observer after.
using ModelExecutor = std::function<void(const ModelSpec& spec, ModelResult& result)>;

// What a caller of run_pipeline hears and how models are run; every member is optional.
struct RunHooks {
  // Called after the data is drawn and after each model finishes, so a caller can save
  // what is done so far.
  std::function<void(const RunResult&)> progress;
  // Every optimisation step a model reports through its Context: model, step, total, loss.
  StepObserver step;
  MessageObserver message;
  ModelExecutor executor;
};

// Runs everything. Each trained model is saved as `model_directory`/<name>.pt unless
// `model_directory` is empty.
RunResult run_pipeline(const Pipeline& pipeline, const PluginCatalog& catalog,
                       const std::filesystem::path& model_directory, const RunHooks& hooks = {});

}  // namespace ballista::host
