// The backward pass and optimizer step of the mlp plugin's full-batch fast path.
#include "full_batch_trainer.hpp"

#include <cmath>
#include <stdexcept>

namespace mlp {

namespace {

// torch.optim.Adam's defaults, which the plugin does not expose.
constexpr double beta1 = 0.9;
constexpr double beta2 = 0.999;
constexpr double epsilon = 1e-8;

}  // namespace

bool FullBatchTrainer::covers(const std::string& activation) {
  return activation == "sigmoid" || activation == "tanh" || activation == "relu" || activation == "gelu" ||
         activation == "silu";
}

FullBatchTrainer::FullBatchTrainer(const std::vector<torch::Tensor>& parameters, const torch::Tensor& x,
                                   const torch::Tensor& y, const std::string& activation, Optimizer optimizer,
                                   double learning_rate, double weight_decay)
    : activation_(activation == "sigmoid" ? Activation::sigmoid
                  : activation == "tanh"  ? Activation::tanh
                  : activation == "relu"  ? Activation::relu
                  : activation == "gelu"  ? Activation::gelu
                                          : Activation::silu),
      optimizer_(optimizer),
      learning_rate_(learning_rate),
      weight_decay_(weight_decay),
      x_(x.contiguous()),
      y_(y.contiguous()) {
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
  // The gradient autograd seeds the backward pass with: d loss / d loss.
  one_ = torch::ones({}, options);
}

double FullBatchTrainer::step() {
  // No autograd bookkeeping for these buffers; the kernels are the same.
  const c10::InferenceMode inference;
  const auto layers = parameters_.size() / 2;
  for (std::size_t layer = 0; layer < layers; ++layer) {
    const auto& input = layer == 0 ? x_ : outputs_[layer - 1];
    const auto& weight = parameters_[2 * layer];
    const auto& bias = parameters_[2 * layer + 1];
    if (layer + 1 == layers) {
      at::addmm_out(prediction_, bias, input, weight.t());
    } else {
      at::addmm_out(pre_activations_[layer], bias, input, weight.t());
      activate(pre_activations_[layer], outputs_[layer]);
    }
  }
  const double loss = at::mse_loss(prediction_, y_).item<double>();
  at::mse_loss_backward_out(prediction_gradient_, one_, prediction_, y_, at::Reduction::Mean);
  // Autograd's addmm backward for out = bias + input·weightᵀ: weight gradient
  // gradientᵀ·input, bias gradient the column sums, input gradient gradient·weight.
  for (std::size_t layer = layers; layer-- > 0;) {
    const auto& gradient = layer + 1 == layers ? prediction_gradient_ : output_gradients_[layer];
    const auto& input = layer == 0 ? x_ : outputs_[layer - 1];
    at::mm_out(gradients_[2 * layer], gradient.t(), input);
    at::sum_out(gradients_[2 * layer + 1], gradient, 0);
    if (layer > 0) {
      // With a single output the product is an outer product, one rounded multiplication
      // per element whoever computes it; the broadcast multiply is that without BLAS.
      if (gradient.size(1) == 1) {
        at::mul_out(output_gradients_[layer - 1], gradient, parameters_[2 * layer]);
      } else {
        at::mm_out(output_gradients_[layer - 1], gradient, parameters_[2 * layer]);
      }
      activation_backward(output_gradients_[layer - 1], pre_activations_[layer - 1], outputs_[layer - 1]);
    }
  }
  optimizer_step();
  return loss;
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

// torch.optim.Adam and SGD (no momentum) step by step, on all parameters at once: the
// kernels are elementwise, so one call over the flat buffer gives the bits of one call
// per tensor.
void FullBatchTrainer::optimizer_step() {
  ++steps_;
  if (weight_decay_ != 0) {
    flat_gradients_.add_(flat_parameters_, weight_decay_);
  }
  if (optimizer_ == Optimizer::sgd) {
    flat_parameters_.add_(flat_gradients_, -learning_rate_);
    return;
  }
  exp_average_.mul_(beta1).add_(flat_gradients_, 1 - beta1);
  exp_average_sq_.mul_(beta2).addcmul_(flat_gradients_, flat_gradients_, 1 - beta2);
  const auto steps = static_cast<double>(steps_);
  const double bias_correction1 = 1 - std::pow(beta1, steps);
  const double bias_correction2 = 1 - std::pow(beta2, steps);
  at::sqrt_out(denominator_, exp_average_sq_);
  denominator_.div_(std::sqrt(bias_correction2)).add_(epsilon);
  flat_parameters_.addcdiv_(exp_average_, denominator_, -learning_rate_ / bias_correction1);
}

}  // namespace mlp
