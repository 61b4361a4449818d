// k nearest neighbours: the data is the model. With k = 1 it is the article's
// "model-less" approach: answer a query with the recorded shot closest to it.
// Options follow scikit-learn's KNeighborsRegressor: uniform or inverse-distance
// weights, Euclidean or Manhattan distance, and optional standardised inputs.
//
// The search for the neighbours, exact whichever algorithm, is neighbour_search.hpp;
// the merge of several ranks' neighbours is sample_shards.hpp; here, the choice of
// algorithm, and what becomes of the neighbours found.
//
// On several ranks (Model::data_parallel()) each rank keeps its share of the samples
// and searches it; every query's candidates from all the ranks are merged into the k
// nearest by the one-process rule, so the answers (and the saved file) are the bits one
// process gives.
#include "neighbour_search.hpp"
#include "sample_shards.hpp"

#include <ballista/archive.hpp>
#include <ballista/collective.hpp>
#include <ballista/device.hpp>
#include <ballista/plugin.hpp>

#include <torch/utils.h>

#include <cstdint>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// Inputs of at most this many columns use the k-d tree under algorithm: auto. Beyond
// it, a tree prunes little and brute force is faster.
constexpr std::int64_t kTreeMaxDimensions = 8;

class KnnModel final : public ballista::Model {
 public:
  explicit KnnModel(const ballista::Parameters& parameters)
      : k_(parameters.get<std::int64_t>("k")),
        distance_weights_(parameters.get<std::string>("weights") == "distance"),
        manhattan_(parameters.get<std::string>("metric") == "manhattan"),
        standardize_(parameters.get<bool>("standardize")),
        algorithm_(parameters.get<std::string>("algorithm")),
        device_(ballista::chosen_device(parameters)) {
    // The declaration says so too; every search indexes its k-th neighbour.
    if (k_ < 1) {
      throw ballista::ParameterError("k", "k must be at least 1, got " + std::to_string(k_));
    }
    if (device_.is_cuda() && algorithm_ == "kd_tree") {
      throw ballista::ParameterError("algorithm", "algorithm: kd_tree runs on the CPU; with device: cuda use "
                                                  "brute (or auto)");
    }
  }

  // On several ranks, `train` is this rank's share: it keeps that share of the samples,
  // standardised by the statistics of every row.
  void fit(const ballista::Dataset& train, ballista::Context& context) override {
    ranks_ = nullptr;  // unfitted until the end
    auto& ranks = context.collective();
    shares_ = knn::RowShares(ranks, train.inputs.size(0));
    if (k_ > shares_.total) {
      throw std::invalid_argument("k = " + std::to_string(k_) + " exceeds the " + std::to_string(shares_.total) +
                                  " training rows");
    }
    knn::on_every_rank(ranks, [&] {
      ballista::require_finite(train.inputs, "knn: fit() inputs");
      ballista::require_finite(train.targets, "knn: fit() targets");
    });
    const auto x = train.inputs.to(torch::kFloat64);
    if (standardize_) {
      // Population standard deviation (ddof 0), as scikit-learn's StandardScaler;
      // a constant column keeps scale 1 instead of dividing by zero. From every row,
      // gathered, so that each rank scales as one process would.
      const auto all = shares_.all_rows(ranks, x);
      mean_ = all.mean(0, /*keepdim=*/true);
      scale_ = all.std(0, /*unbiased=*/false, /*keepdim=*/true);
      scale_ = torch::where(scale_ > 0, scale_, torch::ones_like(scale_));
    }
    inputs_ = scaled(x).contiguous();
    targets_ = train.targets.to(torch::kFloat64).contiguous();
    input_names_ = train.input_names;
    target_names_ = train.target_names;
    build_index();
    ranks_ = &ranks;
  }

  // Shared by every rank when fitted on several (the host then asks each rank alike).
  bool data_parallel() const override { return device_.is_cpu(); }

