// The model-plugin checks of `ballista check-plugin`: a model is fitted and asked to
// predict on synthetic data (shapes, one row, before fit, seeds, save and load,
// non-finite values, concurrent predict, thread counts, parameters), with the columns
// it reads and predicts by name where it declares them.
#include "plugin_check_parts.hpp"

#include "diagnostics.hpp"
#include "host_context.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iomanip>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace ballista::host::plugin_checks {

namespace {

// Inputs x1, x2, ... in [-1, 1] and smooth targets y1, y2, ... of them: every model class
// can fit something of them. Where a model reads or predicts particular columns by name
// (`named`), those columns instead, their number in place of `inputs` or `outputs`: a
// named input drawn uniformly from its range, the targets the same smooth functions of
// the inputs mapped onto [-1, 1]. Every column is dimensionless (Dataset::units: "1").
Dataset synthetic(const NamedColumns& named, std::int64_t rows, std::int64_t inputs, std::int64_t outputs,
                  std::uint64_t seed) {
  if (!named.inputs.empty()) {
    inputs = static_cast<std::int64_t>(named.inputs.size());
  }
  if (!named.targets.empty()) {
    outputs = static_cast<std::int64_t>(named.targets.size());
  }
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto x = torch::rand({rows, inputs}, generator, torch::kFloat64) * 2 - 1;
  std::vector<torch::Tensor> columns;
  for (std::int64_t k = 0; k < outputs; ++k) {
    columns.push_back(torch::sin(static_cast<double>(k + 1) * x).sum(1) + 0.5 * x.select(1, 0));
  }
  Dataset data{x, torch::stack(columns, 1), {}, {}, {}};
  if (named.inputs.empty()) {
    for (std::int64_t j = 0; j < inputs; ++j) {
      data.input_names.push_back("x" + std::to_string(j + 1));
    }
  } else {
    std::vector<double> lows;
    std::vector<double> widths;
    for (const auto& [low, high] : named.ranges) {
      lows.push_back(low);
      widths.push_back(high - low);
    }
    data.inputs = torch::tensor(lows, torch::kFloat64) + (x + 1) * 0.5 * torch::tensor(widths, torch::kFloat64);
    data.input_names = named.inputs;
  }
  if (named.targets.empty()) {
    for (std::int64_t k = 0; k < outputs; ++k) {
      data.target_names.push_back("y" + std::to_string(k + 1));
    }
  } else {
    data.target_names = named.targets;
  }
  // Pure numbers: every column's unit is 1, so a model that checks dimensions (basis with
  // `units: strict`) has them and finds every term consistent.
  for (const auto* names : {&data.input_names, &data.target_names}) {
    for (const auto& name : *names) {
      data.units.emplace_back(name, "1");
    }
  }
  return data;
}

// "b, a".
std::string names_text(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) {
    text += (text.empty() ? "" : ", ") + printable(name);
  }
  return text;
}

// What `model` reads and predicts by name, each named input drawn from its range in
// `ranges` or else from [0, 1].
NamedColumns columns_of(const Model& model, const std::map<std::string, InputRange>& ranges) {
  NamedColumns named{model.required_inputs(), {}, model.required_targets()};
  for (const auto& name : named.inputs) {
    const auto found = ranges.find(name);
    named.ranges.push_back(found != ranges.end() ? found->second : InputRange{0.0, 1.0});
  }
  return named;
}

// The checks of a model plugin.
class ModelChecker {
 public:
  ModelChecker(const LoadedPlugin& plugin, std::map<std::string, ParameterValue> values, NamedColumns named)
      : plugin_(plugin), values_(std::move(values)), named_(std::move(named)), sweep_(plugin.definition.parameters, values_) {
    for (std::size_t j = 0; j < named_.inputs.size() && j < named_.ranges.size(); ++j) {
      ranges_[named_.inputs[j]] = named_.ranges[j];
    }
    named_.ranges.resize(named_.inputs.size(), InputRange{0.0, 1.0});
  }

