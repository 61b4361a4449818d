// Distributed runs (issue 19): the cannon pipeline as 2 and 4 ranks on 127.0.0.1, launched
// with torchrun's environment set here, with Open MPI's mpirun and with `ballista run
// --nproc`, must give the one-process figures: least squares (the QR factors combined)
// to 1e-12 relative, gradient fits (gradients summed each step) to 1e-6, kNN (each rank
// keeps its share of the samples, the queries' neighbours merged) bit for bit, its saved
// model byte for byte. A rank killed or stopped mid-fit ends the job with an error
// in bounded time, and rank 0 keeps what it had finished.
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <nlohmann/json.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

namespace test = ballista::test;
using Clock = std::chrono::steady_clock;

namespace {

std::string quoted(const std::filesystem::path& path) { return test::shell_quote(path.string()); }

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int free_port() {
  const int socket_fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  auto* generic = reinterpret_cast<sockaddr*>(&address);  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
  BOOST_REQUIRE(::bind(socket_fd, generic, sizeof(address)) == 0);
  BOOST_REQUIRE(::getsockname(socket_fd, generic, &length) == 0);
  ::close(socket_fd);
  return ntohs(address.sin_port);
}

// The cannon pipeline with its sets as the article draws them. The MLP and basis_adam
// are shortened to where their float32 trajectories are stable: later, the cannon's MLP
// descends steeply and basis_adam (Adam at lr 0.1) spikes at its noise floor, and
// either amplifies a last-bit difference (another summation order of the same
// gradient, as another BLAS kernel gives) into a visibly different fit.
std::string cannon(const std::string& extra = "") {
  return quoted(test::source_dir() / "configs/cannon.yaml") +
         " --set models.mlp.epochs=100 --set models.basis_adam.epochs=500 --quiet --threads 1" + extra;
}

// `ranks` processes of `ballista ARGUMENTS`, each given torchrun's environment (what a
// working torchrun sets), their output in DIR/rank-R.txt.
struct Ranks {
  std::vector<pid_t> pids;
  std::filesystem::path directory;

