// k nearest neighbours: the data is the model. With k = 1 it is the article's
// "model-less" approach: answer a query with the recorded shot closest to it.
// Options follow scikit-learn's KNeighborsRegressor: uniform or inverse-distance
// weights, Euclidean or Manhattan distance, and optional standardised inputs.
//
// Search is exact either way: a k-d tree (nanoflann) for low-dimensional inputs, or
// chunked brute force in LibTorch. Both return the same neighbours in the same order:
// ascending distance, ties broken by the lower training-row index, with distances
// accumulated dimension by dimension in one fixed order, so equal inputs give equal
// distances to the last bit.
#include <ballista/archive.hpp>
#include <ballista/device.hpp>
#include <ballista/plugin.hpp>

#include <ATen/Parallel.h>
#include <nanoflann.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace {

// Inputs of at most this many columns use the k-d tree under algorithm: auto. Beyond
// it, a tree prunes little and brute force (vectorised, chunked) is faster.
constexpr std::int64_t kTreeMaxDimensions = 8;

struct Neighbours {
  torch::Tensor indices;    // [m, k], int64
  torch::Tensor distances;  // [m, k], float64: squared Euclidean or Manhattan
};

// Σ_j (q_j − x_j)² or Σ_j |q_j − x_j|, accumulated over j in order: [c, n].
torch::Tensor pairwise_distances(const torch::Tensor& queries, const torch::Tensor& points, bool manhattan) {
  auto total = torch::zeros({queries.size(0), points.size(0)}, queries.options());
  for (std::int64_t j = 0; j < points.size(1); ++j) {
    const auto difference = queries.select(1, j).unsqueeze(1) - points.select(1, j).unsqueeze(0);
    total += manhattan ? difference.abs() : difference * difference;
  }
  return total;
}

// The same sum for one pair, in the same order.
double distance(const double* query, const double* point, std::int64_t dimensions, bool manhattan) {
  double total = 0.0;
  for (std::int64_t j = 0; j < dimensions; ++j) {
    const double difference = query[j] - point[j];
    total += manhattan ? std::abs(difference) : difference * difference;
  }
  return total;
}

// Orders each row by (distance, index) and keeps the first k. (Tensor::sort is always
// called with all three arguments: sort(true, 1) would bind to sort(dim, descending).)
Neighbours first_k_by_distance_then_index(const torch::Tensor& distances, const torch::Tensor& indices,
                                          std::int64_t k) {
  const auto by_index = std::get<1>(indices.sort(/*stable=*/true, /*dim=*/1, /*descending=*/false));
  const auto sorted_indices = indices.gather(1, by_index);
  const auto sorted_distances = distances.gather(1, by_index);
  const auto by_distance = std::get<1>(sorted_distances.sort(/*stable=*/true, /*dim=*/1, /*descending=*/false));
  return {sorted_indices.gather(1, by_distance).slice(1, 0, k), sorted_distances.gather(1, by_distance).slice(1, 0, k)};
}

Neighbours brute_force(const torch::Tensor& queries, const torch::Tensor& points, std::int64_t k, bool manhattan) {
  const std::int64_t n = points.size(0);
  // At most ~16 M distances at a time, whatever the sizes.
  const std::int64_t chunk = std::max<std::int64_t>(1, (std::int64_t{1} << 24) / std::max<std::int64_t>(1, n));
  std::vector<torch::Tensor> indices;
  std::vector<torch::Tensor> distances;
  for (std::int64_t start = 0; start < queries.size(0); start += chunk) {
    const auto block = queries.slice(0, start, std::min(start + chunk, queries.size(0)));
    const auto all = pairwise_distances(block, points, manhattan);
    // topk finds the k smallest; a row whose k-th distance is shared by rows outside
    // that set has a tie at the boundary, and is sorted in full to break it by index.
    const auto [smallest, candidates] = all.topk(k, /*dim=*/1, /*largest=*/false, /*sorted=*/true);
    const auto boundary = smallest.select(1, k - 1).unsqueeze(1);
    const auto tied = (all <= boundary).sum(1) > k;
    auto best = first_k_by_distance_then_index(smallest, candidates, k);
    const auto rows = tied.nonzero().squeeze(1);
    if (rows.numel() > 0) {
      const auto row_distances = all.index_select(0, rows);
      const auto order = std::get<1>(row_distances.sort(/*stable=*/true, /*dim=*/1, /*descending=*/false)).slice(1, 0, k);
      best.indices.index_copy_(0, rows, order);
      best.distances.index_copy_(0, rows, row_distances.gather(1, order));
    }
    indices.push_back(best.indices);
    distances.push_back(best.distances);
  }
  if (indices.empty()) {
    return {torch::empty({0, k}, torch::kInt64), torch::empty({0, k}, torch::kFloat64)};
  }
  return {torch::cat(indices), torch::cat(distances)};
}

