// The `ballista` subcommands (see commands.hpp).
#include "commands.hpp"

#include "atomic_file.hpp"
#include "compare.hpp"
#include "csv_table.hpp"
#include "diagnostics.hpp"
#include "isolated_model.hpp"
#include "model_file.hpp"
#include "pipeline_loader.hpp"
#include "resolved_yaml.hpp"
#include "pipeline_schema.hpp"
#include "pipeline_runner.hpp"
#include "process_group.hpp"
#include "report_page.hpp"
#include "run_plots.hpp"
#include "run_environment.hpp"
#include "run_directory.hpp"
#include "run_report.hpp"
#include "sweep_shards.hpp"
#include "throttled_records.hpp"

#include <ballista/version.hpp>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <bit>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace ballista::host {

int list_plugins(const PluginCatalog& catalog, bool verbose, std::ostream& out) {
  return print_plugin_listing(catalog.listing(), verbose, out);
}

int show_plugin(const PluginCatalog& catalog, const std::string& name, std::ostream& out) {
  const auto* plugin = catalog.find(name);
  if (plugin == nullptr) {
    std::cerr << "ballista: no plugin named '" << name << "'" << suggest(name, catalog.names()) << '\n';
    return 2;
  }
  out << plugin->name << ' ' << plugin->version << " — " << plugin->summary << '\n'
      << "kind: " << plugin_kind_name(plugin->kind) << (plugin->kind == PluginKind::source ? " (use as data.source)" : "")
      << "\nfile: " << plugin->file.string() << "\nbuilt with LibTorch " << plugin->torch_version
      << " (the TORCH_VERSION its LibTorch headers declare; a package may be numbered otherwise)\n";
  if (plugin->kind == PluginKind::source) {
    out << "inputs: " << join(plugin->source.inputs) << "\ntargets: " << join(plugin->source.targets) << '\n';
  }
  out << '\n';
  std::vector<std::vector<std::string>> rows{{"PARAMETER", "TYPE", "DEFAULT", "ALLOWED", "DESCRIPTION"}};
  for (const auto& spec : plugin->parameters()) {
    rows.push_back({spec.name(), to_string(spec.type()),
                    spec.is_required() ? "(required)" : to_string(spec.default_value()), spec.allowed(), spec.doc()});
  }
  print_columns(rows, out);
  return 0;
}

int print_schema(const PluginCatalog& catalog, std::ostream& out) {
  out << pipeline_schema(catalog).dump(2) << '\n';
  return 0;
}

int validate_pipeline(const PluginCatalog& catalog, const std::filesystem::path& file,
                      const std::vector<std::string>& overrides, std::ostream& out) {
  try {
    const auto pipeline = load_pipeline(file, catalog, overrides);
    out << file.string() << ": ok (" << pipeline.data.sets.size() << " data sets, " << pipeline.models.size()
        << " models, " << pipeline.evaluation.probes.size() << " probes)\n";
    static const char* const origins[] = {"the source's own rows", "split", "drawn", "another source"};
    out << "  data: " << pipeline.data.source.name() << '\n';
    for (const auto& set : pipeline.data.sets) {
      out << "  set " << set.name << ": " << set.rows << " rows, " << origins[static_cast<int>(set.origin)]
          << (set.name == pipeline.train_set ? " (trained on)" : "") << '\n';
    }
    for (const auto& model : pipeline.models) {
      out << "  model " << model.name << ": " << model.plugin << '\n';
    }
    return 0;
  } catch (const InputError& error) {
    std::cerr << error.what() << '\n'
              << error.diagnostics().size() << " error" << (error.diagnostics().size() == 1 ? "" : "s") << '\n';
    return 2;
  }
}

namespace {

// environment.json's "distributed": how the run was launched.
nlohmann::json distributed_record(const LaunchEnvironment& launch, const ProcessGroup& ranks) {
  return {{"world_size", launch.size},
          {"backend", ranks.backend()},
          {"launcher", launch.launcher},
          {"agent_store", launch.agent_store}};
}

// A rank other than 0: the shared fits, and nothing written; an error ends it (the
// other ranks then stop at their next all-reduce) and goes to torchrun's error file.
int run_as_other_rank(const Pipeline& pipeline, const PluginCatalog& catalog, ProcessGroup& ranks,
                      const LaunchEnvironment& launch) {
  try {
    RunHooks hooks;
    hooks.ranks = &ranks;
    const auto run = run_pipeline(pipeline, catalog, {}, hooks);
    return run.interrupted ? 130 : 0;
  } catch (const std::exception& error) {
    const auto message = "rank " + std::to_string(ranks.rank()) + ": " + first_line(error.what());
    std::cerr << "ballista: " << message << '\n';
    write_error_file(launch, message);
    return 1;
  }
}

}  // namespace

