// Models in child processes (see isolated_model.hpp).
#include "isolated_model.hpp"

#include "csv_table.hpp"
#include "json_text.hpp"
#include "run_directory.hpp"

#include <ballista/archive.hpp>
#include <boost/dll/runtime_symbol_info.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>
#include <thread>

namespace ballista::host {

namespace {

using nlohmann::json;

// Doubles as JSON, NaN and infinities included (JSON has no literal for them).
json number(double value) { return std::isfinite(value) ? json(value) : json(shortest_text(value)); }
double number(const json& value) { return value.is_string() ? std::stod(value.get<std::string>()) : value.get<double>(); }

json numbers(const std::vector<double>& values) {
  json list = json::array();
  for (const double value : values) {
    list.push_back(number(value));
  }
  return list;
}

std::vector<double> numbers(const json& list) {
  std::vector<double> values;
  for (const auto& value : list) {
    values.push_back(number(value));
  }
  return values;
}

json metric_map(const std::map<std::string, double>& metrics) {
  json object = json::object();
  for (const auto& [name, value] : metrics) {
    object[name] = number(value);
  }
  return object;
}

std::map<std::string, double> metric_map(const json& object) {
  std::map<std::string, double> metrics;
  for (const auto& [name, value] : object.items()) {
    metrics[name] = number(value);
  }
  return metrics;
}

std::string signal_name(int signal) {
  const char* description = strsignal(signal);  // NOLINT(concurrency-mt-unsafe): main thread, after the child
  return "signal " + std::to_string(signal) + (description != nullptr ? std::string(" (") + description + ")" : "");
}

// The messages the child wrote (a last line cut short by a crash is left out).
std::vector<PluginMessage> read_messages(const std::filesystem::path& file) {
  std::vector<PluginMessage> messages;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    const auto entry = json::parse(line, nullptr, false);
    if (entry.is_object() && entry.contains("level") && entry.contains("text") && entry["level"].is_string() &&
        entry["text"].is_string()) {
      messages.push_back({log_level_from_name(entry["level"].get<std::string>()), entry["text"].get<std::string>(), {}});
    }
  }
  return messages;
}

}  // namespace

std::filesystem::path messages_file(const std::filesystem::path& result_file) {
  return result_file.parent_path() / (result_file.filename().string() + ".messages");
}

std::filesystem::path started_file(const std::filesystem::path& result_file) {
  return result_file.parent_path() / (result_file.filename().string() + ".started");
}

std::string message_line(const PluginMessage& message) {
  return json_text(json{{"level", log_level_name(message.level)}, {"text", message.text}}) + "\n";
}

void save_model_result(const ModelResult& result, const std::filesystem::path& file) {
  json text;
  text["name"] = result.name;
  text["plugin"] = result.plugin;
  text["status"] = model_status_name(result.status);
  text["error"] = result.error;
  text["fit_seconds"] = number(result.fit_seconds);
  text["predict_seconds"] = number(result.predict_seconds);
  text["parameter_count"] = result.parameter_count;
  text["description"] = result.description;
  json metrics = json::object();
  for (const auto& [set, values] : result.metrics) {
    metrics[set] = metric_map(values);
  }
  text["metrics"] = metrics;
  json per_target = json::object();
  for (const auto& [set, targets] : result.metrics_per_target) {
    for (const auto& [target, values] : targets) {
      per_target[set][target] = metric_map(values);
    }
  }
  text["metrics_per_target"] = per_target;
  json probes = json::array();
  for (const auto& probe : result.probes) {
    probes.push_back({{"point", numbers(probe.point)}, {"prediction", numbers(probe.prediction)},
                      {"explanation", probe.explanation}});
  }
  text["probes"] = probes;
  text["loss_curve"] = numbers(result.loss_curve);
  text["fit_values"] = metric_map(result.fit_values);
  json tables = json::object();
  for (const auto& [name, table] : result.fit_tables) {
    tables[name] = {{"columns", table.columns}, {"rows", table.rows}};
  }
  text["fit_tables"] = tables;
  std::vector<std::string> set_names;
  std::vector<std::string> grid_names;
  torch::serialize::OutputArchive archive;
  for (const auto& [name, tensor] : result.set_predictions) {
    archive.write("set" + std::to_string(set_names.size()), tensor);
    set_names.push_back(name);
  }
  for (const auto& [name, tensor] : result.grid_predictions) {
    archive.write("grid" + std::to_string(grid_names.size()), tensor);
    grid_names.push_back(name);
  }
  // Texts go as JSON, bytes that are not UTF-8 replaced (as in metrics.json); the model
  // file's path and the names the parent looks things up by go as they are, since a run
  // directory may have any bytes in its name.
  write_strings(archive, "result", {json_text(text)});
  write_strings(archive, "model_file", {result.model_file.string()});
  write_strings(archive, "set_predictions", set_names);
  write_strings(archive, "grid_predictions", grid_names);
  const auto aside = file.parent_path() / ("." + file.filename().string() + ".partial");
  archive.save_to(aside.string());
  std::filesystem::rename(aside, file);
}

