// The parts of `ballista check-plugin` that its model checks (check_model.cpp) and its
// source checks (check_source.cpp) share: a failed check, running a list of checks and
// printing their lines, the text of exceptions, tensors and parameter changes, thread
// counts, calling the plugin's factory, and the `parameters` check's sweep
// (check_parameters.cpp). Internal to the command: its interface is plugin_check.hpp.
#pragma once

#include "plugin_check.hpp"

#include <ballista/parameters.hpp>

#include <torch/types.h>

#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ballista::host::plugin_checks {

// A failed expectation inside a check.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A check that does not apply to this plugin; what() says why ("the model reads inputs
// v, theta by name"). Neither passed nor failed.
struct Skipped : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct NamedCheck {
  std::string name;
  std::function<std::string()> body;  // the detail when it passes; throws Failure
};

// Runs `checks` in order and prints each one's line as soon as it finishes, flushed: a
// plugin that crashes the process leaves the lines of the checks before it, so the
// next one in the list is the one that was running. A check that throws Skipped prints
// "skip" and "skipped: " its reason.
std::vector<CheckOutcome> run_checks(const std::vector<NamedCheck>& checks, std::ostream& out);

// The first line of what an exception says.
std::string exception_text(const std::exception& error);

// What an exception says, for a check that expected it: "std::logic_error: message".
std::string refusal_text(const std::exception& error);

// "[17, 3]".
std::string shape_text(const torch::Tensor& tensor);

// "float64", "float32", ... as NumPy and PyTorch users say it.
std::string dtype_text(torch::ScalarType type);

// What a parameters-check variant is: "the defaults", or "parameter 'k' = 3".
std::string changes_label(const std::map<std::string, ParameterValue>& changes);

// Puts back LibTorch's and OpenBLAS's thread counts.
class ThreadCounts {
 public:
  ThreadCounts();
  ThreadCounts(const ThreadCounts&) = delete;
  ThreadCounts& operator=(const ThreadCounts&) = delete;
  ~ThreadCounts();

 private:
  int intra_op_;
  int blas_;
};

// `--threads` sets LibTorch's and OpenBLAS's thread counts alike.
void use_threads(int threads);

// A model or source from the plugin's factory (`definition`: a PluginDefinition or a
// SourceDefinition), its parameters `values` with `changes` on top. Throws Failure
// when the factory returns nothing (`made`: "model", "source"); what the factory
// throws (a ParameterError) passes through.
template <typename Definition>
auto create_instance(const Definition& definition, std::map<std::string, ParameterValue> values,
                     const std::map<std::string, ParameterValue>& changes, std::string_view made) {
  for (const auto& [name, value] : changes) {
    values[name] = value;
  }
  auto instance = definition.create(Parameters(std::move(values)));
  if (!instance) {
    throw Failure("the factory returned no " + std::string(made));
  }
  return instance;
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

  // SPECS: outlives the sweep.
  ParameterSweep(const std::vector<ParameterSpec>& specs, std::map<std::string, ParameterValue> values)
      : specs_(specs), values_(std::move(values)) {}

  // Runs the sweep; `used` says what using a model or source means ("fit", "simulate").
  std::string run(const Use& use, const std::string& used);

  // One line per declared parameter: "  alpha: tried 1 (default), 0 (lower bound);
  // refused -0.001 (below the bound)", the values exactly as they were used.
  std::vector<std::string> lines() const;

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

  void sweep(const ParameterSpec& spec, const Use& use);
  void try_value(const ParameterSpec& spec, const ParameterValue& value, const std::string& role, const Use& use);
  void expect_refused(const ParameterSpec& spec, const ParameterValue& value, const std::string& role,
                      const std::string& where);

  const std::vector<ParameterSpec>& specs_;
  std::map<std::string, ParameterValue> values_;
  std::map<std::string, std::vector<Trial>> trials_;
  int used_ = 0;
  int past_ = 0;
  std::vector<std::string> plugin_refusals_;
};

// What one kind of plugin's checks found: each check's outcome, and the sweep's
// lines (ParameterSweep::lines).
struct CheckReport {
  std::vector<CheckOutcome> outcomes;
  std::vector<std::string> tried;
};

// The range a source's input, or an input a model reads by name, is drawn from: [low, high].
using InputRange = std::pair<double, double>;

// The columns a model reads and predicts by name (Model::required_inputs and
// required_targets of a model built from the parameters under check), in the order it
// declares them; empty where it takes any. Named inputs are drawn from `ranges` (one
// per input).
struct NamedColumns {
  std::vector<std::string> inputs;
  std::vector<InputRange> ranges;
  std::vector<std::string> targets;
};

// What a model of `plugin` built with the parameters `values` reads and predicts by
// name, ranges left empty; empty lists when its factory or those methods throw (the
// checks then say so) (check_model.cpp).
NamedColumns named_columns(const LoadedPlugin& plugin, const std::map<std::string, ParameterValue>& values);

// Runs the checks of a model plugin with its parameters `values`, printing each
// check's line to `out`: on synthetic data x1, x2, ... → y1, y2, ..., or on the columns
// `named` where the model reads or predicts particular ones (check_model.cpp).
CheckReport check_model(const LoadedPlugin& plugin, std::map<std::string, ParameterValue> values, NamedColumns named,
                        std::ostream& out);

// The range each input in `names` (a source's declared inputs, or those a model reads
// by name) is drawn from: [0, 1], or `--range NAME=LOW,HIGH`. Throws
// std::invalid_argument for a model plugin that reads no inputs by name, a malformed
// range, a name not in `names`, or a name given twice (check_source.cpp).
std::vector<InputRange> input_ranges(const LoadedPlugin& plugin, const std::vector<std::string>& names,
                                     const std::vector<std::string>& texts);

// Runs the checks of a source plugin with its parameters `values`, each input drawn
// from its range in `ranges`, printing each check's line to `out` (check_source.cpp).
CheckReport check_source(const LoadedPlugin& plugin, std::map<std::string, ParameterValue> values,
                         std::vector<InputRange> ranges, std::ostream& out);

}  // namespace ballista::host::plugin_checks
