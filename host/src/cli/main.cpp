// `ballista-engine`: runs the commands that need LibTorch. Users run `ballista` (the
// launcher, launcher.cpp), which answers --help, --version and `plugins` itself and
// hands every other command line to this program unchanged. The arguments are parsed
// and checked by command_line.cpp in both.
#include "command_line.hpp"
#include "commands.hpp"
#include "plugin_check.hpp"
#include "plugin_scaffold.hpp"
#include "isolated_model.hpp"
#include "compare.hpp"
#include "pipeline_runner.hpp"
#include "launch_environment.hpp"
#include "local_ranks.hpp"
#include "sweep_shards.hpp"

#include <ballista/parallel.hpp>

#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <unistd.h>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

// LibTorch's intra-op pool (OpenMP here) and OpenBLAS's own threads, both `threads`.
// The launcher has already exported the count for the libraries that read it when
// they start; this covers an engine started directly.
void use_threads(int threads) {
  ballista::host::export_thread_count(threads);
  at::set_num_threads(threads);
  ballista::set_blas_threads(threads);
}

extern "C" void on_interrupt(int /*signal*/) {
  ballista::host::cancellation_flag().store(true);
  // A second Ctrl-C ends the process at once.
  (void)std::signal(SIGINT, SIG_DFL);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ballista::host;
  CommandLine line;
  if (const auto answered = answer_without_libtorch(argc, argv, line)) {
    return *answered;
  }
  // run --nproc N started as the engine itself: supervise N ranks of this program.
  if (const auto status = run_local_ranks(line, std::filesystem::read_symlink("/proc/self/exe").string(),
                                          std::vector<std::string>(argv + 1, argv + argc))) {
    return *status;
  }
  const int threads = thread_count(line);
  use_threads(threads);
  const auto& command = line.command;
  const auto& operands = line.operands;
  if (command == "new-plugin") {
    return new_plugin_command(operands[0], line.scaffold_dir, std::cout);
  }
  if (command == "compare") {
    CompareOptions compare;
    compare.columns = line.compare_columns;
    compare.baseline = line.compare_baseline;
    compare.sort = line.compare_sort;
    if (line.compare_format) {
      compare.format = *line.compare_format;
    }
    compare.colour = isatty(STDOUT_FILENO) != 0;
    return compare_runs(operands, compare, std::cout);
  }
  try {
    const PluginCatalog catalog(PluginCatalog::search_path(line.plugin_paths), line.allow_insecure_plugins);
    if (command != "plugins") {
      // Which of two same-named plugins a pipeline gets must not be a surprise.
      for (const auto& warning : catalog.warnings()) {
        std::cerr << "ballista: warning: " << warning << '\n';
      }
    }
    if (command == "plugins") {
      return list_plugins(catalog, true, std::cout);
    }
    if (command == "plugin") {
      return show_plugin(catalog, operands[0], std::cout);
    }
    const auto verbosity = line.quiet ? Verbosity::quiet : line.verbose ? Verbosity::verbose : Verbosity::normal;
    if (command == "__run-model") {
      (void)std::signal(SIGINT, on_interrupt);
      return run_one_model_command(catalog, operands[0], operands[1], operands[2], verbosity);
    }
    if (command == "check-plugin") {
      return check_plugin_command(catalog, operands[0], line.overrides, line.ranges, std::cout);
    }
    if (command == "reproduce") {
      (void)std::signal(SIGINT, on_interrupt);
      return reproduce_command(catalog, operands[0], line.out_dir, std::cout);
    }
    if (command == "schema") {
      return print_schema(catalog, std::cout);
    }
    if (command == "predict") {
      return predict_command(catalog, operands[0], line.predict, std::cout);
    }
    if (command == "validate") {
      return validate_pipeline(catalog, operands[0], line.overrides, std::cout);
    }
    if (command == "merge") {
      return merge_command(catalog, line, std::cout);
    }
    if (line.emit) {
      return emit_shard_script(catalog, line, std::cout);
    }
    (void)std::signal(SIGINT, on_interrupt);
    std::optional<IsolateOptions> isolate_options;
    if (line.isolate || line.model_timeout) {
      // The child finds the same plugins, uses as many threads and shows progress the
      // same way.
      isolate_options.emplace();
      auto& options = isolate_options->child_options;
      for (const auto& directory : line.plugin_paths) {
        options.insert(options.end(), {"--plugin-path", directory.string()});
      }
      options.insert(options.end(), {"--threads", std::to_string(threads)});
      if (line.allow_insecure_plugins) {
        options.emplace_back("--allow-insecure-plugins");
      }
      if (verbosity != Verbosity::normal) {
        options.emplace_back(verbosity == Verbosity::quiet ? "--quiet" : "--verbose");
      }
      isolate_options->timeout_seconds = line.model_timeout;
    }
    std::optional<PipelineShard> shard;
    if (line.shard) {
      shard = PipelineShard{line.shard->index, line.shard->count};
    }
    // One rank of a distributed run when a launcher (torchrun, srun, mpirun, --nproc) says so.
    std::optional<DistributedRun> distributed;
    if (auto launch = launch_environment(); launch && launch->size > 1) {
      if (isolate_options) {
        std::cerr << "ballista: --isolate and --model-timeout do not combine with a distributed run (" << launch->launcher
                  << ", " << launch->size << " ranks): each rank is already its own process\n";
        return 2;
      }
      distributed.emplace();
      distributed->launch = std::move(*launch);
      distributed->timeout = std::chrono::milliseconds(std::llround(line.timeout.value_or(1800.0) * 1000.0));
    }
    return run_pipeline_command(catalog, operands[0], line.overrides, line.out_dir, std::cout, verbosity,
                                isolate_options, shard, distributed);
  } catch (const std::exception& error) {
    std::cerr << "ballista: " << error.what() << '\n';
    return 2;
  }
}