std::string finish_run_directory(const Pipeline& pipeline, const RunResult& run, std::string state,
                                 RunDirectoryWriter& writer, const std::function<void(const std::string&)>& say,
                                 Verbosity verbosity, std::ostream& out) {
  const auto& directory = writer.directory();
  if (verbosity != Verbosity::quiet) {
    std::cerr << "  drawing plots and the report...\n";
  }
  const auto plots = write_plots(pipeline, run, directory.plots(), cancellation_flag());
  for (const auto& warning : plots.warnings) {
    say("warning: " + warning);
  }
  if (plots.interrupted && state != "interrupted") {
    state = "interrupted";  // Ctrl-C while the plots were drawn: the metrics are whole
    writer.write_metrics(metrics_json(pipeline, run, state), metrics_csv(run));
  }
  const auto pages = report_pages(pipeline, run, state, plots, directory.root());
  writer.write_report(pages.markdown, pages.html);
  const auto table = comparison_table(pipeline, run);
  const auto summary = model_summary(pipeline, run);
  writer.log("\n" + table + "\n" + summary + "\nstate: " + state);
  // --quiet: the table alone (a failure shows in the exit status and in the files).
  out << table;
  if (verbosity != Verbosity::quiet) {
    out << '\n'
        << summary << "\nRun directory: " << directory.root().string()
        << "\nReport: " << directory.report_html().string() << '\n';
  }
  return state;
}

