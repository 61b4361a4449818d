// The plugin contract. A plugin provides a Model: it learns a map from inputs to
// targets in fit() and applies it in predict(). The host owns all files, printing and
// threads; a model sees tensors in and tensors out, and talks back through Context.
//
// Tensors crossing this boundary: inputs are float64, contiguous, on the CPU, shaped
// [n, d_in]; targets [n, d_out]. predict() may return any floating dtype on any
// device; the host converts the result to float64 on the CPU.
#pragma once

#include <ballista/context.hpp>
#include <ballista/version.hpp>

#include <torch/serialize/archive.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

BALLISTA_NAMESPACE_BEGIN

// A named data set as the host hands it to fit(). Column names let models print
// formulas in the user's terms ("s = 0.1019·v^2·sin(2*theta)"). Values are in the
// user's units (whatever the pipeline's data is in; `data.units` only labels them).
// Ownership: the host owns the tensors for the duration of fit(); a model may keep
// them (tensors are reference-counted) but must not modify them in place.
struct BALLISTA_API Dataset {
  torch::Tensor inputs;   // [n, d_in], float64, CPU
  torch::Tensor targets;  // [n, d_out], float64, CPU
  std::vector<std::string> input_names;
  std::vector<std::string> target_names;
  // Named constants of the pipeline (g = 9.81), usable in a model's expressions.
  std::vector<std::pair<std::string, double>> constants;
  // The pipeline's `data.units`: name (an input, a target or a constant) → unit text
  // ("m/s"), only the names it gives. Read with <ballista/units.hpp> (parse_units).
  std::vector<std::pair<std::string, std::string>> units{};
};

// One trained (or trainable) model. Created by the plugin's factory from validated
// Parameters; owned by the host through std::unique_ptr. Not copyable.
//
// Threading: fit() is called once, from one thread. After fit() returns, predict(),
// describe() and parameter_count() are const and must be safe to call concurrently.
// Errors: throw std::exception-derived exceptions with a message a user can act on;
// the host catches them and records the failure for this model only.
class BALLISTA_API Model {
 public:
  Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  virtual ~Model();

  // Learns from `train`. REQUIRES: train.inputs has at least one row. May be slow;
  // should report progress and honour context.cancelled().
  virtual void fit(const Dataset& train, Context& context) = 0;
  // Returns [n, d_out] predictions for `inputs` [n, d_in] (same d_in as in fit).
  // REQUIRES: fit() has returned. Throws std::logic_error if it has not.
  virtual torch::Tensor predict(const torch::Tensor& inputs) const = 0;
  // What the fitted model is, in one line: a formula for structured models, a short
  // summary for the others. May be empty before fit().
  virtual std::string describe() const = 0;
  // How many numbers the fitted model keeps from the data to predict with: its learned
  // weights and biases (a weight fixed at zero, such as a term STLSQ dropped, does not
  // count); for a model that stores samples (kNN), every number of every stored row,
  // rows × (inputs + targets): 1000 cannon shots of (v, theta) → s give 3000. Settings
  // chosen by the user (k, degree, epochs) and standardisation constants (a mean and a
  // scale per column) do not count. The "params" column of the comparison table.
  virtual std::int64_t parameter_count() const = 0;

  // Writes everything predict() and describe() need (tensors, names) into `archive`.
  // The host stores the plugin name, the parameters and a file-format version around
  // it. REQUIRES: fit() has returned. Throws std::logic_error otherwise.
  virtual void save(torch::serialize::OutputArchive& archive) const = 0;
  // Restores what save() wrote, into a fresh instance built by the same plugin from the
  // same parameters. Afterwards predict() returns bit-identical results to the saved
  // model's. Throws on a missing or malformed entry.
  virtual void load(torch::serialize::InputArchive& archive) = 0;

  // Why the model predicts what it does at each row of `inputs` [n, d_in], one short
  // line per row in the user's terms: the stored samples a nearest-neighbour answer
  // came from, say. The host asks at the pipeline's probes and prints the lines next to
  // the predictions. REQUIRES: fit() has returned. The default returns no lines (the
  // prediction speaks for itself, or there is nothing local to say).
  virtual std::vector<std::string> explain(const torch::Tensor& inputs) const;

  // The input columns this model reads, by name, when it needs particular ones (an ODE whose
  // initial state reads v and theta); empty (the default) when it takes any inputs.
  // Known from the parameters alone: the host asks right after the factory, before fit().
  // Contract: every name listed is one of the pipeline's data inputs (the host refuses the
  // pipeline otherwise, at validation); the data may have more inputs, in any order. fit()
  // finds its columns by name in Dataset::input_names, and predict() gets the columns in
  // that same order. Return each name once.
  virtual std::vector<std::string> required_inputs() const;
  // The targets it can predict, by name, when it predicts particular ones; empty (the default) for any.
  // Known from the parameters alone, like required_inputs(). Contract: every one of the
  // pipeline's targets is one of these (the host refuses the pipeline otherwise); the model
  // predicts the pipeline's targets, Dataset::target_names, in that order, so predict()
  // returns [n, train.target_names.size()]; the others it could predict go unused.
  virtual std::vector<std::string> required_targets() const;

  // Whether fit() can train on a share of the rows: when the host runs a pipeline on
  // several processes (ballista run --nproc, torchrun, srun, mpirun), a model that says
  // true is fitted on every rank at once, each rank's Dataset holding only its share of
  // the training rows (contiguous, in rank order), and fit() combines the shares through
  // context.collective() so that every rank ends with the model all the rows give. A
  // model that says false (the default) is fitted by rank 0 alone on all the rows.
  // Known from the parameters alone: the host asks right after the factory. After a
  // shared fit, every rank makes the same calls of the model in the same order, with
  // the same arguments: describe(), parameter_count(), predict(), explain() and save().
  // So a model may keep its share (knn keeps its share of the samples) and answer them
  // together through the Collective it got in fit(), as long as every rank returns the
  // same answer; rank 0's is the one the host keeps and writes. A model whose fit()
  // leaves the whole model on every rank (linear, basis, mlp) just answers alone.
  virtual bool data_parallel() const;
};

// Throws std::invalid_argument when `values` holds a NaN or an infinity, naming `what`
// ("knn: fit() inputs") and the first such cell by row and column (0-based), e.g.
// "knn: fit() inputs: row 3, column 1 is nan; inputs must be finite numbers". Every
// bundled plugin calls it on fit()'s inputs and targets and on predict()'s inputs;
// `ballista check-plugin` expects the same of every plugin.
BALLISTA_API void require_finite(const torch::Tensor& values, const std::string& what);

BALLISTA_NAMESPACE_END