// nanoflann's view of a contiguous [n, d] float64 tensor.
struct PointCloud {
  const double* data;
  std::size_t rows;
  std::size_t dimensions;
  std::size_t kdtree_get_point_count() const { return rows; }
  double kdtree_get_pt(std::size_t index, std::size_t dimension) const { return data[index * dimensions + dimension]; }
  template <class Box>
  bool kdtree_get_bbox(Box& /*box*/) const {
    return false;
  }
};

template <class Metric>
using Tree = nanoflann::KDTreeSingleIndexAdaptor<Metric, PointCloud, -1, std::uint32_t>;
using EuclideanTree = Tree<nanoflann::L2_Adaptor<double, PointCloud, double, std::uint32_t>>;
using ManhattanTree = Tree<nanoflann::L1_Adaptor<double, PointCloud, double, std::uint32_t>>;

class KdTree {
 public:
  KdTree(const torch::Tensor& points, bool manhattan)
      : points_(points.contiguous()),
        cloud_{points_.data_ptr<double>(), static_cast<std::size_t>(points_.size(0)),
               static_cast<std::size_t>(points_.size(1))},
        manhattan_(manhattan) {
    if (points_.size(0) >= std::numeric_limits<std::uint32_t>::max()) {
      throw std::invalid_argument("knn: kd_tree holds at most 2^32 − 1 samples; use algorithm: brute");
    }
    const auto dimensions = static_cast<int>(points_.size(1));
    if (manhattan_) {
      manhattan_tree_ = std::make_unique<ManhattanTree>(dimensions, cloud_);
      manhattan_tree_->buildIndex();
    } else {
      euclidean_tree_ = std::make_unique<EuclideanTree>(dimensions, cloud_);
      euclidean_tree_->buildIndex();
    }
  }

  Neighbours search(const torch::Tensor& queries, std::int64_t k) const {
    const auto q = queries.contiguous();
    const auto m = q.size(0);
    auto indices = torch::empty({m, k}, torch::kInt64);
    auto distances = torch::empty({m, k}, torch::kFloat64);
    const double* query_data = q.data_ptr<double>();
    auto* index_out = indices.data_ptr<std::int64_t>();
    auto* distance_out = distances.data_ptr<double>();
    at::parallel_for(0, m, 256, [&](std::int64_t begin, std::int64_t end) {
      std::vector<std::uint32_t> found(static_cast<std::size_t>(k));
      std::vector<double> found_distances(static_cast<std::size_t>(k));
      std::vector<std::pair<std::uint32_t, double>> within;
      std::vector<std::pair<double, std::int64_t>> candidates;
      for (std::int64_t row = begin; row < end; ++row) {
        const double* query = query_data + row * q.size(1);
        std::size_t count = 0;
        if (manhattan_) {
          count = manhattan_tree_->knnSearch(query, static_cast<std::size_t>(k), found.data(), found_distances.data());
        } else {
          count = euclidean_tree_->knnSearch(query, static_cast<std::size_t>(k), found.data(), found_distances.data());
        }
        // The tree keeps the first of equally distant points it meets, not the lowest
        // index: collect every point up to the k-th distance (slightly widened, since the
        // tree sums in another order) and order them as brute force does.
        const double radius = std::nextafter(found_distances[count - 1] * (1 + 1e-12),
                                             std::numeric_limits<double>::infinity());
        within.clear();
        if (manhattan_) {
          manhattan_tree_->radiusSearch(query, radius, within, nanoflann::SearchParams(32, 0, false));
        } else {
          euclidean_tree_->radiusSearch(query, radius, within, nanoflann::SearchParams(32, 0, false));
        }
        candidates.clear();
        for (const auto& [index, ignored] : within) {
          candidates.emplace_back(
              distance(query, cloud_.data + static_cast<std::size_t>(index) * cloud_.dimensions,
                       static_cast<std::int64_t>(cloud_.dimensions), manhattan_),
              static_cast<std::int64_t>(index));
        }
        std::partial_sort(candidates.begin(), candidates.begin() + k, candidates.end());
        for (std::int64_t j = 0; j < k; ++j) {
          distance_out[row * k + j] = candidates[static_cast<std::size_t>(j)].first;
          index_out[row * k + j] = candidates[static_cast<std::size_t>(j)].second;
        }
      }
    });
    return {indices, distances};
  }

 private:
  torch::Tensor points_;
  PointCloud cloud_;
  bool manhattan_;
  std::unique_ptr<EuclideanTree> euclidean_tree_;
  std::unique_ptr<ManhattanTree> manhattan_tree_;
};

class KnnModel final : public ballista::Model {
 public:
  explicit KnnModel(const ballista::Parameters& parameters)
      : k_(parameters.get<std::int64_t>("k")),
        distance_weights_(parameters.get<std::string>("weights") == "distance"),
        manhattan_(parameters.get<std::string>("metric") == "manhattan"),
        standardize_(parameters.get<bool>("standardize")),
        algorithm_(parameters.get<std::string>("algorithm")),
        device_(ballista::chosen_device(parameters)) {
    if (device_.is_cuda() && algorithm_ == "kd_tree") {
      throw ballista::ParameterError("algorithm", "algorithm: kd_tree runs on the CPU; with device: cuda use "
                                                  "brute (or auto)");
    }
  }

