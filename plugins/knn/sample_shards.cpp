// Samples shared over ranks (see sample_shards.hpp).
#include "sample_shards.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <exception>
#include <limits>
#include <numeric>
#include <vector>
#include <stdexcept>
#include <string>

namespace knn {

RowShares::RowShares(ballista::Collective& ranks, std::int64_t rows) {
  for (const auto& count : ranks.gather(torch::full({1}, static_cast<double>(rows), torch::kFloat64))) {
    counts.push_back(static_cast<std::int64_t>(count.item<double>()));
  }
  const auto rank = static_cast<std::size_t>(ranks.rank());
  first = std::accumulate(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(rank), std::int64_t{0});
  total = std::accumulate(counts.begin(), counts.end(), std::int64_t{0});
}

torch::Tensor RowShares::all_rows(ballista::Collective& ranks, const torch::Tensor& rows) const {
  if (ranks.size() == 1) {
    return rows.clone();
  }
  // The ranks' blocks must be of one shape: each is padded to the longest.
  const auto longest = *std::max_element(counts.begin(), counts.end());
  auto padded = torch::zeros({longest, rows.size(1)}, torch::kFloat64);
  padded.slice(0, 0, rows.size(0)).copy_(rows);
  const auto blocks = ranks.gather(padded);
  std::vector<torch::Tensor> parts;
  for (std::size_t r = 0; r < blocks.size(); ++r) {
    parts.push_back(blocks[r].slice(0, 0, counts.at(r)));
  }
  return torch::cat(parts).contiguous();
}

void on_every_rank(ballista::Collective& ranks, const std::function<void()>& check) {
  std::exception_ptr failure;
  try {
    check();
  } catch (...) {
    failure = std::current_exception();
  }
  if (ranks.size() > 1) {
    const auto flags = ranks.gather(torch::full({1}, failure ? 1.0 : 0.0, torch::kFloat64));
    std::string failed;
    for (std::size_t r = 0; r < flags.size(); ++r) {
      if (flags[r].item<double>() != 0.0) {
        failed += (failed.empty() ? "" : ", ") + std::to_string(r);
      }
    }
    if (!failure && !failed.empty()) {
      throw std::invalid_argument("knn: the share of the rows of rank " + failed + " of " +
                                  std::to_string(ranks.size()) + " failed a check (that rank's error says which)");
    }
  }
  if (failure) {
    std::rethrow_exception(failure);
  }
}

Candidates merge_nearest(ballista::Collective& ranks, const Candidates& local, std::int64_t k, std::int64_t total) {
  const auto m = local.distances.size(0);
  if (m == 0) {  // nothing to merge: every rank has the same m
    return local;
  }
  // One message per query set: distance, row, targets (and inputs) side by side, each
  // rank's list padded to k with rows that sort last (+∞, a row past every real one).
  const auto d_out = local.targets.size(2);
  const auto d_in = local.inputs.defined() ? local.inputs.size(2) : 0;
  const auto width = 2 + d_out + d_in;
  const auto found = local.distances.size(1);
  auto packed = torch::zeros({m, k, width}, torch::kFloat64);
  packed.select(2, 0).fill_(std::numeric_limits<double>::infinity());
  packed.select(2, 1).fill_(static_cast<double>(total));
  auto mine = packed.slice(1, 0, found);
  mine.select(2, 0).copy_(local.distances);
  mine.select(2, 1).copy_(local.indices.to(torch::kFloat64));  // exact: rows < 2^53
  mine.slice(2, 2, 2 + d_out).copy_(local.targets);
  if (d_in > 0) {
    mine.slice(2, 2 + d_out, width).copy_(local.inputs);
  }
  const auto lists = ranks.gather(packed);  // each [m, k, width], sorted within each query
  // Each query's k nearest: a merge of the ranks' sorted lists, so the order is the
  // one-process order (distance, then row) without sorting anything again.
  auto distances = torch::empty({m, k}, torch::kFloat64);
  auto rows = torch::empty({m, k}, torch::kInt64);
  auto fields = torch::empty({m, k, width - 2}, torch::kFloat64);  // targets, then inputs
  std::vector<const double*> starts;
  for (const auto& list : lists) {
    starts.push_back(list.data_ptr<double>());
  }
  auto* distance_out = distances.data_ptr<double>();
  auto* row_out = rows.data_ptr<std::int64_t>();
  auto* field_out = fields.data_ptr<double>();
  at::parallel_for(0, m, 256, [&](std::int64_t begin, std::int64_t end) {
    std::vector<std::int64_t> heads(starts.size());
    for (std::int64_t q = begin; q < end; ++q) {
      std::fill(heads.begin(), heads.end(), 0);
      const auto entry = [&](std::size_t r) { return starts[r] + (q * k + heads[r]) * width; };
      for (std::int64_t j = 0; j < k; ++j) {
        // The least head by (distance, row); a rank's list holds k, so some head is left.
        std::size_t from = starts.size();
        for (std::size_t r = 0; r < starts.size(); ++r) {
          if (heads[r] == k) {
            continue;  // that rank's list is used up
          }
          const double* head = entry(r);
          if (from == starts.size() || head[0] < entry(from)[0] ||
              (head[0] == entry(from)[0] && head[1] < entry(from)[1])) {
            from = r;
          }
        }
        const double* best = entry(from);
        ++heads[from];
        distance_out[q * k + j] = best[0];
        row_out[q * k + j] = static_cast<std::int64_t>(best[1]);
        std::copy(best + 2, best + width, field_out + (q * k + j) * (width - 2));
      }
    }
  });
  return {distances, rows, fields.slice(2, 0, d_out).contiguous(),
          d_in > 0 ? fields.slice(2, d_out, d_out + d_in).contiguous() : torch::Tensor()};
}

}  // namespace knn