  std::vector<CheckOutcome> run(std::ostream& out) {
    std::vector<NamedCheck> checks{{"shapes", [&] { return shapes(); }}};
    // The shapes check varies the number of inputs and targets: not for a model that
    // reads or predicts particular ones.
    if (!named_.inputs.empty()) {
      checks.push_back({"input counts", [&]() -> std::string {
                          throw Skipped("the model reads inputs " + names_text(named_.inputs) +
                                        " by name, so it is checked on those alone (not on 1, 2 and 10 inputs)");
                        }});
    }
    if (!named_.targets.empty()) {
      checks.push_back({"output counts", [&]() -> std::string {
                          throw Skipped("the model predicts targets " + names_text(named_.targets) +
                                        " by name, so it is checked on those alone (not on 1 and 3 outputs)");
                        }});
    }
    checks.insert(checks.end(), {{"one training row", [&] { return one_row(); }},
                                 {"predict before fit", [&] { return before_fit(); }},
                                 {"same seed", [&] { return same_seed(); }},
                                 {"save and load", [&] { return save_and_load(); }},
                                 {"non-finite inputs", [&] { return non_finite(); }},
                                 {"concurrent predict", [&] { return concurrent(); }},
                                 {"thread count", [&] { return thread_count(); }},
                                 {"parameters", [&] { return parameters(); }}});
    return run_checks(checks, out);
  }

  const ParameterSweep& sweep() const { return sweep_; }

 private:
  std::unique_ptr<Model> create(const std::map<std::string, ParameterValue>& changes = {}) const {
    return create_instance(plugin_.definition, values_, changes, "model");
  }

  // Synthetic data with the columns the model under check reads and predicts by name.
  Dataset synthetic(std::int64_t rows, std::int64_t inputs, std::int64_t outputs, std::uint64_t seed) const {
    return plugin_checks::synthetic(named_, rows, inputs, outputs, seed);
  }

  static std::int64_t width(const Dataset& data) { return data.targets.size(1); }

  static torch::Tensor predict_checked(const Model& model, const torch::Tensor& inputs, std::int64_t outputs,
                                       const std::string& what) {
    auto predictions = model.predict(inputs).to(torch::kCPU).to(torch::kFloat64);
    if (predictions.dim() != 2 || predictions.size(0) != inputs.size(0) || predictions.size(1) != outputs) {
      throw Failure(what + ": predict() returned " + shape_text(predictions) + ", expected [" +
                    std::to_string(inputs.size(0)) + ", " + std::to_string(outputs) + "]");
    }
    if (!torch::isfinite(predictions).all().item<bool>()) {
      throw Failure(what + ": predict() returned NaN or infinite values for finite inputs");
    }
    return predictions;
  }

  std::string shapes() const {
    const auto input_counts =
        named_.inputs.empty() ? std::vector<std::int64_t>{1, 2, 10}
                              : std::vector<std::int64_t>{static_cast<std::int64_t>(named_.inputs.size())};
    const auto output_counts =
        named_.targets.empty() ? std::vector<std::int64_t>{1, 3}
                               : std::vector<std::int64_t>{static_cast<std::int64_t>(named_.targets.size())};
    for (const std::int64_t inputs : input_counts) {
      for (const std::int64_t outputs : output_counts) {
        const auto what = (named_.inputs.empty() ? std::to_string(inputs) + " input" + (inputs == 1 ? "" : "s")
                                                 : "inputs " + names_text(named_.inputs)) +
                          ", " +
                          (named_.targets.empty() ? std::to_string(outputs) + " output" + (outputs == 1 ? "" : "s")
                                                  : "targets " + names_text(named_.targets));
        auto model = create();
        const auto data = synthetic(64, inputs, outputs, 1);
        HostContext context(7, nullptr);
        try {
          model->fit(data, context);
        } catch (const std::exception& error) {
          throw Failure(what + ": fit() threw " + refusal_text(error));
        }
        (void)predict_checked(*model, synthetic(17, inputs, outputs, 2).inputs, outputs, what);
        if (model->parameter_count() < 0) {
          throw Failure(what + ": parameter_count() is negative");
        }
        (void)model->describe();
      }
    }
    if (named_.inputs.empty() && named_.targets.empty()) {
      return "fit on 64 rows and predict [17, outputs], finite, for 1, 2 and 10 inputs × 1 and 3 outputs";
    }
    return "fit on 64 rows and predict [17, " +
           (named_.targets.empty() ? std::string("outputs") : std::to_string(named_.targets.size())) +
           "], finite, for " + (named_.inputs.empty() ? "1, 2 and 10 inputs" : "inputs " + names_text(named_.inputs)) +
           " × " + (named_.targets.empty() ? "1 and 3 outputs" : "targets " + names_text(named_.targets));
  }

