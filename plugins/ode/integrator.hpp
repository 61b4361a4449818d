// Batched integration of an OdeSystem: every sample is a row of one [n, m] state tensor,
// integrated together, each stopping at its own first event (masking: a sample whose
// event has occurred keeps the state at the start of its crossing step). The event is
// then located inside that step to the integrator's order, as the `projectile` source
// does: the step is retaken with the length τ that ends exactly on the event (regula
// falsi with the Illinois modification). Everything is LibTorch operations, so autograd
// differentiates through the steps; the event time gets its exact derivative from the
// implicit-function theorem (dτ/dp = −(∂e/∂p)/(∂e/∂τ) at the crossing), so a loss on
// the outcome alone trains parameters that act through where the event falls.
#pragma once

#include "ode_system.hpp"

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ballista_ode {

struct IntegratorSettings {
  std::string method = "rk4";  // rk4 (fixed step dt) or dopri5 (adaptive, dt the first step)
  double dt = 0.01;
  double rtol = 1e-6;
  double atol = 1e-9;
  double max_time = 1000.0;     // a sample without its event by then fails
  std::int64_t max_steps = 1000000;  // steps (dopri5: attempts) of the whole batch
};

// A sample whose integration failed (no event within the caps, a blow-up): the message
// counts the samples concerned and names the first by its row.
class IntegrationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Outcome {
  torch::Tensor state;  // [n, m] at each sample's event
  torch::Tensor time;   // [n] the event's time
};

class Integrator {
 public:
  Integrator(const OdeSystem& system, IntegratorSettings settings);

  // Integrates `initial` [n, m] from t = 0 until each row's first event. `scope` holds
  // the inputs ([n] tensors), constants and fitted constants; `learned` the network's
  // weights or the formula distilled from it (neither without a learned term). With
  // autograd enabled, the outcome carries the graph back to `initial`, the fitted
  // constants and the learned term's parameters. `cancelled` is polled every step.
  // `observe`, when given, sees every step's starting point: the time (0-dim, or [n]
  // for dopri5), the state [n, m] and which rows are still integrating [n] (the
  // trajectories a network term is distilled along). Throws IntegrationError.
  using Observer = std::function<void(const torch::Tensor& time, const torch::Tensor& state,
                                      const torch::Tensor& active)>;
  Outcome integrate(const torch::Tensor& initial, Bindings& scope, const LearnedTerm& learned,
                    const std::function<bool()>& cancelled = {}, const Observer& observe = {}) const;

  // RK4's stability limit on the negative real axis, |λ|·dt ≤ 2.785: a larger step
  // amplifies a decaying mode instead of damping it.
  static constexpr double kRk4StabilityLimit = 2.785;
  // The largest |eigenvalue| of the right-hand side's Jacobian over the rows of `state`
  // (the fastest rate of the system there, 1/s), and the row where it occurs.
  std::pair<double, std::int64_t> fastest_rate(const torch::Tensor& state, Bindings& scope,
                                               const LearnedTerm& learned) const;

 private:
  // One step of length h ([n, 1] or a scalar) from (t, state); with `error`, dopri5
  // also writes its embedded error estimate (y5 − y4).
  torch::Tensor step(const torch::Tensor& t, const torch::Tensor& state, const torch::Tensor& h, Bindings& scope,
                     const LearnedTerm& learned, torch::Tensor* error = nullptr) const;
  // The values of every event function at (t, state): [n, events] (time events as T − t).
  torch::Tensor event_values(const torch::Tensor& t, const torch::Tensor& state, Bindings& scope,
                             const torch::Tensor& end_times) const;

  const OdeSystem& system_;
  IntegratorSettings settings_;
  std::vector<std::int64_t> event_columns_;  // per event: the state column it reads as "NAME = 0", else −1
  bool state_columns_only_ = false;          // every event is such a column
};

}  // namespace ballista_ode