  void fit(const ballista::Dataset& train, ballista::Context& /*context*/) override {
    if (k_ > train.inputs.size(0)) {
      throw std::invalid_argument("k = " + std::to_string(k_) + " exceeds the " +
                                  std::to_string(train.inputs.size(0)) + " training rows");
    }
    ballista::require_finite(train.inputs, "knn: fit() inputs");
    ballista::require_finite(train.targets, "knn: fit() targets");
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
    input_names_ = train.input_names;
    target_names_ = train.target_names;
    build_index();
  }

  torch::Tensor predict(const torch::Tensor& inputs) const override {
    const auto found = neighbours_of(inputs);
    const auto neighbours = targets_.index({found.indices.cpu()});  // [m, k, d_out]
    if (!distance_weights_) {
      return neighbours.mean(1);
    }
    // Inverse-distance weights; a query that coincides with stored samples takes the
    // mean of those samples only (scikit-learn's rule).
    const auto nearest = manhattan_ ? found.distances.cpu() : found.distances.cpu().sqrt();
    const auto exact = nearest == 0;
    const auto weights = torch::where(exact.any(1, /*keepdim=*/true), exact.to(torch::kFloat64), 1.0 / nearest);
    return (neighbours * weights.unsqueeze(2)).sum(1) / weights.sum(1, /*keepdim=*/true);
  }

  // The stored samples each answer comes from: "nearest stored sample: v=3.9268,
  // theta=1.2042 → s=1.0973 (distance 0.08)", the k of them in order of distance.
  std::vector<std::string> explain(const torch::Tensor& inputs) const override {
    const auto found = neighbours_of(inputs);
    const auto indices = found.indices.cpu();
    const auto distances = manhattan_ ? found.distances.cpu() : found.distances.cpu().sqrt();
    const auto stored = standardize_ ? inputs_ * scale_ + mean_ : inputs_;
    std::vector<std::string> lines;
    for (std::int64_t row = 0; row < indices.size(0); ++row) {
      std::string line = k_ == 1 ? "nearest stored sample: " : std::to_string(k_) + " nearest stored samples: ";
      for (std::int64_t j = 0; j < k_; ++j) {
        const auto index = indices[row][j].item<std::int64_t>();
        line += (j == 0 ? "" : "; ") + sample_text(stored[index], targets_[index]) + " (distance " +
                figure(distances[row][j].item<double>(), 3) + (standardize_ ? " standardised" : "") + ")";
      }
      lines.push_back(line);
    }
    return lines;
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
    ballista::write_strings(archive, "input_names", input_names_);
    ballista::write_strings(archive, "target_names", target_names_);
    if (standardize_) {
      archive.write("mean", mean_);
      archive.write("scale", scale_);
    }
  }

  // The tree is rebuilt from the stored samples, not stored.
  void load(torch::serialize::InputArchive& archive) override {
    inputs_ = ballista::read_tensor(archive, "inputs").contiguous();
    targets_ = ballista::read_tensor(archive, "targets").contiguous();
    input_names_ = ballista::read_strings(archive, "input_names");
    target_names_ = ballista::read_strings(archive, "target_names");
    if (standardize_) {
      mean_ = ballista::read_tensor(archive, "mean");
      scale_ = ballista::read_tensor(archive, "scale");
    }
    build_index();
  }

 private:
  Neighbours neighbours_of(const torch::Tensor& inputs) const {
    if (!inputs_.defined()) {
      throw std::logic_error("knn: predict() or explain() called before fit()");
    }
    if (inputs.dim() != 2 || inputs.size(1) != inputs_.size(1)) {
      throw std::invalid_argument("knn: expected inputs [n, " + std::to_string(inputs_.size(1)) + "]");
    }
    ballista::require_finite(inputs, "knn: predict() inputs");
    torch::NoGradGuard no_grad;
    const auto queries = scaled(inputs.to(torch::kFloat64)).contiguous();
    return tree_ ? tree_->search(queries, k_) : brute_force(queries.to(device_), device_inputs_, k_, manhattan_);
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
    const bool use_tree = algorithm_ == "kd_tree" ||
                          (algorithm_ == "auto" && device_.is_cpu() && inputs_.size(1) <= kTreeMaxDimensions);
    tree_ = use_tree ? std::make_shared<const KdTree>(inputs_, manhattan_) : nullptr;
    device_inputs_ = use_tree ? torch::Tensor() : inputs_.to(device_);
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
  torch::Tensor device_inputs_;          // inputs_ on device_, for brute force
  std::shared_ptr<const KdTree> tree_;  // null when searching by brute force
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
