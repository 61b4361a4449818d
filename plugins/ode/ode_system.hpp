// The `ode` plugin's equations as the user wrote them, read once from the parameters:
// the state and its initial values, the right-hand side (with intermediate definitions
// and an optional network term), the events that end a sample's integration and the
// outputs taken at that moment. Also evaluates the right-hand side on a batch.
#pragma once

#include "fused_rates.hpp"

#include <ballista/expression.hpp>
#include <ballista/parameters.hpp>

#include <torch/types.h>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ballista_ode {

// "NAME = EXPRESSION" (or "NAME' = EXPRESSION" in the right-hand side).
struct Equation {
  std::string name;
  ballista::Expression expression;
};

// "k = 0.01 in [0, inf]": a constant whose value training chooses, kept within bounds.
struct FittedConstant {
  std::string name;
  double initial = 0.0;
  double lower = -std::numeric_limits<double>::infinity();
  double upper = std::numeric_limits<double>::infinity();
};

// "y = 0 falling" (a crossing of LHS − RHS through zero), or "t = EXPRESSION" (a time,
// per sample, read from the inputs and constants).
struct Event {
  enum class Kind { crossing, time };
  Kind kind;
  std::string text;
  ballista::Expression function;  // crossing: LHS − RHS; time: the end time
  int direction;                  // crossing: −1 falling, +1 rising, 0 either
};

// The learned term: net(inputs) → net1 … netK, a fully connected network.
struct NetworkShape {
  std::vector<std::string> inputs;  // empty: no network
  std::int64_t outputs = 0;
  std::vector<std::int64_t> hidden;
  std::string activation;
  std::vector<std::string> output_names() const;  // net1 … netK
};

// A sparse formula standing in for the network once distilled: net_k = Σ_j term_j ·
// c[j, k] over the terms some output keeps, c = weights · scale · kept. Training moves
// the weights, in units of scale (each term's share of its output's size along the
// trajectories), so a step of 1 is a change the size of the output whatever the
// term's own scale.
struct Formula {
  std::vector<std::string> texts;
  std::vector<ballista::Expression> terms;
  torch::Tensor weights;  // [J, K], trained through the solver
  torch::Tensor scale;    // [J, K]
  torch::Tensor kept;     // [J, K], 1 where output k keeps term j, else 0 (the weights' dtype)
  torch::Tensor coefficients() const { return weights * scale * kept; }
};

// The learned part of the right-hand side as it stands: the network's weights (weight
// [out, in], then bias [out], layer by layer), or the formula distilled from it.
struct LearnedTerm {
  std::vector<torch::Tensor> network;
  const Formula* formula = nullptr;  // when set, used instead of the network
};

// Name → value, as the expressions read them: [n] tensors for per-sample values,
// 0-dimensional tensors for constants.
using Bindings = ballista::Expression::TensorBindings;

class OdeSystem {
 public:
  // Throws ballista::ParameterError naming the parameter and the entry at fault.
  explicit OdeSystem(const ballista::Parameters& parameters);

  const std::vector<std::string>& state_names() const { return state_names_; }
  const std::vector<Equation>& initial() const { return initial_; }
  const std::vector<Equation>& derivatives() const { return derivatives_; }  // in state order
  const std::vector<Equation>& definitions() const { return definitions_; }
  const std::map<std::string, double>& constants() const { return constants_; }
  const std::vector<FittedConstant>& fitted() const { return fitted_; }
  const std::vector<Event>& events() const { return events_; }
  const std::vector<Equation>& outputs() const { return outputs_; }
  const NetworkShape& network() const { return network_; }
  // Names the equations read that they do not define: the data's inputs (or the
  // pipeline's constants), in order of first use.
  const std::vector<std::string>& free_names() const { return free_names_; }

  // The network's weights and biases, layer by layer (weight [out, in], then bias
  // [out]), initialised as torch.nn.Linear does from `generator`.
  std::vector<torch::Tensor> initial_network(at::Generator& generator, torch::Dtype dtype) const;
  // The network's outputs [n, K] at `inputs` [n, d].
  torch::Tensor network_output(const std::vector<torch::Tensor>& weights, const torch::Tensor& inputs) const;

  // The network's inputs [n, d] from `scope` (after bind_state), in the order of
  // net_inputs.
  torch::Tensor network_inputs(const Bindings& scope, std::int64_t rows) const;
  // The learned term's outputs net1 … netK [n, K] from `scope` (after bind_state).
  torch::Tensor learned_output(const LearnedTerm& learned, const Bindings& scope, std::int64_t rows) const;

  // d(state)/dt [n, m] at `state` [n, m] and time `t` (a 0-dim or [n] tensor). `scope`
  // holds the inputs, constants and fitted constants; the state, t, the definitions
  // and the learned term's outputs are bound in it here (it is reused to save
  // allocations).
  torch::Tensor derivative(const torch::Tensor& t, const torch::Tensor& state, Bindings& scope,
                           const LearnedTerm& learned) const;
  // Binds the state's variables, t and (unless `definitions` is false) the definitions
  // in `scope` (for events, outputs).
  void bind_state(const torch::Tensor& t, const torch::Tensor& state, Bindings& scope, bool definitions = true) const;
  // Whether the right-hand side depends on t (else the stages skip computing their times).
  bool reads_time() const { return reads_time_; }
  // Whether an event reads a definition (else checking events skips computing them).
  bool events_read_definitions() const { return events_read_definitions_; }

  // The equations with fitted values written in ("ux' = -0.02013*speed*ux; ..."), and
  // net1 … netK replaced by `formulas` (their texts) when distilled.
  std::string describe(const std::map<std::string, double>& fitted_values, const std::string& network_summary,
                       const std::vector<std::string>& formulas = {}) const;

 private:
  std::vector<std::string> state_names_;
  std::vector<Equation> initial_;
  std::vector<Equation> derivatives_;
  std::vector<Equation> definitions_;
  std::map<std::string, double> constants_;
  std::vector<FittedConstant> fitted_;
  std::vector<Event> events_;
  std::vector<Equation> outputs_;
  NetworkShape network_;
  std::vector<std::string> network_output_names_;
  std::vector<std::string> free_names_;
  bool events_read_definitions_ = false;
  bool reads_time_ = false;
  bool network_reads_definitions_ = false;
  std::optional<FusedRates> fused_;  // the right-hand side compiled (parameter fused)
};

// The shortest text that reads back as `value` ("0.02", "9.81"); with `digits`, that
// many significant digits.
std::string format_number(double value, int digits = 0);

}  // namespace ballista_ode
