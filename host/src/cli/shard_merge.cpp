// A shard's run and `ballista merge` (see sweep_shards.hpp). A shard keeps each model's
// whole result (shard/MODEL.result: figures, loss curve, predictions on the sets and the
// plot grids); merge draws the data again from the shared resolved pipeline (the same
// seeds give the same bits, which it checks against every shard's data/), puts the
// models back in the pipeline's order and writes everything with the writers `run` uses.
#include "sweep_shards.hpp"

#include "cancellation.hpp"
#include "commands.hpp"
#include "compare.hpp"  // read_run_metrics, read_run_record
#include "diagnostics.hpp"
#include "isolated_model.hpp"
#include "pipeline_loader.hpp"
#include "pipeline_runner.hpp"
#include "progress_display.hpp"
#include "run_environment.hpp"
#include "run_report.hpp"

#include <ballista/version.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>

namespace ballista::host {

void keep_shard(Pipeline& pipeline, const PipelineShard& shard) {
  std::vector<ModelSpec> kept;
  for (std::size_t i = 0; i < pipeline.models.size(); ++i) {
    if (shard.holds(i)) {
      kept.push_back(std::move(pipeline.models[i]));
    }
  }
  pipeline.models = std::move(kept);
  pipeline.shard = shard;
}

std::optional<PipelineShard> recorded_shard(const nlohmann::json& metrics) {
  const auto found = metrics.find("shard");
  if (found == metrics.end() || !found->is_object() || !found->contains("index") || !found->contains("count") ||
      !found->at("index").is_number_unsigned() || !found->at("count").is_number_unsigned() ||
      found->at("index") >= found->at("count")) {
    return std::nullopt;
  }
  return PipelineShard{found->at("index").get<std::size_t>(), found->at("count").get<std::size_t>()};
}

void write_shard_results(const RunDirectory& directory, const RunResult& run) {
  std::filesystem::create_directories(directory.shard_results());
  for (const auto& model : run.models) {
    save_model_result(model, directory.shard_results() / (model.name + ".result"));
  }
}

namespace {

using nlohmann::json;

// Why the directories cannot be merged: "ballista: merge: MESSAGE", exit 2.
class MergeRefused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (!in.good() && !in.eof()) {
    throw MergeRefused(file.string() + ": cannot be read");
  }
  return text;
}

std::string shard_label(std::size_t index, std::size_t count) {
  return std::to_string(index) + "/" + std::to_string(count);
}

// One shard's run directory, read and checked on its own.
struct ShardRun {
  RunDirectory directory;
  json metrics;
  json environment;
  std::string environment_text;
  std::string resolved;  // pipeline.resolved.yaml as written: the shards' common pipeline
  std::size_t index = 0;
  std::size_t count = 1;

