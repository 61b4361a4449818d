// Comparison table and metrics.json (see run_report.hpp).
#include "run_report.hpp"

#include "csv_table.hpp"
#include "diagnostics.hpp"
#include "json_text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <array>
#include <charconv>
#include <cstdio>
#include <iomanip>
#include <sstream>
#include <stdexcept>

namespace ballista::host {

namespace {

nlohmann::json named_values(const std::vector<std::string>& names, const std::vector<double>& values) {
  nlohmann::json object = nlohmann::json::object();
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
    object[names[i]] = values[i];
  }
  return object;
}

const ModelSpec* find_model(const Pipeline& pipeline, const std::string& name) {
  for (const auto& model : pipeline.models) {
    if (model.name == name) {
      return &model;
    }
  }
  return nullptr;
}

}  // namespace

std::string probe_label(const Pipeline& pipeline, const ProbeSpec& probe, const std::string& target) {
  const auto inputs = pipeline.data.input_names();
  std::string label = target + "(";
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    label += (i == 0 ? "" : ", ") + inputs[i] + "=" + rounded_text(probe.point[i]);
  }
  return label + ")";
}

std::string message_text(const PluginMessage& message) {
  return std::string(log_level_name(message.level)) + ": " + printable(message.text, 4000);
}

std::string plugin_message_line(const std::string& who, const PluginMessage& message) {
  const std::string where = message.during.empty() ? who : who + " (" + message.during + ")";
  return "  " + printable(where) + ": " + message_text(message);
}

std::string model_outcome_line(const ModelResult& model) {
  std::ostringstream line;
  line << "  " << model.name << ": " << model_status_name(model.status);
  if (model.status == ModelStatus::ok) {
    line << " (fit " << std::fixed << std::setprecision(2) << model.fit_seconds << " s)";
  } else if (!model.error.empty()) {
    line << ": " << model.error;
  }
  return line.str();
}

std::vector<std::string> model_notes(const Pipeline& pipeline, const ModelResult& model) {
  std::vector<std::string> notes;
  const auto value = [&](const std::string& name) {
    const auto found = model.fit_values.find(name);
    return found == model.fit_values.end() ? std::nan("") : found->second;
  };
  const double reached = value("final_mse");
  const double optimum = value("optimum_mse");
  if (std::isfinite(reached) && std::isfinite(optimum)) {
    std::string note = "gradient solver: training MSE " + rounded_text(reached) + "; the least-squares optimum of the same " +
                       "objective is " + rounded_text(optimum) + " (gap " + rounded_text(reached - optimum);
    if (optimum > 1e-12 * reached) {  // not for an exact fit, where the ratio means nothing
      note += ", " + rounded_text(reached / optimum) + "× the optimum";
    }
    note += ")";
    if (const double seconds = value("optimum_seconds"); std::isfinite(seconds)) {
      note += ", which least squares finds in " + rounded_text(seconds * 1000) + " ms";
    }
    notes.push_back(note);
  }
  // What the plugin logged, but debug messages (those are in log.txt and metrics.json).
  for (const auto& message : model.messages) {
    if (message.level != LogLevel::debug) {
      notes.push_back("plugin " + message_text(message));
    }
  }
  const auto targets = pipeline.data.target_names();
  for (std::size_t p = 0; p < model.probes.size() && p < pipeline.evaluation.probes.size(); ++p) {
    if (!model.probes[p].explanation.empty()) {
      std::string label = probe_label(pipeline, pipeline.evaluation.probes[p], targets.empty() ? "" : targets[0]);
      label = label.substr(label.find('('));
      notes.push_back("at " + label + ": " + model.probes[p].explanation);
    }
  }
  return notes;
}

