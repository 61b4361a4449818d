// report.md and report.html (see report_page.hpp). Both are rendered from one list of
// blocks, so they never say different things.
#include "report_page.hpp"

#include "csv_table.hpp"
#include "diagnostics.hpp"
#include "run_report.hpp"

#include <ballista/version.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

namespace ballista::host {

namespace {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::vector<bool>> bold;  // per cell of `rows`
};

struct Block {
  enum class Kind { heading, paragraph, table, image, list };
  Kind kind = Kind::paragraph;
  int level = 2;
  std::string text;                  // heading, paragraph, image caption
  Table table;
  std::filesystem::path image;       // relative to the run directory
  std::string alt;
  std::vector<std::string> items;    // list
};

Block heading(int level, std::string text) {
  Block block;
  block.kind = Block::Kind::heading;
  block.level = level;
  block.text = std::move(text);
  return block;
}

Block paragraph(std::string text) {
  Block block;
  block.text = std::move(text);
  return block;
}

Block list(std::vector<std::string> items) {
  Block block;
  block.kind = Block::Kind::list;
  block.items = std::move(items);
  return block;
}

bool lower_is_better(const std::string& metric) { return metric != "r2"; }

// Errors per set and metric, fit time and size: the best value of each metric column
// in bold (lowest error, highest r2).
Table metrics_table(const Pipeline& pipeline, const RunResult& run) {
  Table table;
  table.header = {"model", "plugin", "status"};
  std::vector<std::pair<std::string, std::string>> columns;
  for (const auto& set : pipeline.evaluation.sets) {
    for (const auto& metric : pipeline.evaluation.metrics) {
      columns.emplace_back(set, metric);
      table.header.push_back(set + " " + metric + (set == pipeline.train_set ? " (trained on)" : ""));
    }
  }
  table.header.insert(table.header.end(), {"fit s", "parameters"});
  std::vector<double> best(columns.size(), std::numeric_limits<double>::quiet_NaN());
  for (const auto& model : run.models) {
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const auto set = model.metrics.find(columns[c].first);
      if (set == model.metrics.end() || set->second.count(columns[c].second) == 0) {
        continue;
      }
      const double value = set->second.at(columns[c].second);
      const bool lower = lower_is_better(columns[c].second);
      if (!std::isnan(value) && (std::isnan(best[c]) || (lower ? value < best[c] : value > best[c]))) {
        best[c] = value;
      }
    }
  }
  for (const auto& model : run.models) {
    std::vector<std::string> cells{model.name, model.plugin, model_status_name(model.status)};
    std::vector<bool> bold(3, false);
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const auto set = model.metrics.find(columns[c].first);
      const bool present = set != model.metrics.end() && set->second.count(columns[c].second) != 0;
      const double value = present ? set->second.at(columns[c].second) : std::nan("");
      cells.push_back(present ? rounded_text(value) : "–");
      bold.push_back(present && value == best[c]);
    }
    const bool trained = model.status == ModelStatus::ok;
    cells.push_back(trained || model.status == ModelStatus::interrupted ? rounded_text(model.fit_seconds) : "–");
    cells.push_back(trained ? std::to_string(model.parameter_count) : "–");
    bold.insert(bold.end(), {false, false});
    table.rows.push_back(std::move(cells));
    table.bold.push_back(std::move(bold));
  }
  return table;
}

// Each model's prediction at each probe, and the truth.
Table probes_table(const Pipeline& pipeline, const RunResult& run) {
  Table table;
  table.header = {"model"};
  const auto targets = pipeline.data.target_names();
  for (const auto& probe : pipeline.evaluation.probes) {
    for (const auto& target : targets) {
      table.header.push_back(probe_label(pipeline, probe, target));
    }
  }
  const auto add_row = [&](const std::string& name, const std::vector<ProbeResult>& probes) {
    std::vector<std::string> cells{name};
    for (std::size_t p = 0; p < pipeline.evaluation.probes.size(); ++p) {
      for (std::size_t t = 0; t < targets.size(); ++t) {
        cells.push_back(p < probes.size() ? rounded_text(probes[p].prediction[t]) : "–");
      }
    }
    table.rows.push_back(cells);
    table.bold.emplace_back(cells.size(), false);
  };
  for (const auto& model : run.models) {
    add_row(model.name, model.probes);
  }
  if (!run.probe_truth.empty()) {
    add_row("truth (noise-free)", run.probe_truth);
  }
  return table;
}

