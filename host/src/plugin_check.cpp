// The conformance checks of `ballista check-plugin` (see plugin_check.hpp).
#include "plugin_check.hpp"

#include "diagnostics.hpp"
#include "pipeline_loader.hpp"

#include <ballista/blas.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iomanip>
#include <limits>
#include <iostream>
#include <map>
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

std::string exception_text(const std::exception& error) {
  std::string message = error.what();
  message.resize(std::min(message.find('\n'), message.size()));
  return message;
}

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

class Checker {
 public:
  Checker(const LoadedPlugin& plugin, std::map<std::string, ParameterValue> values)
      : plugin_(plugin), values_(std::move(values)) {}

  std::vector<CheckOutcome> run() {
    check("shapes", [&] { return shapes(); });
    check("one training row", [&] { return one_row(); });
    check("predict before fit", [&] { return before_fit(); });
    check("same seed", [&] { return same_seed(); });
    check("save and load", [&] { return save_and_load(); });
    check("non-finite inputs", [&] { return non_finite(); });
    check("concurrent predict", [&] { return concurrent(); });
    check("thread count", [&] { return thread_count(); });
    check("parameters", [&] { return parameters(); });
    return outcomes_;
  }

 private:
  // A failed expectation inside a check.
  struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
  };

  void check(const std::string& name, const std::function<std::string()>& body) {
    CheckOutcome outcome{name, false, {}};
    try {
      outcome.detail = body();
      outcome.passed = true;
    } catch (const Failure& failure) {
      outcome.detail = failure.what();
    } catch (const std::exception& error) {
      outcome.detail = "unexpected exception: " + refusal_text(error);
    } catch (...) {
      outcome.detail = "unexpected exception that is not a std::exception";
    }
    outcomes_.push_back(outcome);
  }

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
      at::set_num_threads(threads);
      set_blas_threads(threads);
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

  // A value just inside a declared bound: the bound itself when inclusive.
  static double inside(double bound, bool inclusive, bool lower, bool integer) {
    if (inclusive) {
      return bound;
    }
    const double step = integer ? 1.0 : std::max(1e-3, std::abs(bound) * 1e-3);
    return lower ? bound + step : bound - step;
  }

  static ParameterValue as_value(const ParameterSpec& spec, double number) {
    return spec.type() == ParameterType::integer ? ParameterValue{static_cast<std::int64_t>(number)}
                                                 : ParameterValue{number};
  }

  // Each declared parameter: the default, every choice and boolean value, and values at
  // the declared bounds construct and fit; values past the bounds are refused.
  std::string parameters() const {
    const auto data = synthetic(32, 2, 1, 14);
    const auto queries = synthetic(5, 2, 1, 15).inputs;
    int fitted = 0;
    int refused_by_plugin = 0;
    int rejected = 0;
    std::vector<std::string> plugin_refusals;
    const auto try_value = [&](const ParameterSpec& spec, const ParameterValue& value) {
      if (const auto problem = spec.check(value); !problem.empty()) {
        throw Failure("parameter '" + spec.name() + "': " + to_string(value) + " is within the declared range (" +
                      spec.allowed() + ") but check() refuses it: " + problem);
      }
      std::unique_ptr<Model> model;
      try {
        model = create({{spec.name(), value}});
      } catch (const ParameterError& error) {
        // A combination the plugin refuses on purpose (l2 with a gradient solver, cuda
        // without CUDA): fine, if it says so.
        ++refused_by_plugin;
        plugin_refusals.push_back(spec.name() + "=" + to_string(value) + ": " + exception_text(error));
        return;
      }
      CheckContext context(7);
      try {
        model->fit(data, context);
        (void)predict_checked(*model, queries, 1, spec.name() + "=" + to_string(value));
      } catch (const Failure&) {
        throw;
      } catch (const std::exception& error) {
        throw Failure("parameter '" + spec.name() + "' = " + to_string(value) + ": " + refusal_text(error));
      }
      ++fitted;
    };
    const auto& specs = plugin_.definition.parameters;
    for (const auto& spec : specs) {
      if (const auto problem = spec.check(spec.default_value()); !problem.empty()) {
        throw Failure("parameter '" + spec.name() + "': the declared default " + to_string(spec.default_value()) +
                      " breaks its own declaration (" + spec.allowed() + "): " + problem);
      }
    }
    for (const auto& spec : specs) {
      if (spec.type() == ParameterType::boolean) {
        try_value(spec, ParameterValue{!std::get<bool>(values_.at(spec.name()))});
      }
      for (const auto& choice : spec.choices()) {
        if (ParameterValue{choice} != values_.at(spec.name())) {
          try_value(spec, ParameterValue{choice});
        }
      }
      const bool number = spec.type() == ParameterType::integer || spec.type() == ParameterType::real;
      if (!number) {
        continue;
      }
      const bool integer = spec.type() == ParameterType::integer;
      if (const auto& low = spec.lower_bound()) {
        try_value(spec, as_value(spec, inside(*low, spec.lower_bound_inclusive(), true, integer)));
        const double outside = spec.lower_bound_inclusive() ? *low - (integer ? 1.0 : std::max(1e-3, std::abs(*low) * 1e-3))
                                                            : *low;
        if (spec.check(as_value(spec, outside)).empty()) {
          throw Failure("parameter '" + spec.name() + "': " + to_string(as_value(spec, outside)) +
                        " is outside the declared range (" + spec.allowed() + ") but is accepted");
        }
        ++rejected;
      }
      if (const auto& high = spec.upper_bound()) {
        try_value(spec, as_value(spec, inside(*high, true, false, integer)));
        const double outside = *high + (integer ? 1.0 : std::max(1e-3, std::abs(*high) * 1e-3));
        if (spec.check(as_value(spec, outside)).empty()) {
          throw Failure("parameter '" + spec.name() + "': " + to_string(as_value(spec, outside)) +
                        " is above the declared range (" + spec.allowed() + ") but is accepted");
        }
        ++rejected;
      }
    }
    std::string detail = std::to_string(specs.size()) + " declared; defaults fit (above); " + std::to_string(fitted) +
                         " other values (every choice, both booleans, values at the bounds) fit; " +
                         std::to_string(rejected) + (rejected == 1 ? " value" : " values") + " past a bound refused";
    if (refused_by_plugin > 0) {
      detail += "; " + std::to_string(refused_by_plugin) + " refused by the plugin with a reason (";
      for (std::size_t i = 0; i < plugin_refusals.size(); ++i) {
        detail += (i == 0 ? "" : "; ") + plugin_refusals[i];
      }
      detail += ")";
    }
    return detail;
  }

  const LoadedPlugin& plugin_;
  std::map<std::string, ParameterValue> values_;
  std::vector<CheckOutcome> outcomes_;
};

}  // namespace

