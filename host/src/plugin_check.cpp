// The conformance checks of `ballista check-plugin` (see plugin_check.hpp).
#include "plugin_check.hpp"

#include "csv_table.hpp"
#include "diagnostics.hpp"
#include "pipeline_loader.hpp"

#include <ballista/blas.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <iomanip>
#include <iostream>
#include <latch>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace ballista::host {

namespace {

// A Context that lets the model train undisturbed: no cancellation, CPU, a fixed seed.
class CheckContext final : public Context {
 public:
  explicit CheckContext(std::uint64_t seed) : seed_(seed) {}
  void report_progress(std::int64_t /*step*/, std::int64_t /*total*/, double /*loss*/) override {}
  bool cancelled() const override { return false; }
  torch::Device device() const override { return torch::kCPU; }
  std::uint64_t seed() const override { return seed_; }
  void log(LogLevel /*level*/, std::string_view /*message*/) override {}

 private:
  std::uint64_t seed_;
};

// The messages a source logged during one check, from any of its threads: a warning is
// fine (projectile says why a shot gives NaN) and is shown in the check's line.
class LogRecord {
 public:
  void add(LogLevel level, std::string_view message) {
    if (level == LogLevel::debug) {
      return;
    }
    const std::lock_guard lock(mutex_);
    auto& kind = level == LogLevel::warning ? warnings_ : infos_;
    if (kind.count++ == 0) {
      kind.first = printable(first_line(message), 200);
    }
  }

  // " (logged 1 warning: ...)", or "" when nothing was logged; then forgets.
  std::string take_summary() {
    const std::lock_guard lock(mutex_);
    std::vector<std::string> parts;
    for (const auto& [name, kind] : {std::pair{"warning", &warnings_}, std::pair{"info message", &infos_}}) {
      if (kind->count == 1) {
        parts.push_back("logged 1 " + std::string(name) + ": " + kind->first);
      } else if (kind->count > 1) {
        parts.push_back("logged " + std::to_string(kind->count) + " " + name + "s, the first: " + kind->first);
      }
    }
    warnings_ = {};
    infos_ = {};
    std::string summary;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      summary += (i == 0 ? " (" : "; ") + parts[i];
    }
    return summary.empty() ? summary : summary + ")";
  }

 private:
  struct Messages {
    int count = 0;
    // cppcheck-suppress unusedStructMember ; read in take_summary()
    std::string first;
  };
  std::mutex mutex_;
  Messages warnings_;
  Messages infos_;
};

// A source's Context for the checks: no cancellation, CPU, a fixed seed, and its log
// messages collected into a LogRecord.
class SourceCheckContext final : public Context {
 public:
  SourceCheckContext(std::uint64_t seed, LogRecord& record) : seed_(seed), record_(record) {}
  void report_progress(std::int64_t /*step*/, std::int64_t /*total*/, double /*loss*/) override {}
  bool cancelled() const override { return false; }
  torch::Device device() const override { return torch::kCPU; }
  std::uint64_t seed() const override { return seed_; }
  void log(LogLevel level, std::string_view message) override { record_.add(level, message); }

 private:
  std::uint64_t seed_;
  LogRecord& record_;
};

// Smooth targets of inputs in [-1, 1]: every model class can fit something of them.
Dataset synthetic(std::int64_t rows, std::int64_t inputs, std::int64_t outputs, std::uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto x = torch::rand({rows, inputs}, generator, torch::kFloat64) * 2 - 1;
  std::vector<torch::Tensor> columns;
  for (std::int64_t k = 0; k < outputs; ++k) {
    columns.push_back(torch::sin(static_cast<double>(k + 1) * x).sum(1) + 0.5 * x.select(1, 0));
  }
  Dataset data{x, torch::stack(columns, 1), {}, {}, {}};
  for (std::int64_t j = 0; j < inputs; ++j) {
    data.input_names.push_back("x" + std::to_string(j + 1));
  }
  for (std::int64_t k = 0; k < outputs; ++k) {
    data.target_names.push_back("y" + std::to_string(k + 1));
  }
  return data;
}

std::string exception_text(const std::exception& error) { return first_line(error.what()); }

// What an exception says, for a check that expected it: "std::logic_error: message".
std::string refusal_text(const std::exception& error) {
  const char* type = dynamic_cast<const std::invalid_argument*>(&error) != nullptr ? "std::invalid_argument"
                     : dynamic_cast<const std::logic_error*>(&error) != nullptr    ? "std::logic_error"
                     : dynamic_cast<const std::runtime_error*>(&error) != nullptr  ? "std::runtime_error"
                                                                                   : "std::exception";
  return std::string(type) + ": " + exception_text(error);
}

std::string shape_text(const torch::Tensor& tensor) {
  std::string text = "[";
  for (std::int64_t i = 0; i < tensor.dim(); ++i) {
    text += (i == 0 ? "" : ", ") + std::to_string(tensor.size(i));
  }
  return text + "]";
}

// What a parameters-check variant is: "the defaults", or "parameter 'k' = 3".
std::string changes_label(const std::map<std::string, ParameterValue>& changes) {
  std::string what = "the defaults";
  for (const auto& [name, value] : changes) {
    what = "parameter '" + name + "' = " + to_string(value);
  }
  return what;
}

