// `ballista run --isolate`, the parent's side and the files both sides share: each
// model trains in a child `ballista` process (`__run-model`, run_one_model_command in
// commands.hpp), so a plugin that crashes (a segfault, an abort) loses only its own
// result. The child loads the run's pipeline.resolved.yaml, draws the same sets from
// the same seeds, trains one model and writes its ModelResult to a file the parent
// reads back.
#pragma once

#include "pipeline.hpp"
#include "pipeline_runner.hpp"
#include "run_results.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ballista::host {

// A ModelResult, tensors included, as one file (written aside, then renamed); and back.
void save_model_result(const ModelResult& result, const std::filesystem::path& file);
ModelResult load_model_result(const std::filesystem::path& file);

// The file next to a result where the child writes its model's messages as they are
// logged, one message_line each, so that what a model logged survives its process's
// crash; the parent reads it whatever became of the child.
std::filesystem::path messages_file(const std::filesystem::path& result_file);
// The file the child creates once its sets are drawn, just before the model starts: the
// parent's --model-timeout counts from then, not from the process's start (loading
// LibTorch, the pipeline and drawing the sets again take seconds on a loaded machine
// and are not the model's time).
std::filesystem::path started_file(const std::filesystem::path& result_file);
// One message as that file holds it: a line of JSON {"level", "text"}.
std::string message_line(const PluginMessage& message);

// How `run --isolate` starts its children.
struct IsolateOptions {
  std::vector<std::string> child_options;  // before the subcommand: --plugin-path and the like
  std::optional<double> timeout_seconds;   // --model-timeout: a model still running this long after
                                           // its child starts it (started_file) is killed
};

// The parent's side: an executor for run_pipeline that trains `spec` in a child process
// (this program, with the child options before the subcommand) and fills `result` from
// what it wrote. A child that dies of a signal, exits without a result or outlives the
// timeout (then killed with SIGKILL) makes the model fail with a message saying so.
ModelExecutor isolated_executor(const std::filesystem::path& resolved_pipeline,
                                const std::filesystem::path& run_directory, IsolateOptions options);

}  // namespace ballista::host
