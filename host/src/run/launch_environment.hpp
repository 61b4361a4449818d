// Which launcher started this process as one rank of many, read from the environment
// the launchers set: torchrun's (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, …, also
// what `ballista run --nproc` gives its ranks), Open MPI's mpirun (OMPI_COMM_WORLD_*)
// and Slurm's srun (SLURM_PROCID, SLURM_STEP_NUM_TASKS, …). No LibTorch here.
#pragma once

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

namespace ballista::host {

struct LaunchEnvironment {
  std::string launcher;  // "torchrun", "ballista run --nproc", "mpirun" or "srun"
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  int local_size = 1;
  // Where the c10d TCPStore is: rank 0 serves it, unless agent_store (torchrun's agent
  // serves it and every rank is a client under store_prefix).
  std::string store_host;
  int store_port = 0;
  bool agent_store = false;
  std::string store_prefix;  // "/worker/attempt_<restart count>" with agent_store
  // TORCHELASTIC_ERROR_FILE: where a failing rank writes its error for torchrun.
  std::string error_file;
};

// A launcher's variables that are present but unusable (RANK=abc, a missing
// MASTER_ADDR): the message names the variable, its value and what is allowed.
class LaunchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using EnvironmentLookup = std::function<const char*(const char* name)>;

// The launch this process is part of, or nullopt when no launcher's variables are set
// (then nothing changes: one process). torchrun's variables win over mpirun's and
// srun's (torchrun started by srun), mpirun's over srun's. With mpirun or srun the
// store's host is MASTER_ADDR, else 127.0.0.1 (mpirun with every rank on this
// machine) or the first node of SLURM_STEP_NODELIST / SLURM_JOB_NODELIST; its port is
// MASTER_PORT, else 10000 + the job's id modulo 20000, the same on every rank.
// Throws LaunchError.
std::optional<LaunchEnvironment> launch_environment(const EnvironmentLookup& lookup);
// The same from this process's environment (getenv).
std::optional<LaunchEnvironment> launch_environment();

// The first host of a Slurm host list: "node[07-09,12],gpu1" → "node07".
std::string first_host(const std::string& host_list);

// Writes `message` where torchrun looks for a failed rank's root cause
// (TORCHELASTIC_ERROR_FILE, {"message": …, "timestamp": …}); nothing if unset.
void write_error_file(const LaunchEnvironment& launch, const std::string& message);

}  // namespace ballista::host
