// A multilayer perceptron: the black box. The article's network is
// Linear(2,256)→Sigmoid→Linear(256,256)→Sigmoid→Linear(256,1), trained with Adam
// (lr 0.01) for 1000 full-batch epochs on the mean squared error, in float32.
#include "full_batch_trainer.hpp"

#include <ballista/archive.hpp>
#include <ballista/device.hpp>
#include <ballista/parallel.hpp>
#include <ballista/plugin.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>
#include <stdexcept>

namespace {

// Rows per block when predicting on the CPU (rounded up to the trainer's row granule).
constexpr std::int64_t kPredictRows = 256;

torch::Tensor activate(const std::string& activation, const torch::Tensor& x) {
  if (activation == "sigmoid") {
    return torch::sigmoid(x);
  }
  if (activation == "tanh") {
    return torch::tanh(x);
  }
  if (activation == "relu") {
    return torch::relu(x);
  }
  if (activation == "gelu") {
    return torch::gelu(x);
  }
  return torch::silu(x);
}

class MlpModel final : public ballista::Model {
 public:
  explicit MlpModel(const ballista::Parameters& parameters)
      : hidden_(parameters.get<std::vector<std::int64_t>>("hidden")),
        activation_(parameters.get<std::string>("activation")),
        optimizer_(parameters.get<std::string>("optimizer")),
        learning_rate_(parameters.get<double>("lr")),
        epochs_(parameters.get<std::int64_t>("epochs")),
        batch_size_(parameters.get<std::int64_t>("batch_size")),
        weight_decay_(parameters.get<double>("weight_decay")),
        standardize_(parameters.get<bool>("standardize")),
        early_stopping_(parameters.get<bool>("early_stopping")),
        validation_fraction_(parameters.get<double>("validation_fraction")),
        patience_(parameters.get<std::int64_t>("patience")),
        device_(ballista::chosen_device(parameters)) {}

  void fit(const ballista::Dataset& train, ballista::Context& context) override {
    ballista::require_finite(train.inputs, "mlp: fit() inputs");
    ballista::require_finite(train.targets, "mlp: fit() targets");
    device_ = ballista::fit_device(device_, context);
    auto generator = at::make_generator<at::CPUGeneratorImpl>(context.seed());
    auto x = train.inputs.to(torch::kFloat32);
    auto y = train.targets.to(torch::kFloat32);
    // Initialised first, so a plain full-batch run draws exactly the same weights
    // whatever the other options.
    initialise(x.size(1), y.size(1), generator);
    torch::Tensor x_valid;
    torch::Tensor y_valid;
    if (early_stopping_) {
      const auto n = x.size(0);
      const auto held = std::max<std::int64_t>(1, std::llround(validation_fraction_ * static_cast<double>(n)));
      if (held >= n) {
        throw std::invalid_argument("mlp: early_stopping needs at least 2 training rows, got " + std::to_string(n));
      }
      const auto order = torch::randperm(n, generator);
      x_valid = x.index({order.slice(0, 0, held)});
      y_valid = y.index({order.slice(0, 0, held)});
      x = x.index({order.slice(0, held)});
      y = y.index({order.slice(0, held)});
    }
    if (standardize_) {
      // Statistics of the rows the model trains on (population σ; constant columns keep 1).
      const auto scale_of = [](const torch::Tensor& t) {
        const auto sd = t.std(0, /*unbiased=*/false, /*keepdim=*/true);
        return torch::where(sd > 0, sd, torch::ones_like(sd));
      };
      if (context.collective().size() == 1) {
        x_mean_ = x.mean(0, /*keepdim=*/true);
        x_scale_ = scale_of(x);
        y_mean_ = y.mean(0, /*keepdim=*/true);
        y_scale_ = scale_of(y);
      } else {
        std::tie(x_mean_, x_scale_) = shared_statistics(x, context.collective());
        std::tie(y_mean_, y_scale_) = shared_statistics(y, context.collective());
      }
      y = (y - y_mean_) / y_scale_;
      if (early_stopping_) {
        y_valid = (y_valid - y_mean_) / y_scale_;
      }
    }
    x = scaled_inputs(x).to(device_);
    y = y.to(device_);
    if (early_stopping_) {
      x_valid = scaled_inputs(x_valid).to(device_);
      y_valid = y_valid.to(device_);
    }
    if (takes_fast_path(x.size(0))) {
      train_full_batch(x, y, context);
    } else {
      for (auto& parameter : parameters_) {
        parameter = parameter.to(device_).detach().set_requires_grad(true);
      }
      // On one thread (ATen and the BLAS), like the fast path's pieces: mini-batch and
      // L-BFGS steps are sequential, and their bits then do not depend on --threads.
      ballista::parallel_tasks(1, [&](std::int64_t) { train_loop(x, y, x_valid, y_valid, generator, context); });
      for (auto& parameter : parameters_) {
        parameter = parameter.detach().set_requires_grad(false);
      }
    }
    fitted_ = true;
  }

