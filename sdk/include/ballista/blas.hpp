// The BLAS this process multiplies matrices with (OpenBLAS on Debian, found at run
// time): its thread count, and which of its kernels run. Products round differently on
// different kernels, so a result's last bits depend on these. Safe to call from any
// thread; set_blas_threads changes a process-wide setting.
#pragma once

#include <ballista/version.hpp>

#include <string>

BALLISTA_NAMESPACE_BEGIN

// OpenBLAS's thread count in this process, or 0 when the BLAS is not OpenBLAS (looked
// up at run time: OpenBLAS is LibTorch's BLAS on Debian, another BLAS lacks the symbol).
BALLISTA_API int blas_threads();
// Sets OpenBLAS's thread count (process-wide); does nothing under another BLAS.
BALLISTA_API void set_blas_threads(int threads);

// The kernels OpenBLAS picked for this CPU, by its own name ("Haswell", "Zen",
// "SkylakeX", "Cooperlake", …; OPENBLAS_CORETYPE overrides the pick), or "" under
// another BLAS. Matrix products on another core type may differ in the last bits.
BALLISTA_API std::string blas_core();
// OpenBLAS's build line ("OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64"),
// or "" under another BLAS.
BALLISTA_API std::string blas_config();

BALLISTA_NAMESPACE_END
