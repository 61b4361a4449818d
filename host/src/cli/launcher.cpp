// `ballista`: the program users run. It starts in milliseconds because it does not link
// LibTorch (whose static initialisers alone take ~0.4 s): it answers --help, --version
// and `ballista plugins` (from the plugins' manifests) itself, sets the thread count
// for OpenMP and OpenBLAS before they start, and replaces itself (execv) with
// `ballista-engine` for every other command, with the same arguments.
#include "command_line.hpp"
#include "local_ranks.hpp"
#include "plugin_discovery.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  using namespace ballista::host;
  CommandLine line;
  if (const auto answered = answer_without_libtorch(argc, argv, line)) {
    return *answered;
  }
  // OpenMP and OpenBLAS read these when they start in the engine.
  export_thread_count(thread_count(line));
  const auto engine = (installation_prefix() / BALLISTA_ENGINE_RELATIVE_PATH).lexically_normal();
  std::string engine_text = engine.string();
  // run --nproc N: this process supervises N ranks of the engine.
  if (const auto status = run_local_ranks(line, engine_text, std::vector<std::string>(argv + 1, argv + argc))) {
    return *status;
  }
  std::vector<char*> arguments(argv, argv + argc);
  arguments[0] = engine_text.data();
  arguments.push_back(nullptr);
  ::execv(engine_text.c_str(), arguments.data());
  std::cerr << "ballista: cannot start " << engine_text << ": " << std::strerror(errno)  // NOLINT(concurrency-mt-unsafe)
            << " (ballista-engine is installed with ballista, in LIBDIR/ballista; reinstall)\n";
  return 2;
}
