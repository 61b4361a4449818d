// Draws the data sets of a `formula` source: inputs from their distributions, targets
// from their expressions, then noise and clipping.
#pragma once

#include "pipeline.hpp"

#include <ballista/model.hpp>

#include <map>
#include <string>

namespace ballista::host {

// Draws `set` with NumPy's legacy stream seeded with set.seed: each input column in the
// order declared (rows within a column), then each target's noise column. For the
// article's `seed: 0` this is exactly np.random.seed(0); v = 10*random(1000);
// theta = pi/2*random(1000); s = ... + 0.01*randn(1000); clip.
Dataset generate_set(const DataSpec& data, const SetSpec& set);

// The noise-free targets [n, d_out] at `inputs` [n, d_in] (the truth a model is judged by
// at probes).
torch::Tensor true_targets(const DataSpec& data, const torch::Tensor& inputs);

}  // namespace ballista::host
