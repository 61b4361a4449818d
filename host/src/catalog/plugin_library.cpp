// Loads one plugin library (see plugin_library.hpp).
#include "plugin_library.hpp"

#include "libtorch_version.hpp"

#include <boost/dll/shared_library.hpp>
#include <dlfcn.h>
#include <torch/version.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

// Plugin discovery, compiled without LibTorch, checks manifests against the version read
// from torch/version.h at configure time: it must be the one this code is compiled with.
static_assert(std::string_view(ballista::host::kLibTorchVersion) == TORCH_VERSION,
              "host/src/catalog/libtorch_version.hpp is stale: re-run CMake");

namespace ballista::host {

namespace {

#define BALLISTA_HOST_STRINGIFY_(x) #x
#define BALLISTA_HOST_STRINGIFY(x) BALLISTA_HOST_STRINGIFY_(x)
constexpr const char* kDescriptorSymbol = BALLISTA_HOST_STRINGIFY(BALLISTA_DESCRIPTOR_SYMBOL);
constexpr const char* kDefinitionSymbol = BALLISTA_HOST_STRINGIFY(BALLISTA_DEFINITION_SYMBOL);
constexpr const char* kSourceDefinitionSymbol = BALLISTA_HOST_STRINGIFY(BALLISTA_SOURCE_DEFINITION_SYMBOL);

// How long a plugin may take to load before the user is told which one it is.
constexpr auto kSlowLoad = std::chrono::seconds(3);

// Signals that end the process while a plugin loads: its own faults, and the user's
// or a supervisor's stop (Ctrl-C, timeout's SIGTERM).
constexpr std::array<int, 10> kFatalSignals{SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP,
                                            SIGTERM, SIGINT, SIGHUP, SIGQUIT};

// What the signal handler writes, prepared before the load: the handler may only
// call async-signal-safe functions, so no allocation and no formatting there.
struct LoadingRecord {
  std::array<char, 4096> file{};
  std::size_t file_length = 0;
  bool terminal_line = false;  // "ballista: loading plugin FILE" is on stderr, unfinished
};
LoadingRecord loading;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables): read by the signal handler

void write_text(std::string_view text) {
  while (!text.empty()) {
    const auto written = ::write(STDERR_FILENO, text.data(), text.size());
    if (written <= 0) {
      return;
    }
    text.remove_prefix(static_cast<std::size_t>(written));
  }
}

std::string_view signal_abbreviation(int signal) {
  switch (signal) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    case SIGTRAP: return "SIGTRAP";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    case SIGQUIT: return "SIGQUIT";
    default: return "a signal";
  }
}

// Names the plugin being loaded, then lets the signal do what it would have done.
extern "C" void on_signal_while_loading(int signal) {
  const std::string_view file(loading.file.data(), loading.file_length);
  if (loading.terminal_line) {
    write_text("\r\033[K");
  }
  const bool stopped = signal == SIGTERM || signal == SIGINT || signal == SIGHUP || signal == SIGQUIT;
  std::array<char, 12> number{};
  auto at = number.size();
  for (unsigned value = static_cast<unsigned>(signal); at > 0 && (value != 0 || at == number.size()); value /= 10) {
    number[--at] = static_cast<char>('0' + value % 10);
  }
  const std::string_view signal_text(number.data() + at, number.size() - at);
  if (stopped) {
    write_text("ballista: stopped by signal ");
    write_text(signal_text);
    write_text(" (");
    write_text(signal_abbreviation(signal));
    write_text(") while loading plugin ");
    write_text(file);
    write_text("\n");
  } else {
    write_text("ballista: plugin ");
    write_text(file);
    write_text(" crashed while loading (signal ");
    write_text(signal_text);
    write_text(", ");
    write_text(signal_abbreviation(signal));
    write_text("): its own code failed; fix it, or move it off the plugin path\n");
  }
  (void)std::signal(signal, SIG_DFL);
  (void)std::raise(signal);
}

