// Draws the data sets of a pipeline: a drawn source's inputs from their distributions
// (NumPy's legacy stream), its targets from expressions or a source plugin, then noise
// and clipping; a CSV source's rows as read; splits of a source's table after one
// shuffle (NumPy's legacy permutation).
#pragma once

#include "pipeline.hpp"

#include <ballista/model.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ballista::host {

// `rows` rows of a drawn source with NumPy's legacy stream seeded with `seed`: each
// input column in the order declared (rows within a column; grid columns draw
// nothing), then each target's noise column. For the article's `seed: 0` this is
// exactly np.random.seed(0); v = 10*random(1000); theta = pi/2*random(1000);
// s = ... + 0.01*randn(1000); clip. `overrides` replace some inputs' distributions.
// With grid inputs, the grid columns form their Cartesian product (the first declared
// varies slowest) and `rows` must be that product.
Dataset draw_rows(const SourceSpec& source, std::int64_t rows, std::uint32_t seed,
                  const std::vector<InputSpec>& overrides, const std::string& set_name);

// The source's own table: `n` drawn rows from `seed`, or every row of the CSV file.
Dataset source_table(const SourceSpec& source, std::uint32_t seed, const std::string& set_name);

// One set of the pipeline.
Dataset generate_set(const DataSpec& data, const SetSpec& set);

// Every set of the pipeline, by name (the source table is drawn once for all splits).
std::map<std::string, Dataset> generate_sets(const DataSpec& data);

// The noise-free targets [n, d_out] at `inputs` [n, d_in] (the truth a model is judged
// by at probes), or nothing for a CSV source, which has no truth beyond its rows.
std::optional<torch::Tensor> true_targets(const SourceSpec& source, const torch::Tensor& inputs);

// Where the messages a source plugin sends through Context::log go, on this thread,
// while a scope lives (the run keeps them in its record); scopes nest, the innermost
// hears. Without one, messages other than debug go to stderr.
class SourceLogScope {
 public:
  using Sink = std::function<void(LogLevel level, std::string_view message)>;
  explicit SourceLogScope(Sink sink);
  SourceLogScope(const SourceLogScope&) = delete;
  SourceLogScope& operator=(const SourceLogScope&) = delete;
  ~SourceLogScope();

 private:
  Sink sink_;
  const Sink* previous_;
};

// np.random.RandomState(seed).permutation(n), bit for bit.
std::vector<std::int64_t> numpy_permutation(std::int64_t n, std::uint32_t seed);

}  // namespace ballista::host
