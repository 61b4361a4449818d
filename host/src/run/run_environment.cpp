// The environment of a run (see run_environment.hpp).
#include "run_environment.hpp"

#include "json_text.hpp"

#include <ballista/blas.hpp>
#include <ballista/version.hpp>

#include <sys/utsname.h>
#include <torch/torch.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <map>
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

// The vector instructions LibTorch's own CPU kernels use ("AVX2", "AVX512", "DEFAULT"):
// picked by processor, overridden by ATEN_CPU_CAPABILITY. Elementwise functions such as
// sigmoid may round differently under another choice.
nlohmann::json aten_cpu_capability() {
  const std::string config = at::show_config();
  const std::string label = "CPU capability usage: ";
  const auto at = config.find(label);
  if (at == std::string::npos) {
    return nullptr;
  }
  const auto begin = at + label.size();
  return config.substr(begin, config.find('\n', begin) - begin);
}

// A string, or null when empty (not OpenBLAS).
nlohmann::json text_or_null(const std::string& text) {
  if (text.empty()) {
    return nullptr;
  }
  return text;
}

// The variables of this process's environment that the BLAS, OpenMP and ATen read:
// OPENBLAS_CORETYPE picks OpenBLAS's kernels, ATEN_CPU_CAPABILITY LibTorch's, the
// *_NUM_THREADS their threads.
nlohmann::json numeric_library_variables() {
  nlohmann::json variables = nlohmann::json::object();
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {  // NOLINT(cppcoreguidelines-pro-bounds-pointer-arithmetic)
    const std::string text(*entry);
    const auto equals = text.find('=');
    const auto name = text.substr(0, equals);
    for (const char* prefix : {"OPENBLAS_", "GOTO_", "OMP_", "GOMP_", "MKL_", "ATEN_"}) {
      if (name.rfind(prefix, 0) == 0) {
        variables[name] = equals == std::string::npos ? std::string() : text.substr(equals + 1);
        break;
      }
    }
  }
  return variables;
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
  const nlohmann::json environment = {{"ballista", BALLISTA_VERSION_STRING},
                                      {"sdk_abi", BALLISTA_SDK_ABI},
                                      {"libtorch", TORCH_VERSION},
                                      {"threads", at::get_num_threads()},
                                      {"interop_threads", at::get_num_interop_threads()},
                                      {"blas_threads", blas_threads()},
                                      {"blas", loaded_blas()},
                                      {"blas_core", text_or_null(ballista::blas_core())},
                                      {"blas_config", text_or_null(ballista::blas_config())},
                                      {"aten_cpu_capability", aten_cpu_capability()},
                                      {"variables", numeric_library_variables()},
                                      {"cpu", cpu_model()},
                                      {"cores", std::thread::hardware_concurrency()},
                                      {"hostname", hostname},
                                      {"os", os}};
  // The host name, processor, library paths and variables are whatever bytes the system
  // has: with those that are not UTF-8 replaced by U+FFFD here, every dump() works.
  return nlohmann::json::parse(json_text(environment));
}

namespace {

// How an entry of environment.json can change a result's bits ("" where it cannot).
std::string effect_of(const std::string& entry) {
  static const std::map<std::string, std::string> effects{
      {"ballista", "another Ballista, whose models may compute differently"},
      {"sdk_abi", "another plugin SDK"},
      {"libtorch", "another LibTorch, whose kernels may round differently"},
      {"blas", "another BLAS or LAPACK library, whose products may round differently"},
      {"blas_core",
       "OpenBLAS runs other kernels, which sum matrix products in another order: results differ in the last "
       "bits, and a long training (many epochs of Adam) can grow that into visible differences"},
      {"blas_config", "OpenBLAS's build line (version, kernels) differs"},
      {"aten_cpu_capability",
       "LibTorch's own kernels use other vector instructions, which round some functions (sigmoid, …) "
       "differently"},
      {"cpu", "another processor: OpenBLAS and LibTorch choose their kernels by processor"},
      {"distributed",
       "the run was split over processes otherwise (or not at all): data-parallel fits combine the ranks' shares "
       "of the rows in another order, so least squares agree to about 1e-12 and gradient fits to about 1e-6, not "
       "to the last bit; launch it with the same world_size to compare bits"},
      {"variables.OPENBLAS_CORETYPE", "it chooses OpenBLAS's kernels (see blas_core)"},
      {"variables.ATEN_CPU_CAPABILITY", "it chooses LibTorch's vector kernels (see aten_cpu_capability)"},
  };
  const auto found = effects.find(entry);
  return found == effects.end() ? std::string() : found->second;
}

void compare_entry(const std::string& entry, const nlohmann::json* before, const nlohmann::json* after,
                   std::vector<EnvironmentChange>& changes) {
  if (before != nullptr && after != nullptr && *before == *after) {
    return;
  }
  if (entry == "variables" && (before == nullptr || before->is_object()) && (after == nullptr || after->is_object())) {
    const auto empty = nlohmann::json::object();
    const auto& old_variables = before != nullptr ? *before : empty;
    const auto& new_variables = after != nullptr ? *after : empty;
    for (const auto& [name, value] : old_variables.items()) {
      compare_entry("variables." + name, &value, new_variables.contains(name) ? &new_variables[name] : nullptr,
                    changes);
    }
    for (const auto& [name, value] : new_variables.items()) {
      if (!old_variables.contains(name)) {
        compare_entry("variables." + name, nullptr, &value, changes);
      }
    }
    return;
  }
  changes.push_back({entry, before != nullptr ? json_text(*before) : "unset",
                     after != nullptr ? json_text(*after) : "unset", effect_of(entry)});
}

}  // namespace

std::vector<EnvironmentChange> environment_changes(const nlohmann::json& recorded, const nlohmann::json& now) {
  std::vector<EnvironmentChange> changes;
  if (!recorded.is_object() || !now.is_object()) {
    return changes;
  }
  for (const auto& [entry, value] : recorded.items()) {
    compare_entry(entry, &value, now.contains(entry) ? &now[entry] : nullptr, changes);
  }
  for (const auto& [entry, value] : now.items()) {
    if (!recorded.contains(entry)) {
      compare_entry(entry, nullptr, &value, changes);
    }
  }
  return changes;
}

}  // namespace ballista::host
