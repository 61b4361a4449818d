// The backward pass and optimizer step of the mlp plugin's full-batch fast path.
#include "full_batch_trainer.hpp"

#include <ballista/adam.hpp>
#include <ballista/parallel.hpp>

#include <algorithm>
#include <iterator>
#include <numeric>
#include <stdexcept>

namespace mlp {

bool FullBatchTrainer::covers(const std::string& activation) {
  return activation == "sigmoid" || activation == "tanh" || activation == "relu" || activation == "gelu" ||
         activation == "silu";
}

FullBatchTrainer::FullBatchTrainer(const std::vector<torch::Tensor>& parameters, const torch::Tensor& x,
                                   const torch::Tensor& y, const std::string& activation, Optimizer optimizer,
                                   double learning_rate, double weight_decay, ballista::Collective& collective)
    : activation_(activation == "sigmoid" ? Activation::sigmoid
                  : activation == "tanh"  ? Activation::tanh
                  : activation == "relu"  ? Activation::relu
                  : activation == "gelu"  ? Activation::gelu
                                          : Activation::silu),
      optimizer_(optimizer),
      learning_rate_(learning_rate),
      weight_decay_(weight_decay),
      x_(x.contiguous()),
      y_(y.contiguous()),
      collective_(collective) {
  if (!covers(activation)) {
    throw std::invalid_argument("mlp: the full-batch trainer does not cover activation '" + activation + "'");
  }
  if (parameters.empty() || parameters.size() % 2 != 0) {
    throw std::invalid_argument("mlp: the full-batch trainer needs a weight and a bias per layer");
  }
  std::int64_t total = 0;
  for (const auto& parameter : parameters) {
    total += parameter.numel();
  }
  const auto options = torch::TensorOptions().dtype(torch::kFloat32);
  flat_parameters_ = torch::empty({total}, options);
  flat_gradients_ = torch::empty({total}, options);
  std::int64_t offset = 0;
  for (const auto& parameter : parameters) {
    const auto end = offset + parameter.numel();
    parameters_.push_back(flat_parameters_.slice(0, offset, end).view(parameter.sizes()));
    parameters_.back().copy_(parameter.detach());
    offsets_.push_back(offset);
    gradients_.push_back(flat_gradients_.slice(0, offset, end).view(parameter.sizes()));
    offset = end;
  }
  if (optimizer_ == Optimizer::adam) {
    exp_average_ = torch::zeros({total}, options);
    exp_average_sq_ = torch::zeros({total}, options);
    denominator_ = torch::empty({total}, options);
  }
  const auto rows = x_.size(0);
  // The derivatives of sigmoid, tanh and relu are functions of their output, so those
  // activate in place; gelu's and silu's need the pre-activation as well.
  const bool keeps_pre_activation = activation_ == Activation::gelu || activation_ == Activation::silu;
  for (std::size_t i = 0; i + 2 < parameters_.size(); i += 2) {
    const auto width = parameters_[i].size(0);
    pre_activations_.push_back(torch::empty({rows, width}, options));
    outputs_.push_back(keeps_pre_activation ? torch::empty({rows, width}, options) : pre_activations_.back());
    output_gradients_.push_back(torch::empty({rows, width}, options));
  }
  prediction_ = torch::empty({rows, parameters_.back().size(0)}, options);
  prediction_gradient_ = torch::empty_like(prediction_);
  // 1/(elements of all the ranks' predictions): the mean's scale, the same on every rank.
  const auto elements = ballista::total_over_ranks(collective_, prediction_.numel());
  inverse_count_ = torch::full({}, 1.0 / static_cast<double>(std::max<std::int64_t>(1, elements)), options);
  row_cuts_ = row_blocks(rows, row_granule(parameters_), pieces_for(rows, kBlockRows));
  // Where step (2) may split the flat buffer: around a whole bias, and between rows of a
  // weight that are a multiple of kBlasRows from its first (the rows of gradientᵀ·input
  // a piece computes are then a block the kernels treat as in the whole product).
  std::vector<std::int64_t> allowed;
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const auto stride = i % 2 == 0 ? kBlasRows * parameters_[i].size(1) : parameters_[i].numel();
    for (auto at = offsets_[i]; at < offsets_[i] + parameters_[i].numel(); at += stride) {
      allowed.push_back(at);
    }
  }
  allowed.push_back(total);
  // As many pieces as the widest weight has kPieceRows rows, of about the same size:
  // the allowed cut nearest each even share.
  std::int64_t widest = 0;
  for (std::size_t i = 0; i < parameters_.size(); i += 2) {
    widest = std::max(widest, parameters_[i].size(0));
  }
  const auto pieces = pieces_for(widest, kPieceRows);
  parameter_cuts_.push_back(0);
  for (std::int64_t piece = 1; piece < pieces; ++piece) {
    const auto share = total * piece / pieces;
    const auto above = std::lower_bound(allowed.begin(), allowed.end(), share);
    const auto below = above == allowed.begin() ? above : std::prev(above);
    const auto cut = *above - share < share - *below ? *above : *below;
    if (cut > parameter_cuts_.back() && cut < total) {
      parameter_cuts_.push_back(cut);
    }
  }
  parameter_cuts_.push_back(total);
}