  torch::Tensor predict(const torch::Tensor& inputs) const override {
    const auto found = neighbours_of(inputs, /*with_inputs=*/false);
    if (!distance_weights_) {
      return found.targets.mean(1);
    }
    // Inverse-distance weights; a query that coincides with stored samples takes the
    // mean of those samples only (scikit-learn's rule).
    const auto nearest = manhattan_ ? found.distances : found.distances.sqrt();
    const auto exact = nearest == 0;
    const auto weights = torch::where(exact.any(1, /*keepdim=*/true), exact.to(torch::kFloat64), 1.0 / nearest);
    return (found.targets * weights.unsqueeze(2)).sum(1) / weights.sum(1, /*keepdim=*/true);
  }

  // The stored samples each answer comes from: "nearest stored sample: v=3.9268,
  // theta=1.2042 → s=1.0973 (distance 0.08)", the k of them in order of distance.
  std::vector<std::string> explain(const torch::Tensor& inputs) const override {
    const auto found = neighbours_of(inputs, /*with_inputs=*/true);
    const auto distances = manhattan_ ? found.distances : found.distances.sqrt();
    const auto stored = standardize_ ? found.inputs * scale_ + mean_ : found.inputs;  // [m, k, d_in]
    std::vector<std::string> lines;
    for (std::int64_t row = 0; row < distances.size(0); ++row) {
      std::string line = k_ == 1 ? "nearest stored sample: " : std::to_string(k_) + " nearest stored samples: ";
      for (std::int64_t j = 0; j < k_; ++j) {
        line += (j == 0 ? "" : "; ") + sample_text(stored[row][j], found.targets[row][j]) + " (distance " +
                figure(distances[row][j].item<double>(), 3) + (standardize_ ? " standardised" : "") + ")";
      }
      lines.push_back(line);
    }
    return lines;
  }

  std::string describe() const override {
    if (ranks_ == nullptr) {
      return {};
    }
    return std::to_string(k_) + "-nearest neighbour" + (k_ == 1 ? "" : "s") + " over " +
           std::to_string(shares_.total) + " stored samples (" + (manhattan_ ? "manhattan" : "euclidean") +
           (standardize_ ? " on standardised inputs" : "") + (distance_weights_ ? ", distance-weighted" : "") + ")";
  }

  std::int64_t parameter_count() const override {
    return ranks_ != nullptr ? shares_.total * (inputs_.size(1) + targets_.size(1)) : 0;
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    if (ranks_ == nullptr) {
      throw std::logic_error("knn: save() called before fit()");
    }
    // Every rank's samples, in row order: the file one process writes. New tensors on one
    // process too: LibTorch's pickler marks a tensor that something else still holds (a
    // member), so writing the members would change the file's bytes, not its numbers.
    archive.write("inputs", shares_.all_rows(*ranks_, inputs_));
    archive.write("targets", shares_.all_rows(*ranks_, targets_));
    ballista::write_strings(archive, "input_names", input_names_);
    ballista::write_strings(archive, "target_names", target_names_);
    if (standardize_) {
      archive.write("mean", mean_);
      archive.write("scale", scale_);
    }
  }

