// `ballista check-plugin` (see plugin_check.hpp): the command, which reads the `--set`
// values, runs the model checks (check_model.cpp) or the source checks
// (check_source.cpp) and sums them up; and what those checks share
// (plugin_check_parts.hpp): running a list of checks, the text of exceptions and
// tensors, thread counts.
#include "plugin_check.hpp"

#include "csv_table.hpp"
#include "diagnostics.hpp"
#include "parameter_yaml.hpp"
#include "plugin_check_parts.hpp"

#include <ballista/blas.hpp>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ballista::host {

namespace plugin_checks {

std::string exception_text(const std::exception& error) { return first_line(error.what()); }

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

std::string changes_label(const std::map<std::string, ParameterValue>& changes) {
  std::string what = "the defaults";
  for (const auto& [name, value] : changes) {
    what = "parameter '" + name + "' = " + to_string(value);
  }
  return what;
}

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

std::vector<CheckOutcome> run_checks(const std::vector<NamedCheck>& checks, std::ostream& out) {
  std::size_t width = 0;
  for (const auto& check : checks) {
    width = std::max(width, check.name.size());
  }
  std::vector<CheckOutcome> outcomes;
  for (const auto& check : checks) {
    CheckOutcome outcome{check.name, false, false, {}};
    try {
      outcome.detail = check.body();
      outcome.passed = true;
    } catch (const Skipped& skipped) {
      outcome.skipped = true;
      outcome.detail = std::string("skipped: ") + skipped.what();
    } catch (const Failure& failure) {
      outcome.detail = failure.what();
    } catch (const std::exception& error) {
      outcome.detail = "unexpected exception: " + refusal_text(error);
    } catch (...) {
      outcome.detail = "unexpected exception: " + non_standard_exception();
    }
    out << "  " << (outcome.passed ? "ok    " : outcome.skipped ? "skip  " : "FAIL  ") << outcome.name << std::string(width - outcome.name.size(), ' ')
        << "  " << outcome.detail << '\n'
        << std::flush;
    outcomes.push_back(outcome);
  }
  return outcomes;
}

ThreadCounts::ThreadCounts() : intra_op_(at::get_num_threads()), blas_(blas_threads()) {}

ThreadCounts::~ThreadCounts() {
  at::set_num_threads(intra_op_);
  if (blas_ > 0) {
    set_blas_threads(blas_);
  }
}

void use_threads(int threads) {
  at::set_num_threads(threads);
  set_blas_threads(threads);
}

}  // namespace plugin_checks

namespace {

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
  std::vector<plugin_checks::InputRange> input_range;
  plugin_checks::NamedColumns named;
  try {
    values = check_values(*plugin, overrides);
    if (plugin->kind == PluginKind::model) {
      named = plugin_checks::named_columns(*plugin, values);
    }
    input_range = plugin_checks::input_ranges(
        *plugin, plugin->kind == PluginKind::source ? plugin->source.inputs : named.inputs, ranges);
  } catch (const std::invalid_argument& error) {
    std::cerr << "ballista: " << error.what() << '\n';
    return 2;
  }
  out << "Checking " << plugin->name << ' ' << plugin->version << " (" << plugin->file.string() << ")";
  for (std::size_t i = 0; i < overrides.size(); ++i) {
    out << (i == 0 ? " with " : ", ") << overrides[i];
  }
  out << '\n';
  const auto& drawn = plugin->kind == PluginKind::source ? plugin->source.inputs : named.inputs;
  if (!drawn.empty()) {
    out << "  inputs drawn uniformly from ";
    for (std::size_t j = 0; j < input_range.size(); ++j) {
      out << (j == 0 ? "" : ", ") << printable(drawn[j]) << " in [" << shortest_text(input_range[j].first) << ", "
          << shortest_text(input_range[j].second) << "]";
    }
    out << " (--range NAME=LOW,HIGH)" << (plugin->kind == PluginKind::model ? ": the model reads them by name" : "")
        << '\n';
  }
  if (!named.targets.empty()) {
    out << "  targets ";
    for (std::size_t k = 0; k < named.targets.size(); ++k) {
      out << (k == 0 ? "" : ", ") << printable(named.targets[k]);
    }
    out << ": the model predicts them by name\n";
  }
  out << std::flush;
  named.ranges = input_range;
  const auto [outcomes, tried] = plugin->kind == PluginKind::source
                                     ? plugin_checks::check_source(*plugin, values, input_range, out)
                                     : plugin_checks::check_model(*plugin, values, std::move(named), out);
  if (!tried.empty()) {
    out << "Parameter values the parameters check tried:\n";
  }
  for (const auto& line : tried) {
    out << line << '\n';
  }
  const auto passed = static_cast<std::size_t>(
      std::count_if(outcomes.begin(), outcomes.end(), [](const CheckOutcome& outcome) { return outcome.passed; }));
  const auto skipped = static_cast<std::size_t>(
      std::count_if(outcomes.begin(), outcomes.end(), [](const CheckOutcome& outcome) { return outcome.skipped; }));
  const auto failed = outcomes.size() - passed - skipped;
  out << outcomes.size() << " checks: " << passed << " passed";
  if (failed != 0) {
    out << ", " << failed << " failed";
  }
  if (skipped != 0) {
    out << ", " << skipped << " skipped";
  }
  out << '\n';
  return failed == 0 ? 0 : 1;
}

}  // namespace ballista::host