std::int64_t FullBatchTrainer::row_granule(const std::vector<torch::Tensor>& parameters) {
  constexpr std::int64_t vector_floats = 64;
  std::int64_t granule = kBlasRows;
  for (std::size_t i = 0; i + 2 < parameters.size(); i += 2) {  // the hidden layers' weights
    granule = std::lcm(granule, vector_floats / std::gcd(vector_floats, parameters[i].size(0)));
  }
  return granule;
}

std::int64_t FullBatchTrainer::pieces_for(std::int64_t rows, std::int64_t rows_per_piece) {
  std::int64_t pieces = 1;
  while (pieces * 2 <= kMaxPieces && pieces * 2 * rows_per_piece <= rows) {
    pieces *= 2;
  }
  return pieces;
}

std::vector<std::int64_t> FullBatchTrainer::row_blocks(std::int64_t rows, std::int64_t granule, std::int64_t blocks) {
  const auto units = (rows + granule - 1) / granule;
  const auto count = std::clamp<std::int64_t>(units, 1, blocks);
  std::vector<std::int64_t> cuts;
  for (std::int64_t block = 0; block <= count; ++block) {
    cuts.push_back(std::min(rows, units * block / count * granule));
  }
  return cuts;
}

double FullBatchTrainer::step() {
  ++steps_;
  // The same pieces at every thread count (see the header): each runs on one thread, with
  // a one-thread BLAS, inside ATen's parallel region when there are several threads.
  const auto blocks = static_cast<std::int64_t>(row_cuts_.size()) - 1;
  ballista::parallel_tasks(blocks, [&](std::int64_t block) {
    const auto at = static_cast<std::size_t>(block);
    propagate_rows(row_cuts_[at], row_cuts_[at + 1]);
  });
  double loss = 0;
  const auto pieces = static_cast<std::int64_t>(parameter_cuts_.size()) - 1;
  if (collective_.size() > 1) {
    // The gradients of every piece first, then one all-reduce of them and the loss,
    // then the optimizer's step on the sums.
    ballista::parallel_tasks(pieces, [&](std::int64_t piece) {
      const auto at = static_cast<std::size_t>(piece);
      accumulate_gradients(parameter_cuts_[at], parameter_cuts_[at + 1]);
    });
    std::vector<torch::Tensor> message{flat_gradients_,
                                       at::mse_loss(prediction_, y_, at::Reduction::Sum).mul_(inverse_count_).reshape({1})};
    collective_.sum(message);
    ballista::parallel_tasks(pieces, [&](std::int64_t piece) {
      const auto at = static_cast<std::size_t>(piece);
      optimizer_step(parameter_cuts_[at], parameter_cuts_[at + 1]);
    });
    return message[1].item<double>();
  }
  ballista::parallel_tasks(pieces, [&](std::int64_t piece) {
    const auto at = static_cast<std::size_t>(piece);
    if (piece == 0) {
      // The loss of the parameters before the step, whole, as autograd's loop reports it.
      loss = at::mse_loss(prediction_, y_).item<double>();
    }
    accumulate_gradients(parameter_cuts_[at], parameter_cuts_[at + 1]);
    optimizer_step(parameter_cuts_[at], parameter_cuts_[at + 1]);
  });
  return loss;
}

void FullBatchTrainer::propagate_rows(std::int64_t begin, std::int64_t end) const {
  if (begin == end) {
    return;
  }
  // No autograd bookkeeping for these buffers; the kernels are the same.
  const c10::InferenceMode inference;
  const auto rows = [begin, end](const torch::Tensor& tensor) { return tensor.slice(0, begin, end); };
  const auto layers = parameters_.size() / 2;
  for (std::size_t layer = 0; layer < layers; ++layer) {
    const auto input = rows(layer == 0 ? x_ : outputs_[layer - 1]);
    const auto& weight = parameters_[2 * layer];
    const auto& bias = parameters_[2 * layer + 1];
    if (layer + 1 == layers) {
      auto prediction = rows(prediction_);
      at::addmm_out(prediction, bias, input, weight.t());
    } else {
      auto pre_activation = rows(pre_activations_[layer]);
      auto output = rows(outputs_[layer]);
      at::addmm_out(pre_activation, bias, input, weight.t());
      activate(pre_activation, output);
    }
  }
  auto prediction_gradient = rows(prediction_gradient_);
  at::mse_loss_backward_out(prediction_gradient, inverse_count_, rows(prediction_), rows(y_), at::Reduction::Sum);
  // Autograd's addmm backward for out = bias + input·weightᵀ: input gradient
  // gradient·weight here; the weight and bias gradients in accumulate_gradients.
  for (std::size_t layer = layers - 1; layer > 0; --layer) {
    const auto gradient = layer + 1 == layers ? prediction_gradient : rows(output_gradients_[layer]);
    auto input_gradient = rows(output_gradients_[layer - 1]);
    // With a single output the product is an outer product, one rounded multiplication
    // per element whoever computes it; the broadcast multiply is that without BLAS.
    if (gradient.size(1) == 1) {
      at::mul_out(input_gradient, gradient, parameters_[2 * layer]);
    } else {
      at::mm_out(input_gradient, gradient, parameters_[2 * layer]);
    }
    auto pre_activation = rows(pre_activations_[layer - 1]);
    auto output = rows(outputs_[layer - 1]);
    activation_backward(input_gradient, pre_activation, output);
  }
}