std::vector<Block> document(const Pipeline& pipeline, const RunResult& run, const std::string& state,
                            const PlotOutcome& plots, const std::filesystem::path& directory) {
  std::vector<Block> blocks;
  blocks.push_back(heading(1, "Ballista run: " + pipeline.name));
  const auto& train = run.sets.at(pipeline.train_set);
  std::string summary = "State: " + state + ". Pipeline " + pipeline.file.string() + ", seed " +
                        std::to_string(pipeline.seed) + "; the models were trained on set " + pipeline.train_set +
                        " (" + std::to_string(train.inputs.size(0)) + " rows) to predict ";
  const auto targets = pipeline.data.target_names();
  const auto inputs = pipeline.data.input_names();
  const auto in_words = [&](const std::vector<std::string>& names) {
    std::string text;
    for (std::size_t i = 0; i < names.size(); ++i) {
      text += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + pipeline.data.label(names[i]);
    }
    return text;
  };
  summary += in_words(targets) + " from " + in_words(inputs) + ". Ballista " BALLISTA_VERSION_STRING ".";
  blocks.push_back(paragraph(summary));
  if (pipeline.shard) {
    const auto index = std::to_string(pipeline.shard->index);
    const auto count = std::to_string(pipeline.shard->count);
    blocks.push_back(paragraph("Shard " + index + "/" + count + " (run --shard " + index + "/" + count +
                               "): only the pipeline's models whose position i (counting from 0) has i mod " + count +
                               " = " + index + "; ballista merge combines the shards into one run."));
  }
  if (state == "interrupted") {
    blocks.push_back(paragraph("The run was interrupted: models marked interrupted or skipped were not finished; "
                               "everything else is complete and kept."));
  }

  // What the source plugin logged while the data, the probes' truth or the plots' truth
  // was computed (a projectile's shots still in the air, say): debug messages are in
  // log.txt and metrics.json only.
  std::vector<std::string> source_said;
  for (const auto& message : run.source_messages) {
    if (message.level != LogLevel::debug) {
      source_said.push_back(std::string(log_level_name(message.level)) + " (" + message.during +
                            "): " + printable(message.text, 4000));
    }
  }
  if (!source_said.empty()) {
    blocks.push_back(paragraph("The source plugin " + pipeline.data.source.plugin + " logged:"));
    blocks.push_back(list(source_said));
  }

  blocks.push_back(heading(2, "Models side by side"));
  Block metrics;
  metrics.kind = Block::Kind::table;
  metrics.table = metrics_table(pipeline, run);
  blocks.push_back(metrics);
  std::string sets_text = "Sets: ";
  for (std::size_t i = 0; i < pipeline.data.sets.size(); ++i) {
    const auto& set = pipeline.data.sets[i];
    sets_text += (i == 0 ? "" : "; ") + set.name + " " + std::to_string(set.rows) + " rows";
  }
  blocks.push_back(paragraph(sets_text + ". Bold: the best value in its column (lowest error, highest r2)."));
  if (!pipeline.evaluation.probes.empty()) {
    blocks.push_back(heading(3, "Predictions at the probes"));
    Block probes;
    probes.kind = Block::Kind::table;
    probes.table = probes_table(pipeline, run);
    blocks.push_back(probes);
  }

  blocks.push_back(heading(2, "What each model is"));
  std::vector<std::string> items;
  for (const auto& model : run.models) {
    std::string text = model.name + " (" + model.plugin + "): ";
    if (model.status == ModelStatus::failed) {
      text += "FAILED: " + model.error;
    } else {
      text += model.description.empty() ? "(" + std::string(model_status_name(model.status)) + ")" : model.description;
      if (model.status == ModelStatus::ok) {
        text += "; " + std::to_string(model.parameter_count) + " learned values";
      }
    }
    items.push_back(text);
    for (const auto& note : model_notes(pipeline, model)) {
      items.push_back("    " + note);
    }
  }
  blocks.push_back(list(items));
  // What the models reported about their fits as tables (a Pareto front, the terms'
  // inclusion frequencies), after the models' one-line descriptions.
  for (const auto& model : run.models) {
    for (const auto& [name, table] : model.fit_tables) {
      blocks.push_back(heading(3, model.name + ": " + name));
      Block block;
      block.kind = Block::Kind::table;
      block.table.header = table.columns;
      block.table.rows = table.rows;
      block.table.bold.assign(table.rows.size(), std::vector<bool>(table.columns.size(), false));
      blocks.push_back(block);
    }
  }

  blocks.push_back(heading(2, "Plots"));
  std::vector<std::string> missing;
  for (const auto& plot : plots.plots) {
    if (!plot.rendered) {
      continue;
    }
    Block image;
    image.kind = Block::Kind::image;
    image.image = plot.png.lexically_relative(directory);
    image.alt = plot.title;
    image.text = plot.caption;
    blocks.push_back(heading(3, plot.title));
    blocks.push_back(image);
  }
  if (!plots.warnings.empty()) {
    blocks.push_back(paragraph("Plots left out:"));
    blocks.push_back(list(plots.warnings));
  }

  blocks.push_back(heading(2, "Files of this run"));
  blocks.push_back(list({
      std::string("pipeline.resolved.yaml: the pipeline with every default filled in (ballista run it again, or ") +
          "ballista reproduce this directory)",
      "environment.json: versions, threads, BLAS and seeds",
      "metrics.json, metrics.csv: every figure above, per model, set and metric",
      "data/SET.csv: the data sets as drawn",
      "loss/MODEL.csv: loss per step of the iterative models",
      "models/MODEL.pt: the trained models (ballista predict models/MODEL.pt --at ...)",
      "plots/NAME.png and NAME.gp: the plots and the gnuplot scripts that draw them, data inline",
      "log.txt: what the terminal showed",
  }));
  return blocks;
}

