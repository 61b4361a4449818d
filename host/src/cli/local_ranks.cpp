// Starting and supervising the local ranks of `run --nproc` (see local_ranks.hpp).
#include "local_ranks.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

namespace ballista::host {

namespace {

// A TCP port free on 127.0.0.1 now, for rank 0's c10d store (0 if none could be had).
int free_port() {
  const int socket_fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (socket_fd < 0) {
    return 0;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  int port = 0;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  auto* generic = reinterpret_cast<sockaddr*>(&address);
  if (::bind(socket_fd, generic, sizeof(address)) == 0 && ::getsockname(socket_fd, generic, &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(socket_fd);
  return port;
}

std::string status_text(int status) {
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    return "was killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";  // NOLINT(concurrency-mt-unsafe)
  }
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

bool failed(int status) { return !WIFEXITED(status) || WEXITSTATUS(status) != 0; }

extern "C" void ignore_interrupt(int /*signal*/) {}

}  // namespace

std::optional<int> run_local_ranks(const CommandLine& line, const std::string& engine,
                                   const std::vector<std::string>& arguments) {
  if (line.command != "run" || !line.nproc || *line.nproc < 2) {
    return std::nullopt;
  }
  for (const char* variable : {"RANK", "WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "SLURM_STEP_NUM_TASKS"}) {
    if (const char* value = std::getenv(variable); value != nullptr && *value != '\0') {  // NOLINT(concurrency-mt-unsafe)
      std::cerr << "ballista: --nproc starts its own ranks, but this process is already one rank of a job ("
                << variable << "=" << value << "): leave out --nproc, the launcher's ranks are used\n";
      return 2;
    }
  }
  const int ranks = *line.nproc;
  const int threads = std::max(1, thread_count(line) / ranks);
  const int port = free_port();
  if (port == 0) {
    std::cerr << "ballista: --nproc: no free TCP port on 127.0.0.1 for the ranks' store\n";
    return 2;
  }
  std::vector<std::string> rank_arguments{engine};
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    if (arguments[i] == "--nproc") {
      ++i;  // and its value
    } else {
      rank_arguments.push_back(arguments[i]);
    }
  }
  rank_arguments.insert(rank_arguments.end(), {"--threads", std::to_string(threads)});
  // Ctrl-C reaches every rank (the terminal's process group); this process waits for them.
  (void)std::signal(SIGINT, ignore_interrupt);
  std::vector<pid_t> children;
  for (int rank = 0; rank < ranks; ++rank) {
    const pid_t child = ::fork();
    if (child < 0) {
      std::cerr << "ballista: --nproc: cannot start rank " << rank << ": " << std::strerror(errno) << '\n';  // NOLINT(concurrency-mt-unsafe)
      for (const auto started : children) {
        ::kill(started, SIGKILL);
      }
      return 2;
    }
    if (child == 0) {
      (void)std::signal(SIGINT, SIG_DFL);
      const auto set = [](const char* name, const std::string& value) { ::setenv(name, value.c_str(), 1); };  // NOLINT(concurrency-mt-unsafe)
      set("RANK", std::to_string(rank));
      set("LOCAL_RANK", std::to_string(rank));
      set("WORLD_SIZE", std::to_string(ranks));
      set("LOCAL_WORLD_SIZE", std::to_string(ranks));
      set("GROUP_RANK", "0");
      set("MASTER_ADDR", "127.0.0.1");
      set("MASTER_PORT", std::to_string(port));
      set("BALLISTA_NPROC", std::to_string(ranks));
      export_thread_count(threads);
      std::vector<char*> argv;
      argv.reserve(rank_arguments.size() + 1);
      for (auto& argument : rank_arguments) {
        argv.push_back(argument.data());
      }
      argv.push_back(nullptr);
      ::execv(engine.c_str(), argv.data());
      std::cerr << "ballista: --nproc: cannot start " << engine << ": " << std::strerror(errno) << '\n';  // NOLINT(concurrency-mt-unsafe)
      ::_exit(127);
    }
    children.push_back(child);
  }
  // Wait for all; once one fails, the others get the timeout (plus a grace) to stop
  // by themselves (they see the failure at their next all-reduce), then are killed.
  const double timeout = line.timeout.value_or(1800.0);
  std::vector<int> statuses(children.size(), 0);
  std::vector<bool> done(children.size(), false);
  std::size_t remaining = children.size();
  int first_failure = -1;
  std::chrono::steady_clock::time_point deadline;
  bool killed = false;
  while (remaining > 0) {
    int status = 0;
    const pid_t ended = ::waitpid(-1, &status, WNOHANG);
    if (ended > 0) {
      const auto found = std::find(children.begin(), children.end(), ended);
      if (found == children.end()) {
        continue;
      }
      const auto rank = static_cast<std::size_t>(found - children.begin());
      statuses[rank] = status;
      done[rank] = true;
      --remaining;
      if (failed(status) && first_failure < 0) {
        first_failure = static_cast<int>(rank);
        deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                          std::chrono::duration<double>(timeout + 5.0));
      }
      continue;
    }
    if (ended < 0 && errno != EINTR) {
      break;
    }
    if (first_failure >= 0 && !killed && std::chrono::steady_clock::now() > deadline) {
      for (std::size_t rank = 0; rank < children.size(); ++rank) {
        if (!done[rank]) {
          std::cerr << "ballista: rank " << rank << " did not stop within --timeout after rank " << first_failure
                    << " failed: killed\n";
          ::kill(children[rank], SIGKILL);
        }
      }
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (first_failure < 0) {
    return 0;
  }
  const auto first = static_cast<std::size_t>(first_failure);
  std::cerr << "ballista: rank " << first << " of " << ranks << " " << status_text(statuses[first])
            << (first == 0 ? "" : "; the run ended with it") << '\n';
  if (WIFEXITED(statuses[0]) && WEXITSTATUS(statuses[0]) != 0) {
    return WEXITSTATUS(statuses[0]);
  }
  return 1;
}

}  // namespace ballista::host