std::string comparison_table(const Pipeline& pipeline, const RunResult& run) {
  const auto targets = pipeline.data.target_names();
  std::vector<std::string> header{"model", "plugin"};
  for (const auto& set : pipeline.evaluation.sets) {
    for (const auto& metric : pipeline.evaluation.metrics) {
      header.push_back(set + " " + metric);
    }
  }
  header.insert(header.end(), {"fit s", "params"});
  for (const auto& probe : pipeline.evaluation.probes) {
    for (const auto& target : targets) {
      header.push_back(probe_label(pipeline, probe, target));
    }
  }
  std::vector<std::vector<std::string>> rows{header};
  for (const auto& model : run.models) {
    std::vector<std::string> cells{model.name, model.plugin};
    for (const auto& set : pipeline.evaluation.sets) {
      for (const auto& metric : pipeline.evaluation.metrics) {
        const auto found = model.metrics.find(set);
        cells.push_back(found != model.metrics.end() && found->second.count(metric) != 0
                            ? rounded_text(found->second.at(metric))
                            : model_status_name(model.status));
      }
    }
    cells.push_back(model.status == ModelStatus::ok || model.status == ModelStatus::interrupted ? rounded_text(model.fit_seconds) : "-");
    cells.push_back(model.status == ModelStatus::ok ? std::to_string(model.parameter_count) : "-");
    for (std::size_t p = 0; p < pipeline.evaluation.probes.size(); ++p) {
      for (std::size_t t = 0; t < targets.size(); ++t) {
        cells.push_back(p < model.probes.size() ? rounded_text(model.probes[p].prediction[t]) : "-");
      }
    }
    rows.push_back(cells);
  }
  if (!run.probe_truth.empty()) {
    std::vector<std::string> cells{"(truth)", ""};
    cells.resize(header.size() - run.probe_truth.size() * targets.size());
    for (const auto& truth : run.probe_truth) {
      for (const auto value : truth.prediction) {
        cells.push_back(rounded_text(value));
      }
    }
    rows.push_back(cells);
  }
  std::vector<std::size_t> widths(header.size(), 0);
  for (const auto& cells : rows) {
    for (std::size_t c = 0; c < cells.size(); ++c) {
      widths[c] = std::max(widths[c], cells[c].size());
    }
  }
  std::string table;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      const auto& cell = rows[r][c];
      const auto pad = std::string(widths[c] - cell.size(), ' ');
      // Names left-aligned, figures right-aligned.
      line += (c == 0 ? "" : "  ") + (c < 2 ? cell + pad : pad + cell);
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    table += line + "\n";
    if (r == 0) {
      std::size_t total = 0;
      for (const auto width : widths) {
        total += width + 2;
      }
      table += std::string(total - 2, '-') + "\n";
    }
  }
  return table;
}

std::string model_summary(const Pipeline& pipeline, const RunResult& run) {
  std::string table = "What each model is:\n";
  std::size_t name_width = 0;
  for (const auto& model : run.models) {
    name_width = std::max(name_width, model.name.size());
  }
  for (const auto& model : run.models) {
    const std::string text = model.status == ModelStatus::failed ? "FAILED: " + model.error
                             : model.description.empty() ? "(" + std::string(model_status_name(model.status)) + ")"
                                                         : model.description;
    table += "  " + model.name + std::string(name_width - model.name.size(), ' ') + "  " + text + "\n";
    for (const auto& note : model_notes(pipeline, model)) {
      table += "  " + std::string(name_width, ' ') + "    " + note + "\n";
    }
  }
  return table;
}