std::string markdown_text(const std::string& text) {
  std::string escaped;
  for (const char c : text) {
    // Brackets stay: "[m/s]" followed by no "(" is not a link.
    if (c == '|' || c == '*' || c == '`' || c == '<' || c == '\\') {
      escaped += '\\';
    }
    escaped += c;
  }
  return escaped;
}

// An image's alt text: brackets would end it early, so they become parentheses.
std::string alt_text(const std::string& text) {
  std::string alt = markdown_text(text);
  std::replace(alt.begin(), alt.end(), '[', '(');
  std::replace(alt.begin(), alt.end(), ']', ')');
  return alt;
}

std::string render_markdown(const std::vector<Block>& blocks) {
  std::ostringstream out;
  for (const auto& block : blocks) {
    switch (block.kind) {
      case Block::Kind::heading:
        out << std::string(static_cast<std::size_t>(block.level), '#') << ' ' << markdown_text(block.text) << "\n\n";
        break;
      case Block::Kind::paragraph:
        out << markdown_text(block.text) << "\n\n";
        break;
      case Block::Kind::list:
        for (const auto& item : block.items) {
          const bool nested = item.rfind("    ", 0) == 0;
          out << (nested ? "    - " + markdown_text(item.substr(4)) : "- " + markdown_text(item)) << '\n';
        }
        out << '\n';
        break;
      case Block::Kind::image:
        out << "![" << alt_text(block.alt) << "](" << block.image.generic_string() << ")\n\n"
            << markdown_text(block.text) << "\n\n";
        break;
      case Block::Kind::table: {
        const auto& table = block.table;
        out << '|';
        for (const auto& cell : table.header) {
          out << ' ' << markdown_text(cell) << " |";
        }
        out << "\n|";
        for (std::size_t c = 0; c < table.header.size(); ++c) {
          out << (c == 0 ? " --- |" : " ---: |");
        }
        out << '\n';
        for (std::size_t r = 0; r < table.rows.size(); ++r) {
          out << '|';
          for (std::size_t c = 0; c < table.rows[r].size(); ++c) {
            const auto text = markdown_text(table.rows[r][c]);
            out << ' ' << (table.bold[r][c] ? "**" + text + "**" : text) << " |";
          }
          out << '\n';
        }
        out << '\n';
        break;
      }
    }
  }
  return out.str();
}

