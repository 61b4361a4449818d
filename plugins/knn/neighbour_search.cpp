// The knn plugin's neighbour search (contract in neighbour_search.hpp): brute force on
// the CPU, brute force on an accelerator, and the k-d tree, all ranking alike.
#include "neighbour_search.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <sys/mman.h>

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
// index wins a tie. Both CPU searches rank through it: brute force by training row, the
// tree by (training row << 32) | place, which ranks alike.
class BestK {
 public:
  explicit BestK(std::size_t k) : k_(k), entries_(k) {}

  void clear() { count_ = 0; }
  bool full() const { return count_ == k_; }
  // The k-th distance, or +∞ while fewer than k have been offered.
  double worst() const { return full() ? entries_[k_ - 1].first : std::numeric_limits<double>::infinity(); }

  void offer(double distance, std::uint64_t index) {
    const std::pair<double, std::uint64_t> entry{distance, index};
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

  // The j-th index kept, j < the number offered.
  std::uint64_t index(std::size_t j) const { return entries_[j].second; }

  // The kept distances, and the kept indices shifted right by `shift` bits.
  void write(double* distances, std::int64_t* indices, unsigned shift = 0) const {
    for (std::size_t j = 0; j < count_; ++j) {
      distances[j] = entries_[j].first;
      indices[j] = static_cast<std::int64_t>(entries_[j].second >> shift);
    }
  }

 private:
  std::size_t k_;
  std::size_t count_ = 0;
  std::vector<std::pair<double, std::uint64_t>> entries_;
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
                kept.offer(run[static_cast<std::size_t>(p)], static_cast<std::uint64_t>(start + p));
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

// ---- k-d tree over the Z-order -------------------------------------------------------

// The tree's arrays are large (for 10^6 samples of two inputs, about 40 MiB built at
// once), and first touching fresh memory costs a page fault per 4 KiB page, on a virtual
// machine as much as the work done in it. Arrays from 2 MiB are therefore aligned to
// 2 MiB and offered to Linux's transparent huge pages (one fault per 2 MiB, where the
// system allows them: its "madvise" and "always" settings), and are not zeroed first,
// so that the threads that fill them touch them in parallel.
constexpr std::size_t kHugePage = std::size_t{1} << 21;

void* allocate_pages(std::size_t bytes) {
  const bool huge = bytes >= kHugePage;
  const std::size_t rounded = huge ? (bytes + kHugePage - 1) / kHugePage * kHugePage : std::max<std::size_t>(bytes, 1);
  void* memory = huge ? std::aligned_alloc(kHugePage, rounded) : std::malloc(rounded);
  if (memory == nullptr) {
    throw std::bad_alloc();
  }
#ifdef MADV_HUGEPAGE
  if (huge) {
    madvise(memory, rounded, MADV_HUGEPAGE);  // advice only: refused, pages stay small
  }
#endif
  return memory;
}

struct FreePages {
  void operator()(void* memory) const { std::free(memory); }
};

// count uninitialised values of a trivial type T.
template <class T>
using Pages = std::unique_ptr<T[], FreePages>;

template <class T>
Pages<T> allocate(std::size_t count) {
  static_assert(std::is_trivially_default_constructible_v<T> && std::is_trivially_destructible_v<T>);
  return Pages<T>(static_cast<T*>(allocate_pages(count * sizeof(T))));
}

// A std::vector allocator of the same pages, for arrays that grow.
template <class T>
struct PageAllocator {
  using value_type = T;
  PageAllocator() = default;
  template <class U>
  explicit PageAllocator(const PageAllocator<U>& /*other*/) {}
  T* allocate(std::size_t count) { return static_cast<T*>(allocate_pages(count * sizeof(T))); }
  void deallocate(T* memory, std::size_t /*count*/) { std::free(memory); }
  friend bool operator==(const PageAllocator& /*a*/, const PageAllocator& /*b*/) { return true; }
};

// work(begin, end) over pieces of [0, count), on ATen's threads.
template <class Work>
void parallel_over(std::size_t count, const Work& work) {
  at::parallel_for(0, static_cast<std::int64_t>(count), std::int64_t{1} << 14, [&](std::int64_t begin, std::int64_t end) {
    work(static_cast<std::size_t>(begin), static_cast<std::size_t>(end));
  });
}

// A Z-order (Morton) code of each row on a grid over the stored samples' bounding box:
// rows close in space get close codes. The samples are stored in code order, the tree
// below is a hierarchy of runs of them, and queries are answered in code order too, so
// memory is read in runs rather than at random. It decides only the order of work and
// the shape of the tree, never a result.
class ZOrder {
 public:
  ZOrder(const double* points, std::size_t rows, std::size_t dimensions)
      : dimensions_(dimensions),
        used_(std::min<std::size_t>(dimensions, 16)),
        bits_(std::min<std::size_t>(31, 32 / std::max<std::size_t>(used_, 1))),
        low_(used_, std::numeric_limits<double>::infinity()),
        cells_per_unit_(used_, 0.0) {
    std::vector<double> high(used_, -std::numeric_limits<double>::infinity());
    // The bounding box, a piece of the rows per thread (minima and maxima do not depend
    // on the order).
    std::mutex merging;
    parallel_over(rows, [&](std::size_t begin, std::size_t end) {
      std::vector<double> piece_low(low_);
      std::vector<double> piece_high(high);
      for (std::size_t row = begin; row < end; ++row) {
        for (std::size_t j = 0; j < used_; ++j) {
          piece_low[j] = std::min(piece_low[j], points[row * dimensions + j]);
          piece_high[j] = std::max(piece_high[j], points[row * dimensions + j]);
        }
      }
      const std::lock_guard<std::mutex> lock(merging);
      for (std::size_t j = 0; j < used_; ++j) {
        low_[j] = std::min(low_[j], piece_low[j]);
        high[j] = std::max(high[j], piece_high[j]);
      }
    });
    // Square cells: one cell size in every dimension, the widest one's span over 2^bits,
    // so the tree's cells have the shape of the metric's balls.
    double widest = 0;
    for (std::size_t j = 0; j < used_; ++j) {
      widest = std::max(widest, high[j] - low_[j]);
    }
    const double cells_per_unit = widest > 0 && std::isfinite(widest) ? static_cast<double>(1U << bits_) / widest : 0.0;
    std::fill(cells_per_unit_.begin(), cells_per_unit_.end(), cells_per_unit);
  }

  // The rows [0, count) of `data` in Z-order: row numbers, equal codes in row order.
  // Computed over ATen's threads; the order does not depend on how many.
  Pages<std::uint32_t> order(const double* data, std::size_t count) const {
    const auto keyed = sorted(data, count);
    auto rows = allocate<std::uint32_t>(count);
    parallel_over(count, [&](std::size_t begin, std::size_t end) {
      for (std::size_t position = begin; position < end; ++position) {
        rows[position] = static_cast<std::uint32_t>(keyed[position]);
      }
    });
    return rows;
  }

  // The rows [0, count) of `data` as (code << 32) | row, ascending: by code, equal codes
  // in row order.
  Pages<std::uint64_t> sorted(const double* data, std::size_t count) const {
    auto keyed = allocate<std::uint64_t>(count);
    parallel_over(count, [&](std::size_t begin, std::size_t end) {
      for (std::size_t row = begin; row < end; ++row) {
        keyed[row] = (static_cast<std::uint64_t>(code(data + row * dimensions_)) << 32U) | row;
      }
    });
    sort_by_high_half(keyed, count);
    return keyed;
  }

  // How many low bits of a code are used: bits per dimension × dimensions coded.
  int code_bits() const { return static_cast<int>(bits_ * used_); }

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
  // Each pass splits the values into fixed chunks, one per thread: every chunk counts
  // its digits, then writes each value after those of lower digits and after those of
  // its own digit in earlier chunks. Stable, so the chunks decide only the work.
  static void sort_by_high_half(Pages<std::uint64_t>& values, std::size_t count) {
    constexpr unsigned kDigitBits = 11;
    constexpr std::size_t kBuckets = std::size_t{1} << kDigitBits;
    const auto chunks = std::clamp<std::size_t>(count >> 16U, 1, static_cast<std::size_t>(at::get_num_threads()));
    const std::size_t per_chunk = (count + chunks - 1) / chunks;
    auto scratch = allocate<std::uint64_t>(count);
    std::vector<std::size_t> next(chunks * kBuckets);  // chunk-major: [chunk][digit]
    const auto each_chunk = [&](const auto& work) {
      at::parallel_for(0, static_cast<std::int64_t>(chunks), 1, [&](std::int64_t first, std::int64_t last) {
        for (auto chunk = static_cast<std::size_t>(first); chunk < static_cast<std::size_t>(last); ++chunk) {
          work(chunk, chunk * per_chunk, std::min(count, (chunk + 1) * per_chunk));
        }
      });
    };
    for (unsigned shift = 32; shift < 64; shift += kDigitBits) {
      each_chunk([&](std::size_t chunk, std::size_t begin, std::size_t end) {
        std::size_t* counts = next.data() + chunk * kBuckets;
        std::fill_n(counts, kBuckets, 0);
        for (std::size_t i = begin; i < end; ++i) {
          ++counts[(values[i] >> shift) & (kBuckets - 1)];
        }
      });
      std::size_t total = 0;
      for (std::size_t digit = 0; digit < kBuckets; ++digit) {
        for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
          const std::size_t counted = next[chunk * kBuckets + digit];
          next[chunk * kBuckets + digit] = total;
          total += counted;
        }
      }
      each_chunk([&](std::size_t chunk, std::size_t begin, std::size_t end) {
        std::size_t* place = next.data() + chunk * kBuckets;
        for (std::size_t i = begin; i < end; ++i) {
          scratch[place[(values[i] >> shift) & (kBuckets - 1)]++] = values[i];
        }
      });
      std::swap(values, scratch);
    }
  }

  std::size_t dimensions_;
  std::size_t used_;  // Z-order over the first 16 dimensions at most
  std::size_t bits_;  // grid bits per dimension, at most 32 in all
  std::vector<double> low_;
  std::vector<double> cells_per_unit_;
};

// Leaves of up to this many samples: measured best for 10^6 cannon samples.
constexpr std::size_t kLeafSize = 16;

// A k-d tree read off the sorted Z-order codes: a node's samples are a run of the
// sorted samples whose codes agree in their leading bits, and it splits where the next
// bit changes (the midpoint of its grid cell, the dimensions in turn); a run of equal
// codes splits in halves. Building is the sort and one pass, not a median search per
// level. Every node keeps the tight bounding box of its samples, so how well the grid
// fits the data changes how much a query visits, never what it finds.
//
// The pruning is exact without any margin: a node's lower bound sums, in the order
// distance() does, terms each at most the one of any sample in its box (floating-point
// subtraction, squaring and addition are monotone), so it never exceeds a sample's
// computed distance. A node is skipped only when its bound is above the k-th distance
// so far, so a sample that ties the k-th (and may have the lower row) is always seen.
// Dimensions is the input width fixed at compile time, or -1 for any.
template <bool Manhattan, int Dimensions>
class KdTree final : public TreeSearch {
 public:
  explicit KdTree(const torch::Tensor& points)
      : dimensions_(static_cast<std::size_t>(points.size(1))),
        z_order_(points.data_ptr<double>(), static_cast<std::size_t>(points.size(0)), dimensions_),
        training_row_(allocate<std::uint32_t>(static_cast<std::size_t>(points.size(0)))),
        samples_(allocate<double>(static_cast<std::size_t>(points.size(0)) * dimensions_)) {
    const auto rows = static_cast<std::size_t>(points.size(0));
    const std::size_t d = width();
    const double* source = points.data_ptr<double>();
    const auto keyed = z_order_.sorted(source, rows);
    parallel_over(rows, [&](std::size_t begin, std::size_t end) {
      for (std::size_t position = begin; position < end; ++position) {
        training_row_[position] = static_cast<std::uint32_t>(keyed[position]);
        std::copy_n(source + std::size_t{training_row_[position]} * d, d, samples_.get() + position * d);
      }
    });
    nodes_.reserve(2 * (rows / (kLeafSize / 2) + 1) * stride());
    build(keyed.get(), 0, rows, z_order_.code_bits() - 1);
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
      std::vector<Pending> pending;
      std::vector<std::uint32_t> previous;  // where the last query's neighbours are in samples_
      for (std::int64_t position = begin; position < end; ++position) {
        const auto row = static_cast<std::int64_t>(rows[static_cast<std::size_t>(position)]);
        const double* query = query_data + row * q.size(1);
        // The last query (its neighbour in Z-order) found k samples; the farthest of them
        // from this query bounds this query's k-th distance from above.
        double limit = std::numeric_limits<double>::infinity();
        if (!previous.empty()) {
          limit = 0;
          for (const auto sample : previous) {
            limit = std::max(limit, distance<Manhattan>(query, samples_.get() + std::size_t{sample} * width(), width()));
          }
        }
        best.clear();
        nearest(query, limit, best, pending);
        best.write(distance_out + row * k, index_out + row * k, 32);
        previous.resize(static_cast<std::size_t>(k));
        for (std::size_t j = 0; j < previous.size(); ++j) {
          previous[j] = static_cast<std::uint32_t>(best.index(j) & 0xFFFFFFFFU);
        }
      }
    });
    return {indices, distances};
  }

 private:
  // A node still to visit, and the lower bound of its distance.
  struct Pending {
    double bound;
    std::size_t node;
  };

  std::size_t width() const { return Dimensions > 0 ? static_cast<std::size_t>(Dimensions) : dimensions_; }

  // Each node is `stride()` values of nodes_: its box (d lows, then d highs), then two
  // words: its samples, begin | end << 32 ([begin, end) of samples_), and its right
  // child, 0 (the root, nobody's child) for a leaf. Nodes are in depth-first order, so a
  // node's left child follows it, in the same cache lines.
  std::size_t stride() const { return 2 * width() + 2; }
  const double* box(std::size_t node) const { return nodes_.data() + node * stride(); }
  std::uint64_t word(std::size_t node, std::size_t which) const {
    std::uint64_t value = 0;
    std::memcpy(&value, nodes_.data() + node * stride() + 2 * width() + which, sizeof value);
    return value;
  }
  void set_word(std::size_t node, std::size_t which, std::uint64_t value) {
    std::memcpy(nodes_.data() + node * stride() + 2 * width() + which, &value, sizeof value);
  }

  // Adds the node over samples [begin, end), whose codes (the high halves of `keyed`)
  // agree above `bit`, and its subtree.
  void build(const std::uint64_t* keyed, std::size_t begin, std::size_t end, int bit) {
    const std::size_t d = width();
    const std::size_t node = nodes_.size() / stride();
    nodes_.resize(nodes_.size() + stride());
    set_word(node, 0, begin | (std::uint64_t{end} << 32U));
    set_word(node, 1, 0);
    if (end - begin <= kLeafSize) {
      double* low = nodes_.data() + node * stride();
      double* high = low + d;
      std::copy_n(samples_.get() + begin * d, d, low);
      std::copy_n(samples_.get() + begin * d, d, high);
      for (std::size_t p = begin + 1; p < end; ++p) {
        for (std::size_t j = 0; j < d; ++j) {
          low[j] = std::min(low[j], samples_[p * d + j]);
          high[j] = std::max(high[j], samples_[p * d + j]);
        }
      }
      return;
    }
    std::size_t split = begin + (end - begin) / 2;  // for a run of equal codes
    for (; bit >= 0; --bit) {
      const std::uint64_t mask = std::uint64_t{1} << (32U + static_cast<unsigned>(bit));
      const auto* first_set =
          std::partition_point(keyed + begin, keyed + end, [mask](std::uint64_t key) { return (key & mask) == 0; });
      const auto at = static_cast<std::size_t>(first_set - keyed);
      if (at != begin && at != end) {
        split = at;
        break;
      }
    }
    build(keyed, begin, split, bit - 1);
    const std::size_t right = nodes_.size() / stride();
    set_word(node, 1, right);
    build(keyed, split, end, bit - 1);
    double* low = nodes_.data() + node * stride();
    for (std::size_t j = 0; j < 2 * d; ++j) {
      low[j] = j < d ? std::min(box(node + 1)[j], box(right)[j]) : std::max(box(node + 1)[j], box(right)[j]);
    }
  }

  // A lower bound of the distance from `query` to every sample in `node`'s box, summed
  // as distance() sums (see the class comment).
  double lower_bound(const double* query, std::size_t node) const {
    const std::size_t d = width();
    const double* low = box(node);
    const double* high = low + d;
    double total = 0;
    for (std::size_t j = 0; j < d; ++j) {
      // The distance to the box along j, 0 inside it; low − q is −(q − low) exactly, so
      // its term is the one distance() would compute for a sample on that face.
      const double gap = std::max(std::max(low[j] - query[j], query[j] - high[j]), 0.0);
      total = j == 0 ? term<Manhattan>(gap) : total + term<Manhattan>(gap);
    }
    return total;
  }

  // The k nearest samples of `query` into `best`, each kept as (training row << 32) |
  // place in samples_, so ties go to the lower training row. Depth first, the nearer
  // child first; nothing farther than `limit` (at least the k-th distance) is looked at.
  // `pending` is scratch.
  void nearest(const double* query, double limit, BestK& best, std::vector<Pending>& pending) const {
    const std::size_t d = width();
    pending.clear();
    pending.push_back({lower_bound(query, 0), 0});
    while (!pending.empty()) {
      Pending next = pending.back();
      pending.pop_back();
      // Until k are kept worst() is +∞, and nothing, not even +∞, is above it.
      if (next.bound > std::min(limit, best.worst())) {
        continue;
      }
      // Down to a leaf, the nearer child first, the other one left for later if it may
      // still hold a neighbour.
      bool wanted = true;
      for (std::size_t right = word(next.node, 1); right != 0; right = word(next.node, 1)) {
        const Pending left_child{lower_bound(query, next.node + 1), next.node + 1};
        const Pending right_child{lower_bound(query, right), right};
        const bool left_first = left_child.bound <= right_child.bound;
        const Pending& later = left_first ? right_child : left_child;
        next = left_first ? left_child : right_child;
        if (next.bound > std::min(limit, best.worst())) {
          wanted = false;  // and the other one is farther still
          break;
        }
        if (later.bound <= std::min(limit, best.worst())) {
          pending.push_back(later);
        }
      }
      if (!wanted) {
        continue;
      }
      const std::uint64_t samples = word(next.node, 0);
      for (std::size_t p = samples & 0xFFFFFFFFU; p < (samples >> 32U); ++p) {
        const double found = distance<Manhattan>(query, samples_.get() + p * d, d);
        if (found <= std::min(limit, best.worst())) {
          best.offer(found, (std::uint64_t{training_row_[p]} << 32U) | p);
        }
      }
    }
  }

  std::size_t dimensions_;
  ZOrder z_order_;
  Pages<std::uint32_t> training_row_;                  // of each stored sample, in Z-order
  Pages<double> samples_;                              // [n, d], in Z-order
  std::vector<double, PageAllocator<double>> nodes_;  // stride() values per node, the root first
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