int run_pipeline_command(const PluginCatalog& catalog, const std::filesystem::path& file,
                         const std::vector<std::string>& overrides,
                         const std::optional<std::filesystem::path>& out_dir, std::ostream& out,
                         Verbosity verbosity, const std::optional<IsolateOptions>& isolate,
                         const std::optional<PipelineShard>& shard,
                         const std::optional<DistributedRun>& distributed) {
  Pipeline pipeline;
  try {
    pipeline = load_pipeline(file, catalog, overrides);
  } catch (const InputError& error) {
    std::cerr << error.what() << '\n';
    if (distributed) {
      write_error_file(distributed->launch, first_line(error.what()));
    }
    return 2;
  }
  const auto resolved = resolved_yaml(pipeline, catalog);
  if (shard) {
    keep_shard(pipeline, *shard);  // after resolving: the shard's record keeps every model
  }
  std::unique_ptr<ProcessGroup> ranks;
  if (distributed) {
    try {
      ranks = std::make_unique<ProcessGroup>(distributed->launch, distributed->timeout);
    } catch (const std::exception& error) {
      std::cerr << "ballista: " << error.what() << '\n';
      write_error_file(distributed->launch, error.what());
      return 2;
    }
    if (ranks->rank() != 0) {
      return run_as_other_rank(pipeline, catalog, *ranks, distributed->launch);
    }
  }
  RunDirectoryWriter writer(out_dir ? RunDirectory(*out_dir) : RunDirectory::fresh(pipeline.name, resolved));
  const auto& directory = writer.directory();
  if (const auto refused = writer.open()) {
    std::cerr << "ballista: " << *refused << '\n';
    return 2;
  }
  auto environment = run_environment();
  if (distributed) {
    environment["distributed"] = distributed_record(distributed->launch, *ranks);
  }
  writer.start(resolved, environment.dump(2) + "\n");
  // log.txt gets what the terminal gets, and the plugins' debug messages.
  ProgressDisplay display(std::cerr, isatty(STDERR_FILENO) != 0, verbosity);
  const auto say = [&](const std::string& line, bool on_terminal = true) {
    if (on_terminal && verbosity != Verbosity::quiet) {
      display.clear();
      std::cerr << line << '\n';
    }
    writer.log(line);
  };
  // A plugin's Context::log message: "  mlp: info: early stopping at epoch 40". Debug
  // messages reach the terminal only with --verbose; every level reaches log.txt.
  const auto plugin_said = [&](const std::string& who, const PluginMessage& message) {
    say(plugin_message_line(who, message), message.level != LogLevel::debug || verbosity == Verbosity::verbose);
  };
  say("ballista " BALLISTA_VERSION_STRING ": " + file.string() + " → " + directory.root().string());
  if (distributed) {
    const auto& launch = distributed->launch;
    say("  " + std::to_string(launch.size) + " ranks (" + launch.launcher + ", c10d " + ranks->backend() +
        "): data-parallel models fit on a share of the rows each; the others on rank 0");
  }
  bool data_drawn = false;  // set by hooks.progress once the data is drawn
  RunResult run;
  RunningRecords records;
  // After every model while the records are under 256 KiB (a few hundred models), then
  // at most every 0.25 s: a run killed outright keeps every model finished before that.
  ThrottledRecords records_out(writer, std::chrono::milliseconds(250), std::size_t{256} * 1024);
  try {
    RunHooks hooks;
    hooks.progress = [&, reported = std::size_t{0}, sets_written = false](const RunResult& progress) mutable {
      data_drawn = true;
      // Saved after every model (within 0.25 s in a large sweep), so an interrupted or
      // crashed run keeps what finished.
      records_out.offer(records.snapshot(pipeline, progress));
      if (!sets_written) {
        // runs/<pipeline>/latest and runs/latest: the newest run of this pipeline, of
        // any; moved once the data is drawn, so a run refused before that moves nothing.
        if (!out_dir) {
          writer.point_latest();
        }
        writer.write_sets(progress.sets);
        sets_written = true;
      }
      for (; reported < progress.models.size() && progress.models[reported].status != ModelStatus::pending;
           ++reported) {
        say(model_outcome_line(progress.models[reported]));
      }
    };
    hooks.step = [&](const std::string& model, std::int64_t step, std::int64_t total, double loss) {
      display.step(model, step, total, loss);
    };
    hooks.message = plugin_said;
    hooks.ranks = ranks.get();
    if (isolate) {
      hooks.executor = isolated_executor(directory.resolved_pipeline(), directory.root(), *isolate);
    }
    run = run_pipeline(pipeline, catalog, directory.models(), hooks);
    records_out.stop();  // the final records follow
  } catch (const std::exception& problem) {
    records_out.stop();
    // cppcheck-suppress knownConditionTrueFalse ; hooks.progress sets it
    if (data_drawn) {
      throw;  // a record that cannot be written (a full disk): what was written stays
    }
    // The data could not be drawn (targets that are not finite, say): nothing was
    // computed, so the run leaves nothing behind, and `latest` was never moved.
    display.clear();
    const auto message = first_line(problem.what());
    std::cerr << file.string() << ": error: drawing the data: " << message << '\n';
    writer.discard(!out_dir);
    return 2;
  }
  display.clear();
  std::string state = run.interrupted ? "interrupted" : "complete";
  writer.write_metrics(metrics_json(pipeline, run, state), metrics_csv(run));
  writer.write_loss_curves(run);
  if (shard) {
    write_shard_results(directory, run);
  }
  // Plots and the report last: they read everything above, and a run stopped while they
  // are drawn still has its metrics.
  state = finish_run_directory(pipeline, run, state, writer, say, verbosity, out);
  const bool interrupted = state == "interrupted";
  if (interrupted) {
    std::cerr << "ballista: interrupted; finished models are saved in " << directory.root().string() << '\n';
    return 130;
  }
  const auto failed = std::find_if(run.models.begin(), run.models.end(),
                                   [](const ModelResult& model) { return model.status != ModelStatus::ok; });
  if (failed != run.models.end() && distributed) {
    write_error_file(distributed->launch, "rank 0: model " + failed->name + " " +
                                              model_status_name(failed->status) +
                                              (failed->error.empty() ? "" : ": " + failed->error));
  }
  return failed != run.models.end() ? 1 : 0;
}

int run_one_model_command(const PluginCatalog& catalog, const std::filesystem::path& resolved_pipeline,
                          const std::string& model, const std::filesystem::path& result_file, Verbosity verbosity) {
  try {
    auto pipeline = load_pipeline(resolved_pipeline, catalog);
    const auto found = std::find_if(pipeline.models.begin(), pipeline.models.end(),
                                    [&](const ModelSpec& spec) { return spec.name == model; });
    if (found == pipeline.models.end()) {
      std::cerr << "ballista: " << resolved_pipeline.string() << " has no model '" << model << "'\n";
      return 2;
    }
    pipeline.models = {*found};
    ProgressDisplay display(std::cerr, isatty(STDERR_FILENO) != 0, verbosity);
    std::ofstream messages(messages_file(result_file), std::ios::trunc);
    RunHooks hooks;
    // The first progress call comes once the sets are drawn, just before the model
    // starts: the parent's --model-timeout counts from this file.
    bool started = false;
    hooks.progress = [&](const RunResult&) {
      if (!started) {
        started = true;
        std::ofstream{started_file(result_file)};
      }
    };
    hooks.step = [&](const std::string& name, std::int64_t step, std::int64_t total, double loss) {
      display.step(name, step, total, loss);
    };
    // The model's messages, flushed one by one; the source's the parent already has.
    hooks.message = [&](const std::string& who, const PluginMessage& message) {
      if (who == model) {
        messages << message_line(message) << std::flush;
      }
    };
    const auto run = run_pipeline(pipeline, catalog, RunDirectory(resolved_pipeline.parent_path()).models(), hooks);
    display.clear();
    save_model_result(run.models.at(0), result_file);
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "ballista: " << error.what() << '\n';
    return 2;
  }
}

