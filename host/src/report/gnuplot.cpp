// Running gnuplot (see gnuplot.hpp).
#include "gnuplot.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

namespace ballista::host {

namespace {

// Empty if `file` is a whole PNG: the signature first, the IEND chunk last.
std::string png_problem(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::string head(8, '\0');
  std::string tail(12, '\0');
  in.read(head.data(), 8);
  if (!in || head != std::string("\x89PNG\r\n\x1a\n", 8)) {
    return "its output is not a PNG";
  }
  in.seekg(-12, std::ios::end);
  in.read(tail.data(), 12);
  if (!in || tail != std::string("\0\0\0\0IEND\xae\x42\x60\x82", 12)) {
    return "its PNG is truncated (no IEND chunk at the end)";
  }
  return {};
}

}  // namespace

std::string gnuplot_quoted(const std::string& text) {
  std::string literal = "'";
  for (const char c : text) {
    literal += c == '\'' ? std::string("''") : c == '\n' || c == '\r' ? std::string(" ") : std::string(1, c);
  }
  return literal + "'";
}

RenderStatus GnuplotRendering::start(const std::vector<std::filesystem::path>& scripts, std::string& message) {
  const char* configured = std::getenv("GNUPLOT");  // NOLINT(concurrency-mt-unsafe)
  const std::string program = configured != nullptr && *configured != '\0' ? configured : "gnuplot";
  const std::string log_path = log();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  // gnuplot -e output='A.png.partial' A.gp -e 'reset session' -e output='B.png.partial' B.gp …
  std::vector<std::string> arguments{program};
  for (std::size_t plot = 0; plot < scripts.size(); ++plot) {
    if (plot > 0) {
      arguments.insert(arguments.end(), {"-e", "reset session"});
    }
    arguments.insert(arguments.end(), {"-e", "output=" + gnuplot_quoted(partial(plot)), scripts[plot].string()});
  }
  std::vector<char*> argv;
  for (auto& argument : arguments) {
    argv.push_back(argument.data());
  }
  argv.push_back(nullptr);
  // In a process group of its own, so a Ctrl-C at the terminal reaches Ballista, which
  // stops its plots itself, rather than killing gnuplot mid-plot without a word.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  const int spawned = posix_spawnp(&pid_, program.c_str(), &actions, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    std::error_code ignored;
    std::filesystem::remove(log_path, ignored);
    message = "cannot run '" + program + "': " + std::generic_category().message(spawned);
    return spawned == ENOENT ? RenderStatus::no_gnuplot : RenderStatus::failed;
  }
  deadline_ = std::chrono::steady_clock::now() + kTimeout;
  return RenderStatus::ok;
}

bool GnuplotRendering::ended() {
  if (done_) {
    return true;
  }
  const pid_t reaped = waitpid(pid_, &status_, WNOHANG);
  if (reaped == pid_ || (reaped < 0 && errno != EINTR)) {
    done_ = true;
  } else if (std::chrono::steady_clock::now() > deadline_) {
    kill(-pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    timed_out_ = true;
    done_ = true;
  }
  return done_;
}

void GnuplotRendering::stop() {
  if (!done_) {
    kill(-pid_, SIGKILL);  // the whole process group: whatever gnuplot started too
    waitpid(pid_, &status_, 0);
    stopped_ = true;
    done_ = true;
  }
}

std::vector<RenderStatus> GnuplotRendering::finish(std::vector<std::string>& messages) const {
  std::error_code ignored;
  const bool exited = !timed_out_ && !stopped_ && WIFEXITED(status_) && WEXITSTATUS(status_) == 0;
  std::vector<RenderStatus> statuses(pngs_.size(), RenderStatus::failed);
  messages.assign(pngs_.size(), std::string());
  // Whatever was not put in place, and the log, go.
  const auto clean_up = [&] {
    for (std::size_t plot = 0; plot < pngs_.size(); ++plot) {
      std::filesystem::remove(partial(plot), ignored);
    }
    std::filesystem::remove(log(), ignored);
  };
  if (exited) {
    // gnuplot exits 0 also when the disk filled up under it: a PNG ends with its IEND
    // chunk, and one that does not is never put in place.
    for (std::size_t plot = 0; plot < pngs_.size(); ++plot) {
      const std::string incomplete = png_problem(partial(plot));
      if (!incomplete.empty()) {
        messages[plot] = "gnuplot exited 0 but " + incomplete + " (is the disk full?); the plot was left out";
        continue;
      }
      std::filesystem::rename(partial(plot), pngs_[plot], ignored);
      if (ignored) {
        messages[plot] = "cannot rename the drawn PNG into place: " + ignored.message();
        continue;
      }
      statuses[plot] = RenderStatus::ok;
    }
    clean_up();
    return statuses;
  }
  std::ifstream in(log());
  std::stringstream text;
  text << in.rdbuf();
  std::string output = text.str();
  if (output.size() > 600) {
    output = "..." + output.substr(output.size() - 600);
  }
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) {
    output.pop_back();
  }
  std::string message;
  if (timed_out_) {
    message = "gnuplot took longer than 120 s and was stopped";
  } else if (stopped_) {
    message = "not drawn: the run was interrupted";
  } else if (WIFSIGNALED(status_)) {
    message = "gnuplot was killed by signal " + std::to_string(WTERMSIG(status_)) + " (" +
              strsignal(WTERMSIG(status_)) + ")" + (output.empty() ? "" : ": " + output);  // NOLINT(concurrency-mt-unsafe)
  } else {
    message = "gnuplot failed (exit status " + std::to_string(WEXITSTATUS(status_)) + ")" +
              (output.empty() ? "" : ": " + output);
  }
  messages.assign(pngs_.size(), message);
  clean_up();
  return statuses;
}

}  // namespace ballista::host
