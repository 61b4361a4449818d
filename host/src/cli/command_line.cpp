// The `ballista` command line (see command_line.hpp).
#include "command_line.hpp"

#include "diagnostics.hpp"
#include "plugin_discovery.hpp"

#include <ballista/version.hpp>

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>

namespace ballista::host {

const char* const kUsage = R"(Usage: ballista [--plugin-path DIR]... COMMAND [ARGS]

Train and compare models from plugins on the data a YAML pipeline describes.

Commands:
  plugins [--verbose]          list the plugins found, from each file's manifest
                               without loading it (fast: no LibTorch start-up);
                               --verbose loads every plugin and adds the search
                               path and every refused file with the reason
  plugin NAME                  show a plugin's parameters (type, default, allowed, doc)
  new-plugin NAME [--dir DIR]  write a ready project for a new model plugin into DIR
                               (default ./NAME): CMakeLists.txt, NAME_model.cpp with
                               every SDK method commented, a Boost.Test test that runs
                               check-plugin and a sample pipeline NAME.yaml
  check-plugin NAME [--set PARAMETER=VALUE]... [--range NAME=LOW,HIGH]...
                               run the conformance checks on a model plugin: shapes
                               for 1, 2, 10 inputs and 1, 3 outputs, one training
                               row, predict before fit, same seed → same predictions,
                               save/load, NaN/inf refused, concurrent predict, every
                               parameter's values and bounds; --set gives parameters
                               (required ones, or epochs=20 to be quick); one line per
                               check, then the parameter values tried, exit 1 if any
                               fails. A source plugin: declared names, shapes, same
                               bits (again, fresh, 1 and 3 threads), NaN/±inf/±1e300
                               inputs, parameters, concurrent instances; its inputs
                               are uniform in [0, 1] unless --range sets one's range
  run PIPELINE [--out DIR] [--set KEY.PATH=VALUE]...
                               run a pipeline: draw the data, train every model,
                               evaluate all on the same sets, print the comparison;
                               writes DIR (default runs/<name>/<timestamp>) with
                               report.html (open it first: tables and plots in one
                               file), report.md, plots/*.png (gnuplot; $GNUPLOT picks
                               the program), pipeline.resolved.yaml, metrics.json,
                               metrics.csv, data/*.csv, loss/*.csv, models/*.pt, log.txt
  run PIPELINE --shard I/N [--out DIR]
                               run only shard I of N (0 <= I < N): the models at
                               positions I, I+N, I+2N, ... of the pipeline (counted
                               from 0, sweep variants included), on the same data;
                               its metrics.json says which shard it is
  run PIPELINE --shards N --emit slurm|parallel [--out BASE]
                               run nothing: print a script that runs the N shards
                               (a Slurm job array, or GNU parallel) into BASE/shard-I
                               and then merges them into BASE/merged
  merge RUN_DIR... --out DIR   combine the shards' run directories into one run
                               directory, as the unsharded run writes it; refuses
                               shards of another pipeline or seed, a missing,
                               repeated or unfinished shard, shards of different N,
                               and a DIR that is not empty
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
                               YAML; the last key may be new, the others must exist;
                               KEY.PATH=null removes the key, e.g. models.knn=null)
  --quiet, -q                  with run: print only the table (no progress, no
                               per-model lines or plugin messages, no summary, run
                               directory or report path; log.txt still gets them)
  --verbose, -v                with run: progress lines at every tenth of training
                               even when stderr is not a terminal (a terminal always
                               gets one live line per model: step/total, loss, ETA)
  --isolate                    with run: train each model in its own process, so a
                               plugin that crashes (segfault, abort) fails only its
                               model; the others finish and are reported
  --model-timeout SECONDS      with run: a model still training or evaluating after
                               SECONDS (counted from when its process has drawn the
                               sets) fails ("did not finish within ..."); its
                               process is killed and the run goes on (implies
                               --isolate, since only a process can be stopped at
                               any point)
  --nproc N                    with run: run the pipeline as N processes on this
                               machine, one rank each of a c10d group (Gloo, and
                               NCCL for GPUs in a CUDA build), as torchrun
                               --standalone does: data-parallel models
                               fit on a share of the rows each; the thread count
                               is divided among them. Under torchrun, srun or
                               mpirun, `ballista run` joins their job by itself
  --timeout SECONDS            with a distributed run: how long a rank waits for
                               the others (joining, each all-reduce) before it
                               stops with an error (default 1800)
  --allow-insecure-plugins     load plugin files that other users could have written
                               (group- or world-writable file or directory, or owned
                               by another user); refused by default, since loading
                               a plugin runs its code
  --threads N                  threads for LibTorch, OpenMP and OpenBLAS alike
                               (default: $OMP_NUM_THREADS if set, else every core
                               this process may use); `run --isolate` children
                               get the same number
  --version                    print the version and SDK ABI

Plugins are searched in: --plugin-path dirs, $BALLISTA_PLUGIN_PATH (':'-separated),
~/.local/lib/ballista/plugins, then <prefix>/lib/ballista/plugins; first match wins.

Exit status: 0 ok, 1 a model failed (the others are still reported),
2 bad usage or bad input, 130 interrupted (what finished is kept).
)";


namespace {

std::optional<int> positive_count(const std::string& text) {
  if (text.empty() || text.size() > 6 || text.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const int value = std::stoi(text);
  return value > 0 ? std::optional<int>(value) : std::nullopt;
}

// The most ranks `run --nproc` starts on one machine.
constexpr int kMostLocalRanks = 1024;

// A number of seconds above 0 and at most a year (30, 0.5, 1e3), for OPTION.
double seconds_option(const std::string& option, const std::string& given) {
  char* end = nullptr;
  const double seconds = std::strtod(given.c_str(), &end);
  if (given.empty() || end != given.c_str() + given.size() || given.find_first_of("xXnN") != std::string::npos ||
      !(seconds > 0 && seconds <= 365.0 * 24 * 3600)) {
    throw UsageError(option + " needs a number of seconds above 0 and at most 31536000 (a year), got '" +
                     printable(given) + "'");
  }
  return seconds;
}

// The most shards: a pipeline runs at most 10000 models, so more would all be empty.
constexpr std::size_t kMostShards = 10000;

// A count of shards, 1 to kMostShards; nothing for other text.
std::optional<std::size_t> shard_count(const std::string& text) {
  const auto count = positive_count(text);
  return count && static_cast<std::size_t>(*count) <= kMostShards ? std::optional<std::size_t>(*count) : std::nullopt;
}

// A whole number of at most six digits, into `value`; false for other text.
bool whole_number(const std::string& text, std::size_t& value) {
  if (text.empty() || text.size() > 6 || text.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  value = static_cast<std::size_t>(std::stoul(text));
  return true;
}

// --shard I/N: shard I (from 0) of N.
ShardOption shard_option(const std::string& text) {
  const auto slash = text.find('/');
  ShardOption shard{0, 0};
  if (slash == std::string::npos || !whole_number(text.substr(0, slash), shard.index) ||
      !whole_number(text.substr(slash + 1), shard.count) || shard.count == 0 || shard.count > kMostShards ||
      shard.index >= shard.count) {
    throw UsageError("--shard needs I/N, shard I of N counted from 0 (0 <= I < N <= " + std::to_string(kMostShards) +
                     "), e.g. --shard 0/4 for the first of four; got '" + printable(text) + "'");
  }
  return shard;
}

// The cores this process may run on (taskset, a container's CPU set).
int usable_cores() {
  cpu_set_t usable;
  CPU_ZERO(&usable);
  return sched_getaffinity(0, sizeof(usable), &usable) == 0 ? std::max(1, CPU_COUNT(&usable)) : 1;
}

}  // namespace

CommandLine parse_command_line(const std::vector<std::string>& arguments) {
  CommandLine line;
  std::vector<std::string> positional;
  bool compare_options_given = false;
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    const auto& argument = arguments[i];
    if (argument == "--help" || argument == "-h") {
      line.help = true;
      return line;
    }
    if (argument == "--version") {
      line.version = true;
      return line;
    }
    if (argument == "--plugin-path" || argument == "--out" || argument == "--at" || argument == "--input" ||
        argument == "--output" || argument == "--set" || argument == "--metric" || argument == "--baseline" ||
        argument == "--sort" || argument == "--format" || argument == "--dir" || argument == "--threads" ||
        argument == "--model-timeout" || argument == "--range" || argument == "--shard" ||
        argument == "--nproc" || argument == "--timeout" ||
        argument == "--shards" || argument == "--emit") {
      if (i + 1 >= arguments.size()) {
        throw UsageError(argument + " needs a value");
      }
      const auto& given = arguments[++i];
      if (argument == "--plugin-path") {
        line.plugin_paths.emplace_back(given);
      } else if (argument == "--out") {
        line.out_dir = given;
      } else if (argument == "--dir") {
        line.scaffold_dir = given;
      } else if (argument == "--set") {
        line.overrides.push_back(given);
      } else if (argument == "--range") {
        line.ranges.push_back(given);
      } else if (argument == "--shard") {
        line.shard = shard_option(given);
      } else if (argument == "--shards") {
        line.shards = shard_count(given);
        if (!line.shards) {
          throw UsageError("--shards needs a whole number of shards, 1 to " + std::to_string(kMostShards) + " (got '" +
                           printable(given) + "')");
        }
      } else if (argument == "--emit") {
        line.emit = given;
      } else if (argument == "--threads") {
        line.threads = positive_count(given);
        if (!line.threads) {
          throw UsageError("--threads needs a whole number of threads, 1 or more (got '" + given + "')");
        }
        // Threads past the cores only cost their start (2048 took 22 s before anything ran).
        if (const int most = std::max(64, 4 * usable_cores()); *line.threads > most) {
          throw UsageError("--threads " + given + " is more than " + std::to_string(most) +
                           " (the larger of 64 and four times the " + std::to_string(usable_cores()) +
                           " cores this process may use); more threads than cores only add start-up time");
        }
      } else if (argument == "--nproc") {
        line.nproc = positive_count(given);
        if (!line.nproc || *line.nproc > kMostLocalRanks) {
          throw UsageError("--nproc needs a whole number of processes, 1 to " + std::to_string(kMostLocalRanks) +
                           " (got '" + printable(given) + "')");
        }
      } else if (argument == "--timeout") {
        line.timeout = seconds_option("--timeout", given);
      } else if (argument == "--model-timeout") {
        line.model_timeout = seconds_option("--model-timeout", given);
      } else if (argument == "--metric") {
        line.compare_columns.push_back(given);
        compare_options_given = true;
      } else if (argument == "--baseline") {
        line.compare_baseline = given;
        compare_options_given = true;
      } else if (argument == "--sort") {
        line.compare_sort = given;
        compare_options_given = true;
      } else if (argument == "--format") {
        line.compare_format = given;
        compare_options_given = true;
      } else if (argument == "--at") {
        line.predict.at = given;
      } else if (argument == "--input") {
        line.predict.input = given;
      } else {
        line.predict.output = given;
      }
    } else if (argument == "--allow-insecure-plugins") {
      line.allow_insecure_plugins = true;
    } else if (argument == "--isolate") {
      line.isolate = true;
    } else if (argument == "--verbose" || argument == "-v") {
      line.verbose = true;
    } else if (argument == "--quiet" || argument == "-q") {
      line.quiet = true;
    } else if (argument.rfind('-', 0) == 0 && argument.size() > 1) {
      throw UsageError("unknown option '" + argument + "'");
    } else {
      positional.push_back(argument);
    }
  }
  if (positional.empty()) {
    throw UsageError("");
  }
  if (positional[0] == "help") {
    line.help = true;
    return line;
  }
  line.command = positional[0];
  line.operands.assign(positional.begin() + 1, positional.end());
  const auto& command = line.command;
  const std::vector<std::string> commands{"plugins",  "plugin",  "check-plugin", "new-plugin", "run",
                                          "validate", "predict", "schema",       "compare",    "reproduce",
                                          "merge"};
  // The child of `run --isolate` (internal: not in the usage text).
  if (command != "__run-model" && std::find(commands.begin(), commands.end(), command) == commands.end()) {
    throw UsageError("unknown command '" + command + "'" + suggest(command, commands));
  }
  if (line.out_dir && command != "run" && command != "reproduce" && command != "merge") {
    throw UsageError("--out only applies to `run`, `reproduce` and `merge`");
  }
  if ((line.shard || line.shards || line.emit) && command != "run") {
    throw UsageError("--shard, --shards and --emit only apply to `run`");
  }
  if (line.emit && !line.shards) {
    throw UsageError("--emit needs --shards N, the number of shards the script runs");
  }
  if (line.shards && !line.emit) {
    throw UsageError("--shards N needs --emit slurm or --emit parallel: it prints a script that runs the N shards "
                     "and merges them (to run one shard here: --shard I/N)");
  }
  if (line.shard && line.shards) {
    throw UsageError("--shard I/N runs one shard, --shards N --emit prints a script for all of them: give one");
  }
  if (line.emit && *line.emit != "slurm" && *line.emit != "parallel") {
    throw UsageError("--emit must be slurm or parallel, got '" + printable(*line.emit) + "'" +
                     did_you_mean(*line.emit, {"slurm", "parallel"}));
  }
  if ((line.nproc || line.timeout) && command != "run") {
    throw UsageError("--nproc and --timeout only apply to `run`");
  }
  if (line.nproc && (line.isolate || line.model_timeout)) {
    throw UsageError("--nproc runs each rank in its own process already: it does not combine with --isolate or "
                     "--model-timeout (use --timeout for how long a rank waits for the others)");
  }
  if (line.nproc && line.emit) {
    throw UsageError("--nproc runs one pipeline on several processes, --emit prints a script: give one");
  }
  if (line.isolate && command != "run") {
    throw UsageError("--isolate only applies to `run`");
  }
  if (line.model_timeout && command != "run") {
    throw UsageError("--model-timeout only applies to `run`");
  }
  if (line.scaffold_dir && command != "new-plugin") {
    throw UsageError("--dir only applies to `new-plugin`");
  }
  if (!line.overrides.empty() && command != "run" && command != "validate" && command != "check-plugin") {
    throw UsageError("--set only applies to `run`, `validate` and `check-plugin`");
  }
  if (!line.ranges.empty() && command != "check-plugin") {
    throw UsageError("--range only applies to `check-plugin`");
  }
  if (compare_options_given && command != "compare") {
    throw UsageError("--metric, --baseline, --sort and --format only apply to `compare`");
  }
  if ((line.predict.at || line.predict.input || line.predict.output) && command != "predict") {
    throw UsageError("--at, --input and --output only apply to `predict`");
  }
  const auto expect = [&](std::size_t count, const std::string& shape) {
    if (line.operands.size() != count) {
      throw UsageError("usage: ballista " + command + (shape.empty() ? "" : " " + shape));
    }
  };
  if (command == "new-plugin") {
    expect(1, "NAME [--dir DIR]");
  } else if (command == "compare") {
    if (line.operands.empty()) {
      throw UsageError("usage: ballista compare RUN... [--metric SET:METRIC]... [--baseline RUN] [--sort COLUMN] "
                       "[--format table|markdown|csv|json]");
    }
  } else if (command == "plugins") {
    expect(0, "[--verbose]");
  } else if (command == "plugin") {
    expect(1, "NAME");
  } else if (command == "__run-model") {
    expect(3, "RESOLVED.yaml MODEL RESULT_FILE");
  } else if (command == "check-plugin") {
    expect(1, "NAME [--set PARAMETER=VALUE]... [--range NAME=LOW,HIGH]...");
  } else if (command == "reproduce") {
    expect(1, "RUN_DIR [--out DIR]");
  } else if (command == "merge") {
    if (line.operands.empty() || !line.out_dir) {
      throw UsageError("usage: ballista merge RUN_DIR... --out DIR (the run directories of `run --shard I/N`, "
                       "one for each I)");
    }
  } else if (command == "schema") {
    expect(0, "");
  } else if (command == "predict") {
    expect(1, "MODEL (--at NAME=VALUE,... | --input IN.csv [--output OUT.csv])");
  } else if (command == "validate") {
    expect(1, "PIPELINE");
  } else {
    expect(1, "PIPELINE [--out DIR]");
  }
  return line;
}

std::optional<int> answer_without_libtorch(int argc, char** argv, CommandLine& line) {
  try {
    line = parse_command_line({argv + 1, argv + argc});
  } catch (const UsageError& error) {
    if (*error.what() == '\0') {
      std::cout << kUsage;
    } else {
      std::cerr << "ballista: " << error.what() << "\nRun `ballista help` for usage.\n";
    }
    return 2;
  }
  if (line.help) {
    std::cout << kUsage;
    return 0;
  }
  if (line.version) {
    std::cout << "ballista " << BALLISTA_VERSION_STRING << " (SDK ABI " << BALLISTA_SDK_ABI << ")\n";
    return 0;
  }
  if (line.command == "plugins" && !line.verbose) {
    try {
      const auto scan = scan_plugin_directories(plugin_search_path(line.plugin_paths), line.allow_insecure_plugins);
      return print_plugin_listing(listing_from_manifests(scan), false, std::cout);
    } catch (const std::exception& error) {
      std::cerr << "ballista: " << error.what() << '\n';
      return 2;
    }
  }
  return std::nullopt;
}

int thread_count(const CommandLine& command_line) {
  if (command_line.threads) {
    return *command_line.threads;
  }
  // Read on the main thread before any other starts.
  if (const char* given = std::getenv("OMP_NUM_THREADS")) {  // NOLINT(concurrency-mt-unsafe)
    if (const auto count = positive_count(given)) {
      return *count;
    }
  }
  return usable_cores();
}

void export_thread_count(int threads) {
  const auto text = std::to_string(threads);
  for (const char* name : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"}) {
    ::setenv(name, text.c_str(), 1);  // NOLINT(concurrency-mt-unsafe): before any thread starts
  }
  // OpenMP's idle threads sleep instead of spinning, so they do not take the cores
  // OpenBLAS's threads are computing on (measured: with spinning threads a 2-thread
  // MLP fit took 20× longer on a busy 2-core machine). A user's own setting stands.
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 0);  // NOLINT(concurrency-mt-unsafe)
}

}  // namespace ballista::host
