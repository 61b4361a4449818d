// What a run's numbers depend on besides the pipeline: versions, threads, the BLAS the
// process actually loaded, the machine. Written to the run directory as
// environment.json so a run can be reproduced (or its differences explained) later.
#pragma once

#include <nlohmann/json.hpp>

namespace ballista::host {

// {"ballista", "sdk_abi", "libtorch", "threads", "interop_threads", "blas": [paths],
//  "cpu", "cores", "hostname", "os"}
nlohmann::json run_environment();

}  // namespace ballista::host
