// Training and evaluation of every model (see pipeline_runner.hpp).
#include "pipeline_runner.hpp"

#include "atomic_file.hpp"
#include "data_generator.hpp"
#include "diagnostics.hpp"
#include "host_context.hpp"
#include "evaluator.hpp"
#include "model_file.hpp"
#include "plot_grids.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <numeric>

namespace ballista::host {

namespace {

// The host's side of the SDK Context for one model.
// A plugin's table as a report can show it: at most kMaxRows rows of as many cells as
// there are columns (missing cells empty, extra ones dropped), each one line of
// printable text of at most 200 characters.
FitTable fit_table(const std::vector<std::string>& columns, const std::vector<std::vector<std::string>>& rows) {
  constexpr std::size_t kMaxRows = 1000;
  constexpr std::size_t kMaxColumns = 20;
  FitTable table;
  for (std::size_t c = 0; c < columns.size() && c < kMaxColumns; ++c) {
    table.columns.push_back(printable(columns[c], 200));
  }
  for (std::size_t r = 0; r < rows.size() && r < kMaxRows; ++r) {
    std::vector<std::string> cells;
    for (std::size_t c = 0; c < table.columns.size(); ++c) {
      cells.push_back(c < rows[r].size() ? printable(rows[r][c], 200) : std::string());
    }
    table.rows.push_back(std::move(cells));
  }
  return table;
}

class RunContext final : public HostContext {
 public:
  RunContext(std::string model, std::uint64_t seed, ModelResult& result, const RunHooks& hooks,
             Collective& ranks)
      : HostContext(seed), model_(std::move(model)), result_(result), hooks_(hooks), ranks_(ranks) {}

  Collective& collective() override { return ranks_; }
  // In a distributed run, this rank's GPU where there is one (ProcessGroup::device()).
  torch::Device device() const override { return hooks_.ranks != nullptr ? hooks_.ranks->device() : torch::kCPU; }

  void report_progress(std::int64_t step, std::int64_t total, double loss) override {
    result_.loss_curve.push_back(loss);
    if (hooks_.step) {
      hooks_.step(model_, step, total, loss);
    }
  }
  void log(LogLevel level, std::string_view message) override {
    result_.messages.push_back({level, std::string(message), {}});
    if (hooks_.message) {
      hooks_.message(model_, result_.messages.back());
    }
  }
  void report_value(std::string_view name, double value) override { result_.fit_values[std::string(name)] = value; }
  void report_table(std::string_view name, const std::vector<std::string>& columns,
                    const std::vector<std::vector<std::string>>& rows) override {
    result_.fit_tables[printable(name, 200)] = fit_table(columns, rows);
  }

