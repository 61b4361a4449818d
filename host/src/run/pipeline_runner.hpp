// Runs a validated pipeline: draws the sets, trains every model on the training set,
// evaluates each on every evaluation set and at the probes. A model that throws fails
// alone; the others still run.
#pragma once

#include "cancellation.hpp"
#include "pipeline.hpp"
#include "plugin_catalog.hpp"
#include "process_group.hpp"
#include "run_results.hpp"

#include <filesystem>
#include <functional>
#include <string>

namespace ballista::host {

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
  // The ranks of a distributed run (nullptr, or a size of 1: this process alone). Then
  // every rank calls run_pipeline alike. Models that are data_parallel() are fitted
  // first, on every rank at once, each on its share of the training rows, and evaluated
  // and serialised on every rank alike (a model may answer predict() or save() together:
  // knn merges the ranks' nearest samples, and gathers them to save); rank 0 keeps the
  // results and writes the model files, then fits the other models alone on all the
  // rows, while the other ranks return once the shared models are done (their results
  // are not for keeping). A shared model that fails on rank 0 (another rank died or timed
  // out, say) leaves the later ones to rank 0 alone, with a warning; on another rank the
  // failure is thrown.
  // Rank 0 records each shared fit's collectives in its fit_values: collective_calls,
  // collective_seconds (waiting included) and collective_megabytes (sent by rank 0).
  ProcessGroup* ranks = nullptr;
};

// Runs everything. Each trained model is saved as `model_directory`/<name>.pt unless
// `model_directory` is empty.
RunResult run_pipeline(const Pipeline& pipeline, const PluginCatalog& catalog,
                       const std::filesystem::path& model_directory, const RunHooks& hooks = {});

}  // namespace ballista::host
