// A pipeline, typed: what the YAML loader produces and everything after it consumes.
// No YAML past this point.
#pragma once

#include "diagnostics.hpp"

#include <ballista/expression.hpp>
#include <ballista/parameters.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ballista::host {

// A distribution an input is drawn from, e.g. uniform(0, pi/2).
struct Distribution {
  std::string kind;                // "uniform" or "normal"
  std::vector<double> arguments;   // uniform: low, high; normal: mean, standard deviation
  std::string text;                // as the user wrote it
};

struct InputSpec {
  std::string name;
  Distribution distribution;
};

struct TargetSpec {
  std::string name;
  Expression expression;
  double noise = 0.0;  // σ of additive N(0, σ²) noise
  std::optional<double> clip_min;
  std::optional<double> clip_max;
};

// A named data set drawn from the source, optionally with other input distributions.
struct SetSpec {
  std::string name;
  std::int64_t rows = 0;
  std::vector<InputSpec> overrides;
  std::uint32_t seed = 0;  // resolved by the loader (explicit, or derived)
  SourceLocation location;
};

// The `formula` source: inputs drawn from distributions, targets computed from them.
struct DataSpec {
  std::vector<InputSpec> inputs;
  std::vector<std::pair<std::string, double>> constants;
  std::vector<TargetSpec> targets;
  std::vector<SetSpec> sets;

  std::vector<std::string> input_names() const;
  std::vector<std::string> target_names() const;
  const SetSpec* find_set(const std::string& name) const;
};

struct ModelSpec {
  std::string name;
  std::string plugin;
  Parameters parameters;  // every declared parameter, defaults filled in
  std::uint64_t seed = 0;
  SourceLocation location;
};

struct ProbeSpec {
  std::vector<double> point;  // one value per input, in input order
};

struct EvaluationSpec {
  std::vector<std::string> sets;
  std::vector<std::string> metrics;
  std::vector<ProbeSpec> probes;
};

struct Pipeline {
  std::string name;
  std::filesystem::path file;
  std::uint32_t seed = 0;
  DataSpec data;
  std::string train_set;
  std::vector<ModelSpec> models;
  EvaluationSpec evaluation;
};

}  // namespace ballista::host
