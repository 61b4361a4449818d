// Plots of a run, drawn by gnuplot (see run_plots.hpp).
#include "run_plots.hpp"

#include "atomic_file.hpp"
#include "csv_table.hpp"
#include "gnuplot.hpp"
#include "plot_grids.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>
#include <thread>

namespace ballista::host {

namespace {

constexpr std::int64_t kMostPoints = 5000;  // scatter plots thin larger sets evenly
constexpr std::size_t kMostModelsShown = 12;  // plots of a larger sweep show its best
constexpr int kPanelWidth = 440;
constexpr int kPanelHeight = 340;

// Names in file names: letters, digits, '.', '-' and '_' kept, anything else '_'.
std::string file_part(const std::string& name) {
  std::string part;
  for (const char c : name) {
    const bool plain = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_';
    part += plain ? c : '_';
  }
  return part;
}

// One datablock `$NAME` of equally long float64 columns; non-finite values are '?',
// gnuplot's missing-data mark. Rows beyond kMostPoints are thinned by a fixed stride
// when `thin` is set.
void datablock(std::ostream& out, const std::string& name, const std::vector<torch::Tensor>& columns,
               bool thin = false) {
  out << '$' << name << " << EOD\n";
  if (!columns.empty()) {
    std::vector<torch::Tensor> contiguous;
    for (const auto& column : columns) {
      contiguous.push_back(column.to(torch::kFloat64).contiguous());
    }
    const auto rows = contiguous.front().size(0);
    const auto stride = thin ? std::max<std::int64_t>(1, (rows + kMostPoints - 1) / kMostPoints) : 1;
    for (std::int64_t r = 0; r < rows; r += stride) {
      for (std::size_t c = 0; c < contiguous.size(); ++c) {
        const double value = contiguous[c].data_ptr<double>()[r];
        out << (c == 0 ? "" : " ") << (std::isfinite(value) ? shortest_text(value) : "?");
      }
      out << '\n';
    }
  }
  out << "EOD\n";
}

// The lines every script starts with: how to re-render it, the PNG terminal and size.
std::string script_header(const std::string& stem, const std::string& title, int width, int height) {
  std::ostringstream out;
  out << "# " << title << "\n# Drawn by Ballista with gnuplot. Re-render: gnuplot " << stem << ".gp (writes " << stem
      << ".png here).\n"
      << "if (!exists(\"output\")) output = " << gnuplot_quoted(stem + ".png") << "\n"
      << "set terminal pngcairo size " << width << "," << height << " noenhanced font 'DejaVu Sans,10'\n"
      << "set output output\nset datafile missing '?'\nset grid lc rgb '#dddddd'\n"
      << "set format x '%g'\nset format y '%g'\nset format cb '%g'\n";
  return out.str();
}

// Columns × rows for `panels` side-by-side panels.
std::pair<int, int> layout(std::size_t panels) {
  const int columns = static_cast<int>(std::min<std::size_t>(3, std::max<std::size_t>(1, panels)));
  const int rows = static_cast<int>((panels + static_cast<std::size_t>(columns) - 1) / static_cast<std::size_t>(columns));
  return {columns, std::max(1, rows)};
}

const PlotGrid* find_grid(const RunResult& run, const std::string& name) {
  for (const auto& grid : run.grids) {
    if (grid.name == name) {
      return &grid;
    }
  }
  return nullptr;
}

// "mse 0.0123" for the model on `set`, from the first metric of the pipeline.
std::string metric_note(const Pipeline& pipeline, const ModelResult& model, const std::string& set) {
  if (pipeline.evaluation.metrics.empty()) {
    return {};
  }
  const auto& metric = pipeline.evaluation.metrics.front();
  const auto found = model.metrics.find(set);
  if (found == model.metrics.end() || found->second.count(metric) == 0) {
    return {};
  }
  return " (" + metric + " " + rounded_text(found->second.at(metric)) + ")";
}

// Collects the scripts, then renders them.
class PlotWriter {
 public:
  PlotWriter(const Pipeline& pipeline, const RunResult& run, std::filesystem::path directory,
             const std::atomic<bool>& cancelled)
      : pipeline_(pipeline), run_(run), directory_(std::move(directory)), cancelled_(cancelled) {}

