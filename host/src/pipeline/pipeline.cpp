// The few member functions of the pipeline's types (see pipeline.hpp).
#include "pipeline.hpp"

#include <algorithm>

namespace ballista::host {

const std::vector<std::string>& Distribution::kind_names() {
  static const std::vector<std::string> names{"uniform", "normal", "loguniform", "choice", "grid"};
  return names;
}

std::optional<Distribution::Kind> Distribution::kind_named(std::string_view name) {
  const auto& names = kind_names();
  const auto found = std::find(names.begin(), names.end(), name);
  if (found == names.end()) {
    return std::nullopt;
  }
  return static_cast<Kind>(found - names.begin());
}

std::string SourceSpec::name() const {
  switch (kind) {
    case Kind::csv:
      return "csv";
    case Kind::plugin:
      return plugin;
    case Kind::formula:
      break;
  }
  return "formula";
}

std::vector<std::string> SourceSpec::input_names() const {
  std::vector<std::string> names;
  for (const auto& input : inputs) {
    names.push_back(input.name);
  }
  return names;
}

std::vector<std::string> SourceSpec::target_names() const {
  std::vector<std::string> names;
  for (const auto& target : targets) {
    names.push_back(target.name);
  }
  return names;
}

std::string DataSpec::label(const std::string& name) const {
  const auto found = units.find(name);
  return found == units.end() ? name : name + " [" + found->second + "]";
}

const SetSpec* DataSpec::find_set(const std::string& name) const {
  const auto found = std::find_if(sets.begin(), sets.end(), [&](const SetSpec& set) { return set.name == name; });
  return found == sets.end() ? nullptr : &*found;
}

}  // namespace ballista::host