void FullBatchTrainer::accumulate_gradients(std::int64_t first, std::int64_t last) const {
  const c10::InferenceMode inference;
  const auto layers = parameters_.size() / 2;
  for (std::size_t layer = 0; layer < layers; ++layer) {
    const auto& gradient = layer + 1 == layers ? prediction_gradient_ : output_gradients_[layer];
    const auto& input = layer == 0 ? x_ : outputs_[layer - 1];
    // Weight gradient gradientᵀ·input: its rows in [first, last) (parameter_cuts_ holds
    // only boundaries of kBlasRows rows).
    const auto weight_offset = offsets_[2 * layer];
    const auto width = input.size(1);
    const auto begin = std::clamp<std::int64_t>((first - weight_offset) / width, 0, gradient.size(1));
    const auto end = std::clamp<std::int64_t>((last - weight_offset) / width, 0, gradient.size(1));
    if (begin < end) {
      auto block = gradients_[2 * layer].slice(0, begin, end);
      at::mm_out(block, gradient.slice(1, begin, end).t(), input);
    }
    // Bias gradient: the column sums, all of them or none (parameter_cuts_ never splits a bias).
    const auto bias_offset = offsets_[2 * layer + 1];
    if (first <= bias_offset && bias_offset < last) {
      auto bias_gradient = gradients_[2 * layer + 1];
      at::sum_out(bias_gradient, gradient, 0);
    }
  }
}

std::vector<torch::Tensor> FullBatchTrainer::parameters() const {
  std::vector<torch::Tensor> copies;
  copies.reserve(parameters_.size());
  for (const auto& parameter : parameters_) {
    copies.push_back(parameter.clone());
  }
  return copies;
}

void FullBatchTrainer::activate(const torch::Tensor& pre_activation, torch::Tensor& output) const {
  switch (activation_) {
    case Activation::sigmoid:
      at::sigmoid_out(output, pre_activation);
      return;
    case Activation::tanh:
      at::tanh_out(output, pre_activation);
      return;
    case Activation::relu:
      at::relu_(output);  // output is pre_activation
      return;
    case Activation::gelu:
      at::gelu_out(output, pre_activation);
      return;
    case Activation::silu:
      at::silu_out(output, pre_activation);
      return;
  }
}

// In place on `gradient`, with the kernels autograd's derivative formulas call.
void FullBatchTrainer::activation_backward(torch::Tensor& gradient, const torch::Tensor& pre_activation,
                                           const torch::Tensor& output) const {
  switch (activation_) {
    case Activation::sigmoid:
      at::sigmoid_backward_out(gradient, gradient, output);
      return;
    case Activation::tanh:
      at::tanh_backward_out(gradient, gradient, output);
      return;
    case Activation::relu:
      at::threshold_backward_out(gradient, gradient, output, 0);
      return;
    case Activation::gelu:
      at::gelu_backward_out(gradient, gradient, pre_activation);
      return;
    case Activation::silu:
      at::silu_backward_out(gradient, gradient, pre_activation);
      return;
  }
}

// torch.optim.Adam and SGD (no momentum) step by step, on the parameters [first, last)
// of the flat buffer: the kernels are elementwise, and ATen's give the same bits for an
// element whether it falls in a vector or in the scalar tail of a call, so one call over
// any range gives the bits of one call per tensor.
void FullBatchTrainer::optimizer_step(std::int64_t first, std::int64_t last) const {
  const c10::InferenceMode inference;
  const auto range = [first, last](const torch::Tensor& flat) { return flat.slice(0, first, last); };
  auto values = range(flat_parameters_);
  auto gradients = range(flat_gradients_);
  if (weight_decay_ != 0) {
    gradients.add_(values, weight_decay_);
  }
  if (optimizer_ == Optimizer::sgd) {
    values.add_(gradients, -learning_rate_);
    return;
  }
  ballista::adam_step(values, gradients, range(exp_average_), range(exp_average_sq_), range(denominator_), steps_,
                      learning_rate_);
}

}  // namespace mlp