std::string html_text(const std::string& text) {
  std::string escaped;
  for (const char c : text) {
    switch (c) {
      case '&': escaped += "&amp;"; break;
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '"': escaped += "&quot;"; break;
      default: escaped += c;
    }
  }
  return escaped;
}

std::string read_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

constexpr const char* kStyle = R"css(
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1300px;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ccc; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: .3em .7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f2f2; }
td.best { font-weight: bold; background: #eaf6ea; }
li.note { list-style: none; color: #555; font-size: .95em; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .95em; }
)css";

// Marks the page once every image has loaded: a headless browser that dumps the DOM
// can then check that none is missing (scripts/render-report).
constexpr const char* kLoadCheck = R"js(
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (image) { return image.complete && image.naturalWidth > 0; });
  document.body.setAttribute('data-images-loaded', loaded.length + '/' + images.length);
});
)js";

std::string render_html(const std::vector<Block>& blocks, const std::string& title,
                        const std::filesystem::path& directory) {
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" << html_text(title)
      << "</title>\n<style>" << kStyle << "</style>\n<script>" << kLoadCheck << "</script>\n</head>\n<body>\n";
  for (const auto& block : blocks) {
    switch (block.kind) {
      case Block::Kind::heading:
        out << "<h" << block.level << '>' << html_text(block.text) << "</h" << block.level << ">\n";
        break;
      case Block::Kind::paragraph:
        out << "<p>" << html_text(block.text) << "</p>\n";
        break;
      case Block::Kind::list:
        out << "<ul>\n";
        for (const auto& item : block.items) {
          const bool nested = item.rfind("    ", 0) == 0;
          out << (nested ? "<li class=\"note\">" + html_text(item.substr(4)) : "<li>" + html_text(item)) << "</li>\n";
        }
        out << "</ul>\n";
        break;
      case Block::Kind::image:
        out << "<figure><img alt=\"" << html_text(block.alt) << "\" src=\"data:image/png;base64,"
            << base64(read_bytes(directory / block.image)) << "\">\n<figcaption>" << html_text(block.text)
            << "</figcaption></figure>\n";
        break;
      case Block::Kind::table: {
        const auto& table = block.table;
        out << "<table>\n<tr>";
        for (const auto& cell : table.header) {
          out << "<th>" << html_text(cell) << "</th>";
        }
        out << "</tr>\n";
        for (std::size_t r = 0; r < table.rows.size(); ++r) {
          out << "<tr>";
          for (std::size_t c = 0; c < table.rows[r].size(); ++c) {
            out << (table.bold[r][c] ? "<td class=\"best\">" : "<td>") << html_text(table.rows[r][c]) << "</td>";
          }
          out << "</tr>\n";
        }
        out << "</table>\n";
        break;
      }
    }
  }
  out << "</body>\n</html>\n";
  return out.str();
}

}  // namespace

std::string base64(const std::string& bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string encoded;
  encoded.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const auto word = (static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16U) |
                      (static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8U) |
                      static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 2]));
    encoded += kAlphabet[(word >> 18U) & 63U];
    encoded += kAlphabet[(word >> 12U) & 63U];
    encoded += kAlphabet[(word >> 6U) & 63U];
    encoded += kAlphabet[word & 63U];
  }
  if (i < bytes.size()) {
    const bool two = i + 1 < bytes.size();
    const auto word = (static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16U) |
                      (two ? static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8U : 0U);
    encoded += kAlphabet[(word >> 18U) & 63U];
    encoded += kAlphabet[(word >> 12U) & 63U];
    encoded += two ? kAlphabet[(word >> 6U) & 63U] : '=';
    encoded += '=';
  }
  return encoded;
}

ReportPages report_pages(const Pipeline& pipeline, const RunResult& run, const std::string& state,
                         const PlotOutcome& plots, const std::filesystem::path& directory) {
  const auto blocks = document(pipeline, run, state, plots, directory);
  return {render_markdown(blocks), render_html(blocks, "Ballista run: " + pipeline.name, directory)};
}

}  // namespace ballista::host