int predict_command(const PluginCatalog& catalog, const std::filesystem::path& model_file, const PredictRequest& request,
                    std::ostream& out) {
  if (request.at.has_value() == request.input.has_value() || (request.output && !request.input)) {
    std::cerr << "ballista: predict needs either --at NAME=VALUE,... or --input FILE.csv [--output FILE.csv]\n";
    return 2;
  }
  try {
    const auto saved = load_model_file(model_file, catalog);
    if (request.at) {
      // "v=20,theta=0.85": every input once, values may be expressions (pi/4).
      std::map<std::string, double> given;
      std::stringstream items(*request.at);
      std::string item;
      while (std::getline(items, item, ',')) {
        const auto equals = item.find('=');
        const auto name = item.substr(0, equals);
        if (equals == std::string::npos ||
            std::find(saved.input_names.begin(), saved.input_names.end(), name) == saved.input_names.end()) {
          std::cerr << "ballista: --at: '" << printable(item) << "' is not INPUT=VALUE with INPUT one of the model's inputs"
                    << suggest(name, saved.input_names) << '\n';
          return 2;
        }
        if (given.count(name) != 0) {
          std::cerr << "ballista: --at: input '" << name << "' is given twice\n";
          return 2;
        }
        given[name] = Expression::parse(item.substr(equals + 1)).evaluate(Expression::ScalarBindings{});
      }
      std::vector<double> point;
      for (const auto& name : saved.input_names) {
        if (given.count(name) == 0) {
          std::cerr << "ballista: --at: no value for input '" << name << "'\n";
          return 2;
        }
        point.push_back(given[name]);
      }
      const auto prediction =
          saved.model->predict(torch::tensor(point, torch::kFloat64).unsqueeze(0)).to(torch::kFloat64);
      for (std::size_t t = 0; t < saved.target_names.size(); ++t) {
        out << saved.target_names[t] << " = " << std::setprecision(10)
            << prediction[0][static_cast<std::int64_t>(t)].item<double>() << '\n';
      }
      return 0;
    }
    const auto table = read_csv(*request.input);
    const auto inputs = numeric_columns(table, saved.input_names);
    const auto predictions = saved.model->predict(inputs).to(torch::kFloat64);
    auto header = saved.input_names;
    header.insert(header.end(), saved.target_names.begin(), saved.target_names.end());
    const auto text = format_csv(header, torch::cat({inputs, predictions}, 1));
    if (request.output) {
      write_file_atomically(*request.output, text);
    } else {
      out << text;
    }
    return 0;
  } catch (const std::exception& error) {
    const auto message = first_line(error.what());
    std::cerr << "ballista: " << message << '\n';
    return 2;
  }
}

namespace {

// Every number in metrics.json that a run computes (not timings): "model set metric"
// and "model probe i target" → value. `metrics` has passed read_run_metrics: `models` is
// an array of objects, whose other fields may be absent (and a const json's operator[]
// on a missing key is undefined behaviour).
std::map<std::string, double> computed_figures(const nlohmann::json& metrics) {
  static const nlohmann::json absent;
  const auto member = [](const nlohmann::json& object, const char* key) -> const nlohmann::json& {
    const auto found = object.find(key);
    return found == object.end() ? absent : *found;
  };
  std::map<std::string, double> figures;
  for (const auto& model : metrics.at("models")) {
    const auto& name_value = member(model, "name");
    const auto name = name_value.is_string() ? name_value.get<std::string>() : std::string("?");
    for (const auto& [set, values] : member(model, "metrics").items()) {
      for (const auto& [metric, value] : values.items()) {
        figures[name + " " + set + " " + metric] = value.is_number() ? value.get<double>() : std::nan("");
      }
    }
    std::size_t index = 0;
    for (const auto& probe : member(model, "probes")) {
      for (const auto& [target, value] : member(probe, "prediction").items()) {
        figures[name + " probe " + std::to_string(index) + " " + target] =
            value.is_number() ? value.get<double>() : std::nan("");
      }
      ++index;
    }
  }
  return figures;
}

}  // namespace