// "float64", "float32", ... as NumPy and PyTorch users say it.
std::string dtype_text(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat64:
      return "float64";
    case torch::kFloat32:
      return "float32";
    case torch::kFloat16:
      return "float16";
    case torch::kInt64:
      return "int64";
    case torch::kInt32:
      return "int32";
    case torch::kBool:
      return "bool";
    default:
      return c10::toString(type);
  }
}

// A failed expectation inside a check.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct NamedCheck {
  std::string name;
  std::function<std::string()> body;  // the detail when it passes; throws Failure
};

// Runs `checks` in order and prints each one's line as soon as it finishes, flushed: a
// plugin that crashes the process leaves the lines of the checks before it, so the
// next one in the list is the one that was running.
std::vector<CheckOutcome> run_checks(const std::vector<NamedCheck>& checks, std::ostream& out) {
  std::size_t width = 0;
  for (const auto& check : checks) {
    width = std::max(width, check.name.size());
  }
  std::vector<CheckOutcome> outcomes;
  for (const auto& check : checks) {
    CheckOutcome outcome{check.name, false, {}};
    try {
      outcome.detail = check.body();
      outcome.passed = true;
    } catch (const Failure& failure) {
      outcome.detail = failure.what();
    } catch (const std::exception& error) {
      outcome.detail = "unexpected exception: " + refusal_text(error);
    } catch (...) {
      outcome.detail = "unexpected exception: " + non_standard_exception();
    }
    out << "  " << (outcome.passed ? "ok    " : "FAIL  ") << outcome.name << std::string(width - outcome.name.size(), ' ')
        << "  " << outcome.detail << '\n'
        << std::flush;
    outcomes.push_back(outcome);
  }
  return outcomes;
}

// Puts back LibTorch's and OpenBLAS's thread counts.
struct ThreadCounts {
  int intra_op = at::get_num_threads();
  int blas = blas_threads();
  ThreadCounts() = default;
  ThreadCounts(const ThreadCounts&) = delete;
  ThreadCounts& operator=(const ThreadCounts&) = delete;
  ~ThreadCounts() {
    at::set_num_threads(intra_op);
    if (blas > 0) {
      set_blas_threads(blas);
    }
  }
};

// `--threads` sets LibTorch's and OpenBLAS's thread counts alike.
void use_threads(int threads) {
  at::set_num_threads(threads);
  set_blas_threads(threads);
}

// The `parameters` check of either kind of plugin, and the record of the values it
// tried: each declared parameter's default (or --set value), every choice and boolean
// value, and values at the declared bounds build a model or source and use it; values
// past the bounds are refused by ParameterSpec::check.
class ParameterSweep {
 public:
  // Builds a model or source with `changes` on top of the values under check and uses
  // it: nullopt when that worked, the message of the factory's ParameterError when the
  // plugin refused the combination on purpose; throws Failure for anything else.
  using Use = std::function<std::optional<std::string>(const std::map<std::string, ParameterValue>& changes)>;

  ParameterSweep(const std::vector<ParameterSpec>& specs, std::map<std::string, ParameterValue> values)
      : specs_(specs), values_(std::move(values)) {}

  // Runs the sweep; `used` says what using a model or source means ("fit", "simulate").
  std::string run(const Use& use, const std::string& used) {
    trials_.clear();
    for (const auto& spec : specs_) {
      if (const auto problem = spec.check(spec.default_value()); !problem.empty()) {
        throw Failure("parameter '" + spec.name() + "': the declared default " + to_string(spec.default_value()) +
                      " breaks its own declaration (" + spec.allowed() + "): " + problem);
      }
    }
    for (const auto& spec : specs_) {
      const auto& value = values_.at(spec.name());
      trials_[spec.name()].push_back(
          {to_string(value), value == spec.default_value() ? "default" : "given with --set", Outcome::used, {}});
    }
    if (const auto refusal = use({})) {
      for (auto& [name, trials] : trials_) {
        trials.back().outcome = Outcome::refused_by_plugin;
        trials.back().reason = *refusal;
      }
      throw Failure("the plugin refuses the parameters under check: " + *refusal);
    }
    for (const auto& spec : specs_) {
      sweep(spec, use);
    }
    std::string detail = std::to_string(specs_.size()) + " declared; the defaults and " + std::to_string(used_) +
                         " other values (every choice, both booleans, values at the bounds) " + used + "; " +
                         std::to_string(past_) + (past_ == 1 ? " value" : " values") + " past a bound refused";
    if (!plugin_refusals_.empty()) {
      detail += "; " + std::to_string(plugin_refusals_.size()) + " refused by the plugin with a reason (";
      for (std::size_t i = 0; i < plugin_refusals_.size(); ++i) {
        detail += (i == 0 ? "" : "; ") + plugin_refusals_[i];
      }
      detail += ")";
    }
    return detail;
  }

