// Atomic file writes (see atomic_file.hpp).
#include "atomic_file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <set>
#include <signal.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace ballista::host {
namespace {

std::runtime_error write_error(const std::filesystem::path& file, int error) {
  return std::runtime_error("cannot write " + file.string() + ": " + std::strerror(error));
}

// Writes all of `content` to `fd`; returns 0 or the errno of the failure.
int write_all(int fd, const std::string& content) {
  std::size_t done = 0;
  while (done < content.size()) {
    const auto written = ::write(fd, content.data() + done, content.size() - done);
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    done += static_cast<std::size_t>(written);
  }
  return 0;
}

// `.NAME.tmp-PID` left by a process that is gone (killed while writing): removed once
// per directory and process. A live process's temporary file is its own business.
void sweep_stale_temporaries(const std::filesystem::path& directory) {
  static std::mutex mutex;
  static std::set<std::filesystem::path> swept;
  {
    const std::lock_guard lock(mutex);
    if (!swept.insert(directory).second) {
      return;
    }
  }
  std::error_code ignored;
  for (std::filesystem::directory_iterator entry(directory, ignored), end; !ignored && entry != end;
       entry.increment(ignored)) {
    const auto name = entry->path().filename().string();
    const auto marker = name.rfind(".tmp-");
    if (name.empty() || name[0] != '.' || marker == std::string::npos || marker + 5 == name.size() ||
        name.find_first_not_of("0123456789", marker + 5) != std::string::npos || name.size() - marker > 15) {
      continue;
    }
    const auto pid = static_cast<pid_t>(std::stol(name.substr(marker + 5)));
    if (pid != getpid() && ::kill(pid, 0) != 0 && errno == ESRCH && entry->is_regular_file(ignored)) {
      std::filesystem::remove(entry->path(), ignored);
    }
  }
}

// An existing target that is not a regular file: written in place, never replaced.
void write_in_place(const std::filesystem::path& target, const std::string& content, mode_t mode) {
  if (S_ISDIR(mode)) {
    throw std::runtime_error("cannot write " + target.string() + ": it is a directory");
  }
  // A FIFO opened without O_NONBLOCK waits for a reader forever; with it, no reader is
  // an error (ENXIO) at once.
  const int fd = ::open(target.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY | (S_ISFIFO(mode) ? O_NONBLOCK : 0));
  if (fd < 0) {
    const int error = errno;
    if (error == ENXIO && S_ISFIFO(mode)) {
      throw std::runtime_error("cannot write " + target.string() + ": it is a FIFO that no process is reading");
    }
    throw write_error(target, error);
  }
  if (S_ISFIFO(mode)) {
    (void)::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  }
  const int error = write_all(fd, content);
  const int closed = ::close(fd) == 0 ? 0 : errno;
  if (error != 0 || closed != 0) {
    throw write_error(target, error != 0 ? error : closed);
  }
}

}  // namespace

std::filesystem::path resolve_final_link(const std::filesystem::path& path) {
  auto current = path;
  for (int hops = 0; hops < 40; ++hops) {
    std::error_code error;
    if (!std::filesystem::is_symlink(std::filesystem::symlink_status(current, error)) || error) {
      return current;
    }
    const auto target = std::filesystem::read_symlink(current, error);
    if (error) {
      return current;
    }
    current = target.is_absolute() ? target : current.parent_path() / target;
  }
  throw std::runtime_error("cannot write " + path.string() + ": too many levels of symbolic links");
}

void write_file_atomically(const std::filesystem::path& path, const std::string& content) {
  const auto target = resolve_final_link(path);
  struct stat existing {};
  if (::stat(target.c_str(), &existing) == 0 && !S_ISREG(existing.st_mode)) {
    write_in_place(target, content, existing.st_mode);
    return;
  }
  const auto directory = target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
  sweep_stale_temporaries(directory);
  const auto temporary = directory / ("." + target.filename().string() + ".tmp-" + std::to_string(getpid()));
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd < 0) {
    throw write_error(target, errno);
  }
  int error = write_all(fd, content);
  if (::close(fd) != 0 && error == 0) {
    error = errno;
  }
  if (error == 0 && ::rename(temporary.c_str(), target.c_str()) != 0) {
    error = errno;
  }
  if (error != 0) {
    ::unlink(temporary.c_str());
    throw write_error(target, error);
  }
}

}  // namespace ballista::host
