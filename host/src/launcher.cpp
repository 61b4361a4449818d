// `ballista`: the program users run. It starts in milliseconds because it does not link
// LibTorch (whose static initialisers alone take ~0.4 s): it answers --help, --version
// and `ballista plugins` (from the plugins' manifests) itself, sets the thread count
// for OpenMP and OpenBLAS before they start, and replaces itself (execv) with
// `ballista-engine` for every other command, with the same arguments.
#include "command_line.hpp"
#include "plugin_discovery.hpp"

#include <ballista/version.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  using namespace ballista::host;
  CommandLine line;
  try {
    line = parse_command_line({argv + 1, argv + argc});
  } catch (const UsageError& error) {
    if (*error.what() == '\0') {
      std::cout << kUsage;
      return 2;
    }
    std::cerr << "ballista: " << error.what() << "\nRun `ballista help` for usage.\n";
    return 2;
  }
  if (line.help) {
    std::cout << kUsage;
    return 0;
  }
  if (line.version) {
    std::cout << "ballista " << BALLISTA_VERSION_STRING << " (SDK ABI " << BALLISTA_SDK_ABI << ")\n";
    return 0;
  }
  if (line.command == "plugins" && !line.verbose) {
    try {
      const auto scan = scan_plugin_directories(plugin_search_path(line.plugin_paths), line.allow_insecure_plugins);
      return print_plugin_listing(listing_from_manifests(scan), false, std::cout);
    } catch (const std::exception& error) {
      std::cerr << "ballista: " << error.what() << '\n';
      return 2;
    }
  }
  // OpenMP and OpenBLAS read these when they start in the engine.
  export_thread_count(thread_count(line));
  const auto engine = (installation_prefix() / BALLISTA_ENGINE_RELATIVE_PATH).lexically_normal();
  std::vector<char*> arguments(argv, argv + argc);
  std::string engine_text = engine.string();
  arguments[0] = engine_text.data();
  arguments.push_back(nullptr);
  ::execv(engine_text.c_str(), arguments.data());
  std::cerr << "ballista: cannot start " << engine_text << ": " << std::strerror(errno)  // NOLINT(concurrency-mt-unsafe)
            << " (ballista-engine is installed with ballista, in LIBDIR/ballista; reinstall)\n";
  return 2;
}
