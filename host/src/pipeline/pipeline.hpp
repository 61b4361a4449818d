// A pipeline, typed: what the YAML loader produces and everything after it consumes.
// No YAML past this point.
#pragma once

#include "diagnostics.hpp"

#include <ballista/expression.hpp>
#include <ballista/parameters.hpp>
#include <ballista/source.hpp>

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ballista::host {

// A distribution an input is drawn from, e.g. uniform(0, pi/2).
struct Distribution {
  // uniform(low, high), normal(mean, sd), loguniform(low, high), choice(a, b, ...),
  // grid(low, high, count): `count` evenly spaced values, low and high included.
  enum class Kind { uniform, normal, loguniform, choice, grid };
  Kind kind = Kind::uniform;
  std::vector<double> arguments;
  std::string text;  // as the user wrote it
  bool is_grid() const { return kind == Kind::grid; }

  // Every kind's name as a pipeline writes it ("uniform", ...), in the order above.
  static const std::vector<std::string>& kind_names();
  // The kind called NAME; nothing for another name.
  static std::optional<Kind> kind_named(std::string_view name);
};

struct InputSpec {
  std::string name;
  Distribution distribution;
  std::optional<double> clip_min;
  std::optional<double> clip_max;
};

struct TargetSpec {
  std::string name;
  std::optional<Expression> expression;  // the formula source's; a plugin source computes it
  double noise = 0.0;                    // σ of additive N(0, σ²) noise, or relative: y·(1 + σ·N(0, 1))
  bool relative_noise = false;
  std::optional<double> clip_min;
  std::optional<double> clip_max;
};

// Where rows come from: drawn by a formula, drawn and simulated by a source plugin, or
// read from a CSV file.
struct SourceSpec {
  enum class Kind { formula, csv, plugin };
  Kind kind = Kind::formula;
  std::string plugin;  // the source plugin's name, when kind is plugin
  std::vector<std::pair<std::string, double>> constants;
  std::vector<InputSpec> inputs;
  std::vector<TargetSpec> targets;
  std::int64_t rows = 0;  // `n`: rows of the source's own table; 0 = none (drawn sources)
  // A source plugin's parameters and factory.
  Parameters parameters;
  SourceFactory create;
  // The csv source: the file (resolved against the pipeline's directory) and its values.
  std::filesystem::path file;
  bool drop_invalid = false;
  std::int64_t dropped_rows = 0;
  torch::Tensor csv_inputs;   // [rows, inputs]
  torch::Tensor csv_targets;  // [rows, targets]

  bool is_drawn() const { return kind != Kind::csv; }
  // "formula", "csv" or the source plugin's name: what the pipeline's `source:` says.
  std::string name() const;
  std::vector<std::string> input_names() const;
  std::vector<std::string> target_names() const;
};

// A named data set. Exactly one origin:
//   all    — the source's own table (`n` drawn rows, or every row of the CSV file);
//   split  — a fraction of that table, after one shuffle shared by all splits;
//   drawn  — `rows` new rows from the source, some inputs possibly drawn otherwise;
//   other  — the table of another source with the same input and target names.
struct SetSpec {
  enum class Origin { all, split, drawn, other };
  std::string name;
  Origin origin = Origin::drawn;
  std::int64_t rows = 0;               // resolved for every origin (a grid's product, a split's share)
  std::vector<InputSpec> overrides;    // drawn
  std::int64_t begin = 0;              // split: rows [begin, begin + rows) of the shuffled table
  double fraction = 0.0;               // split, as written
  std::shared_ptr<const SourceSpec> source;  // other
  std::uint32_t seed = 0;              // resolved by the loader (explicit, or derived)
  SourceLocation location;
};

struct DataSpec {
  SourceSpec source;
  std::uint32_t seed = 0;        // the source table's stream (the pipeline seed)
  std::uint32_t split_seed = 0;  // the shuffle before splitting
  bool shuffle = true;
  std::vector<SetSpec> sets;     // `all` first when the source has a table, then splits, then the others
  std::map<std::string, std::string> units;  // input or target name → unit ("m/s"), where given

  std::vector<std::string> input_names() const { return source.input_names(); }
  std::vector<std::string> target_names() const { return source.target_names(); }
  // An axis or column label: "v [m/s]", or the bare name when no unit is given.
  std::string label(const std::string& name) const;
  const SetSpec* find_set(const std::string& name) const;
};

struct ModelSpec {
  std::string name;
  std::string plugin;
  std::string swept_from;  // the model a sweep expanded into this one, or empty
  std::vector<std::pair<std::string, std::string>> swept;  // parameter → value of this variant
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

// `run --shard I/N`: the I-th of N shares of a pipeline's models. Model i, counted in
// the pipeline's order after sweeps are expanded, belongs to shard i mod N: the share
// depends on the resolved pipeline alone, and a sweep's neighbouring variants (often of
// like cost) go to different shards.
struct PipelineShard {
  std::size_t index = 0;
  std::size_t count = 1;
  bool holds(std::size_t model_index) const { return model_index % count == index; }
};

struct Pipeline {
  std::string name;
  std::filesystem::path file;
  std::uint32_t seed = 0;
  DataSpec data;
  std::string train_set;
  std::vector<ModelSpec> models;
  EvaluationSpec evaluation;
  // Set for a shard's run: `models` then holds only the shard's share (the records say
  // which shard; pipeline.resolved.yaml keeps every model, for `ballista merge`).
  std::optional<PipelineShard> shard;
};

}  // namespace ballista::host