  Ranks(std::vector<pid_t> started, std::filesystem::path output) : pids(std::move(started)), directory(std::move(output)) {}
  Ranks(const Ranks&) = delete;
  Ranks& operator=(const Ranks&) = delete;
  Ranks(Ranks&&) = default;
  // A case that fails halfway leaves no rank behind: each rank is its own process group
  // (with whatever it started), killed whole.
  ~Ranks() {
    for (const auto pid : pids) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, WNOHANG);
    }
  }

  // Waits for rank `rank`; its exit status, or -signal.
  int wait(std::size_t rank) const {
    int status = 0;
    ::waitpid(pids.at(rank), &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  std::string output(std::size_t rank) const { return read_text(directory / ("rank-" + std::to_string(rank) + ".txt")); }
};

Ranks start_ranks(int ranks, const std::string& arguments, const std::filesystem::path& directory,
                  const std::map<std::string, std::string>& more = {}, int store_port = 0) {
  const auto port = std::to_string(store_port != 0 ? store_port : free_port());
  Ranks started({}, directory);
  for (int rank = 0; rank < ranks; ++rank) {
    const auto command = test::ballista_command(arguments) + " > " +
                         quoted(directory / ("rank-" + std::to_string(rank) + ".txt")) + " 2>&1";
    const pid_t child = ::fork();
    BOOST_REQUIRE(child >= 0);
    if (child == 0) {
      ::setpgid(0, 0);
      // NOLINTBEGIN(concurrency-mt-unsafe): the forked child, one thread, before exec
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(ranks).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(ranks).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", port.c_str(), 1);
      ::setenv("TORCHELASTIC_ERROR_FILE", (directory / ("error-" + std::to_string(rank) + ".json")).c_str(), 1);
      for (const auto& [name, value] : more) {
        ::setenv(name.c_str(), value.c_str(), 1);
      }
      // NOLINTEND(concurrency-mt-unsafe)
      // exec: the pid is the shell's, and then ballista's (sh execs the last command).
      ::execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    started.pids.push_back(child);
  }
  return started;
}

// The one-process run's directory, made once for every case.
const std::filesystem::path& one_process_run() {
  static const test::TemporaryDirectory directory;
  static const std::filesystem::path run = [] {
    auto path = directory.path() / "run";
    const auto result = test::run_command(test::ballista_command("run " + cannon(" --out " + quoted(path))));
    BOOST_REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    return path;
  }();
  return run;
}

// Every probe prediction and metric of every model of `metrics` against the one-process
// run. The fit itself (its predictions): shared least squares to 1e-12 relative, shared
// gradient fits to 1e-6, knn's merged neighbours to the bit. A metric near the noise
// floor amplifies a prediction's difference by prediction / residual (about 10³ here):
// the metrics get 1e-11 and 1e-4.
void check_against_one_process(const std::filesystem::path& run, const std::string& how) {
  const auto metrics = test::read_json(run / "metrics.json");
  struct Tolerance {
    double prediction, metric;
  };
  const Tolerance least_squares{1e-12, 1e-11};
  const Tolerance gradient{1e-6, 1e-4};
  const std::map<std::string, Tolerance> tolerance{{"linear", gradient},         {"basis", least_squares},
                                                   {"basis_sparse", least_squares}, {"basis_adam", gradient},
                                                   {"mlp", gradient},            {"knn", {0.0, 0.0}}};
  const auto reference = test::read_json(one_process_run() / "metrics.json");
  BOOST_REQUIRE_EQUAL(metrics["models"].size(), reference["models"].size());
  for (const auto& expected : reference["models"]) {
    const std::string name = expected["name"];
    const auto& got = test::model_entry(metrics, name);
    BOOST_TEST(got["status"] == "ok", how << ": " << name << ": " << got.dump());
    const auto allowed = tolerance.at(name);
    for (const auto& [set, values] : expected["metrics"].items()) {
      for (const auto& [metric, value] : values.items()) {
        const double want = value.get<double>();
        const double have = got["metrics"][set][metric].get<double>();
        BOOST_TEST(std::abs(have - want) <= allowed.metric * std::abs(want),
                   how << ": " << name << " " << set << " " << metric << ": " << have << " against one process's "
                       << want << " (relative " << std::abs(have - want) / std::abs(want) << ", allowed "
                       << allowed.metric << ")");
      }
    }
    BOOST_REQUIRE_EQUAL(got["probes"].size(), expected["probes"].size());
    for (std::size_t p = 0; p < expected["probes"].size(); ++p) {
      const double want = expected["probes"][p]["prediction"]["s"];
      const double have = got["probes"][p]["prediction"]["s"];
      BOOST_TEST(std::abs(have - want) <= allowed.prediction * std::abs(want),
                 how << ": " << name << " probe " << p << ": " << have << " against " << want << " (allowed "
                     << allowed.prediction << ")");
    }
    BOOST_TEST(got["fit_values"]["collective_calls"].get<double>() >= 1.0, how << ": " << name << " was not shared");
  }
  // knn's file holds every rank's samples, gathered in row order: one process's file.
  const auto knn_file = read_text(run / "models/knn.pt");
  BOOST_TEST((!knn_file.empty() && knn_file == read_text(one_process_run() / "models/knn.pt")),
             how << ": knn.pt differs from one process's");
}

std::string mpirun() {
  for (const char* candidate : {"/usr/bin/mpirun", "/usr/local/bin/mpirun"}) {
    if (std::filesystem::exists(candidate)) {
      return candidate;
    }
  }
  return "";
}

// Polls until `file` contains `text` or `seconds` pass.
bool wait_for_text(const std::filesystem::path& file, const std::string& text, double seconds) {
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (read_text(file).find(text) != std::string::npos) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// A pipeline whose shared fits are a quick linear one, then a long MLP.
const char* const kLongFit = R"yaml(data:
  inputs: {v: "uniform(0, 10)", theta: "uniform(0, 1.5)"}
  targets: {s: v^2*sin(2*theta)/9.81}
  sets: {train: {rows: 2000}}
models:
  line: {plugin: linear}
  net: {plugin: mlp, hidden: [64, 64], epochs: 1000000}
)yaml";

// Two ranks running kLongFit into DIR/run with --timeout TIMEOUT, returned once the
// linear fit is done and the MLP's shared steps have begun.
Ranks start_long_fit(const std::filesystem::path& directory, const std::string& timeout) {
  std::ofstream(directory / "long.yaml") << kLongFit;
  const auto run = directory / "run";
  auto started = start_ranks(
      2, "run " + quoted(directory / "long.yaml") + " --threads 1 --timeout " + timeout + " --out " + quoted(run),
      directory);
  BOOST_REQUIRE_MESSAGE(wait_for_text(run / "log.txt", "line: ok", 60), read_text(run / "log.txt"));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // into the MLP's steps
  return started;
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

}  // namespace

BOOST_AUTO_TEST_SUITE(distributed_runs)

BOOST_AUTO_TEST_CASE(torchrun_environment_two_and_four_ranks_match_one_process) {
  for (const int ranks : {2, 4}) {
    const test::TemporaryDirectory directory;
    const auto run = directory.path() / "run";
    const auto started = start_ranks(ranks, "run " + cannon(" --out " + quoted(run)), directory.path());
    for (int rank = 0; rank < ranks; ++rank) {
      BOOST_TEST(started.wait(static_cast<std::size_t>(rank)) == 0, "rank " << rank << ": " << started.output(rank));
    }
    check_against_one_process(run, std::to_string(ranks) + " ranks (torchrun)");
    const auto environment = test::read_json(run / "environment.json");
    BOOST_TEST(environment["distributed"]["world_size"] == ranks);
    BOOST_TEST(environment["distributed"]["backend"] == "gloo");
    BOOST_TEST(environment["distributed"]["launcher"] == "torchrun");
    BOOST_TEST(started.output(1).empty(), "a rank other than 0 prints nothing: " << started.output(1));
  }
}

// torchrun's own store (TORCHELASTIC_USE_AGENT_STORE): the agent serves it and every
// rank, rank 0 included, is a client under /worker/attempt_<restart count>. Here the
// test is the agent; a rank 0 that served a store itself could not bind the port.
BOOST_AUTO_TEST_CASE(torchrun_agent_store_every_rank_a_client) {
  const test::TemporaryDirectory directory;
  c10d::TCPStoreOptions options;
  options.port = 0;
  options.isServer = true;
  options.waitWorkers = false;
  c10d::TCPStore agent("127.0.0.1", options);
  const auto run = directory.path() / "run";
  const auto started = start_ranks(2, "run " + cannon(" --set models.basis_adam=null --out " + quoted(run)),
                                   directory.path(),
                                   {{"TORCHELASTIC_USE_AGENT_STORE", "True"}, {"TORCHELASTIC_RESTART_COUNT", "3"}},
                                   agent.getPort());
  for (std::size_t rank = 0; rank < 2; ++rank) {
    BOOST_TEST(started.wait(rank) == 0, "rank " << rank << ": " << started.output(rank));
  }
  BOOST_TEST(agent.getNumKeys() >= 2, "the ranks met through the agent's store");
  BOOST_TEST(test::read_json(run / "environment.json")["distributed"]["agent_store"] == true);
  BOOST_TEST(test::model_entry(test::read_json(run / "metrics.json"), "basis")["status"] == "ok");
}

BOOST_AUTO_TEST_CASE(mpirun_two_and_four_ranks_match_one_process) {
  const auto program = mpirun();
  if (program.empty()) {
    BOOST_FAIL("mpirun is missing: scripts/setup --tests installs openmpi-bin");
  }
  for (const int ranks : {2, 4}) {
    const test::TemporaryDirectory directory;
    const auto run = directory.path() / "run";
    const auto root = ::geteuid() == 0 ? " --allow-run-as-root" : "";
    const auto result = test::run_command(program + root + " --oversubscribe -np " + std::to_string(ranks) + " " +
                                          test::ballista_command("run " + cannon(" --out " + quoted(run))));
    BOOST_REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    check_against_one_process(run, std::to_string(ranks) + " ranks (mpirun)");
    BOOST_TEST(test::read_json(run / "environment.json")["distributed"]["launcher"] == "mpirun");
  }
}

BOOST_AUTO_TEST_CASE(nproc_two_and_four_ranks_match_one_process) {
  for (const int ranks : {2, 4}) {
    const test::TemporaryDirectory directory;
    const auto run = directory.path() / "run";
    const auto result = test::run_command(
        test::ballista_command("run " + cannon(" --nproc " + std::to_string(ranks) + " --out " + quoted(run))));
    BOOST_REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    check_against_one_process(run, std::to_string(ranks) + " ranks (--nproc)");
    BOOST_TEST(test::read_json(run / "environment.json")["distributed"]["launcher"] == "ballista run --nproc");
  }
}

BOOST_AUTO_TEST_CASE(a_killed_rank_ends_the_job_with_an_error_and_keeps_what_finished) {
  const test::TemporaryDirectory directory;
  const auto run = directory.path() / "run";
  const auto started = start_long_fit(directory.path(), "600");
  const auto killed = Clock::now();
  ::kill(started.pids[1], SIGKILL);
  const int status = started.wait(0);
  const double took = seconds_since(killed);
  started.wait(1);
  BOOST_TEST(status == 1, started.output(0));
  BOOST_TEST(took < 30.0, "rank 0 took " << took << " s to stop after rank 1 died (the timeout is 600 s)");
  const auto metrics = test::read_json(run / "metrics.json");
  BOOST_TEST(test::model_entry(metrics, "line")["status"] == "ok");
  const auto& net = test::model_entry(metrics, "net");
  BOOST_TEST(net["status"] == "failed");
  const std::string error = net["error"];
  BOOST_TEST(error.find("rank 0 of 2") != std::string::npos, error);
  BOOST_TEST(std::filesystem::exists(run / "report.md"));
  const auto error_file = test::read_json(directory.path() / "error-0.json");
  BOOST_TEST(error_file["message"].get<std::string>().find("net") != std::string::npos, error_file.dump());
}

BOOST_AUTO_TEST_CASE(a_stopped_rank_ends_the_job_after_the_timeout) {
  const test::TemporaryDirectory directory;
  const auto run = directory.path() / "run";
  const auto started = start_long_fit(directory.path(), "5");
  const auto stopped = Clock::now();
  ::kill(started.pids[1], SIGSTOP);
  const int status = started.wait(0);
  const double took = seconds_since(stopped);
  ::kill(started.pids[1], SIGKILL);
  started.wait(1);
  BOOST_TEST(status == 1, started.output(0));
  BOOST_TEST(took >= 4.0);
  BOOST_TEST(took < 40.0, "rank 0 took " << took << " s with --timeout 5");
  const std::string error = test::model_entry(test::read_json(run / "metrics.json"), "net")["error"];
  BOOST_TEST(error.find("--timeout 5 s") != std::string::npos, error);
}

BOOST_AUTO_TEST_CASE(nproc_names_a_rank_that_was_killed) {
  const test::TemporaryDirectory directory;
  std::ofstream(directory.path() / "long.yaml") << kLongFit;
  const auto run = directory.path() / "run";
  const auto output = directory.path() / "out.txt";
  const pid_t launcher = ::fork();
  BOOST_REQUIRE(launcher >= 0);
  const Ranks cleanup({launcher}, directory.path());  // the launcher and its ranks
  if (launcher == 0) {
    ::setpgid(0, 0);
    const auto command = test::ballista_command("run " + quoted(directory.path() / "long.yaml") +
                                                " --nproc 2 --timeout 600 --out " + quoted(run)) +
                         " > " + quoted(output) + " 2>&1";
    ::execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  BOOST_REQUIRE_MESSAGE(wait_for_text(run / "log.txt", "line: ok", 60), read_text(run / "log.txt"));
  // Rank 1: the child of the launcher whose environment says RANK=1.
  pid_t rank_one = -1;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      continue;  // not a process
    }
    const auto stat = read_text(entry.path() / "stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) {
      continue;
    }
    std::istringstream fields(stat.substr(close + 2));
    std::string state;
    pid_t parent = 0;
    fields >> state >> parent;
    if (parent == launcher && ('\0' + read_text(entry.path() / "environ")).find(std::string("\0RANK=1\0", 8)) != std::string::npos) {
      rank_one = static_cast<pid_t>(std::stol(entry.path().filename().string()));
    }
  }
  BOOST_REQUIRE(rank_one > 0);
  ::kill(rank_one, SIGKILL);
  const auto killed = Clock::now();
  int status = 0;
  ::waitpid(launcher, &status, 0);
  BOOST_TEST(seconds_since(killed) < 30.0);
  BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 1), read_text(output));
  const auto said = read_text(output);
  BOOST_TEST(said.find("rank 1 of 2 was killed by signal 9") != std::string::npos, said);
}

BOOST_AUTO_TEST_SUITE_END()