  // The tree is rebuilt from the stored samples, not stored. A file may be damaged or
  // forged: everything the searches index with is checked against what fit() makes.
  void load(torch::serialize::InputArchive& archive) override {
    ranks_ = nullptr;  // unfitted until the end
    inputs_ = ballista::read_tensor(archive, "inputs").contiguous();
    targets_ = ballista::read_tensor(archive, "targets").contiguous();
    input_names_ = ballista::read_strings(archive, "input_names");
    target_names_ = ballista::read_strings(archive, "target_names");
    const auto require = [](bool condition, const std::string& message) {
      if (!condition) {
        throw std::runtime_error("knn: the stored model is inconsistent: " + message);
      }
    };
    require(inputs_.scalar_type() == torch::kFloat64 && inputs_.dim() == 2 && inputs_.size(0) > 0 &&
                inputs_.size(1) > 0,
            "the samples must be float64 [n, d] with n, d >= 1, found " + ballista::stored_shape(inputs_));
    require(targets_.scalar_type() == torch::kFloat64 && targets_.dim() == 2 && targets_.size(0) == inputs_.size(0) &&
                targets_.size(1) > 0,
            "the targets must be float64 [" + std::to_string(inputs_.size(0)) + ", d] like the samples, found " +
                ballista::stored_shape(targets_));
    require(static_cast<std::int64_t>(input_names_.size()) == inputs_.size(1) &&
                static_cast<std::int64_t>(target_names_.size()) == targets_.size(1),
            std::to_string(input_names_.size()) + " input and " + std::to_string(target_names_.size()) +
                " target names for samples of " + std::to_string(inputs_.size(1)) + " inputs and " +
                std::to_string(targets_.size(1)) + " targets");
    ballista::require_finite(inputs_, "knn: stored samples");
    ballista::require_finite(targets_, "knn: stored targets");
    shares_ = knn::RowShares(ballista::single_process(), inputs_.size(0));
    torch::Tensor unused;
    require(standardize_ || !archive.try_read("mean", unused),
            "it holds standardisation statistics, but parameter standardize is false");
    if (standardize_) {
      mean_ = ballista::read_tensor(archive, "mean");
      scale_ = ballista::read_tensor(archive, "scale");
      for (const auto* statistic : {&mean_, &scale_}) {
        require(statistic->scalar_type() == torch::kFloat64 && statistic->dim() == 2 && statistic->size(0) == 1 &&
                    statistic->size(1) == inputs_.size(1),
                "the standardisation statistics must be float64 [1, " + std::to_string(inputs_.size(1)) +
                    "], found " + ballista::stored_shape(*statistic));
      }
      ballista::require_finite(mean_, "knn: stored standardisation means");
      require((scale_ > 0).all().item<bool>() && torch::isfinite(scale_).all().item<bool>(),
              "the standardisation scales must be finite and positive");
    }
    build_index();
    ranks_ = &ballista::single_process();
  }

 private:
  // The k nearest stored samples of each input row, on the CPU: merged from every
  // rank's share when the fit was shared.
  knn::Candidates neighbours_of(const torch::Tensor& inputs, bool with_inputs) const {
    if (ranks_ == nullptr) {  // before fit(), or after a fit() or load() that threw
      throw std::logic_error("knn: predict() or explain() called before fit()");
    }
    if (inputs.dim() != 2 || inputs.size(1) != inputs_.size(1)) {
      throw std::invalid_argument("knn: expected inputs [n, " + std::to_string(inputs_.size(1)) + "]");
    }
    ballista::require_finite(inputs, "knn: predict() inputs");
    torch::NoGradGuard no_grad;
    const auto queries = scaled(inputs.to(torch::kFloat64)).contiguous();
    // A rank may hold fewer samples than k, or none.
    const auto local_k = std::min(k_, inputs_.size(0));
    const auto found = local_k > 0 ? search_->search(queries, local_k)
                                   : knn::Neighbours{torch::empty({queries.size(0), 0}, torch::kInt64),
                                                     torch::empty({queries.size(0), 0}, torch::kFloat64)};
    const auto indices = found.indices.cpu();
    knn::Candidates local{found.distances.cpu(), indices + shares_.first, targets_.index({indices}),
                          with_inputs ? inputs_.index({indices}) : torch::Tensor()};
    return ranks_->size() == 1 ? local : knn::merge_nearest(*ranks_, local, k_, shares_.total);
  }

  static std::string figure(double value, int digits) {
    std::ostringstream text;
    text.precision(digits);
    text << value;
    return text.str();
  }