int reproduce_command(const PluginCatalog& catalog, const std::filesystem::path& run_directory,
                      const std::optional<std::filesystem::path>& out_dir, std::ostream& out) {
  const RunDirectory recorded_run(run_directory);
  // Both records are read and checked before anything runs: a damaged one would
  // otherwise be found only after the whole pipeline ran again.
  nlohmann::json recorded;
  nlohmann::json recorded_environment;
  try {
    recorded = read_run_metrics(recorded_run.metrics_json());
    recorded_environment = read_run_record(recorded_run.environment(), "the recorded environment");
  } catch (const std::exception& error) {
    std::cerr << "ballista: reproduce: " << error.what() << "; nothing was run\n";
    return 2;
  }
  Pipeline pipeline;
  try {
    pipeline = load_pipeline(recorded_run.resolved_pipeline(), catalog);
  } catch (const InputError& error) {
    std::cerr << error.what() << '\n';
    return 2;
  }
  const RunDirectory directory =
      out_dir ? RunDirectory(*out_dir) : RunDirectory::fresh(pipeline.name, resolved_yaml(pipeline, catalog));
  // A shard's run is reproduced as that shard.
  const int status = run_pipeline_command(catalog, recorded_run.resolved_pipeline(), {}, directory.root(), out,
                                          Verbosity::quiet, std::nullopt, recorded_shard(recorded));
  if (status == 2 || status == 130) {
    return status;
  }
  nlohmann::json again;
  try {
    again = read_run_metrics(directory.metrics_json());
  } catch (const std::exception& error) {
    std::cerr << "ballista: reproduce: " << error.what() << '\n';
    return 2;
  }
  const auto changes = environment_changes(recorded_environment, run_environment());
  out << "\nReproducing " << run_directory.string() << " in " << directory.root().string() << ":\n";
  if (const auto distributed = recorded_environment.find("distributed"); distributed != recorded_environment.end()) {
    out << "  the recorded run was distributed: " << distributed->value("world_size", 0) << " ranks launched by "
        << distributed->value("launcher", std::string("?")) << " (c10d " << distributed->value("backend", std::string("?"))
        << "); this one ran as one process\n";
  }
  for (const auto& change : changes) {
    out << "  environment differs: " << change.entry << " was " << change.before << ", now " << change.after << '\n';
  }
  const auto before = computed_figures(recorded);
  const auto after = computed_figures(again);
  std::size_t same = 0;
  std::vector<std::string> differences;
  for (const auto& [name, value] : before) {
    const auto found = after.find(name);
    if (found == after.end()) {
      differences.push_back(name + ": missing now");
    } else if (std::bit_cast<std::uint64_t>(found->second) == std::bit_cast<std::uint64_t>(value)) {  // every bit
      ++same;
    } else {
      std::ostringstream line;
      line << std::setprecision(17) << name << ": " << value << " then, " << found->second << " now (relative "
           << std::setprecision(3) << std::abs(found->second - value) / std::max(std::abs(value), 1e-300) << ")";
      differences.push_back(line.str());
    }
  }
  for (const auto& [name, value] : after) {
    if (before.count(name) == 0) {
      differences.push_back(name + ": new");
    }
  }
  if (differences.empty()) {
    out << "  identical: all " << same << " metrics and probe predictions match to the last bit\n";
    return 0;
  }
  out << "  " << same << " figures match to the last bit, " << differences.size() << " differ:\n";
  for (const auto& line : differences) {
    out << "    " << line << '\n';
  }
  // Name what can explain it, so a difference between two machines is not a mystery.
  bool explained = false;
  for (const auto& change : changes) {
    if (!change.effect.empty()) {
      out << (explained ? "" : "  The environment explains this:\n") << "    " << change.entry << " (" << change.before
          << " then, " << change.after << " now): " << change.effect << '\n';
      explained = true;
    }
  }
  if (!explained) {
    out << "  Nothing recorded that results depend on changed (versions, BLAS library and kernels, LibTorch's "
           "vector kernels, processor; the thread count does not change the bundled plugins' results): a plugin "
           "that is not deterministic would explain it (`ballista check-plugin NAME` checks same seed, same bits)\n";
  }
  return 1;
}

}  // namespace ballista::host
