// k nearest neighbours: the data is the model. With k = 1 it is the article's
// "model-less" approach: answer a query with the recorded shot closest to it.
// Options follow scikit-learn's KNeighborsRegressor: uniform or inverse-distance
// weights, Euclidean or Manhattan distance, and optional standardised inputs.
#include <ballista/archive.hpp>
#include <ballista/plugin.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>

namespace {

class KnnModel final : public ballista::Model {
 public:
  explicit KnnModel(const ballista::Parameters& parameters)
      : k_(parameters.get<std::int64_t>("k")),
        distance_weights_(parameters.get<std::string>("weights") == "distance"),
        manhattan_(parameters.get<std::string>("metric") == "manhattan"),
        standardize_(parameters.get<bool>("standardize")) {}

  void fit(const ballista::Dataset& train, ballista::Context& /*context*/) override {
    if (k_ > train.inputs.size(0)) {
      throw std::invalid_argument("k = " + std::to_string(k_) + " exceeds the " +
                                  std::to_string(train.inputs.size(0)) + " training rows");
    }
    const auto x = train.inputs.to(torch::kFloat64);
    if (standardize_) {
      // Population standard deviation (ddof 0), as scikit-learn's StandardScaler;
      // a constant column keeps scale 1 instead of dividing by zero.
      mean_ = x.mean(0, /*keepdim=*/true);
      scale_ = x.std(0, /*unbiased=*/false, /*keepdim=*/true);
      scale_ = torch::where(scale_ > 0, scale_, torch::ones_like(scale_));
    }
    inputs_ = scaled(x).contiguous();
    targets_ = train.targets.to(torch::kFloat64).contiguous();
  }

  // Exact brute force: distances computed as Σ(x−q)² or Σ|x−q| (not the
  // ‖x‖²−2x·q+‖q‖² expansion, whose cancellation reorders near-ties), then a stable
  // sort, so equal distances are broken by the lower training-row index.
  // Queries go in chunks of at most ~16 M distance entries to bound memory.
  torch::Tensor predict(const torch::Tensor& inputs) const override {
    if (!inputs_.defined()) {
      throw std::logic_error("knn: predict() called before fit()");
    }
    const auto queries = scaled(inputs.to(torch::kFloat64));
    const std::int64_t n = inputs_.size(0);
    const std::int64_t chunk = std::max<std::int64_t>(1, (std::int64_t{1} << 24) / (n * inputs_.size(1)));
    std::vector<torch::Tensor> parts;
    torch::NoGradGuard no_grad;
    for (std::int64_t start = 0; start < queries.size(0); start += chunk) {
      const auto block = queries.slice(0, start, std::min(start + chunk, queries.size(0)));
      const auto difference = block.unsqueeze(1) - inputs_.unsqueeze(0);
      const auto distances = manhattan_ ? difference.abs().sum(-1) : difference.square().sum(-1);
      const auto [sorted, order] = distances.sort(/*stable=*/true, /*dim=*/1, /*descending=*/false);
      const auto neighbours = targets_.index({order.slice(1, 0, k_)});  // [c, k, d_out]
      if (!distance_weights_) {
        parts.push_back(neighbours.mean(1));
        continue;
      }
      // Inverse-distance weights; a query that coincides with stored samples takes
      // the mean of those samples only (scikit-learn's rule).
      auto nearest = sorted.slice(1, 0, k_);
      if (!manhattan_) {
        nearest = nearest.sqrt();
      }
      const auto exact = nearest == 0;
      const auto weights = torch::where(exact.any(1, /*keepdim=*/true), exact.to(torch::kFloat64), 1.0 / nearest);
      parts.push_back((neighbours * weights.unsqueeze(2)).sum(1) / weights.sum(1, /*keepdim=*/true));
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
           std::to_string(inputs_.size(0)) + " stored samples (" + (manhattan_ ? "manhattan" : "euclidean") +
           (standardize_ ? " on standardised inputs" : "") + (distance_weights_ ? ", distance-weighted" : "") + ")";
  }

  std::int64_t parameter_count() const override {
    return inputs_.defined() ? inputs_.numel() + targets_.numel() : 0;
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    if (!inputs_.defined()) {
      throw std::logic_error("knn: save() called before fit()");
    }
    archive.write("inputs", inputs_);
    archive.write("targets", targets_);
    if (standardize_) {
      archive.write("mean", mean_);
      archive.write("scale", scale_);
    }
  }

  void load(torch::serialize::InputArchive& archive) override {
    inputs_ = ballista::read_tensor(archive, "inputs");
    targets_ = ballista::read_tensor(archive, "targets");
    if (standardize_) {
      mean_ = ballista::read_tensor(archive, "mean");
      scale_ = ballista::read_tensor(archive, "scale");
    }
  }

 private:
  torch::Tensor scaled(const torch::Tensor& x) const { return standardize_ ? (x - mean_) / scale_ : x; }

  std::int64_t k_;
  bool distance_weights_;
  bool manhattan_;
  bool standardize_;
  torch::Tensor mean_;   // [1, d_in], when standardising
  torch::Tensor scale_;  // [1, d_in], when standardising
  torch::Tensor inputs_;
  torch::Tensor targets_;
};

ballista::PluginDefinition define_knn() {
  return {
      {
          ballista::ParameterSpec::integer("k", 1, "neighbours averaged per prediction (1: the nearest sample)")
              .at_least(1),
          ballista::ParameterSpec::choice("weights", "uniform", {"uniform", "distance"},
                                          "uniform: plain mean of the k targets; distance: weighted by 1/distance"),
          ballista::ParameterSpec::choice("metric", "euclidean", {"euclidean", "manhattan"},
                                          "distance between inputs"),
          ballista::ParameterSpec::boolean("standardize", false,
                                           "scale each input to zero mean and unit variance (of the training "
                                           "set) before measuring distance"),
      },
      [](const ballista::Parameters& parameters) { return std::make_unique<KnnModel>(parameters); },
  };
}

}  // namespace

BALLISTA_PLUGIN("knn", "0.1.0", "k nearest neighbours: predicts the mean target of the closest samples",
                define_knn)
