// Comparing runs (see compare.hpp).
#include "compare.hpp"

#include "csv_table.hpp"
#include "diagnostics.hpp"
#include "json_text.hpp"
#include "run_directory.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <stdexcept>
#include <system_error>

namespace ballista::host {

namespace {

using nlohmann::json;

struct Run {
  std::string label;  // <pipeline>/<run directory name>
  json metrics;       // checked by read_run_metrics
};

// object[key], or null when it is absent: every optional field of metrics.json is read
// through this (a const json's operator[] on a missing key is undefined behaviour).
const json& member(const json& object, const std::string& key) {
  static const json absent;
  const auto found = object.find(key);
  return found == object.end() ? absent : *found;
}

std::string text_or(const json& value, const std::string& otherwise) {
  return value.is_string() ? value.get<std::string>() : otherwise;
}

double number_or_nan(const json& value) {
  return value.is_number() ? value.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

// What a JSON value is, for "expected …, found …".
std::string kind_of(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "the number " + value.dump();
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "something else";
  }
}

[[noreturn]] void wrong_field(const std::string& field, const std::string& expected, const json& found) {
  throw std::runtime_error(field + ": expected " + expected + ", found " + kind_of(found));
}

// The largest parameter count a double holds exactly (the table works in doubles).
constexpr double kLargestCount = 9007199254740992.0;  // 2^53

// {NAME: number or null} (null is how a NaN metric is written). Names from the file are
// shown printable() in messages: a tampered one may hold escape sequences.
void check_figures(const json& figures, const std::string& field) {
  if (!figures.is_object()) {
    wrong_field(field, "an object of numbers", figures);
  }
  for (const auto& [name, value] : figures.items()) {
    if (!value.is_number() && !value.is_null()) {
      wrong_field(field + "." + printable(name), "a number or null", value);
    }
  }
}

// A model of metrics.json. A field may be absent (older runs, a run still going), but
// one that is there has its type; only numbers may be null (how NaN is written).
void check_model(const json& model, const std::string& field) {
  if (!model.is_object()) {
    wrong_field(field, "an object (a model)", model);
  }
  for (const char* key : {"name", "status"}) {
    if (const auto found = model.find(key); found != model.end() && !found->is_string()) {
      wrong_field(field + "." + key, "a string", *found);
    }
  }
  if (const auto seconds = model.find("fit_seconds");
      seconds != model.end() && !seconds->is_number() && !seconds->is_null()) {
    wrong_field(field + ".fit_seconds", "a number or null", *seconds);
  }
  if (const auto count = model.find("parameter_count");
      count != model.end() &&
      !(count->is_number_integer() && count->get<double>() >= 0 && count->get<double>() <= kLargestCount)) {
    wrong_field(field + ".parameter_count", "a whole number from 0 to 2^53", *count);
  }
  if (const auto metrics = model.find("metrics"); metrics != model.end()) {
    if (!metrics->is_object()) {
      wrong_field(field + ".metrics", "an object {SET: {METRIC: number}}", *metrics);
    }
    for (const auto& [set, values] : metrics->items()) {
      check_figures(values, field + ".metrics." + printable(set));
    }
  }
  if (const auto probes = model.find("probes"); probes != model.end()) {
    if (!probes->is_array()) {
      wrong_field(field + ".probes", "an array", *probes);
    }
    for (std::size_t i = 0; i < probes->size(); ++i) {
      const auto& probe = (*probes)[i];
      const auto probe_field = field + ".probes[" + std::to_string(i) + "]";
      if (!probe.is_object()) {
        wrong_field(probe_field, "an object (a probe)", probe);
      }
      if (const auto prediction = probe.find("prediction"); prediction != probe.end()) {
        check_figures(*prediction, probe_field + ".prediction");
      }
    }
  }
}

// A JSON library message without its "[json.exception.parse_error.101] " tag.
std::string without_tag(const std::string& message) {
  return message.rfind("[json.exception.", 0) == 0 && message.find("] ") != std::string::npos
             ? message.substr(message.find("] ") + 2)
             : message;
}

// A run directory, or a pipeline name meaning runs/<name>/latest.
std::optional<Run> read_run(const std::string& given) {
  RunDirectory directory(given);
  std::error_code ignored;
  if (!std::filesystem::exists(std::filesystem::symlink_status(directory.metrics_json(), ignored)) &&
      std::filesystem::exists(RunDirectory(RunDirectory::latest(given)).metrics_json(), ignored)) {
    directory = RunDirectory(RunDirectory::latest(given));
  }
  if (!std::filesystem::exists(std::filesystem::symlink_status(directory.metrics_json(), ignored))) {
    std::cerr << "ballista: compare: '" << given << "' is neither a run directory (no metrics.json) nor a pipeline "
              << "with runs/" << given << "/latest\n";
    return std::nullopt;
  }
  Run run;
  try {
    run.metrics = read_run_metrics(directory.metrics_json());
  } catch (const std::exception& error) {
    std::cerr << "ballista: compare: " << error.what() << '\n';
    return std::nullopt;
  }
  std::error_code error;
  const auto canonical = std::filesystem::weakly_canonical(directory.root(), error);
  run.label = text_or(member(run.metrics, "pipeline"), "?") + "/" +
              (error ? directory.root() : canonical).filename().string();
  return run;
}

std::string figure(double value) {
  if (std::isnan(value)) {
    return "";
  }
  return rounded_text(value);
}

bool higher_is_better(const std::string& column) { return column.size() >= 3 && column.substr(column.size() - 3) == ":r2"; }

int compare_read_runs(const std::vector<std::string>& given, const CompareOptions& options, std::ostream& out) {
  const std::vector<std::string> formats{"table", "markdown", "csv", "json"};
  if (std::find(formats.begin(), formats.end(), options.format) == formats.end()) {
    std::cerr << "ballista: compare: unknown --format '" << options.format << "'" << suggest(options.format, formats)
              << '\n';
    return 2;
  }
  std::vector<Run> runs;
  for (const auto& name : given) {
    auto run = read_run(name);
    if (!run) {
      return 2;
    }
    runs.push_back(std::move(*run));
  }
  std::optional<Run> baseline;
  if (options.baseline) {
    baseline = read_run(*options.baseline);
    if (!baseline) {
      return 2;
    }
  }
  // Columns: set:metric, in the order first found (or as asked).
  std::vector<std::string> found;
  for (const auto& run : runs) {
    for (const auto& model : member(run.metrics, "models")) {
      for (const auto& [set, values] : member(model, "metrics").items()) {
        for (const auto& [metric, value] : values.items()) {
          const auto column = set + ":" + metric;
          if (std::find(found.begin(), found.end(), column) == found.end()) {
            found.push_back(column);
          }
        }
      }
    }
  }
  auto columns = options.columns.empty() ? found : options.columns;
  for (const auto& column : columns) {
    if (std::find(found.begin(), found.end(), column) == found.end()) {
      std::cerr << "ballista: compare: no column '" << column << "' in these runs" << suggest(column, found) << '\n';
      return 2;
    }
  }
  const auto value_of = [](const json& model, const std::string& column) {
    const auto colon = column.find(':');
    return number_or_nan(member(member(member(model, "metrics"), column.substr(0, colon)), column.substr(colon + 1)));
  };
  // One row per run × model.
  std::vector<std::string> headers{"run", "model"};
  for (const auto& column : columns) {
    headers.push_back(column);
    if (baseline) {
      headers.push_back("Δ " + column);
    }
  }
  headers.insert(headers.end(), {"fit_s", "params"});
  std::vector<std::vector<double>> numbers;
  std::vector<std::pair<std::string, std::string>> names;
  for (const auto& run : runs) {
    for (const auto& model : member(run.metrics, "models")) {
      const auto name = text_or(member(model, "name"), "?");
      const auto status = text_or(member(model, "status"), "ok");
      std::vector<double> row;
      for (const auto& column : columns) {
        const double value = value_of(model, column);
        row.push_back(value);
        if (baseline) {
          double reference = std::numeric_limits<double>::quiet_NaN();
          for (const auto& other : member(baseline->metrics, "models")) {
            if (text_or(member(other, "name"), "") == name) {
              reference = value_of(other, column);
            }
          }
          row.push_back(value - reference);
        }
      }
      row.push_back(number_or_nan(member(model, "fit_seconds")));
      row.push_back(number_or_nan(member(model, "parameter_count")));
      numbers.push_back(std::move(row));
      names.emplace_back(run.label, status == "ok" ? name : name + " (" + status + ")");
    }
  }
  std::vector<std::size_t> order(numbers.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  if (options.sort) {
    const auto found_header = std::find(headers.begin(), headers.end(), *options.sort);
    if (found_header == headers.end() || found_header - headers.begin() < 2) {
      std::cerr << "ballista: compare: cannot sort by '" << *options.sort << "'"
                << suggest(*options.sort, std::vector<std::string>(headers.begin() + 2, headers.end())) << '\n';
      return 2;
    }
    const auto index = static_cast<std::size_t>(found_header - headers.begin()) - 2;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      const double x = numbers[a][index];
      const double y = numbers[b][index];
      return !std::isnan(x) && (std::isnan(y) || x < y);  // missing values last
    });
  }
  // The best value of each metric column (lowest error; highest r2).
  std::vector<double> best(headers.size() - 2, std::numeric_limits<double>::quiet_NaN());
  for (std::size_t c = 0; c < columns.size(); ++c) {
    const auto index = baseline ? 2 * c : c;
    for (const auto& row : numbers) {
      const double value = row[index];
      if (!std::isnan(value) && (std::isnan(best[index]) ||
                                 (higher_is_better(columns[c]) ? value > best[index] : value < best[index]))) {
        best[index] = value;
      }
    }
  }
  if (options.format == "json") {
    json rows = json::array();
    for (const auto i : order) {
      json row{{"run", names[i].first}, {"model", names[i].second}};
      for (std::size_t c = 2; c < headers.size(); ++c) {
        const double value = numbers[i][c - 2];
        row[headers[c]] = std::isnan(value)               ? json(nullptr)
                          : c + 1 == headers.size() ? json(static_cast<std::int64_t>(value))
                                                      : json(value);
      }
      rows.push_back(row);
    }
    out << json_text(rows, 2) << '\n';
    return 0;
  }
  std::vector<std::vector<std::string>> cells{headers};
  std::vector<std::vector<bool>> marked{std::vector<bool>(headers.size(), false)};
  for (const auto i : order) {
    // Names come from files that may have been edited: escaped as printable text, and
    // quoted where the format would read a ',' or '|' in them as a column boundary.
    const auto shown_name = [&](const std::string& name) {
      auto text = printable(name, 256);
      if (options.format == "csv" && text.find_first_of(",\"") != std::string::npos) {
        std::string quoted = "\"";
        for (const char c : text) {
          quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
        }
        return quoted + "\"";
      }
      if (options.format == "markdown") {
        for (auto at = text.find('|'); at != std::string::npos; at = text.find('|', at + 2)) {
          text.insert(at, "\\");
        }
      }
      return text;
    };
    std::vector<std::string> row{shown_name(names[i].first), shown_name(names[i].second)};
    std::vector<bool> is_best{false, false};
    for (std::size_t c = 0; c < numbers[i].size(); ++c) {
      const double value = numbers[i][c];
      const bool count = c + 1 == numbers[i].size();  // params
      row.push_back(std::isnan(value)          ? std::string()
                    : count                    ? std::to_string(static_cast<std::int64_t>(value))
                    : options.format == "csv" ? json(value).dump()
                                              : figure(value));
      is_best.push_back(!std::isnan(value) && value == best[c]);
    }
    cells.push_back(std::move(row));
    marked.push_back(std::move(is_best));
  }
  if (options.format == "csv") {
    for (const auto& row : cells) {
      for (std::size_t c = 0; c < row.size(); ++c) {
        out << (c == 0 ? "" : ",") << row[c];
      }
      out << '\n';
    }
    return 0;
  }
  // Best values: "*" in the table (green on a terminal), bold in markdown.
  for (std::size_t r = 1; r < cells.size(); ++r) {
    for (std::size_t c = 0; c < cells[r].size(); ++c) {
      if (marked[r][c]) {
        cells[r][c] = options.format == "markdown" ? "**" + cells[r][c] + "**" : cells[r][c] + "*";
      }
    }
  }
  std::vector<std::size_t> widths(headers.size(), 0);
  for (const auto& row : cells) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], row[c].size());
    }
  }
  for (std::size_t r = 0; r < cells.size(); ++r) {
    std::string line = options.format == "markdown" ? "| " : "";
    for (std::size_t c = 0; c < cells[r].size(); ++c) {
      const auto& text = cells[r][c];
      const auto pad = std::string(widths[c] - text.size(), ' ');
      const bool numeric = c >= 2;
      const bool green = options.colour && options.format == "table" && marked[r][c];
      const auto shown = green ? "\033[32m" + text + "\033[0m" : text;
      line += numeric ? pad + shown : shown + pad;
      line += c + 1 < cells[r].size() ? (options.format == "markdown" ? " | " : "  ") : "";
    }
    out << line << (options.format == "markdown" ? " |" : "") << '\n';
    if (r == 0) {
      if (options.format == "markdown") {
        std::string rule = "|";
        for (std::size_t c = 0; c < widths.size(); ++c) {
          rule += (c >= 2 ? std::string(widths[c] + 1, '-') + ":" : ":" + std::string(widths[c] + 1, '-')) + "|";
        }
        out << rule << '\n';
      } else {
        std::size_t total = 0;
        for (const auto width : widths) {
          total += width + 2;
        }
        out << std::string(total - 2, '-') << '\n';
      }
    }
  }
  if (options.format == "table") {
    out << "* best in its column (lowest error, highest r2)\n";
  }
  return 0;
}

}  // namespace