  std::string name() const { return directory.root().string(); }
  std::string label() const { return shard_label(index, count); }
};

ShardRun read_shard(const std::filesystem::path& root) {
  ShardRun shard{RunDirectory(root), {}, {}, {}, {}, 0, 1};
  std::error_code error;
  if (!std::filesystem::is_directory(root, error)) {
    throw MergeRefused(root.string() + " is not a run directory (there is no such directory)");
  }
  try {
    shard.metrics = read_run_metrics(shard.directory.metrics_json());
    shard.environment = read_run_record(shard.directory.environment(), "the recorded environment");
  } catch (const std::exception& problem) {
    throw MergeRefused(first_line(problem.what()));
  }
  const auto recorded = recorded_shard(shard.metrics);
  if (!recorded) {
    throw MergeRefused(shard.name() + " is not the run directory of a shard: its metrics.json has no \"shard\" (a " +
                       "shard is run with `ballista run PIPELINE --shard I/N`)");
  }
  shard.index = recorded->index;
  shard.count = recorded->count;
  const auto state = shard.metrics.value("state", std::string("unknown"));
  if (state != "complete") {
    throw MergeRefused(shard.name() + " (shard " + shard.label() + ") is not complete: its metrics.json says \"" +
                       printable(state) + "\" (interrupted, or still running); run that shard again");
  }
  shard.resolved = read_text(shard.directory.resolved_pipeline());
  shard.environment_text = read_text(shard.directory.environment());
  return shard;
}

// Where two shards' texts first differ: "line 2: 'seed: 0' in A, 'seed: 1' in B".
std::string first_difference(const ShardRun& first, const ShardRun& other) {
  std::istringstream left(first.resolved);
  std::istringstream right(other.resolved);
  std::string left_line;
  std::string right_line;
  for (std::size_t line = 1;; ++line) {
    const bool more_left = static_cast<bool>(std::getline(left, left_line));
    const bool more_right = static_cast<bool>(std::getline(right, right_line));
    if (!more_left || !more_right || left_line != right_line) {
      const auto shown = [](bool more, const std::string& text) {
        return more ? "'" + printable(text) + "'" : std::string("the end of the file");
      };
      return "line " + std::to_string(line) + ": " + shown(more_left, left_line) + " in " + first.name() + ", " +
             shown(more_right, right_line) + " in " + other.name();
    }
  }
}

// The shards must be the N shards of one run: one N, one seed, one resolved pipeline,
// each index once.
void check_shards(const std::vector<ShardRun>& shards) {
  const auto& first = shards.front();
  std::map<std::size_t, const ShardRun*> by_index;
  for (const auto& shard : shards) {
    if (shard.count != first.count) {
      throw MergeRefused(shard.name() + " is shard " + shard.label() + " but " + first.name() + " is shard " +
                         first.label() + ": the shards of one run are all of the same N");
    }
    const auto seed = shard.metrics.value("seed", json());
    if (seed != first.metrics.value("seed", json())) {
      throw MergeRefused(shard.name() + " ran with seed " + seed.dump() + " but " + first.name() + " with seed " +
                         first.metrics.value("seed", json()).dump() +
                         ": the shards of one run share the pipeline and its seed");
    }
    if (shard.resolved != first.resolved) {
      throw MergeRefused(shard.name() + " ran another pipeline than " + first.name() +
                         ": their pipeline.resolved.yaml differ at " + first_difference(first, shard));
    }
    const auto [earlier, first_time] = by_index.emplace(shard.index, &shard);
    if (!first_time) {
      std::error_code error;
      const bool same = std::filesystem::equivalent(shard.directory.root(), earlier->second->directory.root(), error);
      throw MergeRefused(same ? shard.name() + " is given twice (shard " + shard.label() + ")"
                              : shard.name() + " and " + earlier->second->name() + " are both shard " +
                                    shard.label() + ": give each shard once");
    }
  }
  std::vector<std::string> missing;
  constexpr std::size_t kNamed = 10;
  std::size_t missing_count = 0;
  for (std::size_t index = 0; index < first.count; ++index) {
    if (by_index.count(index) == 0 && ++missing_count <= kNamed) {
      missing.push_back(shard_label(index, first.count));
    }
  }
  if (missing_count > 0) {
    std::vector<std::string> given;
    for (const auto& shard : shards) {
      given.push_back(shard.label() + " in " + shard.name());
    }
    if (missing_count > kNamed) {
      missing.push_back("... (" + std::to_string(missing_count) + " in all)");
    }
    throw MergeRefused((missing_count == 1 ? "shard " + missing[0] + " is" : "shards " + join(missing) + " are") +
                       " missing: a merge needs all " + std::to_string(first.count) + " shards of the run (given: " +
                       join(given) + ")");
  }
}

std::vector<PluginMessage> recorded_messages(const json& entry) {
  std::vector<PluginMessage> messages;
  const auto found = entry.find("messages");
  if (found == entry.end() || !found->is_array()) {
    return messages;
  }
  for (const auto& message : *found) {
    if (message.is_object() && message.value("level", json()).is_string() &&
        message.value("message", json()).is_string()) {
      messages.push_back({log_level_from_name(message.at("level").get<std::string>()),
                          message.at("message").get<std::string>(), {}});
    }
  }
  return messages;
}

// Each model's result, in the pipeline's order, from the shard the pipeline gives it to.
// A resolved pipeline names a sweep's variants without saying they are one: their
// `swept_from` and `swept` come back from the shards' metrics.json.
std::vector<ModelResult> shard_models(Pipeline& pipeline, const std::vector<ShardRun>& shards) {
  const auto count = shards.front().count;
  std::vector<const ShardRun*> by_index(count, nullptr);
  for (const auto& shard : shards) {
    by_index[shard.index] = &shard;
  }
  std::vector<std::size_t> next(count, 0);  // each shard's next entry in its metrics.json
  std::vector<ModelResult> results;
  for (std::size_t i = 0; i < pipeline.models.size(); ++i) {
    auto& spec = pipeline.models[i];
    const auto& shard = *by_index[i % count];
    const auto& listed = shard.metrics.at("models");
    auto& position = next[i % count];
    if (position >= listed.size() || listed[position].value("name", json()) != json(spec.name)) {
      throw MergeRefused(shard.name() + " (shard " + shard.label() + ") does not hold model '" + spec.name +
                         "', model " + std::to_string(i) + " of its pipeline, which shard " + shard.label() +
                         " runs (model i goes to shard i mod N)");
    }
    const auto& entry = listed[position++];
    ModelResult result;
    const auto file = shard.directory.shard_results() / (spec.name + ".result");
    try {
      result = load_model_result(file);
    } catch (const std::exception& problem) {
      throw MergeRefused(file.string() + ": cannot read model '" + spec.name + "''s result (" +
                         first_line(problem.what()) + "); run shard " + shard.label() + " again");
    }
    if (result.name != spec.name) {
      throw MergeRefused(file.string() + " holds the result of model '" + printable(result.name) + "', not '" +
                         spec.name + "'");
    }
    result.messages = recorded_messages(entry);
    if (const auto swept = entry.find("swept"); swept != entry.end() && swept->is_object()) {
      spec.swept_from = entry.value("swept_from", std::string());
      spec.swept.clear();
      for (const auto& [parameter, value] : swept->items()) {
        spec.swept.emplace_back(parameter, value.is_string() ? value.get<std::string>() : value.dump());
      }
    }
    if (!result.model_file.empty()) {
      result.model_file = shard.directory.models() / (spec.name + ".pt");  // where merge copies it from
      std::error_code error;
      if (!std::filesystem::is_regular_file(result.model_file, error)) {
        throw MergeRefused(shard.name() + " (shard " + shard.label() + ") has no " + result.model_file.string() +
                           ", the model its run saved; run that shard again");
      }
    }
    results.push_back(std::move(result));
  }
  for (const auto& shard : shards) {
    if (next[shard.index] != shard.metrics.at("models").size()) {
      throw MergeRefused(shard.name() + " (shard " + shard.label() + ") holds " +
                         std::to_string(shard.metrics.at("models").size()) + " models where its pipeline gives it " +
                         std::to_string(next[shard.index]));
    }
  }
  return results;
}

// The files of `directory` (a data/ folder), by name, with their bytes.
std::map<std::string, std::string> files_in(const std::filesystem::path& directory) {
  std::map<std::string, std::string> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    files[entry.path().filename().string()] = read_text(entry.path());
  }
  return files;
}

