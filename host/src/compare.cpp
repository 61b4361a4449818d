// Comparing runs (see compare.hpp).
#include "compare.hpp"

#include "csv_table.hpp"
#include "diagnostics.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>

namespace ballista::host {

namespace {

using nlohmann::json;

struct Run {
  std::string label;  // <pipeline>/<run directory name>
  json metrics;
};

// A run directory, or a pipeline name meaning runs/<name>/latest.
std::optional<Run> read_run(const std::string& given) {
  std::filesystem::path directory = given;
  if (!std::filesystem::exists(directory / "metrics.json") &&
      std::filesystem::exists(std::filesystem::path("runs") / given / "latest" / "metrics.json")) {
    directory = std::filesystem::path("runs") / given / "latest";
  }
  std::ifstream in(directory / "metrics.json");
  if (!in) {
    std::cerr << "ballista: compare: '" << given << "' is neither a run directory (no metrics.json) nor a pipeline "
              << "with runs/" << given << "/latest\n";
    return std::nullopt;
  }
  Run run;
  try {
    run.metrics = json::parse(in);
  } catch (const json::exception& error) {
    std::cerr << "ballista: compare: " << (directory / "metrics.json").string() << ": " << error.what() << '\n';
    return std::nullopt;
  }
  const auto canonical = std::filesystem::weakly_canonical(directory);
  run.label = run.metrics.value("pipeline", std::string("?")) + "/" + canonical.filename().string();
  return run;
}

std::string figure(double value) {
  if (std::isnan(value)) {
    return "";
  }
  return rounded_text(value);
}

bool higher_is_better(const std::string& column) { return column.size() >= 3 && column.substr(column.size() - 3) == ":r2"; }

}  // namespace

int compare_runs(const std::vector<std::string>& given, const CompareOptions& options, std::ostream& out) {
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
    for (const auto& model : run.metrics["models"]) {
      for (const auto& [set, values] : model["metrics"].items()) {
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
    const auto& metrics = model["metrics"];
    const auto set = column.substr(0, colon);
    const auto metric = column.substr(colon + 1);
    if (metrics.contains(set) && metrics[set].contains(metric) && metrics[set][metric].is_number()) {
      return metrics[set][metric].get<double>();
    }
    return std::numeric_limits<double>::quiet_NaN();
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
    for (const auto& model : run.metrics["models"]) {
      const auto name = model.value("name", std::string("?"));
      const auto status = model.value("status", std::string("ok"));
      std::vector<double> row;
      for (const auto& column : columns) {
        const double value = value_of(model, column);
        row.push_back(value);
        if (baseline) {
          double reference = std::numeric_limits<double>::quiet_NaN();
          for (const auto& other : baseline->metrics["models"]) {
            if (other.value("name", std::string()) == name) {
              reference = value_of(other, column);
            }
          }
          row.push_back(value - reference);
        }
      }
      row.push_back(model.value("fit_seconds", std::numeric_limits<double>::quiet_NaN()));
      row.push_back(static_cast<double>(model.value("parameter_count", std::int64_t{0})));
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
    out << rows.dump(2) << '\n';
    return 0;
  }
  std::vector<std::vector<std::string>> cells{headers};
  std::vector<std::vector<bool>> marked{std::vector<bool>(headers.size(), false)};
  for (const auto i : order) {
    std::vector<std::string> row{names[i].first, names[i].second};
    std::vector<bool> is_best{false, false};
    for (std::size_t c = 0; c < numbers[i].size(); ++c) {
      const double value = numbers[i][c];
      const bool count = c + 1 == numbers[i].size();  // params
      row.push_back(count            ? std::to_string(static_cast<std::int64_t>(value))
                    : std::isnan(value) ? std::string()
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

}  // namespace ballista::host