namespace {

// metrics.json without its models: "models" is an empty array that assemble_metrics_json
// replaces with the models' entries.
nlohmann::json metrics_document(const Pipeline& pipeline, const RunResult& run, const std::string& state) {
  using nlohmann::json;
  const auto inputs = pipeline.data.input_names();
  const auto targets = pipeline.data.target_names();
  json document;
  document["pipeline"] = pipeline.name;
  document["file"] = pipeline.file.string();
  document["state"] = state;
  document["seed"] = pipeline.seed;
  if (pipeline.shard) {
    // `ballista merge` checks its shards by this: one of each index, all of one count.
    document["shard"] = {{"index", pipeline.shard->index}, {"count", pipeline.shard->count}};
  }
  document["inputs"] = inputs;
  document["targets"] = targets;
  document["units"] = pipeline.data.units;
  document["train_set"] = pipeline.train_set;
  document["metrics"] = pipeline.evaluation.metrics;
  json sets = json::object();
  for (const auto& set : pipeline.data.sets) {
    static const char* const origins[] = {"all", "split", "drawn", "other"};
    sets[set.name] = {{"rows", set.rows}, {"seed", set.seed}, {"origin", origins[static_cast<int>(set.origin)]}};
  }
  document["sets"] = sets;
  json probes = json::array();
  for (const auto& truth : run.probe_truth) {
    probes.push_back({{"at", named_values(inputs, truth.point)}, {"truth", named_values(targets, truth.prediction)}});
  }
  document["probes"] = probes;
  json source_messages = json::array();
  for (const auto& message : run.source_messages) {
    source_messages.push_back(
        {{"level", log_level_name(message.level)}, {"during", message.during}, {"message", message.text}});
  }
  document["source_messages"] = source_messages;
  document["models"] = json::array();
  return document;
}

// One model's entry of metrics.json, as it is indented there (an element of the
// top-level "models" array: four spaces).
std::string metrics_json_entry(const Pipeline& pipeline, const ModelResult& model) {
  using nlohmann::json;
  const auto inputs = pipeline.data.input_names();
  const auto targets = pipeline.data.target_names();
  json entry;
  entry["name"] = model.name;
  entry["plugin"] = model.plugin;
  if (const auto* spec = find_model(pipeline, model.name); spec != nullptr && !spec->swept.empty()) {
    entry["swept_from"] = spec->swept_from;
    entry["swept"] = json(std::map<std::string, std::string>(spec->swept.begin(), spec->swept.end()));
  }
  entry["status"] = model_status_name(model.status);
  entry["error"] = model.error.empty() ? json(nullptr) : json(model.error);
  entry["fit_seconds"] = model.fit_seconds;
  entry["predict_seconds"] = model.predict_seconds;
  entry["parameter_count"] = model.parameter_count;
  entry["describe"] = model.description;
  entry["final_loss"] = model.loss_curve.empty() ? json(nullptr) : json(model.loss_curve.back());
  entry["fit_values"] = model.fit_values;
  json tables = json::object();
  for (const auto& [name, table] : model.fit_tables) {
    tables[name] = {{"columns", table.columns}, {"rows", table.rows}};
  }
  entry["fit_tables"] = tables;
  json messages = json::array();
  for (const auto& message : model.messages) {
    messages.push_back({{"level", log_level_name(message.level)}, {"message", message.text}});
  }
  entry["messages"] = messages;
  entry["model_file"] = model.model_file.empty() ? json(nullptr) : json(model.model_file.string());
  entry["metrics"] = model.metrics;
  if (!model.metrics_per_target.empty()) {
    entry["metrics_per_target"] = model.metrics_per_target;
  }
  json model_probes = json::array();
  for (const auto& probe : model.probes) {
    json entry_probe = {{"at", named_values(inputs, probe.point)}, {"prediction", named_values(targets, probe.prediction)}};
    if (!probe.explanation.empty()) {
      entry_probe["explanation"] = probe.explanation;
    }
    model_probes.push_back(entry_probe);
  }
  entry["probes"] = model_probes;
  // JSON text has no raw line breaks inside strings: every line break is the layout's.
  const auto text = json_text(entry, 2);
  std::string indented = "    ";
  indented.reserve(text.size() + text.size() / 8);
  for (const char c : text) {
    indented += c;
    if (c == '\n') {
      indented += "    ";
    }
  }
  return indented;
}

// The text json_text(document, 2) would give with the entries in its "models" array;
// `text` is json_text(document, 2) + "\n" of the document with "models": [].
template <class Entries>
std::string assemble_metrics_json(std::string text, const Entries& entries) {
  if (entries.empty()) {
    return text;
  }
  // The top-level key, two spaces in; any "models" inside a string is escaped (\").
  const std::string placeholder = "\n  \"models\": []";
  const auto at = text.find(placeholder);
  if (at == std::string::npos) {
    throw std::logic_error("metrics.json: the document has no top-level \"models\": []");
  }
  std::string models = "\n  \"models\": [\n";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    models += *entries[i];
    models += i + 1 < entries.size() ? ",\n" : "\n";
  }
  models += "  ]";
  text.replace(at, placeholder.size(), models);
  return text;
}

