// The mlp plugin's fast path: full-batch Adam or SGD on the CPU in float32, with the
// backward pass written out instead of recorded by autograd. Not thread-safe; one per fit
// (it runs its own parallel steps).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace mlp {

// Trains weight, bias, weight, bias, … (nn.Linear layout: weight [out, in], bias [out])
// of a network with `activation` after each hidden layer on the mean squared error.
//
// Each epoch makes the ATen calls autograd's backward of the plugin's forward makes,
// followed by torch.optim.Adam's or SGD's, on tensors of the same shapes (one
// exception: with a single output, the outer product gradient·weight is a broadcast
// multiply instead of a K=1 GEMM, the same rounded products): the trajectory is bit for
// bit that of the autograd loop and of Python PyTorch on the same LibTorch
// (tests/plugins/mlp checks it). What it saves is the overhead around those calls: no
// graph, no per-epoch allocation of activations or gradients (they and the optimizer
// state live in buffers made once; parameters and their state in one flat buffer each,
// so the optimizer is eight calls per epoch, not eight per tensor), no zero_grad. A
// hand-written elementwise loop could not keep those bits: ATen's AVX2 kernels contract
// a + αb into fused multiply-adds.
//
// An epoch is two parallel steps (ballista::parallel_tasks: one part per intra-op
// thread, each part on one thread with a single-threaded BLAS), not a parallel region
// inside every matrix product and elementwise kernel:
//  (1) each part takes a block of rows through the forward pass, the loss gradient and
//      the backward pass down to every hidden layer's output gradient, all of which
//      treat rows independently;
//  (2) each part takes a range of the flat parameters (whole rows of weights, whole
//      biases): their gradients over all the batch's rows (rows of gradientᵀ·input,
//      column sums), then the optimizer's step on them; part 0 also computes the loss.
// A row of a product and an element of an elementwise kernel come out the same
// whichever part computes them (blocks of rows start where ATen's vector loops over the
// whole tensor would be in step: the vector and scalar code of sigmoid and silu differ
// in the last bit for a few inputs in ten million), and no sum over the batch is split,
// so the bits are the same at every thread count, and those of PyTorch with one thread.
// (PyTorch's own vary with the thread count: OpenBLAS on several threads gives some
// products other bits.) At N = 1000, where two threads in each product gain nothing,
// this halves the epoch on two cores.
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

  // Step (1) for rows [begin, end): forward, the loss gradient, and every hidden
  // layer's output gradient (through the activation's derivative).
  void propagate_rows(std::int64_t begin, std::int64_t end) const;
  // Step (2) for the parameters [first, last) of the flat buffer (whole rows of weights,
  // whole biases): their gradients over the whole batch.
  void accumulate_gradients(std::int64_t first, std::int64_t last) const;
  void activate(const torch::Tensor& pre_activation, torch::Tensor& output) const;
  void activation_backward(torch::Tensor& gradient, const torch::Tensor& pre_activation,
                           const torch::Tensor& output) const;
  // The optimizer's step for the parameters [first, last) of the flat buffer.
  void optimizer_step(std::int64_t first, std::int64_t last) const;

  Activation activation_;
  Optimizer optimizer_;
  double learning_rate_;
  double weight_decay_;
  std::int64_t steps_ = 0;
  torch::Tensor x_, y_;
  torch::Tensor flat_parameters_, flat_gradients_;  // views below share these
  torch::Tensor exp_average_, exp_average_sq_, denominator_;  // Adam's state, flat
  std::vector<torch::Tensor> parameters_, gradients_;  // weight, bias per layer
  std::vector<std::int64_t> offsets_;  // of each in the flat buffers
  std::vector<std::int64_t> cuts_;  // ascending offsets where step (2) may split them, and the total
  // Per hidden layer: the pre-activation (the same tensor as the output for the
  // activations whose derivative needs only the output), the output, its gradient.
  std::vector<torch::Tensor> pre_activations_, outputs_, output_gradients_;
  torch::Tensor prediction_, prediction_gradient_;
  // d loss / d prediction = 2·(prediction − y)·inverse_count_, with 1/(n·outputs) as a
  // float32 scalar: the bits of mse_loss_backward's mean reduction (whose factor
  // 2/(n·outputs) is exactly twice it), computed on any block of rows.
  torch::Tensor inverse_count_;
  // Blocks of rows in step (1) start at multiples of this: ATen's elementwise kernels
  // run vectors of up to 64 floats over a contiguous tensor and the tail one by one,
  // with other bits for some functions, so a block must start at an element offset
  // that is a multiple of 64 in every [n, width] buffer.
  std::int64_t row_alignment_ = 1;
};

}  // namespace mlp
