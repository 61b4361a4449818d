// The right-hand side (its definitions and rates) compiled into one program that runs
// column by column over the batch, as a single autograd node whose backward is the
// program's own reverse sweep. Evaluated op by op, the drag equations of one RK4 stage
// are some fifteen LibTorch operations, each with its dispatch, allocation and autograd
// node, on 1000-element columns: the overhead, not the arithmetic, is the time. Fused,
// they are one node. CPU, float64; OdeSystem falls back to LibTorch operations
// elsewhere (and with the parameter fused: false).
#pragma once

#include <ballista/expression.hpp>

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ballista_ode {

struct Equation;

class FusedRates {
 public:
  // One operation of the program: its result is slot `state + reads + index`.
  struct Instruction {
    enum class Kind {
      constant,
      negate,
      add,
      subtract,
      multiply,
      divide,
      power,
      sin,
      cos,
      tan,
      exp,
      log,
      sqrt,
      abs
    };
    Kind kind;
    std::int64_t a = -1;  // operand slots
    std::int64_t b = -1;
    double value = 0.0;   // constant
  };
  // A name the program reads besides the state: its value is given at each call (a
  // 0-dim or [n] tensor); pi and e, when the caller has no other value, are theirs.
  struct Read {
    std::string name;
    std::optional<double> fallback;
  };

  // Compiles `definitions` (in order) and `rates` (one per state variable, in state
  // order) over the state variables `state`.
  FusedRates(const std::vector<std::string>& state, const std::vector<Equation>& definitions,
             const std::vector<Equation>& rates);

  const std::vector<Read>& reads() const { return reads_; }

  // d(state)/dt [n, m] at `state` [n, m] (float64, CPU), `values` bound to reads() in
  // order (0-dim or [n], float64, CPU). Differentiable in the state and every value.
  torch::Tensor operator()(const torch::Tensor& state, const std::vector<torch::Tensor>& values) const;

  // The program's parts, for its autograd node (fused_rates.cpp).
  std::int64_t state_size() const { return state_size_; }
  const std::vector<Instruction>& instructions() const { return instructions_; }
  const std::vector<std::int64_t>& outputs() const { return outputs_; }

 private:
  std::int64_t state_size_;
  std::vector<Read> reads_;
  std::vector<Instruction> instructions_;
  std::vector<std::int64_t> outputs_;  // the slot of each state variable's rate
};

// The network net(inputs) [n, K] of `weights` (weight [out, in], bias [out], layer by
// layer; `activation` tanh, sigmoid or softplus between layers) as one autograd node:
// its forward is the layers' matrix products with the activations applied in place,
// its backward the layers' products in reverse with the activation's derivative from
// the saved activations. The same arithmetic as LibTorch's autograd through addmm and
// the activations, with one node instead of one per operation.
torch::Tensor fused_network(const std::vector<torch::Tensor>& weights, const torch::Tensor& inputs,
                            const std::string& activation);

}  // namespace ballista_ode
