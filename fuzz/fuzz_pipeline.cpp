// Fuzz target: any bytes as a pipeline file, through load_pipeline with the bundled
// plugins. Refusal with located diagnostics (InputError) is the expected outcome; any
// other exception, a crash, a hang or a sanitizer report is a finding. Leading
// "# set: PATH=VALUE" lines become --set overrides, as in tests/malformed, so the
// overrides are fuzzed too. What loads must load again from its resolved YAML
// (pipeline_loader.hpp promises it).
#include "pipeline_loader.hpp"
#include "resolved_yaml.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using ballista::host::InputError;
using ballista::host::PluginCatalog;

const PluginCatalog& catalog() {
  static const PluginCatalog bundled({BALLISTA_FUZZ_PLUGIN_DIR});
  if (bundled.plugins().empty()) {
    std::cerr << "fuzz_pipeline: no plugins in " << BALLISTA_FUZZ_PLUGIN_DIR << '\n';
    std::abort();
  }
  return bundled;
}

// One directory per process (libFuzzer's -fork and -jobs run several), so relative
// paths in a pipeline resolve in an empty directory.
std::filesystem::path work_directory() {
  static const auto directory = [] {
    auto path = std::filesystem::temp_directory_path() / ("ballista-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(path);
    return path;
  }();
  return directory;
}

std::filesystem::path write(const std::string& name, const std::string& text) {
  auto file = work_directory() / name;
  std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
  return file;
}

std::vector<std::string> overrides_in(const std::string& text) {
  std::vector<std::string> overrides;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line) && line.rfind('#', 0) == 0;) {
    if (line.rfind("# set: ", 0) == 0) {
      overrides.push_back(line.substr(7));
    }
  }
  return overrides;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto file = write("pipeline.yaml", text);
  ballista::host::Pipeline pipeline;
  try {
    pipeline = ballista::host::load_pipeline(file, catalog(), overrides_in(text));
  } catch (const InputError&) {
    return 0;
  }
  const auto resolved = write("resolved.yaml", ballista::host::resolved_yaml(pipeline, catalog()));
  try {
    (void)ballista::host::load_pipeline(resolved, catalog());
  } catch (const InputError& error) {
    std::cerr << "fuzz_pipeline: the resolved form of a valid pipeline is refused:\n" << error.what() << '\n';
    std::abort();
  }
  return 0;
}
