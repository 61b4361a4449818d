// The mlp plugin's fast path: full-batch Adam or SGD on the CPU in float32, with the
// backward pass written out instead of recorded by autograd. Not thread-safe; one per fit.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace mlp {

// Trains weight, bias, weight, bias, … (nn.Linear layout: weight [out, in], bias [out])
// of a network with `activation` after each hidden layer on the mean squared error.
//
// Each epoch makes the ATen calls autograd's backward of the plugin's forward makes,
// followed by torch.optim.Adam's or SGD's, in the same order and on tensors of the same
// shapes (one exception: with a single output, the outer product gradient·weight is a
// broadcast multiply instead of a K=1 GEMM, the same rounded products): the trajectory
// is bit for bit that of the autograd loop and of Python PyTorch on the same LibTorch
// (tests/plugins/mlp checks it to float32 rounding). What it saves is the overhead
// around those calls: no graph, no per-epoch allocation of activations or gradients
// (they and the optimizer state live in buffers made once; parameters and their state
// in one flat buffer each, so the optimizer is eight calls per epoch, not eight per
// tensor), no zero_grad. A hand-written elementwise loop could not keep those bits:
// ATen's AVX2 kernels contract a + αb into fused multiply-adds.
class FullBatchTrainer {
 public:
  enum class Optimizer { adam, sgd };

  // Whether this trainer covers the activation (one of the plugin's choices).
  static bool covers(const std::string& activation);

  // REQUIRES: parameters as above, float32 on the CPU; x [n, d_in] and y [n, d_out]
  // float32 on the CPU; covers(activation). Copies the parameters in.
  FullBatchTrainer(const std::vector<torch::Tensor>& parameters, const torch::Tensor& x, const torch::Tensor& y,
                   const std::string& activation, Optimizer optimizer, double learning_rate, double weight_decay);

  FullBatchTrainer(const FullBatchTrainer&) = delete;
  FullBatchTrainer& operator=(const FullBatchTrainer&) = delete;

  // One epoch: forward, backward, optimizer step. Returns the mean squared error of the
  // parameters before the step (what the autograd loop reports).
  double step();

  // The trained parameters, as fresh tensors in the order given to the constructor.
  std::vector<torch::Tensor> parameters() const;

 private:
  enum class Activation { sigmoid, tanh, relu, gelu, silu };

  void activate(const torch::Tensor& pre_activation, torch::Tensor& output) const;
  void activation_backward(torch::Tensor& gradient, const torch::Tensor& pre_activation,
                           const torch::Tensor& output) const;
  void optimizer_step();

  Activation activation_;
  Optimizer optimizer_;
  double learning_rate_;
  double weight_decay_;
  std::int64_t steps_ = 0;
  torch::Tensor x_, y_;
  torch::Tensor flat_parameters_, flat_gradients_;  // views below share these
  torch::Tensor exp_average_, exp_average_sq_, denominator_;  // Adam's state, flat
  std::vector<torch::Tensor> parameters_, gradients_;  // weight, bias per layer
  // Per hidden layer: the pre-activation (the same tensor as the output for the
  // activations whose derivative needs only the output), the output, its gradient.
  std::vector<torch::Tensor> pre_activations_, outputs_, output_gradients_;
  torch::Tensor prediction_, prediction_gradient_, one_;
};

}  // namespace mlp
