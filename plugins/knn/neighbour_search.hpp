// The knn plugin's engine: exact k-nearest-neighbour search over a fixed set of stored
// samples, by a k-d tree or by brute force (a blocked scan on the CPU,
// chunked LibTorch tensors on other devices). Built once per fit() or load(); its
// search() is const and safe to call concurrently (it only reads what the constructor
// built, and each call spreads its own queries over ATen's intra-op threads).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>

namespace knn {

// The k nearest stored samples of each of m queries, nearest first.
struct Neighbours {
  torch::Tensor indices;    // [m, k], int64: rows of the samples
  torch::Tensor distances;  // [m, k], float64: squared Euclidean or Manhattan
};

class TreeSearch;  // the k-d tree, behind an interface (neighbour_search.cpp)

// Every algorithm, at any thread count, returns the same neighbours in the same order:
// ascending distance, ties broken by the lower training-row index, with distances
// accumulated dimension by dimension in one fixed order (starting from the first term),
// so equal inputs give equal distances to the last bit. Distances are squared Euclidean
// (not rooted: the caller takes the square root if it wants one) or Manhattan. A query's
// neighbours are found whole by one thread, and the order in which queries are taken
// (the tree takes them in Z-order, for locality) decides only the order of work, never a
// result. A distance that overflows to +∞ still ranks, after the finite ones.
//
// What it does not do: scale or standardise (the model does, before building and
// before searching), average or weight the neighbours' targets, check its REQUIREs
// below (finite inputs, k within the samples: the model checks them), choose an
// algorithm (the model's algorithm parameter does), approximate, add samples after
// construction, or save itself (load() rebuilds it from the stored samples).
class NeighbourSearch {
 public:
  enum class Algorithm {
    // A k-d tree over the samples sorted in Z-order (neighbour_search.cpp), on the CPU
    // whatever `device` says; at most 2^32 − 2 samples. Pays for few dimensions: beyond
    // ~8 it prunes little and brute force is faster.
    kd_tree,
    // Every query against every sample: a blocked, vectorised scan when `device` is
    // the CPU, chunked distance tensors and topk on `device` otherwise.
    brute_force,
  };

  // Builds the index over `samples`. REQUIRES: samples [n, d] float64 on the CPU, finite,
  // n ≥ 1, d ≥ 1, not modified in place afterwards (brute force on the CPU may share their
  // storage; the tree copies them). Throws std::invalid_argument when a kd_tree would
  // hold 2^32 − 1 samples or more.
  NeighbourSearch(const torch::Tensor& samples, bool manhattan, Algorithm algorithm, torch::Device device);
  ~NeighbourSearch();

  NeighbourSearch(const NeighbourSearch&) = delete;
  NeighbourSearch& operator=(const NeighbourSearch&) = delete;

  // The k nearest samples of each row of `queries`, as above. REQUIRES: queries [m, d]
  // float64 on the CPU, contiguous, finite, of the samples' d; 1 ≤ k ≤ n. The result is
  // on the CPU, except from brute force on another device, where it stays on that device.
  Neighbours search(const torch::Tensor& queries, std::int64_t k) const;

 private:
  bool manhattan_;
  torch::Device device_;
  std::unique_ptr<const TreeSearch> tree_;  // null when searching by brute force
  torch::Tensor columns_;                   // the samples as [d, n], for brute force on the CPU
  torch::Tensor device_samples_;            // the samples on device_, for brute force elsewhere
};

}  // namespace knn
