// The knn plugin's neighbour search (contract in neighbour_search.hpp): brute force on
// the CPU, brute force on an accelerator, and the k-d tree, all ranking alike.
#include "neighbour_search.hpp"

#include <ATen/Parallel.h>
#include <nanoflann.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

namespace knn {

// What NeighbourSearch searches with when it uses a tree: a KdTree below, its input
// width and metric fixed at compile time.
class TreeSearch {
 public:
  TreeSearch() = default;
  TreeSearch(const TreeSearch&) = delete;
  TreeSearch& operator=(const TreeSearch&) = delete;
  virtual ~TreeSearch() = default;
  // The k nearest stored samples of each row of `queries` [m, d] (CPU, float64).
  virtual Neighbours search(const torch::Tensor& queries, std::int64_t k) const = 0;
};

namespace {

// One dimension's term of the distance.
template <bool Manhattan>
double term(double difference) {
  return Manhattan ? std::abs(difference) : difference * difference;
}

// Σ_j (q_j − x_j)² or Σ_j |q_j − x_j|, accumulated over j in order. Every search sums
// in this order (starting from the first term, which equals 0 + the first term), so
// equal inputs give equal distances to the last bit.
template <bool Manhattan>
double distance(const double* query, const double* point, std::size_t dimensions) {
  double total = term<Manhattan>(query[0] - point[0]);
  for (std::size_t j = 1; j < dimensions; ++j) {
    total += term<Manhattan>(query[j] - point[j]);
  }
  return total;
}

// The k best (distance, index) pairs offered so far, in ascending order: the lower
// index wins a tie. Both CPU searches rank through it.
class BestK {
 public:
  explicit BestK(std::size_t k) : k_(k), entries_(k) {}

  void clear() { count_ = 0; }
  bool full() const { return count_ == k_; }
  // The k-th distance, or +∞ while fewer than k have been offered.
  double worst() const { return full() ? entries_[k_ - 1].first : std::numeric_limits<double>::infinity(); }

  void offer(double distance, std::int64_t index) {
    const std::pair<double, std::int64_t> entry{distance, index};
    std::size_t position = count_;
    if (full()) {
      if (!(entry < entries_[k_ - 1])) {
        return;
      }
      position = k_ - 1;
    } else {
      ++count_;
    }
    for (; position > 0 && entry < entries_[position - 1]; --position) {
      entries_[position] = entries_[position - 1];
    }
    entries_[position] = entry;
  }

  void write(double* distances, std::int64_t* indices) const {
    for (std::size_t j = 0; j < count_; ++j) {
      distances[j] = entries_[j].first;
      indices[j] = entries_[j].second;
    }
  }