  std::string one_row() const {
    auto model = create();
    const auto data = synthetic(1, 2, 1, 3);
    HostContext context(7, nullptr);
    try {
      model->fit(data, context);
    } catch (const std::exception& error) {
      if (std::string(error.what()).empty()) {
        throw Failure("fit() on one row threw an exception without a message");
      }
      return "fit() on one row is refused with a message (" + refusal_text(error) + ")";
    }
    (void)predict_checked(*model, synthetic(3, 2, 1, 4).inputs, width(data), "after fitting one row");
    return "fit on a single row, then predicts [3, " + std::to_string(width(data)) + "], finite";
  }

  std::string before_fit() const {
    auto model = create();
    const auto inputs = synthetic(3, 2, 1, 5).inputs;
    try {
      (void)model->predict(inputs);
    } catch (const std::exception& error) {
      if (std::string(error.what()).empty()) {
        throw Failure("predict() before fit() threw an exception without a message");
      }
      std::string detail = "predict() refused (" + refusal_text(error) + ")";
      try {
        torch::serialize::OutputArchive archive;
        model->save(archive);
      } catch (const std::exception& save_error) {
        return detail + "; save() refused (" + refusal_text(save_error) + ")";
      }
      throw Failure(detail + ", but save() before fit() did not throw");
    }
    throw Failure("predict() before fit() returned instead of throwing (std::logic_error expected)");
  }

