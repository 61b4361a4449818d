// The `ballista` subcommands. Each returns the process exit code:
// 0 ok, 1 a model failed (the others still reported), 2 bad usage or bad input,
// 130 interrupted (Ctrl-C; what finished is kept).
#pragma once

#include "command_line.hpp"
#include "isolated_model.hpp"
#include "launch_environment.hpp"
#include "plugin_catalog.hpp"
#include "run_directory.hpp"
#include "pipeline.hpp"
#include "progress_display.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace ballista::host {

int list_plugins(const PluginCatalog& catalog, bool verbose, std::ostream& out);
int show_plugin(const PluginCatalog& catalog, const std::string& name, std::ostream& out);
// `overrides` are --set KEY.PATH=VALUE texts, applied to the file before validation.
int validate_pipeline(const PluginCatalog& catalog, const std::filesystem::path& file,
                      const std::vector<std::string>& overrides, std::ostream& out);
// Prints the JSON Schema of the pipeline format, with every plugin's parameters.
int print_schema(const PluginCatalog& catalog, std::ostream& out);
// Loads a saved model and predicts at one point or for every row of a CSV file.
int predict_command(const PluginCatalog& catalog, const std::filesystem::path& model_file, const PredictRequest& request,
                    std::ostream& out);

// The end of a run directory, as `run` and `merge` write it once the metrics and loss
// curves are written: the plots, the report, the table and summary in the log and on
// `out` (the table alone with --quiet). Returns `state`, or "interrupted" when Ctrl-C
// came while the plots were drawn (the metrics are then written again with it). `say`
// prints a line (unless quiet) and logs it.
std::string finish_run_directory(const Pipeline& pipeline, const RunResult& run, std::string state,
                                 RunDirectoryWriter& writer, const std::function<void(const std::string&)>& say,
                                 Verbosity verbosity, std::ostream& out);

// This process as one rank of a distributed run (torchrun, srun, mpirun, --nproc):
// rank 0 writes the run directory and prints as a run does; the other ranks take part
// in the data-parallel fits and print only errors (also to TORCHELASTIC_ERROR_FILE).
struct DistributedRun {
  LaunchEnvironment launch;
  std::chrono::milliseconds timeout{std::chrono::minutes(30)};
};

// `isolate`, when given, trains each model in a child process (run --isolate), started
// with its options (--plugin-path and the like) before its subcommand, and killed after
// its timeout (--model-timeout) if it has one. `shard`, when given, runs only that
// share of the models (run --shard I/N) and keeps their results for `ballista merge`.
int run_pipeline_command(const PluginCatalog& catalog, const std::filesystem::path& file,
                         const std::vector<std::string>& overrides,
                         const std::optional<std::filesystem::path>& out_dir, std::ostream& out,
                         Verbosity verbosity = Verbosity::normal,
                         const std::optional<IsolateOptions>& isolate = std::nullopt,
                         const std::optional<PipelineShard>& shard = std::nullopt,
                         const std::optional<DistributedRun>& distributed = std::nullopt);

// The child of `run --isolate` (`ballista __run-model RESOLVED.yaml MODEL RESULT_FILE`):
// trains MODEL of the resolved pipeline, saves it under the run directory (the YAML's
// folder) like an ordinary run, writes its messages to messages_file(RESULT_FILE) as
// they are logged and the result to RESULT_FILE (isolated_model.hpp). Exit status 0
// when the result is written (whatever the model's status), 2 when it could not be.
int run_one_model_command(const PluginCatalog& catalog, const std::filesystem::path& resolved_pipeline,
                          const std::string& model, const std::filesystem::path& result_file, Verbosity verbosity);

// Runs RUN_DIR/pipeline.resolved.yaml again (into `out_dir`, default a new run
// directory) and reports whether every metric and probe prediction is the same to the
// last bit, naming each that is not, and which recorded environment entries differ.
// Exit status 0 identical, 1 different, 2 not a run directory (or the run failed to start).
int reproduce_command(const PluginCatalog& catalog, const std::filesystem::path& run_directory,
                      const std::optional<std::filesystem::path>& out_dir, std::ostream& out);

}  // namespace ballista::host
