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

#include <ballista/parallel.hpp>

#include <ATen/Parallel.h>

#include <csignal>
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
    return run_pipeline_command(catalog, operands[0], line.overrides, line.out_dir, std::cout, verbosity,
                                isolate_options);
  } catch (const std::exception& error) {
    std::cerr << "ballista: " << error.what() << '\n';
    return 2;
  }
}