  // One line per declared parameter: "  alpha: tried 1 (default), 0 (lower bound);
  // refused -0.001 (below the bound)", the values exactly as they were used.
  std::vector<std::string> lines() const {
    std::vector<std::string> lines;
    for (const auto& spec : specs_) {
      static const std::vector<Trial> none;
      const auto found = trials_.find(spec.name());
      std::vector<std::string> tried;
      std::vector<std::string> refused;
      for (const Trial& trial : found == trials_.end() ? none : found->second) {
        const auto text = trial.value + " (" + trial.role;
        switch (trial.outcome) {
          case Outcome::used:
            tried.push_back(text + ")");
            break;
          case Outcome::refused_by_plugin:
            tried.push_back(text + ", refused by the plugin: " + trial.reason + ")");
            break;
          case Outcome::failed:
            tried.push_back(text + ", failed: see the parameters check)");
            break;
          case Outcome::past_bound:
            refused.push_back(text + ")");
            break;
        }
      }
      std::string line = "  " + spec.name() + ": ";
      line += tried.empty() ? "not tried (the parameters check stopped before it)" : "tried " + join(tried);
      if (!refused.empty()) {
        line += "; refused " + join(refused);
      }
      lines.push_back(line);
    }
    return lines;
  }

 private:
  enum class Outcome { used, refused_by_plugin, failed, past_bound };
  struct Trial {
    // cppcheck-suppress unusedStructMember ; the members are read in lines()
    std::string value;  // to_string of the value used
    // cppcheck-suppress unusedStructMember
    std::string role;   // "default", "choice", "lower bound", ...
    Outcome outcome = Outcome::used;
    // cppcheck-suppress unusedStructMember
    std::string reason;  // the plugin's ParameterError
  };


  // The distance from a bound to the value just past (or just inside) it.
  static double step(double bound, bool integer) { return integer ? 1.0 : std::max(1e-3, std::abs(bound) * 1e-3); }

  static ParameterValue as_value(const ParameterSpec& spec, double number) {
    return spec.type() == ParameterType::integer ? ParameterValue{static_cast<std::int64_t>(number)}
                                                 : ParameterValue{number};
  }

  void sweep(const ParameterSpec& spec, const Use& use) {
    if (spec.type() == ParameterType::boolean) {
      try_value(spec, ParameterValue{!std::get<bool>(values_.at(spec.name()))}, "the other boolean", use);
    }
    for (const auto& choice : spec.choices()) {
      if (ParameterValue{choice} != values_.at(spec.name())) {
        try_value(spec, ParameterValue{choice}, "choice", use);
      }
    }
    if (spec.type() != ParameterType::integer && spec.type() != ParameterType::real) {
      return;
    }
    const bool integer = spec.type() == ParameterType::integer;
    if (const auto& low = spec.lower_bound()) {
      const bool inclusive = spec.lower_bound_inclusive();
      try_value(spec, as_value(spec, inclusive ? *low : *low + step(*low, integer)),
                inclusive ? "lower bound" : "just inside the lower bound", use);
      expect_refused(spec, as_value(spec, inclusive ? *low - step(*low, integer) : *low),
                     inclusive ? "below the bound" : "the excluded bound", "outside");
    }
    if (const auto& high = spec.upper_bound()) {
      try_value(spec, as_value(spec, *high), "upper bound", use);
      expect_refused(spec, as_value(spec, *high + step(*high, integer)), "above the bound", "above");
    }
  }

  void try_value(const ParameterSpec& spec, const ParameterValue& value, const std::string& role, const Use& use) {
    if (const auto problem = spec.check(value); !problem.empty()) {
      throw Failure("parameter '" + spec.name() + "': " + to_string(value) + " is within the declared range (" +
                    spec.allowed() + ") but check() refuses it: " + problem);
    }
    auto& trials = trials_[spec.name()];
    trials.push_back({to_string(value), role, Outcome::used, {}});
    std::optional<std::string> refusal;
    try {
      refusal = use({{spec.name(), value}});
    } catch (...) {
      trials.back().outcome = Outcome::failed;
      throw;
    }
    if (refusal) {
      // A combination the plugin refuses on purpose (l2 with a gradient solver, cuda
      // without CUDA): fine, if it says so.
      trials.back().outcome = Outcome::refused_by_plugin;
      trials.back().reason = *refusal;
      plugin_refusals_.push_back(spec.name() + "=" + to_string(value) + ": " + *refusal);
    } else {
      ++used_;
    }
  }

  void expect_refused(const ParameterSpec& spec, const ParameterValue& value, const std::string& role,
                      const std::string& where) {
    if (spec.check(value).empty()) {
      throw Failure("parameter '" + spec.name() + "': " + to_string(value) + " is " + where +
                    " the declared range (" + spec.allowed() + ") but is accepted");
    }
    trials_[spec.name()].push_back({to_string(value), role, Outcome::past_bound, {}});
    ++past_;
  }

  const std::vector<ParameterSpec>& specs_;
  std::map<std::string, ParameterValue> values_;
  std::map<std::string, std::vector<Trial>> trials_;
  int used_ = 0;
  int past_ = 0;
  std::vector<std::string> plugin_refusals_;
};

// The checks of a model plugin.
class ModelChecker {
 public:
  ModelChecker(const LoadedPlugin& plugin, std::map<std::string, ParameterValue> values)
      : plugin_(plugin), values_(std::move(values)), sweep_(plugin.definition.parameters, values_) {}

