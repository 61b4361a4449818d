// The mlp plugin's fast path: full-batch Adam or SGD on the CPU in float32, with the
// backward pass written out instead of recorded by autograd. Not thread-safe; one per fit
// (it runs its own parallel steps).
#pragma once

#include <ballista/collective.hpp>

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
// An epoch is two parallel steps (ballista::parallel_tasks: each piece on one thread
// with a single-threaded BLAS), not a parallel region inside every matrix product and
// elementwise kernel:
//  (1) blocks of rows each go through the forward pass, the loss gradient and the
//      backward pass down to every hidden layer's output gradient, all of which treat
//      rows independently;
//  (2) ranges of the flat parameters (blocks of kBlasRows rows of a weight, whole
//      biases) each get their gradients over all the batch's rows (rows of
//      gradientᵀ·input, column sums), then the optimizer's step; piece 0 also computes
//      the loss.
// The blocks and ranges depend on the data and the network only, never on the thread
// count, and no sum over the batch is split: the threads share out the same calls on the
// same data, so the bits are the same at every thread count under any BLAS kernel.
// (Cutting the work into one piece per thread did not: OpenBLAS's AVX2 kernels sum a
// row of a product in an order that depends on where the row falls in the block it is
// computed with, so blocks of another height gave other bits. PyTorch's own results
// vary with the thread count for the same reason.)
//
// Nor do the pieces move the result away from PyTorch's one call per operation on the
// whole batch: every cut falls where the whole-tensor kernels would be in step. Rows start at
// multiples of kBlasRows, where OpenBLAS's kernels are in step with the whole product
// (they go through the rows in panels of 12 (AVX2) or 8 (SSE) columns of the transposed
// product; the AVX-512 kernels sum each element in one order wherever it falls), and
// at multiples of 64 floats in every hidden buffer, where ATen's vector loops are (the
// vector and scalar code of sigmoid and silu differ in the last bit for a few inputs in
// ten million). So the trajectory is also that of PyTorch on one thread (with a BLAS on
// one thread), on the kernels where that was checked: see the README's "Determinism".
class FullBatchTrainer {
 public:
  enum class Optimizer { adam, sgd };

  // Whether this trainer covers the activation (one of the plugin's choices).
  static bool covers(const std::string& activation);

  // REQUIRES: parameters as above, float32 on the CPU; x [n, d_in] and y [n, d_out]
  // float32 on the CPU; covers(activation). Copies the parameters in.
  // On several ranks (`collective`), x and y are this rank's share of the rows: each
  // step sums the shares' gradients and losses (one all-reduce) before the optimizer's
  // step, so every rank takes the step one process on all the rows would take.
  FullBatchTrainer(const std::vector<torch::Tensor>& parameters, const torch::Tensor& x, const torch::Tensor& y,
                   const std::string& activation, Optimizer optimizer, double learning_rate, double weight_decay,
                   ballista::Collective& collective = ballista::single_process());

  FullBatchTrainer(const FullBatchTrainer&) = delete;
  FullBatchTrainer& operator=(const FullBatchTrainer&) = delete;

  // One epoch: forward, backward, optimizer step. Returns the mean squared error of the
  // parameters before the step (what the autograd loop reports).
  double step();

  // The trained parameters, as fresh tensors in the order given to the constructor.
  std::vector<torch::Tensor> parameters() const;

  // Rows a block may start at, for a network with these parameters (layout as above): a
  // multiple of kBlasRows and of 64 floats in every hidden buffer (see above).
  static std::int64_t row_granule(const std::vector<torch::Tensor>& parameters);
  // Cuts of [0, rows) into at most `blocks` blocks of whole granules, about the same size:
  // {0, …, rows}, ascending.
  static std::vector<std::int64_t> row_blocks(std::int64_t rows, std::int64_t granule, std::int64_t blocks);

  // How many pieces a step is cut into: the largest power of two, up to kMaxPieces, that
  // leaves every piece at least `rows_per_piece` of the `rows`; at least one. A power of
  // two keeps 2, 4, 8 or 16 threads evenly busy.
  static std::int64_t pieces_for(std::int64_t rows, std::int64_t rows_per_piece);

  // The pieces depend on the data and the network, never on the thread count. Each piece
  // repacks the matrix it multiplies by (OpenBLAS copies both operands of a product into
  // its own layout), which costs about 10/r of the work of a product of r rows at the
  // SGEMM rate: so a block of rows has at least kBlockRows rows (the weights repacked
  // per block), and a range of weight gradients at least kPieceRows rows of the widest
  // weight (the layer's input, [n, width], repacked per range). The article's network
  // on 1000 rows gets two of each, as two threads got before.
  static constexpr std::int64_t kBlockRows = 256;
  static constexpr std::int64_t kPieceRows = 128;
  static constexpr std::int64_t kMaxPieces = 16;
  // Blocks of rows of a product start at multiples of this (see above).
  static constexpr std::int64_t kBlasRows = 24;

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
  ballista::Collective& collective_;
  torch::Tensor flat_parameters_, flat_gradients_;  // views below share these
  torch::Tensor exp_average_, exp_average_sq_, denominator_;  // Adam's state, flat
  std::vector<torch::Tensor> parameters_, gradients_;  // weight, bias per layer
  std::vector<std::int64_t> offsets_;  // of each in the flat buffers
  std::vector<std::int64_t> row_cuts_;  // the blocks of rows of step (1): {0, …, rows}
  std::vector<std::int64_t> parameter_cuts_;  // the ranges of step (2): {0, …, parameter count}
  // Per hidden layer: the pre-activation (the same tensor as the output for the
  // activations whose derivative needs only the output), the output, its gradient.
  std::vector<torch::Tensor> pre_activations_, outputs_, output_gradients_;
  torch::Tensor prediction_, prediction_gradient_;
  // d loss / d prediction = 2·(prediction − y)·inverse_count_, with 1/(n·outputs) as a
  // float32 scalar: the bits of mse_loss_backward's mean reduction (whose factor
  // 2/(n·outputs) is exactly twice it), computed on any block of rows.
  torch::Tensor inverse_count_;
};

}  // namespace mlp