 private:
  std::size_t k_;
  std::size_t count_ = 0;
  std::vector<std::pair<double, std::int64_t>> entries_;
};

// ---- Brute force on the CPU ----------------------------------------------------------

// Where the compiler can, the kernel below is also built for AVX2 and picked at load
// time on CPUs that have it: twice the lanes. AVX2 brings no fused multiply-add (that is
// FMA, not enabled), so every lane rounds exactly as distance() does.
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define BALLISTA_KNN_WIDE_VECTORS __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef BALLISTA_KNN_WIDE_VECTORS
#define BALLISTA_KNN_WIDE_VECTORS
#endif

// The distances from one query to points [start, start + count), stored by column
// ([d, n]), into out[0, count). Returns whether any is below `bound`. Four points at a
// time through the GCC/Clang vector extension, each lane summing its terms in the same
// order as distance(), so the bits are the same. (No helper functions here: they would
// pass 32-byte vectors, whose ABI differs with and without AVX.)
template <bool Manhattan, std::int64_t FixedDimensions>
BALLISTA_KNN_WIDE_VECTORS bool block_distances(const double* query, const double* columns, std::int64_t n,
                                               std::int64_t dimensions, std::int64_t start, std::int64_t count,
                                               double bound, double* out) {
  using Lanes = double __attribute__((vector_size(32)));
  using LaneMask = std::int64_t __attribute__((vector_size(32)));
  constexpr std::int64_t kLanes = 4;
  // |x| by clearing the sign bit, as std::abs does.
  constexpr auto kMagnitude = static_cast<std::int64_t>(~(std::uint64_t{1} << 63U));
  const std::int64_t d = FixedDimensions > 0 ? FixedDimensions : dimensions;
  const double* first = columns + start;
  const Lanes limit = Lanes{} + bound;
  LaneMask below{};
  std::int64_t p = 0;
  for (; p + kLanes <= count; p += kLanes) {
    Lanes total{};
    for (std::int64_t j = 0; j < d; ++j) {
      Lanes coordinates;
      std::memcpy(&coordinates, first + j * n + p, sizeof coordinates);
      Lanes difference = (Lanes{} + query[j]) - coordinates;
      if constexpr (Manhattan) {
        difference = reinterpret_cast<Lanes>(reinterpret_cast<LaneMask>(difference) & kMagnitude);
      } else {
        difference = difference * difference;
      }
      total = j == 0 ? difference : total + difference;
    }
    std::memcpy(out + p, &total, sizeof total);
    below |= total < limit;
  }
  bool any = (below[0] | below[1] | below[2] | below[3]) != 0;
  for (; p < count; ++p) {
    double total = term<Manhattan>(query[0] - first[p]);
    for (std::int64_t j = 1; j < d; ++j) {
      total += term<Manhattan>(query[j] - first[j * n + p]);
    }
    out[p] = total;
    any = any || total < bound;
  }
  return any;
}

// Every query scans every point in index order, keeping its k best. Queries go in
// blocks of kQueriesPerBlock against blocks of points small enough to stay in cache, so
// each point is read from memory once per block of queries rather than once per query;
// within that, runs of kRun distances are only scanned one by one when one of them is
// below the k-th distance so far, which after the first few runs is rare.
template <bool Manhattan, std::int64_t FixedDimensions>
Neighbours brute_force_cpu(const torch::Tensor& queries, const torch::Tensor& columns, std::int64_t k) {
  constexpr std::int64_t kQueriesPerBlock = 16;
  constexpr std::int64_t kRun = 128;
  const std::int64_t m = queries.size(0);
  const std::int64_t dimensions = columns.size(0);
  const std::int64_t n = columns.size(1);
  // At most 256 KiB of coordinates per block of points.
  const std::int64_t points_per_block =
      std::clamp<std::int64_t>((std::int64_t{1} << 15) / dimensions / kRun, 1, 32) * kRun;
  const auto q = queries.contiguous();
  auto indices = torch::empty({m, k}, torch::kInt64);
  auto distances = torch::empty({m, k}, torch::kFloat64);
  const double* query_data = q.data_ptr<double>();
  const double* column_data = columns.data_ptr<double>();
  auto* index_out = indices.data_ptr<std::int64_t>();
  auto* distance_out = distances.data_ptr<double>();
  at::parallel_for(0, m, kQueriesPerBlock, [&](std::int64_t begin, std::int64_t end) {
    std::vector<BestK> best(static_cast<std::size_t>(kQueriesPerBlock), BestK(static_cast<std::size_t>(k)));
    std::array<double, kRun> run{};
    for (std::int64_t first = begin; first < end; first += kQueriesPerBlock) {
      const std::int64_t last = std::min(first + kQueriesPerBlock, end);
      for (auto& kept : best) {
        kept.clear();
      }
      for (std::int64_t block = 0; block < n; block += points_per_block) {
        const std::int64_t block_end = std::min(block + points_per_block, n);
        for (std::int64_t row = first; row < last; ++row) {
          const double* query = query_data + row * dimensions;
          auto& kept = best[static_cast<std::size_t>(row - first)];
          for (std::int64_t start = block; start < block_end; start += kRun) {
            const std::int64_t count = std::min(kRun, block_end - start);
            double worst = kept.worst();
            // Until k are kept every point is taken, even at a distance overflowed to +∞.
            const bool filling = !kept.full();
            if (!block_distances<Manhattan, FixedDimensions>(query, column_data, n, dimensions, start, count, worst,
                                                             run.data()) &&
                !filling) {
              continue;
            }
            // Points come in index order, so one at the k-th distance never displaces it.
            for (std::int64_t p = 0; p < count; ++p) {
              if (run[static_cast<std::size_t>(p)] < worst || !kept.full()) {
                kept.offer(run[static_cast<std::size_t>(p)], start + p);
                worst = kept.worst();
              }
            }
          }
        }
      }
      for (std::int64_t row = first; row < last; ++row) {
        best[static_cast<std::size_t>(row - first)].write(distance_out + row * k, index_out + row * k);
      }
    }
  });
  return {indices, distances};
}

template <bool Manhattan>
Neighbours brute_force_cpu(const torch::Tensor& queries, const torch::Tensor& columns, std::int64_t k) {
  // The cannon's two inputs get a kernel specialised to them.
  return columns.size(0) == 2 ? brute_force_cpu<Manhattan, 2>(queries, columns, k)
                              : brute_force_cpu<Manhattan, 0>(queries, columns, k);
}

// ---- Brute force on an accelerator (LibTorch) ----------------------------------------

// Σ_j (q_j − x_j)² or Σ_j |q_j − x_j|, accumulated over j in order: [c, n].
torch::Tensor pairwise_distances(const torch::Tensor& queries, const torch::Tensor& points, bool manhattan) {
  auto total = torch::zeros({queries.size(0), points.size(0)}, queries.options());
  for (std::int64_t j = 0; j < points.size(1); ++j) {
    const auto difference = queries.select(1, j).unsqueeze(1) - points.select(1, j).unsqueeze(0);
    total += manhattan ? difference.abs() : difference * difference;
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

// Chunked [c, n] distance tensors, topk, and a full sort of the rows with a tie at the
// k-th distance: the data-parallel form for devices such as CUDA.
Neighbours brute_force_on_device(const torch::Tensor& queries, const torch::Tensor& points, std::int64_t k,
                                 bool manhattan) {
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

// ---- k-d tree (nanoflann) ------------------------------------------------------------

// A Z-order (Morton) ranking of rows on a grid over the stored samples' bounding box:
// rows close in space get close ranks. The tree is built over the samples in this
// order and queries are answered in it, so memory is read in runs rather than at
// random; it decides only the order of work, never a result.
class ZOrder {
 public:
  ZOrder(const double* points, std::size_t rows, std::size_t dimensions)
      : dimensions_(dimensions),
        used_(std::min<std::size_t>(dimensions, 16)),
        bits_(std::min<std::size_t>(31, 32 / std::max<std::size_t>(used_, 1))),
        low_(used_, std::numeric_limits<double>::infinity()),
        cells_per_unit_(used_, 0.0) {
    std::vector<double> high(used_, -std::numeric_limits<double>::infinity());
    for (std::size_t row = 0; row < rows; ++row) {
      for (std::size_t j = 0; j < used_; ++j) {
        low_[j] = std::min(low_[j], points[row * dimensions + j]);
        high[j] = std::max(high[j], points[row * dimensions + j]);
      }
    }
    for (std::size_t j = 0; j < used_; ++j) {
      const double span = high[j] - low_[j];
      cells_per_unit_[j] = span > 0 && std::isfinite(span) ? static_cast<double>(1U << bits_) / span : 0.0;
    }
  }

  // The rows [0, count) of `data` in Z-order; equal codes keep their row order.
  std::vector<std::uint32_t> order(const double* data, std::size_t count) const {
    std::vector<std::uint64_t> keyed(count);
    for (std::size_t row = 0; row < count; ++row) {
      keyed[row] = (static_cast<std::uint64_t>(code(data + row * dimensions_)) << 32U) | row;
    }
    sort_by_high_half(keyed);
    std::vector<std::uint32_t> rows(count);
    for (std::size_t position = 0; position < count; ++position) {
      rows[position] = static_cast<std::uint32_t>(keyed[position]);
    }
    return rows;
  }

 private:
  std::uint32_t code(const double* point) const {
    const double top = static_cast<double>((1U << bits_) - 1);
    std::array<std::uint32_t, 16> cells{};
    for (std::size_t j = 0; j < used_; ++j) {
      // Queries outside the box fall on its edge cells; a flat or overflowing
      // dimension (0 cells per unit, perhaps ∞ · 0) on cell 0.
      const double cell = (point[j] - low_[j]) * cells_per_unit_[j];
      cells[j] = cell > 0 ? static_cast<std::uint32_t>(std::min(cell, top)) : 0U;
    }
    if (used_ == 2) {
      return (spread_by_two(cells[0]) << 1U) | spread_by_two(cells[1]);
    }
    std::uint32_t result = 0;
    for (std::size_t bit = bits_; bit-- > 0;) {
      for (std::size_t j = 0; j < used_; ++j) {
        result = (result << 1U) | ((cells[j] >> bit) & 1U);
      }
    }
    return result;
  }

  // Bits 0…15 of `value` moved to the even bits 0, 2, …, 30.
  static std::uint32_t spread_by_two(std::uint32_t value) {
    value &= 0x0000FFFFU;
    value = (value | (value << 8U)) & 0x00FF00FFU;
    value = (value | (value << 4U)) & 0x0F0F0F0FU;
    value = (value | (value << 2U)) & 0x33333333U;
    return (value | (value << 1U)) & 0x55555555U;
  }

  // A stable least-significant-digit radix sort on bits 32…63, three 11-bit digits.
  static void sort_by_high_half(std::vector<std::uint64_t>& values) {
    constexpr unsigned kDigitBits = 11;
    constexpr std::size_t kBuckets = std::size_t{1} << kDigitBits;
    std::vector<std::uint64_t> scratch(values.size());
    for (unsigned shift = 32; shift < 64; shift += kDigitBits) {
      std::vector<std::size_t> start(kBuckets + 1, 0);
      for (const auto value : values) {
        ++start[((value >> shift) & (kBuckets - 1)) + 1];
      }
      for (std::size_t bucket = 0; bucket < kBuckets; ++bucket) {
        start[bucket + 1] += start[bucket];
      }
      for (const auto value : values) {
        scratch[start[(value >> shift) & (kBuckets - 1)]++] = value;
      }
      values.swap(scratch);
    }
  }

  std::size_t dimensions_;
  std::size_t used_;  // Z-order over the first 16 dimensions at most
  std::size_t bits_;  // grid bits per dimension, at most 32 in all
  std::vector<double> low_;
  std::vector<double> cells_per_unit_;
};

// nanoflann's view of the stored samples, row-major [n, d], in Z-order.
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

// nanoflann's metric interface over our distance, so the distances the tree compares
// at its leaves are the exact ones brute force computes.
template <bool Manhattan>
struct FixedOrderMetric {
  using ElementType = double;
  using DistanceType = double;
  const PointCloud& cloud;
  explicit FixedOrderMetric(const PointCloud& points) : cloud(points) {}
  double evalMetric(const double* query, std::uint32_t index, std::size_t dimensions) const {
    return distance<Manhattan>(query, cloud.data + static_cast<std::size_t>(index) * dimensions, dimensions);
  }
  // One dimension's term of the distance to a cell boundary.
  double accum_dist(double a, double b, std::size_t /*dimension*/) const { return term<Manhattan>(a - b); }
};

// The result set nanoflann fills in one traversal: candidates are ranked by BestK under
// their training-row index, and the tree prunes against a slightly widened k-th
// distance, because its lower bound of a cell's distance is summed incrementally and
// may round above a point's exact distance: a point that ties the k-th exactly (and may
// have the lower index) is never pruned.
class TiedResultSet {
 public:
  using DistanceType = double;
  using IndexType = std::uint32_t;
  using CountType = std::size_t;

  TiedResultSet(BestK& best, const std::uint32_t* training_row) : best_(best), training_row_(training_row) {
    best_.clear();
  }

  bool addPoint(double distance, std::uint32_t index) {
    best_.offer(distance, training_row_[index]);
    if (best_.full()) {
      bound_ = std::nextafter(best_.worst() * (1 + 1e-12), std::numeric_limits<double>::infinity());
    }
    return true;
  }
  double worstDist() const { return bound_; }
  bool full() const { return best_.full(); }

 private:
  BestK& best_;
  const std::uint32_t* training_row_;
  double bound_ = std::numeric_limits<double>::infinity();
};

// Leaves of up to this many samples: a larger leaf builds faster and searches more
// points per query; 16 measured best for 10^6 samples (nanoflann's default is 10).
constexpr std::size_t kLeafSize = 16;

// Dimensions is the input width fixed at compile time, or -1 for any.
template <bool Manhattan, int Dimensions>
class KdTree final : public TreeSearch {
 public:
  explicit KdTree(const torch::Tensor& points)
      : dimensions_(static_cast<std::size_t>(points.size(1))),
        z_order_(points.data_ptr<double>(), static_cast<std::size_t>(points.size(0)), dimensions_),
        training_row_(z_order_.order(points.data_ptr<double>(), static_cast<std::size_t>(points.size(0)))),
        samples_(training_row_.size() * dimensions_),
        cloud_{samples_.data(), training_row_.size(), dimensions_} {
    const double* source = points.data_ptr<double>();
    for (std::size_t position = 0; position < training_row_.size(); ++position) {
      std::copy_n(source + training_row_[position] * dimensions_, dimensions_, samples_.data() + position * dimensions_);
    }
    // The constructor builds the index.
    tree_ = std::make_unique<Index>(static_cast<int>(dimensions_), cloud_,
                                    nanoflann::KDTreeSingleIndexAdaptorParams(kLeafSize));
  }

  Neighbours search(const torch::Tensor& queries, std::int64_t k) const override {
    const auto q = queries.contiguous();
    const auto m = q.size(0);
    auto indices = torch::empty({m, k}, torch::kInt64);
    auto distances = torch::empty({m, k}, torch::kFloat64);
    const double* query_data = q.data_ptr<double>();
    auto* index_out = indices.data_ptr<std::int64_t>();
    auto* distance_out = distances.data_ptr<double>();
    const auto rows = z_order_.order(query_data, static_cast<std::size_t>(m));
    at::parallel_for(0, m, 256, [&](std::int64_t begin, std::int64_t end) {
      BestK best(static_cast<std::size_t>(k));
      const nanoflann::SearchParams parameters;
      for (std::int64_t position = begin; position < end; ++position) {
        const auto row = static_cast<std::int64_t>(rows[static_cast<std::size_t>(position)]);
        const double* query = query_data + row * q.size(1);
        TiedResultSet result(best, training_row_.data());
        tree_->findNeighbors(result, query, parameters);
        if (!best.full()) {
          // Only when distances overflow to +∞, which the tree never accepts: scan.
          best.clear();
          for (std::size_t index = 0; index < cloud_.rows; ++index) {
            best.offer(distance<Manhattan>(query, cloud_.data + index * dimensions_, dimensions_),
                       training_row_[index]);
          }
        }
        best.write(distance_out + row * k, index_out + row * k);
      }
    });
    return {indices, distances};
  }

 private:
  using Index = nanoflann::KDTreeSingleIndexAdaptor<FixedOrderMetric<Manhattan>, PointCloud, Dimensions, std::uint32_t>;

  std::size_t dimensions_;
  ZOrder z_order_;
  std::vector<std::uint32_t> training_row_;  // of each stored sample, in Z-order
  std::vector<double> samples_;              // [n, d], in Z-order
  PointCloud cloud_;
  std::unique_ptr<Index> tree_;
};

template <bool Manhattan>
std::unique_ptr<const TreeSearch> make_kd_tree(const torch::Tensor& points) {
  // The cannon's two inputs get a tree specialised to them.
  if (points.size(1) == 2) {
    return std::make_unique<const KdTree<Manhattan, 2>>(points);
  }
  return std::make_unique<const KdTree<Manhattan, -1>>(points);
}

std::unique_ptr<const TreeSearch> make_kd_tree(const torch::Tensor& points, bool manhattan) {
  if (points.size(0) >= std::numeric_limits<std::uint32_t>::max()) {
    throw std::invalid_argument("knn: kd_tree holds at most 2^32 − 1 samples; use algorithm: brute");
  }
  const auto contiguous = points.contiguous();
  return manhattan ? make_kd_tree<true>(contiguous) : make_kd_tree<false>(contiguous);
}

}  // namespace

NeighbourSearch::NeighbourSearch(const torch::Tensor& samples, bool manhattan, Algorithm algorithm,
                                 torch::Device device)
    : manhattan_(manhattan), device_(device) {
  const bool use_tree = algorithm == Algorithm::kd_tree;
  tree_ = use_tree ? make_kd_tree(samples, manhattan_) : nullptr;
  columns_ = !use_tree && device_.is_cpu() ? samples.t().contiguous() : torch::Tensor();
  device_samples_ = !use_tree && !device_.is_cpu() ? samples.to(device_) : torch::Tensor();
}

NeighbourSearch::~NeighbourSearch() = default;

Neighbours NeighbourSearch::search(const torch::Tensor& queries, std::int64_t k) const {
  if (tree_) {
    return tree_->search(queries, k);
  }
  if (device_.is_cpu()) {
    return manhattan_ ? brute_force_cpu<true>(queries, columns_, k) : brute_force_cpu<false>(queries, columns_, k);
  }
  return brute_force_on_device(queries.to(device_), device_samples_, k, manhattan_);
}

}  // namespace knn
