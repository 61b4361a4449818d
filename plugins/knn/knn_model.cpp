// k nearest neighbours: the data is the model. With k = 1 it is the article's
// "model-less" approach: answer a query with the recorded shot closest to it.
#include <ballista/plugin.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>

namespace {

class KnnModel final : public ballista::Model {
 public:
  explicit KnnModel(const ballista::Parameters& parameters)
      : k_(parameters.get<std::int64_t>("k")) {}

  void fit(const ballista::Dataset& train, ballista::Context& /*context*/) override {
    if (k_ > train.inputs.size(0)) {
      throw std::invalid_argument("k = " + std::to_string(k_) + " exceeds the " +
                                  std::to_string(train.inputs.size(0)) + " training rows");
    }
    inputs_ = train.inputs.to(torch::kFloat64).contiguous();
    targets_ = train.targets.to(torch::kFloat64).contiguous();
  }

  // Exact brute force: squared Euclidean distances computed as Σ(x−q)² (not the
  // ‖x‖²−2x·q+‖q‖² expansion, whose cancellation reorders near-ties), then a stable
  // sort, so equal distances are broken by the lower training-row index.
  // Queries go in chunks of at most ~16 M distance entries to bound memory.
  torch::Tensor predict(const torch::Tensor& inputs) const override {
    if (!inputs_.defined()) {
      throw std::logic_error("knn: predict() called before fit()");
    }
    const auto queries = inputs.to(torch::kFloat64);
    const std::int64_t n = inputs_.size(0);
    const std::int64_t chunk = std::max<std::int64_t>(1, (std::int64_t{1} << 24) / (n * inputs_.size(1)));
    std::vector<torch::Tensor> parts;
    torch::NoGradGuard no_grad;
    for (std::int64_t start = 0; start < queries.size(0); start += chunk) {
      const auto block = queries.slice(0, start, std::min(start + chunk, queries.size(0)));
      const auto distances = (block.unsqueeze(1) - inputs_.unsqueeze(0)).square().sum(-1);
      const auto order = std::get<1>(distances.sort(/*stable=*/true, /*dim=*/1, /*descending=*/false));
      const auto nearest = order.slice(1, 0, k_);
      parts.push_back(targets_.index({nearest}).mean(1));
    }
    if (parts.empty()) {
      return torch::empty({0, targets_.size(1)}, torch::kFloat64);
    }
    return torch::cat(parts);
  }

  std::string describe() const override {
    if (!inputs_.defined()) {
      return {};
    }
    return std::to_string(k_) + "-nearest neighbour" + (k_ == 1 ? "" : "s") + " over " +
           std::to_string(inputs_.size(0)) + " stored samples";
  }

  std::int64_t parameter_count() const override {
    return inputs_.defined() ? inputs_.numel() + targets_.numel() : 0;
  }

 private:
  std::int64_t k_;
  torch::Tensor inputs_;
  torch::Tensor targets_;
};

ballista::PluginDefinition define_knn() {
  return {
      {ballista::ParameterSpec::integer("k", 1, "neighbours averaged per prediction (1: the nearest sample)")
           .at_least(1)},
      [](const ballista::Parameters& parameters) { return std::make_unique<KnnModel>(parameters); },
  };
}

}  // namespace

BALLISTA_PLUGIN("knn", "0.1.0", "k nearest neighbours: predicts the mean target of the closest samples",
                define_knn)
