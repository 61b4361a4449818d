// The source-plugin checks of `ballista check-plugin`: a source simulates inputs drawn
// from their ranges (declared names, shapes, same bits, out-of-domain inputs,
// parameters, concurrent calls), and what it logs meanwhile is shown; and the
// `--range` options that set those ranges.
#include "plugin_check_parts.hpp"

#include "csv_table.hpp"
#include "diagnostics.hpp"
#include "host_context.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <latch>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace ballista::host::plugin_checks {

namespace {

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

// A source's Context for the checks: a HostContext that never cancels, with the
// source's log messages collected into a LogRecord.
class SourceCheckContext final : public HostContext {
 public:
  SourceCheckContext(std::uint64_t seed, LogRecord& record) : HostContext(seed, nullptr), record_(record) {}
  void log(LogLevel level, std::string_view message) override { record_.add(level, message); }

 private:
  LogRecord& record_;
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
  SourceChecker(const LoadedPlugin& plugin, std::map<std::string, ParameterValue> values,
                std::vector<InputRange> ranges)
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
    return create_instance(plugin_.source, values_, changes, "source");
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
  std::vector<InputRange> ranges_;
  ParameterSweep sweep_;
  LogRecord log_;
};

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

}  // namespace

std::vector<InputRange> input_ranges(const LoadedPlugin& plugin, const std::vector<std::string>& names,
                                     const std::vector<std::string>& texts) {
  if (plugin.kind != PluginKind::source && names.empty()) {
    if (texts.empty()) {
      return {};
    }
    throw std::invalid_argument("--range " + printable(texts.front()) + ": '" + plugin.name + "' is a " +
                                plugin_kind_name(plugin.kind) +
                                " plugin; --range sets the inputs of a source plugin (a model plugin is checked on "
                                "synthetic inputs in [-1, 1], unless it reads inputs by name)");
  }
  std::vector<InputRange> ranges(names.size(), {0.0, 1.0});
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
      throw std::invalid_argument(option + plugin.name +
                                  (plugin.kind == PluginKind::source ? " has no input '" : " reads no input '") +
                                  printable(name) + "'" + (plugin.kind == PluginKind::source ? "" : " by name") +
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

CheckReport check_source(const LoadedPlugin& plugin, std::map<std::string, ParameterValue> values,
                         std::vector<InputRange> ranges, std::ostream& out) {
  SourceChecker checker(plugin, std::move(values), std::move(ranges));
  auto outcomes = checker.run(out);
  return {std::move(outcomes), checker.sweep().lines()};
}

}  // namespace ballista::host::plugin_checks