  torch::Tensor predict(const torch::Tensor& inputs) const override {
    if (!fitted_) {
      throw std::logic_error("mlp: predict() called before fit()");
    }
    ballista::require_finite(inputs, "mlp: predict() inputs");
    const auto x = scaled_inputs(inputs.to(torch::kFloat32)).to(device_);
    torch::Tensor output;
    if (device_.is_cpu()) {
      // Blocks of a fixed number of rows, each on one thread with a one-thread BLAS: the
      // same bits at every thread count (a product split over OpenBLAS's threads, or
      // blocks of another height, may sum in another order).
      output = torch::empty({x.size(0), parameters_.back().size(0)}, torch::kFloat32);
      const auto granule = mlp::FullBatchTrainer::row_granule(parameters_);
      const auto block = granule * ((kPredictRows + granule - 1) / granule);
      ballista::parallel_tasks((x.size(0) + block - 1) / block, [&](std::int64_t index) {
        const c10::InferenceMode inference;
        const auto begin = index * block;
        const auto end = std::min(x.size(0), begin + block);
        output.slice(0, begin, end).copy_(forward(x.slice(0, begin, end)));
      });
    } else {
      const torch::NoGradGuard no_grad;
      output = forward(x).cpu();
    }
    return standardize_ ? output * y_scale_ + y_mean_ : output;
  }

  std::string describe() const override {
    if (!fitted_) {
      return {};
    }
    std::string layers;
    for (std::size_t i = 0; i < parameters_.size(); i += 2) {
      layers += (i == 0 ? std::to_string(parameters_[i].size(1)) : std::string()) + "→" +
                std::to_string(parameters_[i].size(0));
    }
    return "black box: MLP " + layers + ", " + activation_;
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    if (!fitted_) {
      throw std::logic_error("mlp: save() called before fit()");
    }
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      archive.write("parameter" + std::to_string(i), parameters_[i].cpu());
    }
    if (standardize_) {
      archive.write("x_mean", x_mean_);
      archive.write("x_scale", x_scale_);
      archive.write("y_mean", y_mean_);
      archive.write("y_scale", y_scale_);
    }
  }

  // The layer sizes follow from the `hidden` parameter the host restores with the model.
  // A file may be damaged or forged: the stored layers must be exactly those, chained,
  // and standardisation statistics stored exactly when the parameter says so.
  void load(torch::serialize::InputArchive& archive) override {
    const auto require = [](bool condition, const std::string& message) {
      if (!condition) {
        throw std::runtime_error("mlp: the stored model is inconsistent: " + message);
      }
    };
    const auto layers = hidden_.size() + 1;
    std::vector<torch::Tensor> stored;
    for (std::size_t i = 0; i < 2 * layers; ++i) {
      stored.push_back(ballista::read_tensor(archive, "parameter" + std::to_string(i)));
    }
    torch::Tensor unused;
    require(!archive.try_read("parameter" + std::to_string(2 * layers), unused),
            "it holds more layers than the " + std::to_string(layers) + " of parameter hidden");
    for (std::size_t layer = 0; layer < layers; ++layer) {
      const auto& weight = stored[2 * layer];
      const auto& bias = stored[2 * layer + 1];
      const bool chained = layer == 0 || (weight.dim() == 2 && weight.size(1) == stored[2 * layer - 2].size(0));
      const bool sized = layer == hidden_.size() || (weight.dim() == 2 && weight.size(0) == hidden_[layer]);
      require(weight.scalar_type() == torch::kFloat32 && weight.dim() == 2 && weight.size(0) > 0 &&
                  weight.size(1) > 0 && chained && sized && bias.scalar_type() == torch::kFloat32 &&
                  bias.dim() == 1 && bias.size(0) == weight.size(0),
              "layer " + std::to_string(layer + 1) + " (weight " + ballista::stored_shape(weight) + ", bias " +
              ballista::stored_shape(bias) +
                  ") does not follow from parameter hidden and the layer before it");
    }
    require(standardize_ || !archive.try_read("x_mean", unused),
            "it holds standardisation statistics, but parameter standardize is false");
    if (standardize_) {
      x_mean_ = ballista::read_tensor(archive, "x_mean");
      x_scale_ = ballista::read_tensor(archive, "x_scale");
      y_mean_ = ballista::read_tensor(archive, "y_mean");
      y_scale_ = ballista::read_tensor(archive, "y_scale");
      const auto inputs = stored.front().size(1);
      const auto outputs = stored.back().size(0);
      for (const auto& [statistic, columns] : {std::pair{&x_mean_, inputs}, std::pair{&x_scale_, inputs},
                                               std::pair{&y_mean_, outputs}, std::pair{&y_scale_, outputs}}) {
        require(statistic->scalar_type() == torch::kFloat32 && statistic->dim() == 2 && statistic->size(0) == 1 &&
                    statistic->size(1) == columns,
                "the standardisation statistics must be float32 [1, " + std::to_string(columns) + "], found " +
                    ballista::stored_shape(*statistic));
      }
    }
    parameters_.clear();
    for (const auto& parameter : stored) {
      parameters_.push_back(parameter.to(device_));
    }
    fitted_ = true;
  }

