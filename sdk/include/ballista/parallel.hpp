// Running independent pieces of one computation on LibTorch's intra-op threads.
#pragma once

#include <ballista/version.hpp>

#include <cstdint>
#include <functional>

BALLISTA_NAMESPACE_BEGIN

// OpenBLAS's thread count in this process, or 0 when the BLAS is not OpenBLAS (looked
// up at run time: OpenBLAS is LibTorch's BLAS on Debian, another BLAS lacks the symbol).
BALLISTA_API int blas_threads();
// Sets OpenBLAS's thread count (process-wide); does nothing under another BLAS.
BALLISTA_API void set_blas_threads(int threads);

// Runs task(i) for every i in [0, count), each on one of LibTorch's intra-op threads
// (at::parallel_for: at most at::get_num_threads() at once, the calling thread among
// them, consecutive indices on the same thread; with one task or one thread, or when
// called from inside such a region, all in order on the calling thread). Meanwhile the
// BLAS runs each call on the thread that makes it: tasks that multiply matrices take one
// core each, instead of each asking OpenBLAS for all of them (which oversubscribes the
// cores and makes the callers queue for OpenBLAS's pool), and a product's bits never
// depend on how many threads OpenBLAS was given. The BLAS thread count is restored
// afterwards, also when a task throws; the first exception propagates.
//
// Inside a task running beside others, LibTorch's own operations run on that one
// thread: ATen does not nest parallel regions. So a task's results depend on what it
// computes, not on the thread count, and the same split of the work gives the same bits
// at every thread count. (With a single task and several threads, ATen still splits the
// task's large elementwise operations and reductions itself.)
//
// The BLAS thread count is process-wide: call this only from the thread that runs
// fit() or predict() (the host runs one at a time). A BLAS other than OpenBLAS is left
// as it is.
BALLISTA_API void parallel_tasks(std::int64_t count, const std::function<void(std::int64_t)>& task);

BALLISTA_NAMESPACE_END