  std::vector<CheckOutcome> run(std::ostream& out) {
    return run_checks({{"shapes", [&] { return shapes(); }},
                       {"one training row", [&] { return one_row(); }},
                       {"predict before fit", [&] { return before_fit(); }},
                       {"same seed", [&] { return same_seed(); }},
                       {"save and load", [&] { return save_and_load(); }},
                       {"non-finite inputs", [&] { return non_finite(); }},
                       {"concurrent predict", [&] { return concurrent(); }},
                       {"thread count", [&] { return thread_count(); }},
                       {"parameters", [&] { return parameters(); }}},
                      out);
  }

  const ParameterSweep& sweep() const { return sweep_; }

 private:
  std::unique_ptr<Model> create(const std::map<std::string, ParameterValue>& changes = {}) const {
    auto values = values_;
    for (const auto& [name, value] : changes) {
      values[name] = value;
    }
    auto model = plugin_.definition.create(Parameters(values));
    if (!model) {
      throw Failure("the factory returned no model");
    }
    return model;
  }

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
    for (const std::int64_t inputs : {1, 2, 10}) {
      for (const std::int64_t outputs : {1, 3}) {
        const auto what = std::to_string(inputs) + " input" + (inputs == 1 ? "" : "s") + ", " +
                          std::to_string(outputs) + " output" + (outputs == 1 ? "" : "s");
        auto model = create();
        const auto data = synthetic(64, inputs, outputs, 1);
        CheckContext context(7);
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
    return "fit on 64 rows and predict [17, outputs], finite, for 1, 2 and 10 inputs × 1 and 3 outputs";
  }

  std::string one_row() const {
    auto model = create();
    const auto data = synthetic(1, 2, 1, 3);
    CheckContext context(7);
    try {
      model->fit(data, context);
    } catch (const std::exception& error) {
      if (std::string(error.what()).empty()) {
        throw Failure("fit() on one row threw an exception without a message");
      }
      return "fit() on one row is refused with a message (" + refusal_text(error) + ")";
    }
    (void)predict_checked(*model, synthetic(3, 2, 1, 4).inputs, 1, "after fitting one row");
    return "fit on a single row, then predicts [3, 1], finite";
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
      CheckContext context(11);
      model->fit(data, context);
      const auto predictions = predict_checked(*model, queries, 1, "same seed");
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
    CheckContext context(13);
    trained->fit(data, context);
    const auto expected = predict_checked(*trained, queries, 3, "before saving");
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
    const auto reloaded = predict_checked(*fresh, queries, 3, "after loading");
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
    data.inputs[5][1] = nan;
    expect_refusal("NaN in fit() inputs", [&] {
      CheckContext context(7);
      create()->fit(data, context);
    });
    data = synthetic(32, 2, 1, 10);
    data.targets[3][0] = infinity;
    expect_refusal("inf in fit() targets", [&] {
      CheckContext context(7);
      create()->fit(data, context);
    });
    auto model = create();
    CheckContext context(7);
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
    CheckContext context(7);
    model->fit(synthetic(64, 2, 1, 12), context);
    const auto queries = synthetic(50, 2, 1, 13).inputs;
    const auto expected = predict_checked(*model, queries, 1, "one thread");
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
      CheckContext context(17);
      model->fit(data, context);
      return predict_checked(*model, queries, 2, std::to_string(threads) + " threads");
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
  // the declared bounds construct and fit; values past the bounds are refused.
  std::string parameters() {
    const auto data = synthetic(32, 2, 1, 14);
    const auto queries = synthetic(5, 2, 1, 15).inputs;
    return sweep_.run(
        [&](const std::map<std::string, ParameterValue>& changes) -> std::optional<std::string> {
          const auto what = changes_label(changes);
          std::unique_ptr<Model> model;
          try {
            model = create(changes);
          } catch (const ParameterError& error) {
            return exception_text(error);
          }
          CheckContext context(7);
          try {
            model->fit(data, context);
            (void)predict_checked(*model, queries, 1, what);
          } catch (const Failure&) {
            throw;
          } catch (const std::exception& error) {
            throw Failure(what + ": " + refusal_text(error));
          }
          return std::nullopt;
        },
        "fit");
  }

  const LoadedPlugin& plugin_;
  std::map<std::string, ParameterValue> values_;
  ParameterSweep sweep_;
};

bool is_identifier(const std::string& name) {
  const auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  return !name.empty() && letter(name[0]) &&
         std::all_of(name.begin(), name.end(), [&](char c) { return letter(c) || (c >= '0' && c <= '9'); });
}

// The checks of a source plugin. The checker does not know a source's domain: each
// input is drawn uniformly from its range ([0, 1] unless --range says otherwise) by a
// fixed-seed generator.
class SourceChecker {
 public:
  using Range = std::pair<double, double>;

  SourceChecker(const LoadedPlugin& plugin, std::map<std::string, ParameterValue> values, std::vector<Range> ranges)
      : plugin_(plugin),
        values_(std::move(values)),
        ranges_(std::move(ranges)),
        sweep_(plugin.source.parameters, values_) {}

  std::vector<CheckOutcome> run(std::ostream& out) {
    return run_checks({{"declared names", [&] { return declared_names(); }},
                       {"shapes", [&] { return logged([&] { return shapes(); }); }},
                       {"same bits", [&] { return logged([&] { return same_bits(); }); }},
                       {"out-of-domain inputs", [&] { return logged([&] { return out_of_domain(); }); }},
                       {"parameters", [&] { return logged([&] { return parameters(); }); }},
                       {"concurrent calls", [&] { return logged([&] { return concurrent(); }); }}},
                      out);
  }

  const ParameterSweep& sweep() const { return sweep_; }

 private:
  // `body`'s detail, or its failure, followed by what the source logged meanwhile.
  std::string logged(const std::function<std::string()>& body) {
    (void)log_.take_summary();
    try {
      auto detail = body();
      return detail + log_.take_summary();
    } catch (const Failure& failure) {
      throw Failure(failure.what() + log_.take_summary());
    } catch (const std::exception& error) {
      throw Failure("unexpected exception: " + refusal_text(error) + log_.take_summary());
    }
  }

  std::int64_t outputs() const { return static_cast<std::int64_t>(plugin_.source.targets.size()); }

  std::string target_name(std::int64_t k) const {
    return k < outputs() ? plugin_.source.targets[static_cast<std::size_t>(k)] : "#" + std::to_string(k);
  }

  std::string input_name(std::int64_t j) const { return plugin_.source.inputs[static_cast<std::size_t>(j)]; }

  // Rows of inputs, each column uniform in its range, from a generator seeded `seed`.
  torch::Tensor inputs(std::int64_t rows, std::uint64_t seed) const {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    const auto columns = static_cast<std::int64_t>(ranges_.size());
    auto x = torch::rand({rows, columns}, generator, torch::kFloat64);
    for (std::int64_t j = 0; j < columns; ++j) {
      const auto [low, high] = ranges_[static_cast<std::size_t>(j)];
      x.select(1, j).mul_(high - low).add_(low);
    }
    return x;
  }

  std::unique_ptr<Source> create(const std::map<std::string, ParameterValue>& changes = {}) const {
    auto values = values_;
    for (const auto& [name, value] : changes) {
      values[name] = value;
    }
    auto source = plugin_.source.create(Parameters(values));
    if (!source) {
      throw Failure("the factory returned no source");
    }
    return source;
  }

  // Where the inputs come from, for a message about a simulate() that threw.
  std::string domain_hint() const {
    std::string text = "inputs drawn uniformly from ";
    for (std::size_t j = 0; j < ranges_.size(); ++j) {
      text += (j == 0 ? "" : ", ") + plugin_.source.inputs[j] + " in [" + shortest_text(ranges_[j].first) + ", " +
              shortest_text(ranges_[j].second) + "]";
    }
    return text + "; --range NAME=LOW,HIGH sets an input's range";
  }

  // simulate(), which must return float64 [rows, d_out] on the CPU.
  torch::Tensor simulate_checked(Source& source, const torch::Tensor& x, const std::string& what,
                                 std::uint64_t seed = 7) {
    SourceCheckContext context(seed, log_);
    torch::Tensor result;
    try {
      result = source.simulate(x, context);
    } catch (const std::exception& error) {
      throw Failure(what + ": simulate() threw " + refusal_text(error) + " (" + domain_hint() + ")");
    }
    if (!result.defined()) {
      throw Failure(what + ": simulate() returned an undefined tensor");
    }
    if (result.scalar_type() != torch::kFloat64 || result.dim() != 2 || result.size(0) != x.size(0) ||
        result.size(1) != outputs()) {
      throw Failure(what + ": simulate() returned " + dtype_text(result.scalar_type()) + " " + shape_text(result) +
                    ", expected float64 [" +
                    std::to_string(x.size(0)) + ", " + std::to_string(outputs()) + "]");
    }
    return result.to(torch::kCPU).contiguous();
  }

  // "" when `a` and `b` hold the same bits, else where they first differ.
  std::string first_difference(const torch::Tensor& a, const torch::Tensor& b) const {
    const auto bits_a = a.contiguous().view(torch::kInt64);
    const auto bits_b = b.contiguous().view(torch::kInt64);
    if (torch::equal(bits_a, bits_b)) {
      return {};
    }
    const auto where = (bits_a != bits_b).nonzero()[0];
    const auto row = where[0].item<std::int64_t>();
    const auto column = where[1].item<std::int64_t>();
    return "first at row " + std::to_string(row) + ", target '" + printable(target_name(column)) +
           "': " + shortest_text(a[row][column].item<double>()) + " vs " + shortest_text(b[row][column].item<double>());
  }

  std::string declared_names() const {
    std::vector<std::string> problems;
    const auto& source = plugin_.source;
    if (source.inputs.empty()) {
      problems.emplace_back("no inputs declared");
    }
    if (source.targets.empty()) {
      problems.emplace_back("no targets declared");
    }
    std::map<std::string, std::string> seen;  // name → "input" or "target"
    for (const auto* kind : {"input", "target"}) {
      for (const auto& name : std::string(kind) == "input" ? source.inputs : source.targets) {
        if (!is_identifier(name)) {
          problems.push_back(std::string(kind) + " '" + printable(name) +
                             "' is not an identifier (a letter or _, then letters, digits or _)");
        }
        const auto [found, inserted] = seen.emplace(name, kind);
        if (!inserted) {
          problems.push_back(found->second == kind
                                 ? std::string(kind) + " '" + printable(name) + "' is declared twice"
                                 : "'" + printable(name) + "' is both an input and a target");
        }
      }
    }
    if (!problems.empty()) {
      std::string text;
      for (std::size_t i = 0; i < problems.size(); ++i) {
        text += (i == 0 ? "" : "; ") + problems[i];
      }
      throw Failure(text + ": pipelines name inputs and targets in expressions and columns");
    }
    const auto list = [](const std::vector<std::string>& names) {
      std::string text;
      for (std::size_t i = 0; i < names.size(); ++i) {
        text += (i == 0 ? "" : ", ") + names[i];
      }
      return text;
    };
    return std::to_string(source.inputs.size()) + (source.inputs.size() == 1 ? " input (" : " inputs (") +
           list(source.inputs) + ") and " + std::to_string(source.targets.size()) +
           (source.targets.size() == 1 ? " target (" : " targets (") + list(source.targets) +
           "): identifiers, no duplicates";
  }

  std::string shapes() {
    std::int64_t nan_values = 0;
    std::int64_t values = 0;
    for (const std::int64_t rows : {1, 2, 50}) {
      auto source = create();
      const auto result =
          simulate_checked(*source, inputs(rows, static_cast<std::uint64_t>(100 + rows)),
                           std::to_string(rows) + (rows == 1 ? " row" : " rows"));
      nan_values += torch::isnan(result).sum().item<std::int64_t>();
      values += result.numel();
    }
    std::string detail = "1, 2 and 50 rows give float64 [rows, " + std::to_string(outputs()) + "]";
    if (nan_values > 0) {
      detail += "; " + std::to_string(nan_values) + " of " + std::to_string(values) +
                " values are NaN (are the inputs inside the source's domain? --range NAME=LOW,HIGH)";
    }
    return detail;
  }

  std::string same_bits() {
    const auto x = inputs(20, 200);
    auto source = create();
    const auto first = simulate_checked(*source, x, "first call");
    const auto second = simulate_checked(*source, x, "second call");
    if (const auto difference = first_difference(first, second); !difference.empty()) {
      throw Failure("a second call of the same instance gives other bits (" + difference +
                    "): keep no state between calls that changes the result");
    }
    const auto fresh = simulate_checked(*create(), x, "fresh instance");
    if (const auto difference = first_difference(first, fresh); !difference.empty()) {
      throw Failure("a fresh instance with the same seed gives other bits (" + difference +
                    "): draw at random only from Context::seed(), keep no global state");
    }
    const ThreadCounts restore;
    use_threads(1);
    const auto one = simulate_checked(*create(), x, "1 thread");
    use_threads(3);
    const auto three = simulate_checked(*create(), x, "3 threads");
    if (const auto difference = first_difference(one, three); !difference.empty()) {
      throw Failure("simulate() at 3 threads gives other bits than at 1 (" + difference +
                    "): cut the work into pieces that do not depend on the thread count (docs/writing-a-plugin.md, "
                    "Threading)");
    }
    return "20 rows: a second call, a fresh instance with the same seed, and 1 and 3 threads give the same bits";
  }

  // Row 2 of 5 gets NaN, ±inf or ±1e300 in one input. simulate() either refuses with a
  // message, or answers with the other rows unchanged and NaN for a NaN row.
  std::string out_of_domain() {
    const auto clean = inputs(5, 300);
    const auto expected = simulate_checked(*create(), clean, "clean inputs");
    constexpr std::int64_t kRow = 2;
    int refused = 0;
    int answered = 0;
    for (std::int64_t j = 0; j < clean.size(1); ++j) {
      for (const double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                               -std::numeric_limits<double>::infinity(), 1e300, -1e300}) {
        const auto what = shortest_text(bad) + " in input '" + printable(input_name(j)) + "' of row " +
                          std::to_string(kRow);
        auto x = clean.clone();
        x[kRow][j] = bad;
        auto source = create();
        SourceCheckContext context(7, log_);
        torch::Tensor result;
        try {
          result = source->simulate(x, context);
        } catch (const std::exception& error) {
          if (std::string(error.what()).empty()) {
            throw Failure(what + ": simulate() threw an exception without a message");
          }
          ++refused;
          continue;
        } catch (...) {
          throw Failure(what + ": simulate() threw something other than a std::exception (" +
                        non_standard_exception() + ")");
        }
        if (!result.defined() || result.scalar_type() != torch::kFloat64 || result.dim() != 2 ||
            result.size(0) != x.size(0) || result.size(1) != outputs()) {
          throw Failure(what + ": simulate() returned " +
                        (result.defined() ? dtype_text(result.scalar_type()) + " " + shape_text(result) : "nothing") +
                        " instead of refusing or returning float64 [5, " + std::to_string(outputs()) + "]");
        }
        result = result.to(torch::kCPU).contiguous();
        const auto others = torch::cat({torch::arange(0, kRow), torch::arange(kRow + 1, x.size(0))});
        if (const auto difference =
                first_difference(expected.index_select(0, others), result.index_select(0, others));
            !difference.empty()) {
          throw Failure(what + ": the rows with valid inputs changed (" + difference +
                        ", counting the other rows from 0): compute each row on its own");
        }
        if (std::isnan(bad)) {
          const auto row = result[kRow];
          for (std::int64_t k = 0; k < outputs(); ++k) {
            if (!std::isnan(row[k].item<double>())) {
              throw Failure(what + ": target '" + printable(target_name(k)) + "' is " +
                            shortest_text(row[k].item<double>()) +
                            "; a NaN input must give NaN, or be refused with an exception");
            }
          }
        }
        ++answered;
      }
    }
    return "NaN, ±inf and ±1e300 in each input of one row of 5: " + std::to_string(refused) +
           " refused with a message, " + std::to_string(answered) +
           " answered with the other rows' bits unchanged (NaN in, NaN out)";
  }

  // Each declared parameter: the defaults, every choice and boolean value, and values at
  // the declared bounds construct and simulate; values past the bounds are refused.
  std::string parameters() {
    const auto x = inputs(5, 500);
    return sweep_.run(
        [&](const std::map<std::string, ParameterValue>& changes) -> std::optional<std::string> {
          const auto what = changes_label(changes);
          std::unique_ptr<Source> source;
          try {
            source = create(changes);
          } catch (const ParameterError& error) {
            return exception_text(error);
          } catch (const std::exception& error) {
            throw Failure(what + ": the factory threw " + refusal_text(error) + " (only a ParameterError says no)");
          }
          (void)simulate_checked(*source, x, what);
          return std::nullopt;
        },
        "simulate");
  }

  // Separate instances, each with its own Context, are called from several threads at
  // once (source.hpp): the results must be those of one thread.
  std::string concurrent() {
    const auto x = inputs(20, 600);
    const auto expected = simulate_checked(*create(), x, "one thread");
    constexpr int kThreads = 4;
    constexpr int kCalls = 10;
    std::vector<std::unique_ptr<Source>> sources;
    for (int t = 0; t < kThreads; ++t) {
      sources.push_back(create());
    }
    std::vector<std::string> problems(kThreads);
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        auto& problem = problems[static_cast<std::size_t>(t)];
        start.arrive_and_wait();
        for (int call = 0; call < kCalls && problem.empty(); ++call) {
          const auto where = "thread " + std::to_string(t + 1) + ", call " + std::to_string(call + 1);
          try {
            SourceCheckContext context(7, log_);
            const auto result = sources[static_cast<std::size_t>(t)]->simulate(x, context);
            if (!result.defined() || result.scalar_type() != torch::kFloat64 || result.sizes() != expected.sizes()) {
              problem = where + ": simulate() returned " +
                        (result.defined() ? dtype_text(result.scalar_type()) + " " + shape_text(result) : "nothing");
            } else if (const auto difference = first_difference(expected, result.to(torch::kCPU));
                       !difference.empty()) {
              problem = where + ": other bits than one thread (" + difference + ")";
            }
          } catch (const std::exception& error) {
            problem = where + ": simulate() threw " + refusal_text(error);
          } catch (...) {
            problem = where + ": " + non_standard_exception();
          }
        }
      });
    }
    for (auto& thread : threads) {
      thread.join();
    }
    for (const auto& problem : problems) {
      if (!problem.empty()) {
        throw Failure(problem + ": separate instances must not share mutable state (a static buffer, a global "
                                "counter)");
      }
    }
    return std::to_string(kThreads) + " threads, each with its own instance, × " + std::to_string(kCalls) +
           " simulate() calls agree with one thread to the bit";
  }

  const LoadedPlugin& plugin_;
  std::map<std::string, ParameterValue> values_;
  std::vector<Range> ranges_;
  ParameterSweep sweep_;
  LogRecord log_;
};