namespace {

// The parameter values to check with: defaults, then `overrides`. Throws
// std::invalid_argument for a source plugin, a bad override or a missing required value.
std::map<std::string, ParameterValue> check_values(const LoadedPlugin& plugin,
                                                   const std::vector<std::string>& overrides) {
  if (plugin.kind != PluginKind::model) {
    throw std::invalid_argument("'" + plugin.name + "' is a " + plugin_kind_name(plugin.kind) +
                                " plugin; check-plugin checks model plugins");
  }
  std::map<std::string, ParameterValue> values;
  std::vector<std::string> names;
  for (const auto& spec : plugin.definition.parameters) {
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
    const auto found = std::find_if(plugin.definition.parameters.begin(), plugin.definition.parameters.end(),
                                    [&](const ParameterSpec& spec) { return spec.name() == name; });
    if (found == plugin.definition.parameters.end()) {
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
  for (const auto& spec : plugin.definition.parameters) {
    if (spec.is_required() && std::find(given.begin(), given.end(), spec.name()) == given.end()) {
      throw std::invalid_argument("parameter '" + spec.name() + "' is required: give it with --set " + spec.name() +
                                  "=VALUE (" + spec.allowed() + "; the inputs are named x1, x2, ...)");
    }
  }
  return values;
}

}  // namespace

int check_plugin_command(const PluginCatalog& catalog, const std::string& name,
                         const std::vector<std::string>& overrides, std::ostream& out) {
  const auto* plugin = catalog.find(name);
  if (plugin == nullptr) {
    std::cerr << "ballista: no plugin named '" << name << "'" << suggest(name, catalog.names())
              << " (`ballista plugins --verbose` lists refused files)\n";
    return 2;
  }
  std::map<std::string, ParameterValue> values;
  try {
    values = check_values(*plugin, overrides);
  } catch (const std::invalid_argument& error) {
    std::cerr << "ballista: " << error.what() << '\n';
    return 2;
  }
  out << "Checking " << plugin->name << ' ' << plugin->version << " (" << plugin->file.string() << ")";
  for (std::size_t i = 0; i < overrides.size(); ++i) {
    out << (i == 0 ? " with " : ", ") << overrides[i];
  }
  out << '\n' << std::flush;
  const auto outcomes = Checker(*plugin, values).run();
  std::size_t width = 0;
  for (const auto& outcome : outcomes) {
    width = std::max(width, outcome.name.size());
  }
  std::size_t passed = 0;
  for (const auto& outcome : outcomes) {
    passed += outcome.passed ? 1 : 0;
    out << "  " << (outcome.passed ? "ok    " : "FAIL  ") << outcome.name << std::string(width - outcome.name.size(), ' ')
        << "  " << outcome.detail << '\n';
  }
  out << outcomes.size() << " checks: " << passed << " passed";
  if (passed != outcomes.size()) {
    out << ", " << outcomes.size() - passed << " failed";
  }
  out << '\n';
  return passed == outcomes.size() ? 0 : 1;
}

}  // namespace ballista::host
