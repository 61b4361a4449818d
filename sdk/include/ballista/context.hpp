// The Context is how a model talks back to the host while it trains: progress and
// loss, cancellation, the device and seed to use, and log messages. Plugins never
// print; everything a user sees goes through here.
#pragma once

#include <ballista/collective.hpp>
#include <ballista/version.hpp>

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

BALLISTA_NAMESPACE_BEGIN

enum class LogLevel { debug, info, warning };

// Implemented by the host. A Context is handed to Model::fit (and to a source plugin's
// Source::simulate) and is valid only for the duration of that call. Methods may only
// be called from the thread that runs the call. A source that sees cancelled() throws.
class BALLISTA_API Context {
 public:
  Context() = default;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  virtual ~Context();

  // Reports that optimisation step `step` (1-based) of `total` finished with training
  // loss `loss` (NaN when the solver has no loss to report). Cheap: call it every step.
  virtual void report_progress(std::int64_t step, std::int64_t total, double loss) = 0;
  // True once the user asked to stop (Ctrl-C). Iterative solvers should check it each
  // step and return early; the host then marks the model as interrupted.
  virtual bool cancelled() const = 0;
  // The device the host runs this model on: the CPU, except in a distributed run on
  // machines with GPUs, where it is this rank's GPU (cuda:LOCAL_RANK mod the GPUs). A
  // plugin that can use a GPU declares a `device` parameter (see <ballista/device.hpp>)
  // and honours that, on this GPU when the answer is one (ballista::fit_device).
  virtual torch::Device device() const = 0;
  // The model's seed, derived by the host from the pipeline seed and the model name.
  // Plugins seed their own torch::Generator with it and never touch global RNG state.
  virtual std::uint64_t seed() const = 0;
  virtual void log(LogLevel level, std::string_view message) = 0;
  // Records a named figure about the fit, e.g. "optimum_mse": the training loss the
  // closed-form optimum of the same objective reaches. The host writes these to
  // metrics.json (fit_values) and shows them in the report. A later value for the same
  // name replaces the earlier one. The default ignores them (a source's context).
  virtual void report_value(std::string_view name, double value);
  // Records a named table about the fit, e.g. a search's Pareto front of complexity
  // against error, or each term's inclusion frequency over bootstrap fits: column headers,
  // then rows of cells as text (one cell per column). The host writes these to
  // metrics.json (fit_tables) and shows them in the report. A later table of the same
  // name replaces the earlier one. The default ignores them.
  virtual void report_table(std::string_view name, const std::vector<std::string>& columns,
                            const std::vector<std::vector<std::string>>& rows);
  // The ranks this fit is spread over. A model whose data_parallel() is true and that
  // the host runs on several processes gets the real one (and only its share of the
  // training rows in fit()); every other fit gets single_process(). The reference stays
  // valid as long as the model does, so its predict(), explain() and save() may use it
  // (see Model::data_parallel()).
  virtual Collective& collective();
};

BALLISTA_NAMESPACE_END
