// A multilayer perceptron: the black box. The article's network is
// Linear(2,256)→Sigmoid→Linear(256,256)→Sigmoid→Linear(256,1), trained with Adam
// (lr 0.01) for 1000 full-batch epochs on the mean squared error, in float32.
#include <ballista/archive.hpp>
#include <ballista/plugin.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

namespace {

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
        epochs_(parameters.get<std::int64_t>("epochs")) {}

  void fit(const ballista::Dataset& train, ballista::Context& context) override {
    const auto x = train.inputs.to(torch::kFloat32).contiguous();
    const auto y = train.targets.to(torch::kFloat32).contiguous();
    initialise(x.size(1), y.size(1), context.seed());
    std::unique_ptr<torch::optim::Optimizer> optimizer;
    if (optimizer_ == "adam") {
      optimizer = std::make_unique<torch::optim::Adam>(parameters_, torch::optim::AdamOptions(learning_rate_));
    } else {
      optimizer = std::make_unique<torch::optim::SGD>(parameters_, torch::optim::SGDOptions(learning_rate_));
    }
    for (std::int64_t epoch = 1; epoch <= epochs_ && !context.cancelled(); ++epoch) {
      optimizer->zero_grad();
      auto loss = torch::mse_loss(forward(x), y);
      loss.backward();
      optimizer->step();
      context.report_progress(epoch, epochs_, loss.item<double>());
    }
    for (auto& parameter : parameters_) {
      parameter.set_requires_grad(false);
    }
    fitted_ = true;
  }

  torch::Tensor predict(const torch::Tensor& inputs) const override {
    if (!fitted_) {
      throw std::logic_error("mlp: predict() called before fit()");
    }
    torch::NoGradGuard no_grad;
    return forward(inputs.to(torch::kFloat32));
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
      archive.write("parameter" + std::to_string(i), parameters_[i]);
    }
  }

  // The layer sizes follow from the `hidden` parameter the host restores with the model.
  void load(torch::serialize::InputArchive& archive) override {
    parameters_.clear();
    for (std::size_t i = 0; i < 2 * (hidden_.size() + 1); ++i) {
      parameters_.push_back(ballista::read_tensor(archive, "parameter" + std::to_string(i)));
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
  // PyTorch's nn.Linear initialisation, from our own generator so results depend on the
  // model's seed only: weight and bias ~ U(−1/√fan_in, 1/√fan_in).
  void initialise(std::int64_t inputs, std::int64_t outputs, std::uint64_t seed) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    parameters_.clear();
    std::vector<std::int64_t> sizes{inputs};
    sizes.insert(sizes.end(), hidden_.begin(), hidden_.end());
    sizes.push_back(outputs);
    for (std::size_t layer = 0; layer + 1 < sizes.size(); ++layer) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(sizes[layer]));
      auto weight = torch::empty({sizes[layer + 1], sizes[layer]}, torch::kFloat32).uniform_(-bound, bound, generator);
      auto bias = torch::empty({sizes[layer + 1]}, torch::kFloat32).uniform_(-bound, bound, generator);
      parameters_.push_back(weight.set_requires_grad(true));
      parameters_.push_back(bias.set_requires_grad(true));
    }
  }

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

  std::vector<std::int64_t> hidden_;
  std::string activation_;
  std::string optimizer_;
  double learning_rate_;
  std::int64_t epochs_;
  std::vector<torch::Tensor> parameters_;  // weight, bias per layer
  bool fitted_ = false;
};

ballista::PluginDefinition define_mlp() {
  using ballista::ParameterSpec;
  return {
      {
          ParameterSpec::integer_list("hidden", {256, 256}, "sizes of the hidden layers").at_least(1),
          ParameterSpec::choice("activation", "sigmoid", {"sigmoid", "tanh", "relu", "gelu", "silu"},
                                "activation after each hidden layer"),
          ParameterSpec::choice("optimizer", "adam", {"adam", "sgd"}, "full-batch optimiser"),
          ParameterSpec::real("lr", 0.01, "learning rate").greater_than(0),
          ParameterSpec::integer("epochs", 1000, "full-batch training steps").at_least(1),
      },
      [](const ballista::Parameters& parameters) { return std::make_unique<MlpModel>(parameters); },
  };
}

}  // namespace

BALLISTA_PLUGIN("mlp", "0.1.0", "multilayer perceptron trained by full-batch Adam or SGD (the black box)",
                define_mlp)