// The parameter values to check with: defaults, then `overrides`. Throws
// std::invalid_argument for a bad override or a missing required value.
std::map<std::string, ParameterValue> check_values(const LoadedPlugin& plugin,
                                                   const std::vector<std::string>& overrides) {
  const auto& specs = plugin.parameters();
  std::map<std::string, ParameterValue> values;
  std::vector<std::string> names;
  for (const auto& spec : specs) {
    values[spec.name()] = spec.default_value();
    names.push_back(spec.name());
  }
  std::vector<std::string> given;
  for (const auto& text : overrides) {
    const auto equals = text.find('=');
    if (equals == std::string::npos || equals == 0) {
      throw std::invalid_argument("--set " + text + ": expected NAME=VALUE, e.g. --set epochs=20");
    }
    const auto name = text.substr(0, equals);
    const auto found =
        std::find_if(specs.begin(), specs.end(), [&](const ParameterSpec& spec) { return spec.name() == name; });
    if (found == specs.end()) {
      throw std::invalid_argument("--set " + text + ": " + plugin.name + " has no parameter '" + name + "'" +
                                  suggest(name, names));
    }
    const auto value = parse_parameter(text.substr(equals + 1), *found);
    if (!value) {
      throw std::invalid_argument("--set " + text + ": '" + name + "' takes " + found->allowed());
    }
    if (const auto problem = found->check(*value); !problem.empty()) {
      throw std::invalid_argument("--set " + text + ": " + problem);
    }
    values[name] = *value;
    given.push_back(name);
  }
  for (const auto& spec : specs) {
    if (spec.is_required() && std::find(given.begin(), given.end(), spec.name()) == given.end()) {
      throw std::invalid_argument("parameter '" + spec.name() + "' is required: give it with --set " + spec.name() +
                                  "=VALUE (" + spec.allowed() +
                                  (plugin.kind == PluginKind::model ? "; the inputs are named x1, x2, ...)" : ")"));
    }
  }
  return values;
}

