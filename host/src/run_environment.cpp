// The environment of a run (see run_environment.hpp).
#include "run_environment.hpp"

#include <ballista/parallel.hpp>
#include <ballista/version.hpp>

#include <sys/utsname.h>
#include <torch/torch.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

namespace ballista::host {

namespace {

// The BLAS and LAPACK libraries mapped into this process: what matrix products really
// run on (Debian's alternatives decide which libblas.so.3 LibTorch gets).
std::vector<std::string> loaded_blas() {
  std::set<std::string> found;
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) {
      continue;
    }
    const std::filesystem::path file = line.substr(slash);
    const auto name = file.filename().string();
    if (name.find("blas") != std::string::npos || name.find("lapack") != std::string::npos) {
      std::error_code error;
      const auto real = std::filesystem::canonical(file, error);
      found.insert(error ? file.string() : real.string());
    }
  }
  return {found.begin(), found.end()};
}

std::string cpu_model() {
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

// OpenBLAS's own thread count, or null under another BLAS.
nlohmann::json blas_threads() {
  if (const int threads = ballista::blas_threads(); threads > 0) {
    return threads;
  }
  return nullptr;
}

}  // namespace

nlohmann::json run_environment() {
  utsname system{};
  std::string os = "unknown";
  if (uname(&system) == 0) {
    os = std::string(system.sysname) + " " + system.release + " " + system.machine;
  }
  std::array<char, 256> host{};
  const std::string hostname = gethostname(host.data(), host.size() - 1) == 0 ? host.data() : "unknown";
  return {{"ballista", BALLISTA_VERSION_STRING},
          {"sdk_abi", BALLISTA_SDK_ABI},
          {"libtorch", TORCH_VERSION},
          {"threads", at::get_num_threads()},
          {"interop_threads", at::get_num_interop_threads()},
          {"blas_threads", blas_threads()},
          {"blas", loaded_blas()},
          {"cpu", cpu_model()},
          {"cores", std::thread::hardware_concurrency()},
          {"hostname", hostname},
          {"os", os}};
}

}  // namespace ballista::host