  std::int64_t parameter_count() const override {
    std::int64_t count = 0;
    for (const auto& parameter : parameters_) {
      count += parameter.numel();
    }
    return count;
  }

 private:
  // PyTorch's nn.Linear initialisation, from the model's own generator so results
  // depend on its seed only: weight and bias ~ U(−1/√fan_in, 1/√fan_in), layer by layer.
  void initialise(std::int64_t inputs, std::int64_t outputs, at::Generator& generator) {
    parameters_.clear();
    std::vector<std::int64_t> sizes{inputs};
    sizes.insert(sizes.end(), hidden_.begin(), hidden_.end());
    sizes.push_back(outputs);
    for (std::size_t layer = 0; layer + 1 < sizes.size(); ++layer) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(sizes[layer]));
      parameters_.push_back(
          torch::empty({sizes[layer + 1], sizes[layer]}, torch::kFloat32).uniform_(-bound, bound, generator));
      parameters_.push_back(torch::empty({sizes[layer + 1]}, torch::kFloat32).uniform_(-bound, bound, generator));
    }
  }

  std::unique_ptr<torch::optim::Optimizer> make_optimizer() {
    if (optimizer_ == "adam") {
      return std::make_unique<torch::optim::Adam>(parameters_,
                                                  torch::optim::AdamOptions(learning_rate_).weight_decay(weight_decay_));
    }
    if (optimizer_ == "sgd") {
      return std::make_unique<torch::optim::SGD>(parameters_,
                                                 torch::optim::SGDOptions(learning_rate_).weight_decay(weight_decay_));
    }
    // L-BFGS with a strong-Wolfe line search; each epoch is one step of up to 20 iterations.
    return std::make_unique<torch::optim::LBFGS>(
        parameters_, torch::optim::LBFGSOptions(learning_rate_).line_search_fn("strong_wolfe"));
  }

  // The loss minimised: MSE, plus ½·weight_decay·‖θ‖² for L-BFGS (Adam and SGD apply
  // weight decay to the gradient themselves, which is the same thing for SGD).
  torch::Tensor objective(const torch::Tensor& x, const torch::Tensor& y) const {
    auto loss = torch::mse_loss(forward(x), y);
    if (optimizer_ == "lbfgs" && weight_decay_ > 0) {
      for (const auto& parameter : parameters_) {
        loss = loss + 0.5 * weight_decay_ * parameter.square().sum();
      }
    }
    return loss;
  }

  // Every full-batch fit without early stopping: each rank holds a share of the batch
  // and every step (every L-BFGS evaluation) sums the ranks' gradients and loss. On
  // the CPU, Adam and SGD take the fast path (FullBatchTrainer); L-BFGS, and every
  // optimizer on a GPU, go through autograd and shared_objective().
  bool data_parallel() const override {
    if (early_stopping_) {
      return false;
    }
    if (optimizer_ == "lbfgs") {
      return true;
    }
    return batch_size_ == 0 && (!device_.is_cpu() || mlp::FullBatchTrainer::covers(activation_));
  }

  // The mean and population σ (1 where it is 0) of every rank's rows of `values`,
  // through the sums of the rows, of their squares and the row count in float64.
  static std::pair<torch::Tensor, torch::Tensor> shared_statistics(const torch::Tensor& values,
                                                                   ballista::Collective& collective) {
    const auto v = values.to(torch::kFloat64);
    std::vector<torch::Tensor> sums{v.sum(0, /*keepdim=*/true), v.square().sum(0, /*keepdim=*/true),
                                    torch::full({1}, static_cast<double>(v.size(0)), v.options())};
    collective.sum(sums);
    const auto mean = sums[0] / sums[2];
    const auto sd = (sums[1] / sums[2] - mean.square()).clamp_min(0).sqrt();
    return {mean.to(values.scalar_type()),
            torch::where(sd > 0, sd, torch::ones_like(sd)).to(values.scalar_type())};
  }

  // The article's case and its neighbours (CPU, full batch, Adam or SGD, no early
  // stopping) skip autograd: the same training, bit for bit, in less time.
  bool takes_fast_path(std::int64_t rows) const {
    return device_.is_cpu() && (optimizer_ == "adam" || optimizer_ == "sgd") &&
           (batch_size_ == 0 || batch_size_ >= rows) && !early_stopping_ && mlp::FullBatchTrainer::covers(activation_);
  }

  void train_full_batch(const torch::Tensor& x, const torch::Tensor& y, ballista::Context& context) {
    mlp::FullBatchTrainer trainer(parameters_, x, y, activation_,
                                  optimizer_ == "adam" ? mlp::FullBatchTrainer::Optimizer::adam
                                                       : mlp::FullBatchTrainer::Optimizer::sgd,
                                  learning_rate_, weight_decay_, context.collective());
    for (std::int64_t epoch = 1; epoch <= epochs_ && !context.cancelled(); ++epoch) {
      context.report_progress(epoch, epochs_, trainer.step());
    }
    parameters_ = trainer.parameters();
  }

  void train_loop(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& x_valid,
                  const torch::Tensor& y_valid, at::Generator& generator, ballista::Context& context) {
    auto optimizer = make_optimizer();
    const auto n = x.size(0);
    const bool full_batch = batch_size_ == 0 || batch_size_ >= n || optimizer_ == "lbfgs";
    auto& ranks = context.collective();
    // A full batch spread over ranks: the mean squared error over every rank's cells.
    const auto cells = ranks.size() == 1 ? 0 : ballista::total_over_ranks(ranks, n) * y.size(1);
    double best = std::numeric_limits<double>::infinity();
    std::vector<torch::Tensor> best_parameters;
    std::int64_t since_best = 0;
    for (std::int64_t epoch = 1; epoch <= epochs_ && !context.cancelled(); ++epoch) {
      double epoch_loss = 0.0;
      if (full_batch) {
        auto closure = [&] {
          optimizer->zero_grad();
          if (ranks.size() > 1) {
            return shared_objective(x, y, cells, ranks);
          }
          auto loss = objective(x, y);
          loss.backward();
          return loss;
        };
        epoch_loss = optimizer->step(closure).item<double>();
      } else {
        const auto order = torch::randperm(n, generator).to(device_);
        for (std::int64_t start = 0; start < n; start += batch_size_) {
          const auto rows = order.slice(0, start, std::min(start + batch_size_, n));
          optimizer->zero_grad();
          auto loss = objective(x.index({rows}), y.index({rows}));
          loss.backward();
          optimizer->step();
          epoch_loss += loss.item<double>() * static_cast<double>(rows.size(0)) / static_cast<double>(n);
        }
      }
      context.report_progress(epoch, epochs_, epoch_loss);
      if (!early_stopping_) {
        continue;
      }
      const double validation = [&] {
        torch::NoGradGuard no_grad;
        return torch::mse_loss(forward(x_valid), y_valid).item<double>();
      }();
      if (validation < best) {
        best = validation;
        best_parameters.clear();
        for (const auto& parameter : parameters_) {
          best_parameters.push_back(parameter.detach().clone());
        }
        since_best = 0;
      } else if (++since_best >= patience_) {
        context.log(ballista::LogLevel::info, "early stopping at epoch " + std::to_string(epoch) +
                                                  ": no better validation loss for " + std::to_string(patience_) +
                                                  " epochs");
        break;
      }
    }
    if (!best_parameters.empty()) {
      torch::NoGradGuard no_grad;
      for (std::size_t i = 0; i < parameters_.size(); ++i) {
        parameters_[i].copy_(best_parameters[i]);
      }
    }
  }

  torch::Tensor scaled_inputs(const torch::Tensor& x) const { return standardize_ ? (x - x_mean_) / x_scale_ : x; }

  torch::Tensor forward(const torch::Tensor& x) const {
    auto h = x;
    for (std::size_t i = 0; i < parameters_.size(); i += 2) {
      h = torch::addmm(parameters_[i + 1], h, parameters_[i].t());
      if (i + 2 < parameters_.size()) {
        h = activate(activation_, h);
      }
    }
    return h;
  }

  // objective() of a full batch whose rows the ranks share, with its gradient: this
  // rank's squared errors over all `cells` of the batch, backpropagated, then one
  // all-reduce of the gradients and the loss (on the model's device: NCCL on a GPU),
  // so every rank ends with the whole batch's loss and gradient and takes the same
  // step. L-BFGS's weight decay is added after the sum, alike on every rank.
  torch::Tensor shared_objective(const torch::Tensor& x, const torch::Tensor& y, std::int64_t cells,
                                 ballista::Collective& ranks) {
    const auto share = (forward(x) - y).square().sum() / static_cast<double>(cells);
    share.backward();
    auto loss = share.detach().reshape({1}).clone();
    std::vector<torch::Tensor> sums;
    sums.reserve(parameters_.size() + 1);
    for (auto& parameter : parameters_) {
      sums.push_back(parameter.mutable_grad());
    }
    sums.push_back(loss);
    ranks.sum(sums);
    if (optimizer_ == "lbfgs" && weight_decay_ > 0) {
      const torch::NoGradGuard no_grad;
      for (auto& parameter : parameters_) {
        loss.add_(0.5 * weight_decay_ * parameter.square().sum());
        parameter.mutable_grad().add_(parameter, weight_decay_);
      }
    }
    return loss.reshape({});
  }

  std::vector<std::int64_t> hidden_;
  std::string activation_;
  std::string optimizer_;
  double learning_rate_;
  std::int64_t epochs_;
  std::int64_t batch_size_;
  double weight_decay_;
  bool standardize_;
  bool early_stopping_;
  double validation_fraction_;
  std::int64_t patience_;
  torch::Device device_;
  std::vector<torch::Tensor> parameters_;  // weight, bias per layer
  torch::Tensor x_mean_, x_scale_, y_mean_, y_scale_;  // [1, d], CPU, when standardising
  bool fitted_ = false;
};

