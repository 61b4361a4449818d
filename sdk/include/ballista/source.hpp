// A data source plugin: a simulator the host asks for the targets at given inputs.
//
// The pipeline declares how the inputs are drawn (distributions, grids, per-set
// overrides), the noise and the clipping; the host draws the inputs with the pipeline's
// reproducible random stream and calls simulate(). So a source plugin only writes the
// physics, e.g. a projectile with air drag integrated numerically:
//
//   data:
//     source: projectile        # the plugin's name
//     drag: 0.05                # its parameters
//     inputs: {v: uniform(0, 10), theta: uniform(0, pi/2)}
//     targets: {s: {noise: 0.01}}
//
// The same simulate() also gives the noise-free truth at the pipeline's probe points.
//
// Threading: separate Source instances, each with its own Context, may be called from
// several threads at once, so instances must not share mutable state (a static buffer,
// a global counter); one instance is called from one thread at a time. `ballista
// check-plugin` holds a source to this and to the rest of the contract below.
#pragma once

#include <ballista/context.hpp>
#include <ballista/parameters.hpp>
#include <ballista/version.hpp>

#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

BALLISTA_NAMESPACE_BEGIN

class BALLISTA_API Source {
 public:
  Source() = default;
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;
  virtual ~Source();

  // The noise-free targets at `inputs`. Called from one thread at a time per instance;
  // other instances may run simulate() on other threads meanwhile.
  //   inputs:  float64 [n, d_in] on the CPU, columns in the order of
  //            SourceDefinition::inputs, n >= 1.
  //   returns: float64 [n, d_out], columns in the order of SourceDefinition::targets.
  // Must be deterministic for given inputs and context.seed(); a value that cannot be
  // computed is NaN (the host refuses the set and names the first such row). Throws
  // std::exception with a message for anything else; `context` is valid for the call.
  virtual torch::Tensor simulate(const torch::Tensor& inputs, Context& context) = 0;
};

// Builds a source from validated parameters; may throw ParameterError.
using SourceFactory = std::function<std::unique_ptr<Source>(const Parameters&)>;

struct BALLISTA_API SourceDefinition {
  std::vector<std::string> inputs;   // names of the input columns, e.g. {"v", "theta"}
  std::vector<std::string> targets;  // names of the target columns, e.g. {"s"}
  std::vector<ParameterSpec> parameters;
  SourceFactory create;
};

BALLISTA_NAMESPACE_END
