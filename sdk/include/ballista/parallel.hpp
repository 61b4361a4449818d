// Running independent pieces of one computation on LibTorch's intra-op threads.
#pragma once

#include <ballista/blas.hpp>  // blas_threads, set_blas_threads
#include <ballista/version.hpp>

#include <cstdint>
#include <functional>

BALLISTA_NAMESPACE_BEGIN

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
// Inside a task, LibTorch's own operations run on that one thread (with more than one
// thread the tasks run in ATen's parallel region, which ATen does not nest, even when
// there is a single task). So a task's results depend on what it computes, not on the
// thread count: a split of the work that does not depend on the thread count gives the
// same bits at every thread count, whatever BLAS kernel the machine runs. A split into
// "one piece per thread" does not: OpenBLAS's kernels may sum a product's rows in
// another order when the rows come in blocks of another height (its AVX2 kernels do).
// parallel_tasks(1, task) runs `task` on one core with the bits of one thread.
//
// The BLAS thread count is process-wide. Calls from several threads at once (a plugin's
// concurrent predict() calls) are safe: the BLAS stays at one thread until the last of
// them returns. (Each plugin library holds its own count, and the host runs one model at
// a time.) A BLAS other than OpenBLAS is left as it is.
BALLISTA_API void parallel_tasks(std::int64_t count, const std::function<void(std::int64_t)>& task);

BALLISTA_NAMESPACE_END