ballista::PluginDefinition define_mlp() {
  using ballista::ParameterSpec;
  return {
      {
          ParameterSpec::integer_list("hidden", {256, 256}, "sizes of the hidden layers").at_least(1),
          ParameterSpec::choice("activation", "sigmoid", {"sigmoid", "tanh", "relu", "gelu", "silu"},
                                "activation after each hidden layer"),
          ParameterSpec::choice("optimizer", "adam", {"adam", "sgd", "lbfgs"},
                                "adam, sgd (plain), or lbfgs (full batch, strong-Wolfe line search)"),
          ParameterSpec::real("lr", 0.01, "learning rate (lbfgs: initial step)").greater_than(0),
          ParameterSpec::integer("epochs", 1000, "passes over the training rows (lbfgs: steps)").at_least(1),
          ParameterSpec::integer("batch_size", 0, "rows per step, reshuffled each epoch; 0: full batch (the article)")
              .at_least(0),
          ParameterSpec::real("weight_decay", 0.0, "L2 penalty on all weights and biases").at_least(0),
          ParameterSpec::boolean("standardize", false,
                                 "train on inputs and targets scaled to zero mean and unit variance"),
          ParameterSpec::boolean("early_stopping", false,
                                 "hold out validation_fraction of the rows; stop after `patience` epochs "
                                 "without a better validation loss and keep the best weights"),
          ParameterSpec::real("validation_fraction", 0.1, "share of rows held out for early_stopping")
              .greater_than(0)
              .at_most(0.5),
          ParameterSpec::integer("patience", 20, "epochs without improvement before early_stopping stops")
              .at_least(1),
          ballista::device_parameter(),
      },
      [](const ballista::Parameters& parameters) { return std::make_unique<MlpModel>(parameters); },
  };
}

}  // namespace

BALLISTA_PLUGIN("mlp", "0.1.0", "multilayer perceptron trained by full-batch Adam or SGD (the black box)",
                define_mlp)