// While alive, a plugin's code is running in this process for the first time (its
// static initialisers, then its definition function): a fatal signal names the file
// before the process dies, a load slower than kSlowLoad names it while it goes on,
// and on a terminal the file is shown while it loads. A plugin that ends the process
// itself (exit, _Exit) cannot be caught here; only the terminal line then remains.
class LoadAttribution {
 public:
  explicit LoadAttribution(const std::filesystem::path& file) {
    const auto text = file.string();
    loading.file_length = std::min(text.size(), loading.file.size());
    std::memcpy(loading.file.data(), text.data(), loading.file_length);
    loading.terminal_line = ::isatty(STDERR_FILENO) != 0;
    if (loading.terminal_line) {
      write_text("ballista: loading plugin " + text);
    }
    struct sigaction action {};
    action.sa_handler = on_signal_while_loading;  // NOLINT(cppcoreguidelines-pro-type-union-access)
    sigemptyset(&action.sa_mask);
    for (std::size_t i = 0; i < kFatalSignals.size(); ++i) {
      (void)::sigaction(kFatalSignals[i], &action, &previous_[i]);
    }
    watchdog_ = std::thread([this, text] {
      std::unique_lock lock(mutex_);
      if (!done_changed_.wait_for(lock, kSlowLoad, [this] { return done_; })) {
        write_text(std::string(loading.terminal_line ? "\n" : "") + "ballista: plugin " + text +
                   " is still loading after " + std::to_string(kSlowLoad.count()) +
                   " s (its initialisation has not returned; Ctrl-C stops)\n");
      }
    });
  }
  LoadAttribution(const LoadAttribution&) = delete;
  LoadAttribution& operator=(const LoadAttribution&) = delete;
  ~LoadAttribution() {
    {
      const std::lock_guard lock(mutex_);
      done_ = true;
    }
    done_changed_.notify_one();
    watchdog_.join();
    for (std::size_t i = 0; i < kFatalSignals.size(); ++i) {
      // A plugin that installed its own handler keeps it.
      struct sigaction current {};
      if (::sigaction(kFatalSignals[i], nullptr, &current) == 0 &&
          current.sa_handler == on_signal_while_loading) {  // NOLINT(cppcoreguidelines-pro-type-union-access)
        (void)::sigaction(kFatalSignals[i], &previous_[i], nullptr);
      }
    }
    if (loading.terminal_line) {
      write_text("\r\033[K");
    }
    loading.terminal_line = false;
  }

 private:
  std::array<struct sigaction, kFatalSignals.size()> previous_{};
  std::mutex mutex_;
  std::condition_variable done_changed_;
  bool done_ = false;
  std::thread watchdog_;
};

// The loader's `message` about `loadable` ("/proc/self/fd/N: undefined symbol: …"),
// naming the plugin file instead.
std::string naming_the_file(std::string message, const std::filesystem::path& loadable,
                            const std::filesystem::path& file) {
  const auto& name = loadable.native();
  for (auto at = message.find(name); at != std::string::npos; at = message.find(name, at + 1)) {
    const auto end = at + name.size();
    if (end == message.size() || std::isdigit(static_cast<unsigned char>(message[end])) == 0) {
      message.replace(at, name.size(), file.native());
    }
  }
  return message;
}

}  // namespace

LoadedPlugin load_plugin_library(const std::filesystem::path& file, bool allow_insecure) {
  // Refuses what can be told from the file (not a plugin, another ABI or LibTorch)
  // before any of its code runs.
  return load_plugin_library(DiscoveredPlugin{file, inspect_plugin_file(file)}, allow_insecure);
}

