// `ballista run --isolate`: each model trains in a child `ballista` process, so a plugin
// that crashes (a segfault, an abort) loses only its own result. The child loads the
// run's pipeline.resolved.yaml, draws the same sets from the same seeds, trains one
// model and writes its ModelResult to a file the parent reads back.
#pragma once

#include "pipeline.hpp"
#include "pipeline_runner.hpp"
#include "plugin_catalog.hpp"
#include "progress_display.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ballista::host {

// A ModelResult, tensors included, as one file (written aside, then renamed); and back.
void save_model_result(const ModelResult& result, const std::filesystem::path& file);
ModelResult load_model_result(const std::filesystem::path& file);

// The child's side (`ballista __run-model RESOLVED.yaml MODEL RESULT_FILE`): trains
// MODEL of the resolved pipeline, saves it under the run directory (the YAML's folder)
// like an ordinary run, and writes the result. Exit status 0 when the result is
// written (whatever the model's status), 2 when it could not be.
int run_one_model_command(const PluginCatalog& catalog, const std::filesystem::path& resolved_pipeline,
                          const std::string& model, const std::filesystem::path& result_file, Verbosity verbosity);

// How `run --isolate` starts its children.
struct IsolateOptions {
  std::vector<std::string> child_options;  // before the subcommand: --plugin-path and the like
  std::optional<double> timeout_seconds;   // --model-timeout: a child still running then is killed
};

// The parent's side: an executor for run_pipeline that trains `spec` in a child process
// (this program, with the child options before the subcommand) and fills `result` from
// what it wrote. A child that dies of a signal, exits without a result or outlives the
// timeout (then killed with SIGKILL) makes the model fail with a message saying so.
ModelExecutor isolated_executor(const std::filesystem::path& resolved_pipeline,
                                const std::filesystem::path& run_directory, IsolateOptions options);

}  // namespace ballista::host
