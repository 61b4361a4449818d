// The knn plugin's samples shared over ranks (Model::data_parallel()): which rows each
// rank holds, every rank's rows gathered back in order, and each query's k nearest
// merged from every rank's own k nearest by the one-process rule (ascending distance,
// ties to the lower row of all), so that the merged neighbours are the ones a search
// over all the samples finds, with the same distances to the bit.
#pragma once

#include <ballista/collective.hpp>

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace knn {

// This rank's rows among every rank's: the shares are contiguous and in rank order.
struct RowShares {
  RowShares() = default;
  // Every rank's row count, gathered: a collective call (one process: `rows` alone).
  RowShares(ballista::Collective& ranks, std::int64_t rows);

  // Every rank's `rows` ([its count, w], float64) in rank order, [total, w], a new
  // tensor (a copy of `rows` on one process): a collective call.
  torch::Tensor all_rows(ballista::Collective& ranks, const torch::Tensor& rows) const;

  std::vector<std::int64_t> counts;  // rows of each rank
  std::int64_t first = 0;            // the row (of all) this rank's first row is
  std::int64_t total = 0;            // rows of all the ranks
};

// Runs `check` on every rank; when it throws on any rank, every rank throws: the rank
// that failed its own error, the others std::invalid_argument naming the ranks that
// failed. A collective call (one process: just `check`).
void on_every_rank(ballista::Collective& ranks, const std::function<void()>& check);

// Queries' nearest samples, nearest first, with what the model needs of them.
struct Candidates {
  torch::Tensor distances;  // [m, k] float64: squared Euclidean or Manhattan
  torch::Tensor indices;    // [m, k] int64: the samples' rows among every rank's
  torch::Tensor targets;    // [m, k, d_out] float64: the samples' targets
  torch::Tensor inputs;     // [m, k, d_in] float64: the stored inputs, or undefined
};

// Every query's k nearest among every rank's `local` candidates (each rank's own
// nearest ≤ k, in order, rows < `total`), by ascending distance, ties to the lower row:
// the same on every rank. REQUIRES: every rank passes the same m, k and column counts,
// and the ranks' candidates together hold at least k per query. A collective call.
Candidates merge_nearest(ballista::Collective& ranks, const Candidates& local, std::int64_t k, std::int64_t total);

}  // namespace knn