// A finite decimal number, all of `text`: "0", "-2.5", "1e3" (not "inf", "nan", "0x1p3").
std::optional<double> finite_decimal(const std::string& text) {
  double value = 0.0;
  const auto* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || stop != end || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

// The range each declared input of a source is drawn from: [0, 1], or `--range
// NAME=LOW,HIGH`. Throws std::invalid_argument for a model plugin, a malformed range,
// an input the source does not declare, or a name given twice.
std::vector<SourceChecker::Range> input_ranges(const LoadedPlugin& plugin, const std::vector<std::string>& texts) {
  if (plugin.kind != PluginKind::source) {
    if (texts.empty()) {
      return {};
    }
    throw std::invalid_argument("--range " + printable(texts.front()) + ": '" + plugin.name + "' is a " +
                                plugin_kind_name(plugin.kind) +
                                " plugin; --range sets the inputs of a source plugin (a model plugin is checked on "
                                "synthetic inputs in [-1, 1])");
  }
  const auto& names = plugin.source.inputs;
  std::vector<SourceChecker::Range> ranges(names.size(), {0.0, 1.0});
  std::set<std::string> given;
  for (const auto& text : texts) {
    const auto option = "--range " + printable(text) + ": ";
    const auto equals = text.find('=');
    const auto comma = text.find(',', equals == std::string::npos ? 0 : equals);
    if (equals == std::string::npos || equals == 0 || comma == std::string::npos) {
      throw std::invalid_argument(option + "expected NAME=LOW,HIGH, e.g. --range " +
                                  (names.empty() ? std::string("v") : names.front()) + "=0,1");
    }
    const auto name = text.substr(0, equals);
    const auto found = std::find(names.begin(), names.end(), name);
    if (found == names.end()) {
      throw std::invalid_argument(option + plugin.name + " has no input '" + printable(name) + "'" +
                                  suggest(name, names));
    }
    const auto low = finite_decimal(text.substr(equals + 1, comma - equals - 1));
    const auto high = finite_decimal(text.substr(comma + 1));
    if (!low || !high) {
      throw std::invalid_argument(option + "LOW and HIGH must be finite decimal numbers, e.g. --range " + name +
                                  "=0,20");
    }
    if (!(*low < *high)) {
      throw std::invalid_argument(option + "LOW must be below HIGH");
    }
    if (!given.insert(name).second) {
      throw std::invalid_argument(option + "the range of '" + name + "' is given twice");
    }
    ranges[static_cast<std::size_t>(found - names.begin())] = {*low, *high};
  }
  return ranges;
}

}  // namespace