LoadedPlugin load_plugin_library(const DiscoveredPlugin& found, bool allow_insecure) {
  const auto& [file, manifest] = found;
  // The file is checked once more as it is opened, and loaded through that descriptor:
  // what was checked is what runs.
  std::optional<OpenedPluginFile> opened;
  try {
    opened.emplace(open_plugin_file(file, allow_insecure));
  } catch (const PluginLoadError& refusal) {
    throw PluginLoadError(refusal.reason(), refusal.what(), manifest.name);
  }
  const auto loadable = opened->loadable_path();
  const LoadAttribution attribution(file);
  // dlopen directly for its error message (a missing dependency names the library),
  // with RTLD_NODELETE so the plugin stays mapped for the life of the process.
  if (dlopen(loadable.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) == nullptr) {
    // Plugins are loaded from the main thread only, so dlerror's state is ours.
    const char* reason = dlerror();  // NOLINT(concurrency-mt-unsafe)
    throw PluginLoadError(RefusalReason::load_failed, "cannot be loaded: " + naming_the_file(reason != nullptr ? reason : "dlopen failed",
                                                                 loadable, file),
                          manifest.name);
  }
  opened->keep_open();
  boost::dll::shared_library library;
  try {
    library.load(loadable, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& error) {
    throw PluginLoadError(RefusalReason::load_failed, "cannot be loaded: " + naming_the_file(error.what(), loadable, file), manifest.name);
  }
  const bool is_model = library.has(kDefinitionSymbol);
  const bool is_source = library.has(kSourceDefinitionSymbol);
  if (!library.has(kDescriptorSymbol) || is_model == is_source) {
    throw PluginLoadError(RefusalReason::not_a_plugin, std::string("incomplete Ballista plugin: needs ") + kDescriptorSymbol + " and one of " +
                          kDefinitionSymbol + " (a model) or " + kSourceDefinitionSymbol + " (a data source)",
                          manifest.name);
  }
  const auto& descriptor = library.get_alias<const ballista_plugin_descriptor>(kDescriptorSymbol);
  const std::string torch_version = descriptor.torch_version != nullptr ? descriptor.torch_version : "";
  const std::string name = descriptor.name != nullptr ? descriptor.name : "";
  if (descriptor.sdk_abi != manifest.sdk_abi || torch_version != manifest.torch_version || name != manifest.name ||
      is_model != (manifest.kind == PluginKind::model)) {
    throw PluginLoadError(RefusalReason::not_a_plugin, "its descriptor (SDK ABI " + std::to_string(descriptor.sdk_abi) + ", LibTorch " +
                              torch_version + ", name '" + name + "') disagrees with its manifest (SDK ABI " +
                              std::to_string(manifest.sdk_abi) + ", LibTorch " + manifest.torch_version + ", name '" +
                              manifest.name + "', a " + plugin_kind_name(manifest.kind) +
                              "); rebuild it with BALLISTA_PLUGIN",
                          manifest.name);
  }
  LoadedPlugin plugin{descriptor.name,
                      descriptor.version != nullptr ? descriptor.version : "",
                      descriptor.summary != nullptr ? descriptor.summary : "",
                      torch_version,
                      file,
                      is_model ? PluginKind::model : PluginKind::source,
                      {},
                      {}};
  try {
    if (is_model) {
      plugin.definition = library.get_alias<PluginDefinition()>(kDefinitionSymbol)();
    } else {
      plugin.source = library.get_alias<SourceDefinition()>(kSourceDefinitionSymbol)();
    }
  } catch (const std::exception& error) {
    throw PluginLoadError(RefusalReason::definition_threw, std::string("its definition function threw: ") + error.what(), name);
  }
  if (is_model && !plugin.definition.create) {
    throw PluginLoadError(RefusalReason::not_a_plugin, "its definition has no model factory", name);
  }
  if (!is_model && (!plugin.source.create || plugin.source.inputs.empty() || plugin.source.targets.empty())) {
    throw PluginLoadError(RefusalReason::not_a_plugin, "its source definition needs a factory, at least one input and one target", name);
  }
  return plugin;
}

}  // namespace ballista::host