int compare_runs(const std::vector<std::string>& given, const CompareOptions& options, std::ostream& out) {
  // compare runs outside the engine's error handling: whatever a run directory holds
  // ends here as a message, never as an abort.
  try {
    return compare_read_runs(given, options, out);
  } catch (const std::exception& error) {
    std::cerr << "ballista: compare: " << error.what() << '\n';
    return 2;
  }
}

json read_run_record(const std::filesystem::path& file, const std::string& what) {
  std::error_code error;
  const auto status = std::filesystem::status(file, error);
  if (!std::filesystem::exists(status)) {
    throw std::runtime_error(file.string() + ": no such file" +
                             (std::filesystem::is_symlink(std::filesystem::symlink_status(file, error))
                                  ? " (a link to a file that is not there)"
                                  : ""));
  }
  if (std::filesystem::is_directory(status)) {
    throw std::runtime_error(file.string() + ": a directory, where a run keeps a file");
  }
  if (!std::filesystem::is_regular_file(status)) {
    // A FIFO would block the read forever; a device could be endless.
    throw std::runtime_error(file.string() + ": not a regular file (a FIFO, a socket or a device)");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw std::runtime_error(file.string() + ": cannot read it: " + std::generic_category().message(errno));
  }
  json record;
  try {
    record = json::parse(in);
  } catch (const json::exception& problem) {
    throw std::runtime_error(file.string() + ": not valid JSON (damaged or cut short?): " +
                             without_tag(problem.what()));
  }
  if (!record.is_object()) {
    throw std::runtime_error(file.string() + ": the top level: expected an object (" + what + "), found " +
                             kind_of(record));
  }
  return record;
}

json read_run_metrics(const std::filesystem::path& file) {
  auto metrics = read_run_record(file, "a run's metrics");
  try {
    if (const auto pipeline = metrics.find("pipeline"); pipeline != metrics.end() && !pipeline->is_string()) {
      wrong_field("pipeline", "a string", *pipeline);
    }
    if (!metrics.contains("models")) {
      throw std::runtime_error("models: missing (the array of models)");
    }
    const auto& models = metrics["models"];
    if (!models.is_array()) {
      wrong_field("models", "an array of models", models);
    }
    for (std::size_t i = 0; i < models.size(); ++i) {
      check_model(models[i], "models[" + std::to_string(i) + "]");
    }
  } catch (const std::runtime_error& problem) {
    throw std::runtime_error(file.string() + ": " + problem.what());
  }
  return metrics;
}

}  // namespace ballista::host