int check_plugin_command(const PluginCatalog& catalog, const std::string& name,
                         const std::vector<std::string>& overrides, const std::vector<std::string>& ranges,
                         std::ostream& out) {
  const auto* plugin = catalog.find(name);
  if (plugin == nullptr) {
    std::cerr << "ballista: no plugin named '" << name << "'" << suggest(name, catalog.names())
              << " (`ballista plugins --verbose` lists refused files)\n";
    return 2;
  }
  std::map<std::string, ParameterValue> values;
  std::vector<SourceChecker::Range> input_range;
  try {
    values = check_values(*plugin, overrides);
    input_range = input_ranges(*plugin, ranges);
  } catch (const std::invalid_argument& error) {
    std::cerr << "ballista: " << error.what() << '\n';
    return 2;
  }
  out << "Checking " << plugin->name << ' ' << plugin->version << " (" << plugin->file.string() << ")";
  for (std::size_t i = 0; i < overrides.size(); ++i) {
    out << (i == 0 ? " with " : ", ") << overrides[i];
  }
  out << '\n';
  if (plugin->kind == PluginKind::source) {
    out << "  inputs drawn uniformly from ";
    for (std::size_t j = 0; j < input_range.size(); ++j) {
      out << (j == 0 ? "" : ", ") << plugin->source.inputs[j] << " in [" << shortest_text(input_range[j].first) << ", "
          << shortest_text(input_range[j].second) << "]";
    }
    out << " (--range NAME=LOW,HIGH)\n";
  }
  out << std::flush;
  std::vector<CheckOutcome> outcomes;
  std::vector<std::string> tried;
  if (plugin->kind == PluginKind::source) {
    SourceChecker checker(*plugin, values, input_range);
    outcomes = checker.run(out);
    tried = checker.sweep().lines();
  } else {
    ModelChecker checker(*plugin, values);
    outcomes = checker.run(out);
    tried = checker.sweep().lines();
  }
  if (!tried.empty()) {
    out << "Parameter values the parameters check tried:\n";
  }
  for (const auto& line : tried) {
    out << line << '\n';
  }
  const auto passed = static_cast<std::size_t>(
      std::count_if(outcomes.begin(), outcomes.end(), [](const CheckOutcome& outcome) { return outcome.passed; }));
  out << outcomes.size() << " checks: " << passed << " passed";
  if (passed != outcomes.size()) {
    out << ", " << outcomes.size() - passed << " failed";
  }
  out << '\n';
  return passed == outcomes.size() ? 0 : 1;
}

}  // namespace ballista::host