ModelResult load_model_result(const std::filesystem::path& file) {
  torch::serialize::InputArchive archive;
  archive.load_from(file.string());
  const auto text = json::parse(read_strings(archive, "result").at(0));
  ModelResult result;
  result.name = text.at("name");
  result.plugin = text.at("plugin");
  const auto status = model_status_from_name(text.at("status").get<std::string>());
  if (!status) {
    throw std::runtime_error("the child's result names an unknown model status");
  }
  result.status = *status;
  result.error = text.at("error");
  result.fit_seconds = number(text.at("fit_seconds"));
  result.predict_seconds = number(text.at("predict_seconds"));
  result.parameter_count = text.at("parameter_count");
  result.description = text.at("description");
  for (const auto& [set, values] : text.at("metrics").items()) {
    result.metrics[set] = metric_map(values);
  }
  for (const auto& [set, targets] : text.at("metrics_per_target").items()) {
    for (const auto& [target, values] : targets.items()) {
      result.metrics_per_target[set][target] = metric_map(values);
    }
  }
  for (const auto& probe : text.at("probes")) {
    result.probes.push_back({numbers(probe.at("point")), numbers(probe.at("prediction")), probe.at("explanation")});
  }
  result.loss_curve = numbers(text.at("loss_curve"));
  result.fit_values = metric_map(text.at("fit_values"));
  for (const auto& [name, table] : text.at("fit_tables").items()) {
    result.fit_tables[name] = {table.at("columns").get<std::vector<std::string>>(),
                               table.at("rows").get<std::vector<std::vector<std::string>>>()};
  }
  result.model_file = read_strings(archive, "model_file").at(0);
  std::size_t index = 0;
  for (const auto& name : read_strings(archive, "set_predictions")) {
    result.set_predictions[name] = read_tensor(archive, "set" + std::to_string(index++));
  }
  index = 0;
  for (const auto& name : read_strings(archive, "grid_predictions")) {
    result.grid_predictions[name] = read_tensor(archive, "grid" + std::to_string(index++));
  }
  return result;
}

namespace {

// Waits for `child`; with a timeout, kills it (SIGKILL) once that has passed since the
// child created `started` (its model began). Before that there is no deadline: the
// child is loading the pipeline and drawing the sets, which this process has already
// done with the same code and seeds. True if it ended by itself, false if it was
// killed for the timeout.
bool wait_for_child(pid_t child, int& status, const std::optional<double>& timeout_seconds,
                    const std::filesystem::path& started) {
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> deadline;
  for (;;) {
    // Ctrl-C reaches the child too (same process group): it stops its model and writes
    // what it has, so keep waiting (EINTR).
    const pid_t ended = waitpid(child, &status, timeout_seconds ? WNOHANG : 0);
    if (ended == child) {
      return true;
    }
    if (ended < 0 && errno != EINTR) {
      throw std::runtime_error("--isolate: lost the model's process: " + std::generic_category().message(errno));
    }
    if (ended == 0) {
      std::error_code ignored;
      if (!deadline && std::filesystem::exists(started, ignored)) {
        deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(*timeout_seconds));
      }
      if (deadline && Clock::now() >= *deadline) {
        (void)::kill(child, SIGKILL);
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
        }
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

std::string seconds_text(double seconds) {
  std::ostringstream text;
  text << seconds;
  return text.str();
}

}  // namespace

ModelExecutor isolated_executor(const std::filesystem::path& resolved_pipeline,
                                const std::filesystem::path& run_directory, IsolateOptions isolate) {
  auto started = std::make_shared<int>(0);
  return [resolved_pipeline, run_directory, isolate = std::move(isolate), started](const ModelSpec& spec,
                                                                                  ModelResult& result) {
    const auto& options = isolate.child_options;
    const auto scratch = RunDirectory(run_directory).isolate_scratch();
    std::filesystem::create_directories(scratch);
    const auto result_file = scratch / ("model-" + std::to_string(++*started) + ".result");
    std::filesystem::remove(result_file);
    std::filesystem::remove(messages_file(result_file));
    std::filesystem::remove(started_file(result_file));
    const std::string program = std::filesystem::path(boost::dll::program_location()).string();
    std::vector<std::string> arguments{program};
    arguments.insert(arguments.end(), options.begin(), options.end());
    arguments.insert(arguments.end(), {"__run-model", resolved_pipeline.string(), spec.name, result_file.string()});
    std::vector<char*> argv;
    for (auto& argument : arguments) {
      argv.push_back(argument.data());
    }
    argv.push_back(nullptr);
    pid_t child = 0;
    if (const int failed = posix_spawn(&child, program.c_str(), nullptr, nullptr, argv.data(), environ);
        failed != 0) {
      throw std::runtime_error("--isolate: cannot start " + program + ": " + std::generic_category().message(failed));
    }
    int status = 0;
    const bool finished = wait_for_child(child, status, isolate.timeout_seconds, started_file(result_file));
    std::filesystem::remove(started_file(result_file));
    // What the model logged, kept whether it finished, crashed or was killed.
    auto messages = read_messages(messages_file(result_file));
    std::filesystem::remove(messages_file(result_file));
    result.messages = messages;
    if (!finished) {
      std::error_code ignored;
      std::filesystem::remove(result_file, ignored);
      std::filesystem::remove(scratch / ("." + result_file.filename().string() + ".partial"), ignored);
      throw std::runtime_error("did not finish within " + seconds_text(*isolate.timeout_seconds) +
                               " s (--model-timeout): its process was killed; the other models are unaffected");
    }
    if (WIFSIGNALED(status)) {
      std::filesystem::remove(result_file);
      throw std::runtime_error("its process (--isolate) died of " + signal_name(WTERMSIG(status)) +
                               " while training or evaluating; the other models are unaffected");
    }
    if (!std::filesystem::exists(result_file)) {
      throw std::runtime_error("its process (--isolate) exited with status " + std::to_string(WEXITSTATUS(status)) +
                               " without a result (its message is above)");
    }
    result = load_model_result(result_file);
    result.messages = std::move(messages);
    std::filesystem::remove(result_file);
    std::error_code ignored;
    std::filesystem::remove(scratch, ignored);  // only once empty
  };
}

}  // namespace ballista::host