// A CSV field, quoted when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) {
    return text;
  }
  std::string quoted = "\"";
  for (const char c : text) {
    quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  }
  return quoted + "\"";
}

const char* const kMetricsCsvHeader =
    "model,plugin,status,set,metric,target,value,fit_seconds,predict_seconds,parameter_count,error\n";

// A model's rows of metrics.csv.
std::string metrics_csv_rows(const ModelResult& model) {
  std::string text;
  const std::string tail = "," + shortest_text(model.fit_seconds) + "," + shortest_text(model.predict_seconds) + "," +
                           std::to_string(model.parameter_count) + "," + csv_field(model.error) + "\n";
  const std::string head = csv_field(model.name) + "," + model.plugin + "," + model_status_name(model.status) + ",";
  if (model.metrics.empty()) {
    return head + ",,," + tail;  // no set, metric, target, value
  }
  for (const auto& [set, metrics] : model.metrics) {
    for (const auto& [metric, value] : metrics) {
      text += head + set + "," + metric + ",," + shortest_text(value) + tail;
    }
    const auto per_target = model.metrics_per_target.find(set);
    if (per_target == model.metrics_per_target.end()) {
      continue;
    }
    for (const auto& [target, target_metrics] : per_target->second) {
      for (const auto& [metric, value] : target_metrics) {
        text += head + set + "," + metric + "," + target + "," + shortest_text(value) + tail;
      }
    }
  }
  return text;
}

}  // namespace

std::string metrics_json(const Pipeline& pipeline, const RunResult& run, const std::string& state) {
  std::vector<std::string> texts;
  texts.reserve(run.models.size());
  for (const auto& model : run.models) {
    texts.push_back(metrics_json_entry(pipeline, model));
  }
  std::vector<const std::string*> entries;
  for (const auto& text : texts) {
    entries.push_back(&text);
  }
  return assemble_metrics_json(json_text(metrics_document(pipeline, run, state), 2) + "\n", entries);
}

std::string metrics_csv(const RunResult& run) {
  std::string text = kMetricsCsvHeader;
  for (const auto& model : run.models) {
    text += metrics_csv_rows(model);
  }
  return text;
}

std::shared_ptr<const std::string> RunningRecords::cached(std::vector<Cached>& cache, std::size_t index,
                                                          const ModelResult& model,
                                                          const std::function<std::string()>& render) {
  auto& entry = cache.at(index);
  if (!entry.rendered || entry.status != model.status) {
    entry = {true, model.status, std::make_shared<const std::string>(render())};
  }
  return entry.text;
}

RecordsSnapshot RunningRecords::snapshot(const Pipeline& pipeline, const RunResult& run) {
  RecordsSnapshot snapshot;
  snapshot.document = json_text(metrics_document(pipeline, run, "running"), 2) + "\n";
  json_entries_.resize(run.models.size());
  csv_rows_.resize(run.models.size());
  for (std::size_t i = 0; i < run.models.size(); ++i) {
    snapshot.json_entries.push_back(
        cached(json_entries_, i, run.models[i], [&] { return metrics_json_entry(pipeline, run.models[i]); }));
    snapshot.csv_rows.push_back(cached(csv_rows_, i, run.models[i], [&] { return metrics_csv_rows(run.models[i]); }));
  }
  return snapshot;
}

std::string RecordsSnapshot::json() const { return assemble_metrics_json(document, json_entries); }

std::string RecordsSnapshot::csv() const {
  std::string text = kMetricsCsvHeader;
  for (const auto& rows : csv_rows) {
    text += *rows;
  }
  return text;
}

}  // namespace ballista::host
