// Atomic file writes (see atomic_file.hpp).
#include "atomic_file.hpp"

#include <fstream>
#include <stdexcept>
#include <unistd.h>

namespace ballista::host {

void write_file_atomically(const std::filesystem::path& path, const std::string& content) {
  const auto temporary = path.parent_path() / ("." + path.filename().string() + ".tmp-" + std::to_string(getpid()));
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out) {
      throw std::runtime_error("cannot write " + temporary.string());
    }
  }
  std::filesystem::rename(temporary, path);
}

}  // namespace ballista::host