  // "v=3.9268, theta=1.2042 → s=1.0973" for one stored input row and its targets.
  std::string sample_text(const torch::Tensor& input, const torch::Tensor& target) const {
    std::string text;
    for (std::int64_t i = 0; i < input.size(0); ++i) {
      const auto index = static_cast<std::size_t>(i);
      text += (i == 0 ? "" : ", ") + (index < input_names_.size() ? input_names_[index] : "x" + std::to_string(i + 1)) +
              "=" + figure(input[i].item<double>(), 5);
    }
    text += " →";
    for (std::int64_t i = 0; i < target.size(0); ++i) {
      const auto index = static_cast<std::size_t>(i);
      text += (i == 0 ? " " : ", ") + (index < target_names_.size() ? target_names_[index] : "y" + std::to_string(i + 1)) +
              "=" + figure(target[i].item<double>(), 5);
    }
    return text;
  }

  void build_index() {
    if (inputs_.dim() != 2 || inputs_.size(1) == 0) {
      throw std::invalid_argument("knn: needs inputs [n, d] with at least one column");
    }
    if (k_ > shares_.total) {  // a saved model of fewer rows than this k
      throw std::invalid_argument("k = " + std::to_string(k_) + " exceeds the " + std::to_string(shares_.total) +
                                  " stored samples");
    }
    search_.reset();
    if (inputs_.size(0) == 0) {  // this rank's share of a shared fit holds no rows
      return;
    }
    const bool use_tree = algorithm_ == "kd_tree" ||
                          (algorithm_ == "auto" && device_.is_cpu() && inputs_.size(1) <= kTreeMaxDimensions);
    search_ = std::make_unique<const knn::NeighbourSearch>(
        inputs_, manhattan_,
        use_tree ? knn::NeighbourSearch::Algorithm::kd_tree : knn::NeighbourSearch::Algorithm::brute_force, device_);
  }

  torch::Tensor scaled(const torch::Tensor& x) const { return standardize_ ? (x - mean_) / scale_ : x; }

  std::int64_t k_;
  bool distance_weights_;
  bool manhattan_;
  bool standardize_;
  std::string algorithm_;
  torch::Device device_;
  torch::Tensor mean_;   // [1, d_in], when standardising
  torch::Tensor scale_;  // [1, d_in], when standardising
  torch::Tensor inputs_;
  torch::Tensor targets_;
  std::vector<std::string> input_names_;
  std::vector<std::string> target_names_;
  std::unique_ptr<const knn::NeighbourSearch> search_;  // over inputs_, rebuilt by fit() and load()
  knn::RowShares shares_;                                // this rank's rows among all
  // The ranks the samples are shared over (single_process() after load()); null until a
  // fit() or load() succeeds.
  ballista::Collective* ranks_ = nullptr;
};

ballista::PluginDefinition define_knn() {
  using ballista::ParameterSpec;
  return {
      {
          ParameterSpec::integer("k", 1, "neighbours averaged per prediction (1: the nearest sample)").at_least(1),
          ParameterSpec::choice("weights", "uniform", {"uniform", "distance"},
                                "uniform: plain mean of the k targets; distance: weighted by 1/distance"),
          ParameterSpec::choice("metric", "euclidean", {"euclidean", "manhattan"}, "distance between inputs"),
          ParameterSpec::boolean("standardize", false,
                                 "scale each input to zero mean and unit variance (of the training set) before "
                                 "measuring distance"),
          ParameterSpec::choice("algorithm", "auto", {"auto", "kd_tree", "brute"},
                                "exact search: auto picks kd_tree up to 8 inputs, brute beyond; both give the "
                                "same neighbours"),
          ballista::device_parameter(),
      },
      [](const ballista::Parameters& parameters) { return std::make_unique<KnnModel>(parameters); },
  };
}

}  // namespace

BALLISTA_PLUGIN("knn", "0.2.0", "k nearest neighbours: predicts the mean target of the closest samples",
                define_knn)
