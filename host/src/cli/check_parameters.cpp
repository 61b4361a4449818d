// The `parameters` check of `ballista check-plugin`, for either kind of plugin: which
// values of each declared parameter it tries, and the record of what became of each
// (ParameterSweep in plugin_check_parts.hpp).
#include "plugin_check_parts.hpp"

#include "diagnostics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <variant>

namespace ballista::host::plugin_checks {

namespace {

// The distance from a bound to the value just past (or just inside) it.
double step(double bound, bool integer) { return integer ? 1.0 : std::max(1e-3, std::abs(bound) * 1e-3); }

ParameterValue as_value(const ParameterSpec& spec, double number) {
  return spec.type() == ParameterType::integer ? ParameterValue{static_cast<std::int64_t>(number)}
                                               : ParameterValue{number};
}

}  // namespace

std::string ParameterSweep::run(const Use& use, const std::string& used) {
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

std::vector<std::string> ParameterSweep::lines() const {
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

void ParameterSweep::sweep(const ParameterSpec& spec, const Use& use) {
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

void ParameterSweep::try_value(const ParameterSpec& spec, const ParameterValue& value, const std::string& role,
                               const Use& use) {
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

void ParameterSweep::expect_refused(const ParameterSpec& spec, const ParameterValue& value, const std::string& role,
                                    const std::string& where) {
  if (spec.check(value).empty()) {
    throw Failure("parameter '" + spec.name() + "': " + to_string(value) + " is " + where +
                  " the declared range (" + spec.allowed() + ") but is accepted");
  }
  trials_[spec.name()].push_back({to_string(value), role, Outcome::past_bound, {}});
  ++past_;
}

}  // namespace ballista::host::plugin_checks