  std::string same_seed() const {
    const auto data = synthetic(64, 2, 1, 6);
    const auto queries = synthetic(20, 2, 1, 7).inputs;
    torch::Tensor first;
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto model = create();
      HostContext context(11, nullptr);
      model->fit(data, context);
      const auto predictions = predict_checked(*model, queries, width(data), "same seed");
      if (attempt == 0) {
        first = predictions;
      } else if (!torch::equal(first, predictions)) {
        const double difference = (first - predictions).abs().max().item<double>();
        throw Failure("two fits with the same seed and data predict differently (largest difference " +
                      std::to_string(difference) + "): use Context::seed() for every random draw");
      }
    }
    return "two fresh instances fitted with seed 11 predict the same bits";
  }

  std::string save_and_load() const {
    const auto data = synthetic(64, 2, 3, 8);
    const auto queries = synthetic(20, 2, 3, 9).inputs;
    auto trained = create();
    HostContext context(13, nullptr);
    trained->fit(data, context);
    const auto expected = predict_checked(*trained, queries, width(data), "before saving");
    std::stringstream bytes;
    {
      torch::serialize::OutputArchive archive;
      trained->save(archive);
      archive.save_to(bytes);
    }
    auto fresh = create();
    torch::serialize::InputArchive archive;
    archive.load_from(bytes);
    fresh->load(archive);
    const auto reloaded = predict_checked(*fresh, queries, width(data), "after loading");
    if (!torch::equal(expected, reloaded)) {
      throw Failure("a fresh instance loaded from save() predicts differently (largest difference " +
                    std::to_string((expected - reloaded).abs().max().item<double>()) + ")");
    }
    if (fresh->describe() != trained->describe()) {
      throw Failure("describe() changed after loading: '" + trained->describe() + "' became '" + fresh->describe() +
                    "'");
    }
    if (fresh->parameter_count() != trained->parameter_count()) {
      throw Failure("parameter_count() changed after loading");
    }
    return "a fresh instance loaded from save() predicts the same bits; describe() and parameter_count() unchanged";
  }

  std::string non_finite() const {
    const auto nan = std::numeric_limits<double>::quiet_NaN();
    const auto infinity = std::numeric_limits<double>::infinity();
    std::vector<std::string> refused;
    const auto expect_refusal = [&](const std::string& what, const std::function<void()>& action) {
      try {
        action();
      } catch (const std::exception& error) {
        if (std::string(error.what()).empty()) {
          throw Failure(what + " was refused without a message");
        }
        refused.push_back(what);
        return;
      }
      throw Failure(what + " was accepted: reject non-finite values with a clear error (ballista::require_finite)");
    };
    auto data = synthetic(32, 2, 1, 10);
    data.inputs[5][std::min<std::int64_t>(1, data.inputs.size(1) - 1)] = nan;
    expect_refusal("NaN in fit() inputs", [&] {
      HostContext context(7, nullptr);
      create()->fit(data, context);
    });
    data = synthetic(32, 2, 1, 10);
    data.targets[3][0] = infinity;
    expect_refusal("inf in fit() targets", [&] {
      HostContext context(7, nullptr);
      create()->fit(data, context);
    });
    auto model = create();
    HostContext context(7, nullptr);
    model->fit(synthetic(32, 2, 1, 10), context);
    auto queries = synthetic(4, 2, 1, 11).inputs;
    queries[2][0] = -infinity;
    expect_refusal("-inf in predict() inputs", [&] { (void)model->predict(queries); });
    queries[2][0] = nan;
    expect_refusal("NaN in predict() inputs", [&] { (void)model->predict(queries); });
    return "refused with a message: NaN in fit() inputs, inf in fit() targets, -inf and NaN in predict() inputs";
  }

  std::string concurrent() const {
    auto model = create();
    HostContext context(7, nullptr);
    const auto data = synthetic(64, 2, 1, 12);
    model->fit(data, context);
    const auto queries = synthetic(50, 2, 1, 13).inputs;
    const auto expected = predict_checked(*model, queries, width(data), "one thread");
    constexpr int kThreads = 4;
    constexpr int kCalls = 10;
    std::vector<std::string> problems(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        try {
          for (int call = 0; call < kCalls; ++call) {
            const auto predictions = model->predict(queries).to(torch::kCPU).to(torch::kFloat64);
            if (!torch::equal(predictions, expected)) {
              problems[static_cast<std::size_t>(t)] = "a concurrent predict() gave other values than one thread";
              return;
            }
          }
        } catch (const std::exception& error) {
          problems[static_cast<std::size_t>(t)] = "a concurrent predict() threw " + refusal_text(error);
        }
      });
    }
    for (auto& thread : threads) {
      thread.join();
    }
    for (const auto& problem : problems) {
      if (!problem.empty()) {
        throw Failure(problem);
      }
    }
    return std::to_string(kThreads) + " threads × " + std::to_string(kCalls) +
           " predict() calls agree with one thread to the bit";
  }

  // `--threads` changes how fast a model trains and predicts, never what it computes
  // (README, "Determinism"): fit and predict at 1 and at 3 threads, LibTorch's and
  // OpenBLAS's, as `ballista --threads` sets them.
  std::string thread_count() const {
    const auto data = synthetic(260, 2, 2, 14);
    const auto queries = synthetic(1000, 2, 2, 15).inputs;
    const ThreadCounts restore;
    const auto at_threads = [&](int threads) {
      use_threads(threads);
      auto model = create();
      HostContext context(17, nullptr);
      model->fit(data, context);
      return predict_checked(*model, queries, width(data), std::to_string(threads) + " threads");
    };
    const auto one = at_threads(1);
    const auto three = at_threads(3);
    if (!torch::equal(one, three)) {
      std::ostringstream difference;
      difference << std::setprecision(3) << (one - three).abs().max().item<double>();
      throw Failure("fit() and predict() at 3 threads give other bits than at 1 (largest difference " +
                    difference.str() +
                    "): cut the work into pieces that do not depend on the thread count (docs/writing-a-plugin.md, "
                    "Threading), and draw at random only from Context::seed()");
    }
    return "fit() and predict() at 1 and 3 threads give the same bits";
  }

  // Each declared parameter: the defaults, every choice and boolean value, and values at
  // the declared bounds construct and fit (numbers at a bound may also be refused with a
  // message when fitted); values past the bounds are refused. Each model
  // gets the columns it reads and predicts by name, which its parameters may change.
  std::string parameters() {
    return sweep_.run(
        [&](const std::map<std::string, ParameterValue>& changes) -> std::optional<std::string> {
          const auto what = changes_label(changes);
          std::unique_ptr<Model> model;
          try {
            model = create(changes);
          } catch (const ParameterError& error) {
            return exception_text(error);
          }
          NamedColumns named;
          try {
            named = columns_of(*model, ranges_);
          } catch (const std::exception& error) {
            throw Failure(what + ": asking which inputs and targets it needs threw " + refusal_text(error));
          }
          const auto data = plugin_checks::synthetic(named, 32, 2, 1, 14);
          const auto queries = plugin_checks::synthetic(named, 5, 2, 1, 15).inputs;
          HostContext context(7, nullptr);
          try {
            model->fit(data, context);
            (void)predict_checked(*model, queries, width(data), what);
          } catch (const Failure&) {
            throw;
          } catch (const std::exception& error) {
            // A number at its bound may leave a model unable to fit these rows (an ODE's
            // max_steps = 1: the shells are still in the air); a clear error saying so
            // is a refusal, as from the factory. The defaults, every choice and boolean
            // must work.
            const auto& specs = plugin_.definition.parameters;
            const auto spec = changes.size() != 1 ? specs.end()
                                                  : std::find_if(specs.begin(), specs.end(), [&](const ParameterSpec& p) {
                                                      return p.name() == changes.begin()->first;
                                                    });
            const bool number = spec != specs.end() &&
                                (spec->type() == ParameterType::integer || spec->type() == ParameterType::real);
            if (!number || std::string(error.what()).empty()) {
              throw Failure(what + ": " + refusal_text(error));
            }
            return "when fitted: " + exception_text(error);
          }
          return std::nullopt;
        },
        "fit");
  }

  const LoadedPlugin& plugin_;
  std::map<std::string, ParameterValue> values_;
  NamedColumns named_;
  std::map<std::string, InputRange> ranges_;  // --range, by input name
  ParameterSweep sweep_;
};

}  // namespace

NamedColumns named_columns(const LoadedPlugin& plugin, const std::map<std::string, ParameterValue>& values) {
  try {
    const auto model = create_instance(plugin.definition, values, {}, "model");
    return {model->required_inputs(), {}, model->required_targets()};
  } catch (const ParameterError& error) {
    // The plugin refuses the values under check on purpose (basis without `functions` or a
    // `library`): a usage error, said once, as for a required parameter.
    throw std::invalid_argument(plugin.name + " refuses these parameters: parameter '" + error.parameter() +
                                "': " + error.what() +
                                "; give values with --set NAME=VALUE (the inputs are named x1, x2, ...)");
  } catch (...) {
    return {};  // the checks build the model again, and say what went wrong
  }
}

CheckReport check_model(const LoadedPlugin& plugin, std::map<std::string, ParameterValue> values, NamedColumns named,
                        std::ostream& out) {
  ModelChecker checker(plugin, std::move(values), std::move(named));
  auto outcomes = checker.run(out);
  return {std::move(outcomes), checker.sweep().lines()};
}

}  // namespace ballista::host::plugin_checks
