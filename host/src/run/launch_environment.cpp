// Reading the launchers' environments (see launch_environment.hpp).
#include "launch_environment.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <limits>
#include <string_view>

namespace ballista::host {

namespace {

class Variables {
 public:
  explicit Variables(const EnvironmentLookup& lookup) : lookup_(lookup) {}

  std::optional<std::string> text(const char* name) const {
    const char* value = lookup_(name);
    if (value == nullptr || *value == '\0') {
      return std::nullopt;
    }
    return std::string(value);
  }
  bool has(const char* name) const { return text(name).has_value(); }

  // A whole number in [low, high]; `fallback` when unset, an error when it is required.
  long long number(const char* name, long long low, long long high, std::optional<long long> fallback,
                   std::string_view launcher) const {
    const auto value = text(name);
    if (!value) {
      if (fallback) {
        return *fallback;
      }
      throw LaunchError(std::string(launcher) + " environment: " + name + " is not set");
    }
    std::size_t used = 0;
    long long parsed = 0;
    try {
      parsed = std::stoll(*value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != value->size() || used == 0 || parsed < low || parsed > high) {
      throw LaunchError(std::string(launcher) + " environment: " + name + "=" + *value +
                        " is not a whole number from " + std::to_string(low) + " to " + std::to_string(high));
    }
    return parsed;
  }

 private:
  const EnvironmentLookup& lookup_;
};

constexpr long long kMaxRanks = 1 << 20;

int port_from_job(const Variables& variables, const char* job_variable, std::string_view launcher) {
  if (variables.has("MASTER_PORT")) {
    return static_cast<int>(variables.number("MASTER_PORT", 1, 65535, std::nullopt, launcher));
  }
  const auto job = variables.number(job_variable, 0, std::numeric_limits<long long>::max(), std::nullopt, launcher);
  return static_cast<int>(10000 + job % 20000);
}

void check_rank(const LaunchEnvironment& launch) {
  if (launch.rank >= launch.size) {
    throw LaunchError(launch.launcher + " environment: rank " + std::to_string(launch.rank) +
                      " is not below the world size " + std::to_string(launch.size));
  }
}

}  // namespace

std::string first_host(const std::string& host_list) {
  const auto comma = host_list.find(',');
  const auto bracket = host_list.find('[');
  if (bracket == std::string::npos || (comma != std::string::npos && comma < bracket)) {
    return host_list.substr(0, comma);
  }
  const auto end = host_list.find_first_of("-,]", bracket + 1);
  return host_list.substr(0, bracket) + host_list.substr(bracket + 1, end - bracket - 1);
}

std::optional<LaunchEnvironment> launch_environment(const EnvironmentLookup& lookup) {
  const Variables variables(lookup);
  LaunchEnvironment launch;
  if (variables.has("RANK") || variables.has("WORLD_SIZE")) {
    launch.launcher = variables.has("BALLISTA_NPROC") ? "ballista run --nproc" : "torchrun";
    const auto& name = launch.launcher;
    launch.size = static_cast<int>(variables.number("WORLD_SIZE", 1, kMaxRanks, std::nullopt, name));
    launch.rank = static_cast<int>(variables.number("RANK", 0, kMaxRanks, std::nullopt, name));
    launch.local_rank = static_cast<int>(variables.number("LOCAL_RANK", 0, kMaxRanks, launch.rank, name));
    launch.local_size = static_cast<int>(variables.number("LOCAL_WORLD_SIZE", 1, kMaxRanks, launch.size, name));
    const auto host = variables.text("MASTER_ADDR");
    if (!host && launch.size > 1) {
      throw LaunchError(name + " environment: MASTER_ADDR is not set (the host of the c10d store)");
    }
    launch.store_host = host.value_or("127.0.0.1");
    launch.store_port = static_cast<int>(
        variables.number("MASTER_PORT", 1, 65535, launch.size > 1 ? std::nullopt : std::optional(29500LL), name));
    const auto agent = variables.text("TORCHELASTIC_USE_AGENT_STORE");
    launch.agent_store = agent && (*agent == "True" || *agent == "true" || *agent == "1");
    if (launch.agent_store) {
      launch.store_prefix = "/worker/attempt_" + std::to_string(variables.number(
                                                      "TORCHELASTIC_RESTART_COUNT", 0, kMaxRanks, 0LL, name));
    }
  } else if (variables.has("OMPI_COMM_WORLD_RANK") || variables.has("OMPI_COMM_WORLD_SIZE")) {
    launch.launcher = "mpirun";
    const auto& name = launch.launcher;
    launch.size = static_cast<int>(variables.number("OMPI_COMM_WORLD_SIZE", 1, kMaxRanks, std::nullopt, name));
    launch.rank = static_cast<int>(variables.number("OMPI_COMM_WORLD_RANK", 0, kMaxRanks, std::nullopt, name));
    launch.local_rank =
        static_cast<int>(variables.number("OMPI_COMM_WORLD_LOCAL_RANK", 0, kMaxRanks, launch.rank, name));
    launch.local_size =
        static_cast<int>(variables.number("OMPI_COMM_WORLD_LOCAL_SIZE", 1, kMaxRanks, launch.size, name));
    if (const auto host = variables.text("MASTER_ADDR")) {
      launch.store_host = *host;
    } else if (launch.local_size == launch.size) {
      launch.store_host = "127.0.0.1";
    } else {
      throw LaunchError("mpirun environment: the ranks span several machines: set MASTER_ADDR to rank 0's host "
                        "(mpirun -x MASTER_ADDR=HOST)");
    }
    launch.store_port = port_from_job(variables, "OMPI_MCA_ess_base_jobid", name);
  } else if (variables.has("SLURM_PROCID") && variables.has("SLURM_STEP_NUM_TASKS")) {
    // SLURM_STEP_NUM_TASKS is set by srun only: a batch script itself (SLURM_NTASKS
    // set, one process) stays a single process.
    launch.launcher = "srun";
    const auto& name = launch.launcher;
    launch.size = static_cast<int>(variables.number("SLURM_STEP_NUM_TASKS", 1, kMaxRanks, std::nullopt, name));
    launch.rank = static_cast<int>(variables.number("SLURM_PROCID", 0, kMaxRanks, std::nullopt, name));
    launch.local_rank = static_cast<int>(variables.number("SLURM_LOCALID", 0, kMaxRanks, launch.rank, name));
    launch.local_size = launch.size;
    if (const auto host = variables.text("MASTER_ADDR")) {
      launch.store_host = *host;
    } else if (const auto nodes = variables.text("SLURM_STEP_NODELIST")) {
      launch.store_host = first_host(*nodes);
    } else if (const auto job_nodes = variables.text("SLURM_JOB_NODELIST")) {
      launch.store_host = first_host(*job_nodes);
    } else {
      throw LaunchError("srun environment: neither MASTER_ADDR nor SLURM_STEP_NODELIST nor SLURM_JOB_NODELIST is set");
    }
    launch.store_port = port_from_job(variables, "SLURM_JOB_ID", name);
  } else {
    return std::nullopt;
  }
  check_rank(launch);
  if (const auto file = variables.text("TORCHELASTIC_ERROR_FILE")) {
    launch.error_file = *file;
  }
  return launch;
}

std::optional<LaunchEnvironment> launch_environment() {
  return launch_environment([](const char* name) { return std::getenv(name); });  // NOLINT(concurrency-mt-unsafe)
}

void write_error_file(const LaunchEnvironment& launch, const std::string& message) {
  if (launch.error_file.empty()) {
    return;
  }
  const nlohmann::json error{{"message", message}, {"timestamp", static_cast<long long>(std::time(nullptr))}};
  std::ofstream(launch.error_file, std::ios::trunc) << error.dump() << '\n';
}

}  // namespace ballista::host
