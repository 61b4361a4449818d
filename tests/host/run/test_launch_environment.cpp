// Reading the launchers' environments: torchrun's contract (agent store included),
// Open MPI's mpirun and Slurm's srun, their precedence, and the errors for unusable values.
#include "launch_environment.hpp"

#include <boost/test/unit_test.hpp>

#include <map>
#include <string>

namespace host = ballista::host;

namespace {

using Variables = std::map<std::string, std::string>;

std::optional<host::LaunchEnvironment> launch(const Variables& variables) {
  return host::launch_environment([&](const char* name) -> const char* {
    const auto found = variables.find(name);
    return found == variables.end() ? nullptr : found->second.c_str();
  });
}

// The error `variables` give, or "" if none.
std::string launch_error(const Variables& variables) {
  try {
    (void)launch(variables);
  } catch (const host::LaunchError& error) {
    return error.what();
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(launch_environment)

BOOST_AUTO_TEST_CASE(no_launcher_variables_mean_one_process) {
  BOOST_TEST(!launch({}).has_value());
  BOOST_TEST(!launch({{"PATH", "/bin"}, {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}}).has_value(),
             "a Slurm batch script (no srun step) is one process");
}

BOOST_AUTO_TEST_CASE(torchrun_contract_with_rank_zero_serving_the_store) {
  const auto found = launch({{"RANK", "3"},
                             {"WORLD_SIZE", "4"},
                             {"LOCAL_RANK", "1"},
                             {"LOCAL_WORLD_SIZE", "2"},
                             {"MASTER_ADDR", "node07"},
                             {"MASTER_PORT", "29500"},
                             {"TORCHELASTIC_ERROR_FILE", "/tmp/error.json"}});
  BOOST_REQUIRE(found.has_value());
  BOOST_TEST(found->launcher == "torchrun");
  BOOST_TEST(found->rank == 3);
  BOOST_TEST(found->size == 4);
  BOOST_TEST(found->local_rank == 1);
  BOOST_TEST(found->local_size == 2);
  BOOST_TEST(found->store_host == "node07");
  BOOST_TEST(found->store_port == 29500);
  BOOST_TEST(!found->agent_store);
  BOOST_TEST(found->error_file == "/tmp/error.json");
}

BOOST_AUTO_TEST_CASE(torchrun_agent_store_gives_every_rank_the_attempt_prefix) {
  const auto found = launch({{"RANK", "0"},
                             {"WORLD_SIZE", "2"},
                             {"MASTER_ADDR", "127.0.0.1"},
                             {"MASTER_PORT", "1234"},
                             {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                             {"TORCHELASTIC_RESTART_COUNT", "2"}});
  BOOST_REQUIRE(found.has_value());
  BOOST_TEST(found->agent_store);
  BOOST_TEST(found->store_prefix == "/worker/attempt_2");
}

BOOST_AUTO_TEST_CASE(ballista_nproc_is_named_as_the_launcher) {
  const auto found = launch({{"RANK", "1"},
                             {"WORLD_SIZE", "2"},
                             {"MASTER_ADDR", "127.0.0.1"},
                             {"MASTER_PORT", "1234"},
                             {"BALLISTA_NPROC", "2"}});
  BOOST_REQUIRE(found.has_value());
  BOOST_TEST(found->launcher == "ballista run --nproc");
}

BOOST_AUTO_TEST_CASE(mpirun_on_one_machine_derives_the_store_from_the_job) {
  const auto found = launch({{"OMPI_COMM_WORLD_RANK", "1"},
                             {"OMPI_COMM_WORLD_SIZE", "2"},
                             {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                             {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                             {"OMPI_MCA_ess_base_jobid", "1060569089"}});
  BOOST_REQUIRE(found.has_value());
  BOOST_TEST(found->launcher == "mpirun");
  BOOST_TEST(found->rank == 1);
  BOOST_TEST(found->size == 2);
  BOOST_TEST(found->store_host == "127.0.0.1");
  BOOST_TEST(found->store_port == 10000 + 1060569089 % 20000);
  const auto across = launch_error({{"OMPI_COMM_WORLD_RANK", "0"},
                                    {"OMPI_COMM_WORLD_SIZE", "4"},
                                    {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                                    {"OMPI_MCA_ess_base_jobid", "7"}});
  BOOST_TEST(across.find("MASTER_ADDR") != std::string::npos, across);
}

BOOST_AUTO_TEST_CASE(srun_uses_the_first_node_of_the_step) {
  const auto found = launch({{"SLURM_PROCID", "5"},
                             {"SLURM_STEP_NUM_TASKS", "8"},
                             {"SLURM_NTASKS", "8"},
                             {"SLURM_LOCALID", "1"},
                             {"SLURM_STEP_NODELIST", "gpu[007-010,012],cpu1"},
                             {"SLURM_JOB_ID", "123456"}});
  BOOST_REQUIRE(found.has_value());
  BOOST_TEST(found->launcher == "srun");
  BOOST_TEST(found->rank == 5);
  BOOST_TEST(found->size == 8);
  BOOST_TEST(found->local_rank == 1);
  BOOST_TEST(found->store_host == "gpu007");
  BOOST_TEST(found->store_port == 10000 + 123456 % 20000);
  BOOST_TEST(host::first_host("node1,node2") == "node1");
  BOOST_TEST(host::first_host("a[3]") == "a3");
  BOOST_TEST(host::first_host("solo") == "solo");
}

BOOST_AUTO_TEST_CASE(torchrun_inside_srun_wins) {
  const auto found = launch({{"RANK", "0"},
                             {"WORLD_SIZE", "2"},
                             {"MASTER_ADDR", "h"},
                             {"MASTER_PORT", "9"},
                             {"SLURM_PROCID", "0"},
                             {"SLURM_STEP_NUM_TASKS", "1"},
                             {"OMPI_COMM_WORLD_RANK", "0"},
                             {"OMPI_COMM_WORLD_SIZE", "1"}});
  BOOST_REQUIRE(found.has_value());
  BOOST_TEST(found->launcher == "torchrun");
}

BOOST_AUTO_TEST_CASE(unusable_values_are_named) {
  auto error = launch_error({{"RANK", "one"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "9"}});
  BOOST_TEST(error.find("RANK=one") != std::string::npos, error);
  error = launch_error({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "9"}});
  BOOST_TEST(error.find("not below the world size 2") != std::string::npos, error);
  error = launch_error({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "9"}});
  BOOST_TEST(error.find("MASTER_ADDR is not set") != std::string::npos, error);
  error = launch_error({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}});
  BOOST_TEST(error.find("MASTER_PORT=70000") != std::string::npos, error);
  error = launch_error({{"RANK", "0"}});
  BOOST_TEST(error.find("WORLD_SIZE is not set") != std::string::npos, error);
}

BOOST_AUTO_TEST_SUITE_END()