 private:
  std::string model_;
  ModelResult& result_;
  const RunHooks& hooks_;
  Collective& ranks_;
};

// This rank's share of `set`'s rows: [rank·n/size, (rank+1)·n/size), so the shares are
// contiguous and in rank order.
Dataset row_share(const Dataset& set, const Collective& ranks) {
  const auto n = set.inputs.size(0);
  const auto begin = n * ranks.rank() / ranks.size();
  const auto end = n * (ranks.rank() + 1) / ranks.size();
  Dataset share = set;
  share.inputs = set.inputs.slice(0, begin, end);
  share.targets = set.targets.slice(0, begin, end);
  return share;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<double> row(const torch::Tensor& tensor, std::int64_t index) {
  const auto values = tensor.select(0, index).to(torch::kFloat64).contiguous();
  return {values.data_ptr<double>(), values.data_ptr<double>() + values.numel()};
}

// The probes as one [probes, d_in] tensor.
torch::Tensor probe_points(const EvaluationSpec& evaluation) {
  std::vector<double> flat;
  for (const auto& probe : evaluation.probes) {
    flat.insert(flat.end(), probe.point.begin(), probe.point.end());
  }
  return torch::tensor(flat, torch::kFloat64).reshape({static_cast<std::int64_t>(evaluation.probes.size()), -1});
}

void check_predictions(const torch::Tensor& predictions, const torch::Tensor& inputs, std::int64_t outputs) {
  if (predictions.dim() != 2 || predictions.size(0) != inputs.size(0) || predictions.size(1) != outputs) {
    throw std::runtime_error("predict() returned shape " + c10::str(predictions.sizes()) + ", expected [" +
                             std::to_string(inputs.size(0)) + ", " + std::to_string(outputs) + "]");
  }
}

// Model::explain's line for each probe. A model that cannot explain keeps its results:
// the failure becomes the explanation.
void explain_probes(const Model& model, const torch::Tensor& points, ModelResult& result) {
  try {
    const auto lines = model.explain(points);
    for (std::size_t i = 0; i < lines.size() && i < result.probes.size(); ++i) {
      result.probes[i].explanation = lines[i];
    }
  } catch (const std::exception& error) {
    const auto message = first_line(error.what());
    for (auto& probe : result.probes) {
      probe.explanation = "(explain() failed: " + message + ")";
    }
  } catch (...) {
    for (auto& probe : result.probes) {
      probe.explanation = "(explain() failed: " + non_standard_exception() + ")";
    }
  }
}

// Whether the run was interrupted, on any rank of `ranks`: the ranks of a shared model
// go on to evaluate it together, or none does.
bool interrupted_anywhere(Collective& ranks) {
  if (ranks.size() == 1) {
    return cancellation_flag().load();
  }
  std::vector<torch::Tensor> flag{torch::full({1}, cancellation_flag().load() ? 1.0 : 0.0, torch::kFloat64)};
  ranks.sum(flag);
  return flag[0].item<double>() > 0;
}

// Fits `model`, evaluates it and saves it. `ranks` is single_process() unless the fit
// is shared: then every rank makes the same calls of the model, in the same order
// (fit(), predict(), explain(), save()), since a model may answer them together (knn
// merges each rank's nearest samples); rank 0's results are the ones kept and written.
void train_and_evaluate(const Pipeline& pipeline, const PluginCatalog& catalog, const ModelSpec& spec, Model& model,
                        const std::filesystem::path& model_directory, RunResult& run, ModelResult& result,
                        const RunHooks& hooks, Collective& ranks) {
  const auto* plugin = catalog.find(spec.plugin);
  const auto& all_rows = run.sets.at(pipeline.train_set);
  const auto train = ranks.size() > 1 ? row_share(all_rows, ranks) : all_rows;
  RunContext context(spec.name, spec.seed, result, hooks, ranks);
  const auto fit_start = std::chrono::steady_clock::now();
  model.fit(train, context);
  result.fit_seconds = seconds_since(fit_start);
  if (interrupted_anywhere(ranks)) {
    result.status = ModelStatus::interrupted;
    return;
  }
  result.description = model.describe();
  result.parameter_count = model.parameter_count();
  const auto outputs = train.targets.size(1);
  const auto predict_start = std::chrono::steady_clock::now();
  for (const auto& set_name : pipeline.evaluation.sets) {
    const auto& set = run.sets.at(set_name);
    const auto predictions = model.predict(set.inputs).to(torch::kCPU).to(torch::kFloat64);
    check_predictions(predictions, set.inputs, outputs);
    result.set_predictions[set_name] = predictions;
    for (const auto& metric : pipeline.evaluation.metrics) {
      result.metrics[set_name][metric] = compute_metric(metric, predictions, set.targets);
      for (std::int64_t t = 0; outputs > 1 && t < outputs; ++t) {
        result.metrics_per_target[set_name][set.target_names[static_cast<std::size_t>(t)]][metric] =
            compute_metric(metric, predictions.slice(1, t, t + 1), set.targets.slice(1, t, t + 1));
      }
    }
  }
  if (!pipeline.evaluation.probes.empty()) {
    const auto points = probe_points(pipeline.evaluation);
    const auto predictions = model.predict(points).to(torch::kCPU).to(torch::kFloat64);
    check_predictions(predictions, points, outputs);
    for (std::int64_t i = 0; i < points.size(0); ++i) {
      result.probes.push_back({row(points, i), row(predictions, i), {}});
    }
    explain_probes(model, points, result);
  }
  result.predict_seconds = seconds_since(predict_start);
  for (const auto& grid : run.grids) {
    const auto predictions = model.predict(grid.inputs).to(torch::kCPU).to(torch::kFloat64);
    check_predictions(predictions, grid.inputs, outputs);
    result.grid_predictions[grid.name] = predictions;
  }
  // Every rank of a shared fit serialises the model (its save() may gather the shares);
  // rank 0 writes it.
  const bool writes = ranks.rank() == 0 && !model_directory.empty();
  if (writes || ranks.size() > 1) {
    const auto file = model_directory / (spec.name + ".pt");
    try {
      const auto bytes = model_file_bytes(spec, *plugin, model, train.input_names, train.target_names);
      if (writes) {
        std::filesystem::create_directories(model_directory);
        write_file_atomically(file, bytes);
        result.model_file = file;
      }
    } catch (const std::exception& error) {
      throw std::runtime_error("trained and evaluated, but saving " + file.string() + " failed: " + error.what());
    }
  }
  result.status = ModelStatus::ok;
}

}  // namespace

RunResult run_pipeline(const Pipeline& pipeline, const PluginCatalog& catalog,
                       const std::filesystem::path& model_directory, const RunHooks& hooks) {
  RunResult run;
  // A source plugin's messages, with what it was computing when it sent them.
  const std::string source = "source " + pipeline.data.source.name();
  std::string during = "drawing the data";
  const SourceLogScope source_log([&](LogLevel level, std::string_view text) {
    run.source_messages.push_back({level, std::string(text), during});
    if (hooks.message) {
      hooks.message(source, run.source_messages.back());
    }
  });
  run.sets = generate_sets(pipeline.data);
  Collective& ranks = hooks.ranks != nullptr ? static_cast<Collective&>(*hooks.ranks) : single_process();
  const bool shared = ranks.size() > 1;
  const bool writes = ranks.rank() == 0;  // the other ranks only take part in shared fits
  if (writes && !pipeline.evaluation.probes.empty()) {
    during = "the truth at the probes";
    const auto points = probe_points(pipeline.evaluation);
    // A csv source has no truth between its rows: its probes show predictions only.
    if (const auto truth = true_targets(pipeline.data.source, points)) {
      for (std::int64_t i = 0; i < points.size(0); ++i) {
        run.probe_truth.push_back({row(points, i), row(*truth, i), {}});
      }
    }
  }
  during = "the truth on the plot grids";
  if (writes || shared) {  // shared models are evaluated on every rank, grids included
    run.grids = plot_grids(pipeline, run.sets.at(pipeline.train_set));
  }
  for (const auto& spec : pipeline.models) {
    ModelResult result;
    result.name = spec.name;
    result.plugin = spec.plugin;
    run.models.push_back(result);
  }
  const auto progress = [&] {
    if (hooks.progress) {
      hooks.progress(run);
    }
  };
  progress();
  // On several ranks the models are built first, to ask which are data-parallel: those
  // are fitted first, while every rank is there.
  const auto count = pipeline.models.size();
  std::vector<std::unique_ptr<Model>> built(count);
  std::vector<bool> parallel(count, false);
  std::vector<std::size_t> order(count);
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (shared) {
    for (std::size_t i = 0; i < count; ++i) {
      try {
        built[i] = catalog.find(pipeline.models[i].plugin)->definition.create(pipeline.models[i].parameters);
        parallel[i] = built[i]->data_parallel();
      } catch (...) {
        built[i].reset();  // built again below, where its failure is recorded
      }
    }
    std::stable_partition(order.begin(), order.end(), [&](std::size_t i) { return parallel[i]; });
  }
  std::string group_failure;  // why shared fits stopped, once one failed on rank 0
  for (const auto i : order) {
    auto& result = run.models[i];
    if (cancellation_flag().load()) {
      result.status = ModelStatus::skipped;
      continue;
    }
    if (!writes && !parallel[i]) {
      continue;  // rank 0's alone
    }
    const bool share = shared && parallel[i] && group_failure.empty();
    try {
      if (hooks.executor) {
        hooks.executor(pipeline.models[i], result);
      } else {
        const auto& spec = pipeline.models[i];
        auto model = built[i] ? std::move(built[i]) : catalog.find(spec.plugin)->definition.create(spec.parameters);
        if (shared && parallel[i] && !share) {
          result.messages.push_back({LogLevel::warning,
                                     "fitted on rank 0 alone, on every row: the shared fits stopped (" +
                                         group_failure + ")",
                                     {}});
          if (hooks.message) {
            hooks.message(spec.name, result.messages.back());
          }
        }
        if (share) {
          // Every rank starts the fit together, so rank 0's fit_seconds is the shared
          // fit's wall time, not its own share's after the others had waited for it.
          hooks.ranks->barrier();
        }
        const auto before = hooks.ranks != nullptr ? hooks.ranks->traffic() : ProcessGroup::Traffic{};
        train_and_evaluate(pipeline, catalog, spec, *model, model_directory, run, result, hooks,
                           share ? ranks : single_process());
        if (share) {
          const auto after = hooks.ranks->traffic();
          result.fit_values["collective_calls"] = static_cast<double>(after.calls - before.calls);
          result.fit_values["collective_seconds"] = after.seconds - before.seconds;
          result.fit_values["collective_megabytes"] = (after.bytes - before.bytes) / 1e6;
        }
      }
    } catch (const std::exception& error) {
      if (share && !writes) {
        throw;
      }
      result.status = ModelStatus::failed;
      result.error = error.what();
      result.error = first_line(result.error);  // LibTorch's go on with a C++ backtrace
      if (share) {
        group_failure = result.name + ": " + result.error;
      }
    } catch (...) {
      if (share && !writes) {
        throw;
      }
      // `throw 42` from a plugin: that model fails, the run goes on.
      result.status = ModelStatus::failed;
      result.error = non_standard_exception();
      if (share) {
        group_failure = result.name + ": " + result.error;
      }
    }
    // Another process's messages arrive with its result (or what it wrote before dying).
    for (std::size_t m = 0; hooks.executor && hooks.message && m < result.messages.size(); ++m) {
      hooks.message(result.name, result.messages[m]);
    }
    progress();
  }
  run.interrupted = cancellation_flag().load();
  return run;
}

}  // namespace ballista::host