  PlotOutcome write() {
    std::filesystem::create_directories(directory_);
    const auto& train = run_.sets.at(pipeline_.train_set);
    const auto targets = pipeline_.data.target_names();
    for (std::size_t t = 0; t < targets.size(); ++t) {
      surface(train, static_cast<std::int64_t>(t));
      slice(train, static_cast<std::int64_t>(t));
    }
    loss();
    ranking_plot();
    for (const auto& set : pipeline_.evaluation.sets) {
      for (std::size_t t = 0; t < targets.size(); ++t) {
        scatter(set, static_cast<std::int64_t>(t), false);
        scatter(set, static_cast<std::int64_t>(t), true);
      }
    }
    render_all();
    return outcome_;
  }

 private:
  // Draws every plot, as many gnuplot processes at a time as LibTorch has threads
  // (--threads), the plots dealt out among them in turn so that each process draws
  // several (gnuplot's start is a good part of a small plot's time); a plot whose
  // process failed is drawn again alone, for its own message. Warnings come in plot
  // order whatever order they finish in.
  void render_all() {
    const auto parallel = static_cast<std::size_t>(std::max(1, at::get_num_threads()));
    const std::size_t count = outcome_.plots.size();
    std::vector<std::string> messages(count);
    std::deque<std::vector<std::size_t>> waiting(std::min(parallel, count));  // plots per process
    for (std::size_t plot = 0; plot < count; ++plot) {
      waiting[plot % waiting.size()].push_back(plot);
    }
    std::vector<std::pair<std::vector<std::size_t>, GnuplotRendering>> running;
    std::string missing;  // why gnuplot could not be started at all
    const auto not_drawn = [&](const std::vector<std::size_t>& plots, const std::string& why) {
      for (const auto plot : plots) {
        messages[plot] = why;
      }
    };
    while (!waiting.empty() || !running.empty()) {
      if (cancelled_.load(std::memory_order_relaxed) && !outcome_.interrupted) {
        // Ctrl-C: the plots being drawn are stopped, the others not started.
        outcome_.interrupted = true;
        for (auto& entry : running) {
          entry.second.stop();
        }
        for (const auto& plots : waiting) {
          not_drawn(plots, "not drawn: the run was interrupted");
        }
        waiting.clear();
      }
      while (missing.empty() && !waiting.empty() && running.size() < parallel) {
        auto plots = std::move(waiting.front());
        waiting.pop_front();
        std::vector<std::filesystem::path> pngs;
        std::vector<std::filesystem::path> scripts;
        for (const auto plot : plots) {
          pngs.push_back(outcome_.plots[plot].png);
          scripts.push_back(outcome_.plots[plot].script);
        }
        GnuplotRendering rendering(pngs);
        std::string message;
        const auto status = rendering.start(scripts, message);
        if (status == RenderStatus::no_gnuplot) {
          missing = message;
        } else if (status == RenderStatus::failed) {
          not_drawn(plots, message);
        } else {
          running.emplace_back(std::move(plots), std::move(rendering));
        }
      }
      if (!missing.empty()) {
        waiting.clear();
      }
      bool any_ended = false;
      for (auto entry = running.begin(); entry != running.end();) {
        if (!entry->second.ended()) {
          ++entry;
          continue;
        }
        std::vector<std::string> ended_messages;
        const auto statuses = entry->second.finish(ended_messages);
        const auto& plots = entry->first;
        for (std::size_t i = 0; i < plots.size(); ++i) {
          outcome_.plots[plots[i]].rendered = statuses[i] == RenderStatus::ok;
          if (statuses[i] != RenderStatus::ok && plots.size() > 1 && !entry->second.stopped()) {
            waiting.push_back({plots[i]});  // alone, for its own outcome
          } else {
            messages[plots[i]] = ended_messages[i];
          }
        }
        entry = running.erase(entry);
        any_ended = true;
      }
      if (!any_ended && !running.empty()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
    if (!missing.empty()) {
      outcome_.warnings.push_back(missing + "; no plots were drawn (install gnuplot-nox, as scripts/setup "
                                            "does; the scripts are in " + directory_.string() + ")");
    }
    for (std::size_t i = 0; i < messages.size(); ++i) {
      if (!messages[i].empty()) {
        outcome_.warnings.push_back(outcome_.plots[i].png.filename().string() + ": " + messages[i]);
      }
    }
  }

  void add(const std::string& kind, const std::string& stem, const std::string& title, const std::string& caption,
           const std::string& script) {
    Plot plot{kind, directory_ / (stem + ".png"), directory_ / (stem + ".gp"), title, caption + selection_note_, false};
    selection_note_.clear();
    write_file_atomically(plot.script, script);
    outcome_.plots.push_back(plot);
  }

  std::string label(const std::string& name) const { return pipeline_.data.label(name); }

  // The models a plot shows: those with the predictions it needs, and of a large sweep
  // the best kMostModelsShown (by the first metric on the first evaluated set), so a
  // plot of 200 models stays readable and quick to draw; the ranking plot shows them all.
  std::vector<const ModelResult*> models_with(const std::string& key, bool grid) {
    std::vector<const ModelResult*> models;
    for (const auto& model : run_.models) {
      const auto& predictions = grid ? model.grid_predictions : model.set_predictions;
      if (model.status == ModelStatus::ok && predictions.count(key) != 0) {
        models.push_back(&model);
      }
    }
    return best_of(models);
  }

  std::vector<const ModelResult*> best_of(std::vector<const ModelResult*> models) {
    if (models.size() <= kMostModelsShown || pipeline_.evaluation.sets.empty() ||
        pipeline_.evaluation.metrics.empty()) {
      return models;
    }
    const auto& set = pipeline_.evaluation.sets.front();
    const auto& metric = pipeline_.evaluation.metrics.front();
    const auto ranked = ranking(models, set, metric);
    std::vector<const ModelResult*> best(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(kMostModelsShown));
    // In the run's order, as in the table.
    std::vector<const ModelResult*> kept;
    for (const auto* model : models) {
      if (std::find(best.begin(), best.end(), model) != best.end()) {
        kept.push_back(model);
      }
    }
    selection_note_ = " Shown: the best " + std::to_string(kMostModelsShown) + " of " + std::to_string(models.size()) +
                      " models by " + metric + " on set " + set + " (every model is in the table, in metrics.json " +
                      "and in the ranking plot).";
    return kept;
  }

  // `models` best first by `metric` on `set` (r2: highest first); a model without the
  // figure goes last.
  static std::vector<const ModelResult*> ranking(std::vector<const ModelResult*> models, const std::string& set,
                                                 const std::string& metric) {
    const auto score = [&](const ModelResult* model) {
      const auto found_set = model->metrics.find(set);
      if (found_set == model->metrics.end() || found_set->second.count(metric) == 0 ||
          !std::isfinite(found_set->second.at(metric))) {
        return std::numeric_limits<double>::infinity();
      }
      const double value = found_set->second.at(metric);
      return metric == "r2" ? -value : value;
    };
    std::stable_sort(models.begin(), models.end(),
                     [&](const ModelResult* a, const ModelResult* b) { return score(a) < score(b); });
    return models;
  }

  // Of a large sweep: every model's first metric on each evaluated set, best first.
  void ranking_plot() {
    std::vector<const ModelResult*> models;
    for (const auto& model : run_.models) {
      if (model.status == ModelStatus::ok) {
        models.push_back(&model);
      }
    }
    if (models.size() <= kMostModelsShown || pipeline_.evaluation.metrics.empty()) {
      return;
    }
    const auto& metric = pipeline_.evaluation.metrics.front();
    for (const auto& set : pipeline_.evaluation.sets) {
      const auto ranked = ranking(models, set, metric);
      std::vector<double> ranks;
      std::vector<double> values;
      bool positive = true;
      for (std::size_t i = 0; i < ranked.size(); ++i) {
        const auto found = ranked[i]->metrics.find(set);
        if (found == ranked[i]->metrics.end() || found->second.count(metric) == 0 ||
            !std::isfinite(found->second.at(metric))) {
          continue;
        }
        ranks.push_back(static_cast<double>(i + 1));
        values.push_back(found->second.at(metric));
        positive = positive && values.back() > 0;
      }
      if (values.empty()) {
        continue;
      }
      const std::string stem = "ranking-" + file_part(set) + "-" + file_part(metric);
      const std::string title = pipeline_.name + ": " + metric + " of all " + std::to_string(ranked.size()) +
                                " models on set " + set + ", best first";
      std::ostringstream script;
      script << script_header(stem, title, 900, 560);
      datablock(script, "ranking", {torch::tensor(ranks, torch::kFloat64), torch::tensor(values, torch::kFloat64)});
      script << "set title " << gnuplot_quoted(title) << "\nset xlabel 'rank'\nset ylabel "
             << gnuplot_quoted(metric + (positive ? " (log scale)" : "")) << "\n"
             << (positive ? "set logscale y\n" : "") << "set key off\n"
             << "plot $ranking using 1:2 with linespoints pt 7 ps 0.5 lc rgb '#1f77b4'\n";
      add("ranking", stem, title,
          "Every model's " + metric + " on set " + set + ", best first: how much the choice among the " +
              std::to_string(ranked.size()) + " models matters. The best is " + ranked.front()->name + ".",
          script.str());
    }
  }

  // Truth and each model over the two inputs' training ranges, one colour scale.
  void surface(const Dataset& train, std::int64_t target) {
    const auto* grid = find_grid(run_, "surface");
    if (grid == nullptr) {
      return;
    }
    const auto models = models_with("surface", true);
    const std::size_t panels = models.size() + (grid->truth ? 1 : 0);
    if (models.empty()) {
      return;
    }
    const auto inputs = pipeline_.data.input_names();
    const auto target_name = pipeline_.data.target_names()[static_cast<std::size_t>(target)];
    const auto reference = grid->truth ? grid->truth->select(1, target) : train.targets.select(1, target);
    const double low = reference.min().item<double>();
    const double high = reference.max().item<double>();
    const auto [columns, rows] = layout(panels);
    const std::string stem = "surface-" + file_part(target_name);
    const std::string title = pipeline_.name + ": " + label(target_name) + " (colour) over " + inputs[0] + " and " +
                              inputs[1] + (grid->truth ? ", truth and each model" : ", each model") +
                              " on one colour scale";
    std::ostringstream script;
    script << script_header(stem, title, columns * kPanelWidth, rows * kPanelHeight + 40);
    const auto x = grid->inputs.select(1, 0);
    const auto y = grid->inputs.select(1, 1);
    if (grid->truth) {
      datablock(script, "truth", {x, y, grid->truth->select(1, target)});
    }
    for (std::size_t m = 0; m < models.size(); ++m) {
      datablock(script, "model" + std::to_string(m), {x, y, models[m]->grid_predictions.at("surface").select(1, target)});
    }
    script << "set multiplot layout " << rows << "," << columns << " title " << gnuplot_quoted(title) << "\n"
           << "set palette cubehelix\nset cbrange [" << shortest_text(low) << ":" << shortest_text(high) << "]\n"
           << "set xrange [" << shortest_text(x.min().item<double>()) << ":" << shortest_text(x.max().item<double>())
           << "]\nset yrange [" << shortest_text(y.min().item<double>()) << ":"
           << shortest_text(y.max().item<double>()) << "]\n"
           << "set xlabel " << gnuplot_quoted(label(inputs[0])) << "\nset ylabel " << gnuplot_quoted(label(inputs[1]))
           << "\nunset grid\n";
    if (grid->truth) {
      script << "set title 'truth'\nplot $truth using 1:2:3 with image notitle\n";
    }
    for (std::size_t m = 0; m < models.size(); ++m) {
      script << "set title " << gnuplot_quoted(models[m]->name) << "\nplot $model" << m
             << " using 1:2:3 with image notitle\n";
    }
    script << "unset multiplot\n";
    add("surface", stem, title,
        "Each panel is " + target_name + " over the training ranges of " + inputs[0] + " and " + inputs[1] +
            "; the colours share one scale" + (grid->truth ? ", the truth's" : "") + ", so panels compare directly.",
        script.str());
  }

  // Every model against the truth along the first input, past the training range.
  void slice(const Dataset& train, std::int64_t target) {
    const auto* grid = find_grid(run_, "slice");
    const auto models = models_with("slice", true);
    if (grid == nullptr || models.empty()) {
      return;
    }
    const auto inputs = pipeline_.data.input_names();
    const auto target_name = pipeline_.data.target_names()[static_cast<std::size_t>(target)];
    const auto ranges = input_ranges(train);
    std::string at;
    for (std::size_t i = 1; i < inputs.size(); ++i) {
      at += (at.empty() ? " at " : ", ") + inputs[i] + " = " + rounded_text(grid->inputs[0][static_cast<std::int64_t>(i)].item<double>());
    }
    const std::string stem = "slice-" + file_part(inputs[0]) + "-" + file_part(target_name);
    const std::string title = pipeline_.name + ": past the data, " + target_name + " vs " + inputs[0] + at;
    std::ostringstream script;
    script << script_header(stem, title, 900, 560);
    std::vector<torch::Tensor> columns{grid->inputs.select(1, 0)};
    if (grid->truth) {
      columns.push_back(grid->truth->select(1, target));
    }
    for (const auto* model : models) {
      columns.push_back(model->grid_predictions.at("slice").select(1, target));
    }
    datablock(script, "slice", columns);
    script << "set title " << gnuplot_quoted(title) << "\nset xlabel " << gnuplot_quoted(label(inputs[0])) << "\nset ylabel "
           << gnuplot_quoted(label(target_name)) << "\nset key outside right top\n"
           << "set object 1 rect from " << shortest_text(ranges[0].low) << ", graph 0 to "
           << shortest_text(ranges[0].high) << ", graph 1 behind fillcolor rgb '#e6eef7' fillstyle solid 1.0 noborder\n"
           << "set label 1 'training range' at " << shortest_text(ranges[0].low) << ", graph 0.96 offset 1,0\n";
    if (grid->truth) {
      const auto truth = grid->truth->select(1, target);
      const double low = truth.min().item<double>();
      const double high = truth.max().item<double>();
      const double margin = std::max(0.25 * (high - low), 1e-12);
      script << "set yrange [" << shortest_text(low - margin) << ":" << shortest_text(high + margin) << "]\n";
    }
    // The truth last, dashed, so a model that follows it does not hide it.
    script << "plot ";
    const int first = grid->truth ? 3 : 2;
    for (std::size_t m = 0; m < models.size(); ++m) {
      script << (m == 0 ? "" : ", ") << "$slice using 1:" << first + static_cast<int>(m) << " with lines lw 2.5 title "
             << gnuplot_quoted(models[m]->name);
    }
    if (grid->truth) {
      script << ", $slice using 1:2 with lines lw 2 dt 2 lc rgb 'black' title 'truth'";
    }
    script << "\n";
    add("slice", stem, title,
        target_name + " against " + inputs[0] + " from " + rounded_text(ranges[0].low) + " to twice the training range's width" +
            at + ". The shaded band is where the training data lies (" + inputs[0] + " from " +
            rounded_text(ranges[0].low) + " to " + rounded_text(ranges[0].high) + "); to its right every model extrapolates.",
        script.str());
  }

  // Each iterative model's training loss per step, on a log scale.
  void loss() {
    std::vector<const ModelResult*> models;
    for (const auto& model : run_.models) {
      const auto positive = std::count_if(model.loss_curve.begin(), model.loss_curve.end(),
                                          [](double value) { return std::isfinite(value) && value > 0; });
      if (positive >= 2) {
        models.push_back(&model);
      }
    }
    models = best_of(models);
    if (models.empty()) {
      return;
    }
    const std::string title = pipeline_.name + ": training loss of the iterative models";
    std::ostringstream script;
    script << script_header("loss", title, 900, 560);
    for (std::size_t m = 0; m < models.size(); ++m) {
      const auto& curve = models[m]->loss_curve;
      auto values = torch::tensor(curve, torch::kFloat64);
      values = torch::where(values > 0, values, torch::full_like(values, std::nan("")));
      datablock(script, "loss" + std::to_string(m),
                {torch::arange(1, static_cast<std::int64_t>(curve.size()) + 1, torch::kFloat64), values});
    }
    script << "set title " << gnuplot_quoted(title) << "\nset xlabel 'step'\nset ylabel 'training loss (log scale)'\n"
           << "set logscale y\nset key outside right top\nplot ";
    for (std::size_t m = 0; m < models.size(); ++m) {
      script << (m == 0 ? "" : ", ") << "$loss" << m << " using 1:2 with lines lw 2 title " << gnuplot_quoted(models[m]->name);
    }
    script << "\n";
    add("loss", "loss", title, "The loss each iterative model reported after every optimisation step.",
        script.str());
  }

  // Predicted vs actual (or the residual vs the first input) on one set, a panel per model.
  void scatter(const std::string& set_name, std::int64_t target, bool residuals) {
    const auto models = models_with(set_name, false);
    const auto found = run_.sets.find(set_name);
    if (models.empty() || found == run_.sets.end()) {
      return;
    }
    const auto& set = found->second;
    const auto inputs = pipeline_.data.input_names();
    const auto target_name = pipeline_.data.target_names()[static_cast<std::size_t>(target)];
    const auto actual = set.targets.select(1, target);
    const auto [columns, rows] = layout(models.size());
    const std::string kind = residuals ? "residuals" : "parity";
    const std::string stem = kind + "-" + file_part(set_name) + "-" + file_part(target_name);
    const std::string title = pipeline_.name + ": " +
                              (residuals ? "residuals (predicted − actual " + target_name + ") vs " + inputs[0]
                                         : "predicted vs actual " + target_name) +
                              " on set " + set_name;
    std::ostringstream script;
    script << script_header(stem, title, columns * kPanelWidth, rows * kPanelHeight + 40);
    for (std::size_t m = 0; m < models.size(); ++m) {
      const auto predicted = models[m]->set_predictions.at(set_name).select(1, target);
      datablock(script, "model" + std::to_string(m),
                {residuals ? set.inputs.select(1, 0) : actual, residuals ? predicted - actual : predicted}, true);
    }
    script << "set multiplot layout " << rows << "," << columns << " title " << gnuplot_quoted(title) << "\nset key off\n";
    if (residuals) {
      script << "set xlabel " << gnuplot_quoted(label(inputs[0])) << "\nset ylabel "
             << gnuplot_quoted("predicted − actual " + label(target_name)) << "\n";
    } else {
      const double low = actual.min().item<double>();
      const double high = actual.max().item<double>();
      const double margin = std::max(0.05 * (high - low), 1e-12);
      script << "set xlabel " << gnuplot_quoted("actual " + label(target_name)) << "\nset ylabel "
             << gnuplot_quoted("predicted " + label(target_name)) << "\nset xrange [" << shortest_text(low - margin) << ":"
             << shortest_text(high + margin) << "]\n";
    }
    for (std::size_t m = 0; m < models.size(); ++m) {
      script << "set title " << gnuplot_quoted(models[m]->name + metric_note(pipeline_, *models[m], set_name)) << "\nplot $model"
             << m << " using 1:2 with points pt 7 ps 0.35 lc rgb '#1f77b4', "
             << (residuals ? "0" : "x") << " with lines lw 1.5 lc rgb 'black'\n";
    }
    script << "unset multiplot\n";
    add(kind, stem, title,
        residuals ? "Each model's error at every row of set " + set_name + " against " + inputs[0] +
                        ": a pattern instead of noise around zero is structure the model missed."
                  : "Each model's prediction against the recorded " + target_name + " on set " + set_name +
                        "; a perfect model lies on the diagonal.",
        script.str());
  }

  const Pipeline& pipeline_;
  const RunResult& run_;
  std::filesystem::path directory_;
  const std::atomic<bool>& cancelled_;
  PlotOutcome outcome_;
  std::string selection_note_;  // the caption's note when a plot shows the best models only
};

}  // namespace

PlotOutcome write_plots(const Pipeline& pipeline, const RunResult& run, const std::filesystem::path& directory,
                        const std::atomic<bool>& cancelled) {
  PlotOutcome outcome;
  try {
    outcome = PlotWriter(pipeline, run, directory, cancelled).write();
  } catch (const std::exception& error) {
    outcome.warnings.push_back(std::string("the plots could not be written: ") + error.what());
  }
  return outcome;
}

}  // namespace ballista::host
