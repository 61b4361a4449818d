// What a run's numbers depend on besides the pipeline: versions, threads, the BLAS the
// process actually loaded, the machine. Written to the run directory as
// environment.json so a run can be reproduced (or its differences explained) later.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace ballista::host {

// {"ballista", "sdk_abi", "libtorch", "threads", "interop_threads", "blas_threads",
//  "blas": [paths], "blas_core", "blas_config", "aten_cpu_capability", "variables", "cpu",
//  "cores", "hostname", "os"}. blas_core is OpenBLAS's kernel set ("Haswell",
// "SkylakeX", …; null under another BLAS), aten_cpu_capability LibTorch's ("AVX2",
// "AVX512"); variables holds the OPENBLAS_*, GOTO_*, OMP_*, GOMP_*, MKL_* and ATEN_*
// environment variables that are set (OPENBLAS_CORETYPE picks OpenBLAS's kernels). A
// distributed run's rank 0 adds "distributed": {"world_size", "backend", "launcher",
// "agent_store"}.
nlohmann::json run_environment();

// One entry of two environment.json objects that differs: `entry` is a key, or
// "variables.NAME"; `before` and `after` are JSON text or "unset"; `effect` says how the
// entry can change a result's bits, and is empty where it cannot (hostname, cores; and
// threads, which the bundled plugins and the host's metrics do not depend on).
struct EnvironmentChange {
  std::string entry, before, after, effect;
};

// The entries of `recorded` and `now` (environment.json objects) that differ, by name;
// a variable (entry "variables.NAME") set in only one of them is "unset" in the other.
std::vector<EnvironmentChange> environment_changes(const nlohmann::json& recorded, const nlohmann::json& now);

}  // namespace ballista::host