// What merge wrote into a directory that was empty or new when it opened it.
void remove_merged(const std::filesystem::path& root, bool existed) {
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator(root, ignored)) {
    std::filesystem::remove_all(entry.path(), ignored);
  }
  if (!existed) {
    std::filesystem::remove(root, ignored);
  }
}

}  // namespace

int merge_command(const PluginCatalog& catalog, const CommandLine& line, std::ostream& out) {
  const auto verbosity = line.quiet ? Verbosity::quiet : line.verbose ? Verbosity::verbose : Verbosity::normal;
  std::vector<ShardRun> shards;
  Pipeline pipeline;
  RunResult run;
  try {
    for (const auto& operand : line.operands) {
      shards.push_back(read_shard(operand));
    }
    check_shards(shards);
    try {
      pipeline = load_pipeline(shards.front().directory.resolved_pipeline(), catalog);
    } catch (const InputError& error) {
      throw MergeRefused(first_line(error.what()));
    }
    // As the run recorded it: the pipeline file the shards were given, not their copy.
    pipeline.file = shards.front().metrics.value("file", pipeline.file.string());
    run.models = shard_models(pipeline, shards);
  } catch (const MergeRefused& refusal) {
    std::cerr << "ballista: merge: " << refusal.what() << '\n';
    return 2;
  }
  std::error_code error;
  const bool existed = std::filesystem::exists(*line.out_dir, error);
  RunDirectoryWriter writer{RunDirectory(*line.out_dir)};
  const auto& directory = writer.directory();
  if (const auto refused = writer.open()) {
    std::cerr << "ballista: merge: " << *refused << '\n';
    return 2;
  }
  const auto say = [&](const std::string& text, bool on_terminal = true) {
    if (on_terminal && verbosity != Verbosity::quiet) {
      std::cerr << text << '\n';
    }
    writer.log(text);
  };
  try {
    writer.start(shards.front().resolved, shards.front().environment_text);
    std::vector<std::string> sources;
    for (const auto& shard : shards) {
      sources.push_back(shard.name());
    }
    say("ballista " BALLISTA_VERSION_STRING ": " + pipeline.file.string() + " → " + directory.root().string() +
        " (merged from " + std::to_string(shards.size()) + " shards: " + join(sources) + ")");
    for (const auto& shard : shards) {
      for (const auto& change : environment_changes(shards.front().environment, shard.environment)) {
        if (!change.effect.empty()) {
          say("warning: " + shard.name() + " ran where " + change.entry + " was " + change.after + ", " +
              shards.front().name() + " where it was " + change.before + ": " + change.effect);
        }
      }
    }
    // The data again, from the same seeds, with the source's messages as the run had them.
    Pipeline data_only = pipeline;
    data_only.models.clear();
    RunHooks hooks;
    hooks.message = [&](const std::string& who, const PluginMessage& message) {
      say(plugin_message_line(who, message), message.level != LogLevel::debug || verbosity == Verbosity::verbose);
    };
    auto models = std::move(run.models);
    run = run_pipeline(data_only, catalog, {}, hooks);
    run.models = std::move(models);
    writer.write_sets(run.sets);
    // The figures were computed on the shards' sets, the plots are drawn on these: the
    // same bits, or no merge.
    const auto drawn = files_in(directory.data());
    for (const auto& shard : shards) {
      const auto shard_sets = files_in(shard.directory.data());
      for (const auto& [name, text] : drawn) {
        const auto found = shard_sets.find(name);
        if (found == shard_sets.end() || found->second != text) {
          throw MergeRefused(shard.name() + " (shard " + shard.label() + ") drew other data than its pipeline " +
                             "draws here: its data/" + name + (found == shard_sets.end() ? " is missing" : " differs") +
                             " (another machine, or another version of a source plugin?)");
        }
      }
      if (shard_sets.size() != drawn.size()) {
        throw MergeRefused(shard.name() + " (shard " + shard.label() + ") has data sets in data/ that its pipeline " +
                           "does not draw");
      }
    }
    for (auto& model : run.models) {
      for (const auto& message : model.messages) {
        say(plugin_message_line(model.name, message),
            message.level != LogLevel::debug || verbosity == Verbosity::verbose);
      }
      if (!model.model_file.empty()) {
        std::filesystem::create_directories(directory.models());
        const auto copy = directory.models() / (model.name + ".pt");
        std::filesystem::copy_file(model.model_file, copy);
        model.model_file = copy;
      }
      say(model_outcome_line(model));
    }
  } catch (const MergeRefused& refusal) {
    std::cerr << "ballista: merge: " << refusal.what() << '\n';
    remove_merged(directory.root(), existed);
    return 2;
  } catch (const std::exception& problem) {
    std::cerr << "ballista: merge: " << first_line(problem.what()) << '\n';
    remove_merged(directory.root(), existed);
    return 2;
  }
  // From here on as `run` ends (commands.cpp).
  const std::string state = "complete";
  writer.write_metrics(metrics_json(pipeline, run, state), metrics_csv(run));
  writer.write_loss_curves(run);
  if (finish_run_directory(pipeline, run, state, writer, say, verbosity, out) == "interrupted") {
    std::cerr << "ballista: interrupted while drawing the plots; the merged metrics are whole in "
              << directory.root().string() << '\n';
    return 130;
  }
  const bool any_failed = std::any_of(run.models.begin(), run.models.end(),
                                      [](const ModelResult& model) { return model.status != ModelStatus::ok; });
  return any_failed ? 1 : 0;
}

}  // namespace ballista::host
