// `ballista run --nproc N`: the N ranks of one distributed run on this machine, started
// with torchrun's environment (what `torchrun --standalone --nproc_per_node N` does,
// without Python: Debian 12's own torchrun fails on every launch), and supervised: a
// rank that fails gives the others --timeout to stop on their own, then they are
// killed, so the job never hangs. No LibTorch here (the launcher runs it).
#pragma once

#include "command_line.hpp"

#include <optional>
#include <string>
#include <vector>

namespace ballista::host {

// When `line` asks for `run --nproc N` with N > 1: runs `engine` as N ranks with
// `arguments` (argv without argv[0]) minus --nproc, each with the thread count divided
// by N, and returns the job's exit status: rank 0's, or 1 if only another rank failed
// (named on stderr). nullopt when there is nothing to start. A usage error (--nproc
// inside a launcher's job) returns 2 after saying so.
std::optional<int> run_local_ranks(const CommandLine& line, const std::string& engine,
                                   const std::vector<std::string>& arguments);

}  // namespace ballista::host
