// `ballista`: command-line entry point. Parses arguments and dispatches to commands.cpp.
#include "commands.hpp"
#include "plugin_check.hpp"
#include "plugin_scaffold.hpp"
#include "isolated_model.hpp"
#include "compare.hpp"
#include "diagnostics.hpp"
#include "pipeline_runner.hpp"

#include <ballista/version.hpp>

#include <algorithm>
#include <csignal>
#include <unistd.h>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

constexpr const char* kUsage = R"(Usage: ballista [--plugin-path DIR]... COMMAND [ARGS]

Train and compare models from plugins on the data a YAML pipeline describes.

Commands:
  plugins [--verbose]          list the plugins found; --verbose adds the search
                               path and every refused file with the reason
  plugin NAME                  show a plugin's parameters (type, default, allowed, doc)
  new-plugin NAME [--dir DIR]  write a ready project for a new model plugin into DIR
                               (default ./NAME): CMakeLists.txt, NAME_model.cpp with
                               every SDK method commented, a Boost.Test test that runs
                               check-plugin and a sample pipeline NAME.yaml
  check-plugin NAME [--set PARAMETER=VALUE]...
                               run the conformance checks on a model plugin: shapes
                               for 1, 2, 10 inputs and 1, 3 outputs, one training
                               row, predict before fit, same seed → same predictions,
                               save/load, NaN/inf refused, concurrent predict, every
                               parameter's values and bounds; --set gives parameters
                               (required ones, or epochs=20 to be quick); one line per
                               check, exit 1 if any fails
  run PIPELINE [--out DIR] [--set KEY.PATH=VALUE]...
                               run a pipeline: draw the data, train every model,
                               evaluate all on the same sets, print the comparison;
                               writes DIR (default runs/<name>/<timestamp>) with
                               report.html (open it first: tables and plots in one
                               file), report.md, plots/*.png (gnuplot; $GNUPLOT picks
                               the program), pipeline.resolved.yaml, metrics.json,
                               metrics.csv, data/*.csv, loss/*.csv, models/*.pt, log.txt
  validate PIPELINE [--set KEY.PATH=VALUE]...
                               check a pipeline (keys, values, plugin parameters)
                               without running it
  predict MODEL --at v=20,theta=0.85
  predict MODEL --input IN.csv [--output OUT.csv]
                               load a saved model (RUN_DIR/models/NAME.pt) and predict
                               at one point, or for each row of IN.csv (columns found
                               by input name; output: inputs then predictions)
  schema                       print a JSON Schema of the pipeline format, including
                               every plugin's parameters, for editors to complete and
                               check pipelines (docs/pipelines.md, "Editor support")
  compare RUN... [--metric SET:METRIC]... [--baseline RUN] [--sort COLUMN]
          [--format table|markdown|csv|json]
                               one table of models × metrics across runs (a RUN is a
                               run directory, or a pipeline name for runs/NAME/latest);
                               --baseline adds each value minus the same model's in
                               that run; the best value per column is marked
  reproduce RUN_DIR [--out DIR]
                               run RUN_DIR/pipeline.resolved.yaml again and report
                               whether every metric and probe prediction matches to
                               the last bit (exit 0) or which differ (exit 1), and
                               which recorded environment entries changed
  help                         this text

Options:
  --plugin-path DIR            search DIR for plugins first (repeatable)
  --set KEY.PATH=VALUE         with run/validate: change the pipeline before it is
                               checked, e.g. --set models.mlp.lr=0.001
                               --set data.n=5000 (repeatable; VALUE is
                               YAML; the last key may be new, the others must exist)
  --quiet, -q                  with run: print only the table (no progress, no
                               per-model lines; log.txt still gets them)
  --verbose, -v                with run: progress lines at every tenth of training
                               even when stderr is not a terminal (a terminal always
                               gets one live line per model: step/total, loss, ETA)
  --isolate                    with run: train each model in its own process, so a
                               plugin that crashes (segfault, abort) fails only its
                               model; the others finish and are reported
  --allow-insecure-plugins     load plugin files that other users could have written
                               (group- or world-writable file or directory, or owned
                               by another user); refused by default, since loading
                               a plugin runs its code
  --version                    print the version and SDK ABI

Plugins are searched in: --plugin-path dirs, $BALLISTA_PLUGIN_PATH (':'-separated),
~/.local/lib/ballista/plugins, then <prefix>/lib/ballista/plugins; first match wins.

Exit status: 0 ok, 1 a model failed (the others are still reported),
2 bad usage or bad input, 130 interrupted (what finished is kept).
)";

int usage_error(const std::string& message) {
  std::cerr << "ballista: " << message << "\nRun `ballista help` for usage.\n";
  return 2;
}

extern "C" void on_interrupt(int /*signal*/) {
  ballista::host::cancellation_flag().store(true);
  // A second Ctrl-C ends the process at once.
  (void)std::signal(SIGINT, SIG_DFL);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> plugin_paths;
  std::vector<std::string> positional;
  std::optional<std::filesystem::path> out_dir;
  std::optional<std::filesystem::path> scaffold_dir;
  ballista::host::PredictRequest predict;
  std::vector<std::string> overrides;
  bool verbose = false;
  bool allow_insecure_plugins = false;
  bool isolate = false;
  bool quiet = false;
  ballista::host::CompareOptions compare;
  bool compare_options_given = false;
  const std::vector<std::string> arguments(argv + 1, argv + argc);
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    const auto& argument = arguments[i];
    const auto next_value = [&]() -> std::optional<std::string> {
      if (i + 1 >= arguments.size()) {
        return std::nullopt;
      }
      return arguments[++i];
    };
    if (argument == "--help" || argument == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (argument == "--version") {
      std::cout << "ballista " << BALLISTA_VERSION_STRING << " (SDK ABI " << BALLISTA_SDK_ABI << ")\n";
      return 0;
    }
    if (argument == "--plugin-path" || argument == "--out" || argument == "--at" || argument == "--input" ||
        argument == "--output" || argument == "--set" || argument == "--metric" || argument == "--baseline" ||
        argument == "--sort" || argument == "--format" || argument == "--dir") {
      const auto given = next_value();
      if (!given) {
        return usage_error(argument + " needs a value");
      }
      if (argument == "--plugin-path") {
        plugin_paths.emplace_back(*given);
      } else if (argument == "--out") {
        out_dir = *given;
      } else if (argument == "--dir") {
        scaffold_dir = *given;
      } else if (argument == "--set") {
        overrides.push_back(*given);
      } else if (argument == "--metric") {
        compare.columns.push_back(*given);
        compare_options_given = true;
      } else if (argument == "--baseline") {
        compare.baseline = *given;
        compare_options_given = true;
      } else if (argument == "--sort") {
        compare.sort = *given;
        compare_options_given = true;
      } else if (argument == "--format") {
        compare.format = *given;
        compare_options_given = true;
      } else if (argument == "--at") {
        predict.at = *given;
      } else if (argument == "--input") {
        predict.input = *given;
      } else {
        predict.output = *given;
      }
    } else if (argument == "--allow-insecure-plugins") {
      allow_insecure_plugins = true;
    } else if (argument == "--isolate") {
      isolate = true;
    } else if (argument == "--verbose" || argument == "-v") {
      verbose = true;
    } else if (argument == "--quiet" || argument == "-q") {
      quiet = true;
    } else if (argument.rfind('-', 0) == 0 && argument.size() > 1) {
      return usage_error("unknown option '" + argument + "'");
    } else {
      positional.push_back(argument);
    }
  }
  if (positional.empty() || positional[0] == "help") {
    std::cout << kUsage;
    return positional.empty() ? 2 : 0;
  }
  const std::string command = positional[0];
  const auto expect_arguments = [&](std::size_t count, const std::string& shape) -> std::optional<int> {
    if (positional.size() != count + 1) {
      return usage_error("usage: ballista " + command + (shape.empty() ? "" : " " + shape));
    }
    return std::nullopt;
  };
  const std::vector<std::string> commands{"plugins",  "plugin",  "check-plugin", "new-plugin", "run",
                                          "validate", "predict", "schema",       "compare",    "reproduce"};
  // The child of `run --isolate` (internal: not in the usage text).
  const bool child = command == "__run-model";
  if (!child && std::find(commands.begin(), commands.end(), command) == commands.end()) {
    return usage_error("unknown command '" + command + "'" + ballista::host::suggest(command, commands));
  }
  if (out_dir && command != "run" && command != "reproduce") {
    return usage_error("--out only applies to `run` and `reproduce`");
  }
  if (isolate && command != "run") {
    return usage_error("--isolate only applies to `run`");
  }
  if (scaffold_dir && command != "new-plugin") {
    return usage_error("--dir only applies to `new-plugin`");
  }
  if (command == "new-plugin") {
    if (auto bad = expect_arguments(1, "NAME [--dir DIR]")) {
      return *bad;
    }
    return ballista::host::new_plugin_command(positional[1], scaffold_dir, std::cout);
  }
  if (!overrides.empty() && command != "run" && command != "validate" && command != "check-plugin") {
    return usage_error("--set only applies to `run`, `validate` and `check-plugin`");
  }
  if (compare_options_given && command != "compare") {
    return usage_error("--metric, --baseline, --sort and --format only apply to `compare`");
  }
  if (command == "compare") {
    if (positional.size() < 2) {
      return usage_error("usage: ballista compare RUN... [--metric SET:METRIC]... [--baseline RUN] [--sort COLUMN] "
                         "[--format table|markdown|csv|json]");
    }
    compare.colour = isatty(STDOUT_FILENO) != 0;
    return ballista::host::compare_runs({positional.begin() + 1, positional.end()}, compare, std::cout);
  }
  if ((predict.at || predict.input || predict.output) && command != "predict") {
    return usage_error("--at, --input and --output only apply to `predict`");
  }
  try {
    const ballista::host::PluginCatalog catalog(ballista::host::PluginCatalog::search_path(plugin_paths),
                                                allow_insecure_plugins);
    if (command != "plugins") {
      // Which of two same-named plugins a pipeline gets must not be a surprise.
      for (const auto& warning : catalog.warnings()) {
        std::cerr << "ballista: warning: " << warning << '\n';
      }
    }
    if (command == "plugins") {
      if (auto bad = expect_arguments(0, "[--verbose]")) {
        return *bad;
      }
      return ballista::host::list_plugins(catalog, verbose, std::cout);
    }
    if (command == "plugin") {
      if (auto bad = expect_arguments(1, "NAME")) {
        return *bad;
      }
      return ballista::host::show_plugin(catalog, positional[1], std::cout);
    }
    const auto verbosity = quiet ? ballista::host::Verbosity::quiet
                                 : verbose ? ballista::host::Verbosity::verbose : ballista::host::Verbosity::normal;
    if (child) {
      if (auto bad = expect_arguments(3, "RESOLVED.yaml MODEL RESULT_FILE")) {
        return *bad;
      }
      (void)std::signal(SIGINT, on_interrupt);
      return ballista::host::run_one_model_command(catalog, positional[1], positional[2], positional[3], verbosity);
    }
    if (command == "check-plugin") {
      if (auto bad = expect_arguments(1, "NAME [--set PARAMETER=VALUE]...")) {
        return *bad;
      }
      return ballista::host::check_plugin_command(catalog, positional[1], overrides, std::cout);
    }
    if (command == "reproduce") {
      if (auto bad = expect_arguments(1, "RUN_DIR [--out DIR]")) {
        return *bad;
      }
      (void)std::signal(SIGINT, on_interrupt);
      return ballista::host::reproduce_command(catalog, positional[1], out_dir, std::cout);
    }
    if (command == "schema") {
      if (auto bad = expect_arguments(0, "")) {
        return *bad;
      }
      return ballista::host::print_schema(catalog, std::cout);
    }
    if (command == "predict") {
      if (auto bad = expect_arguments(1, "MODEL (--at NAME=VALUE,... | --input IN.csv [--output OUT.csv])")) {
        return *bad;
      }
      return ballista::host::predict_command(catalog, positional[1], predict, std::cout);
    }
    if (command == "validate") {
      if (auto bad = expect_arguments(1, "PIPELINE")) {
        return *bad;
      }
      return ballista::host::validate_pipeline(catalog, positional[1], overrides, std::cout);
    }
    if (auto bad = expect_arguments(1, "PIPELINE [--out DIR]")) {
      return *bad;
    }
    (void)std::signal(SIGINT, on_interrupt);
    std::optional<std::vector<std::string>> isolate_options;
    if (isolate) {
      // The child finds the same plugins and shows progress the same way.
      isolate_options.emplace();
      for (const auto& directory : plugin_paths) {
        isolate_options->insert(isolate_options->end(), {"--plugin-path", directory.string()});
      }
      if (allow_insecure_plugins) {
        isolate_options->push_back("--allow-insecure-plugins");
      }
      if (verbosity != ballista::host::Verbosity::normal) {
        isolate_options->push_back(verbosity == ballista::host::Verbosity::quiet ? "--quiet" : "--verbose");
      }
    }
    return ballista::host::run_pipeline_command(catalog, positional[1], overrides, out_dir, std::cout, verbosity,
                                                isolate_options);
  } catch (const std::exception& error) {
    std::cerr << "ballista: " << error.what() << '\n';
    return 2;
  }
}
