// Loads one plugin library (see plugin_library.hpp).
#include "plugin_library.hpp"

#include <boost/dll/library_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <dlfcn.h>

#include <optional>
#include <regex>

namespace ballista::host {

namespace {

#define BALLISTA_HOST_STRINGIFY_(x) #x
#define BALLISTA_HOST_STRINGIFY(x) BALLISTA_HOST_STRINGIFY_(x)
constexpr const char* kDescriptorSymbol = BALLISTA_HOST_STRINGIFY(BALLISTA_DESCRIPTOR_SYMBOL);
constexpr const char* kDefinitionSymbol = BALLISTA_HOST_STRINGIFY(BALLISTA_DEFINITION_SYMBOL);
constexpr const char* kSourceDefinitionSymbol = BALLISTA_HOST_STRINGIFY(BALLISTA_SOURCE_DEFINITION_SYMBOL);

// The ABI number the library was built for, read from its symbol table alone: its
// constructors do not run, so a mismatched plugin cannot crash us by being opened.
std::optional<unsigned long> declared_abi(const std::filesystem::path& file) {
  std::vector<std::string> symbols;
  try {
    boost::dll::library_info info(file, /*throw_if_not_native=*/true);
    symbols = info.symbols("ballista");
  } catch (const std::exception& error) {
    throw PluginLoadError(std::string("not a loadable shared library (") + error.what() + ")");
  }
  static const std::regex pattern("ballista_descriptor_v([0-9]+)");
  for (const auto& symbol : symbols) {
    std::smatch match;
    if (std::regex_match(symbol, match, pattern)) {
      return std::stoul(match[1].str());
    }
  }
  return std::nullopt;
}

}  // namespace

std::string plugin_kind_name(PluginKind kind) { return kind == PluginKind::model ? "model" : "source"; }

LoadedPlugin load_plugin_library(const std::filesystem::path& file) {
  const auto abi = declared_abi(file);
  if (!abi) {
    throw PluginLoadError("not a Ballista plugin (no ballista_descriptor_vN symbol in section 'ballista')");
  }
  if (*abi != BALLISTA_SDK_ABI) {
    throw PluginLoadError("built for SDK ABI " + std::to_string(*abi) + ", this host uses SDK ABI " +
                          std::to_string(BALLISTA_SDK_ABI) + "; rebuild the plugin against this SDK");
  }
  // dlopen directly for its error message (a missing dependency names the library),
  // with RTLD_NODELETE so the plugin stays mapped for the life of the process.
  if (dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) == nullptr) {
    // Plugins are loaded from the main thread only, so dlerror's state is ours.
    const char* reason = dlerror();  // NOLINT(concurrency-mt-unsafe)
    throw PluginLoadError(std::string("cannot be loaded: ") + (reason != nullptr ? reason : "dlopen failed"));
  }
  boost::dll::shared_library library;
  try {
    library.load(file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& error) {
    throw PluginLoadError(std::string("cannot be loaded: ") + error.what());
  }
  const bool is_model = library.has(kDefinitionSymbol);
  const bool is_source = library.has(kSourceDefinitionSymbol);
  if (!library.has(kDescriptorSymbol) || is_model == is_source) {
    throw PluginLoadError(std::string("incomplete Ballista plugin: needs ") + kDescriptorSymbol + " and one of " +
                          kDefinitionSymbol + " (a model) or " + kSourceDefinitionSymbol + " (a data source)");
  }
  const auto& descriptor = library.get_alias<const ballista_plugin_descriptor>(kDescriptorSymbol);
  if (descriptor.sdk_abi != BALLISTA_SDK_ABI) {
    throw PluginLoadError("descriptor says SDK ABI " + std::to_string(descriptor.sdk_abi) +
                          ", this host uses SDK ABI " + std::to_string(BALLISTA_SDK_ABI));
  }
  const std::string torch_version = descriptor.torch_version != nullptr ? descriptor.torch_version : "";
  const std::string name = descriptor.name != nullptr ? descriptor.name : "";
  if (torch_version != TORCH_VERSION) {
    throw PluginLoadError("built against LibTorch " + torch_version + ", this host uses LibTorch " + TORCH_VERSION,
                          name);
  }
  if (descriptor.name == nullptr || *descriptor.name == '\0') {
    throw PluginLoadError("descriptor has no plugin name");
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
    throw PluginLoadError(std::string("its definition function threw: ") + error.what(), name);
  }
  if (is_model && !plugin.definition.create) {
    throw PluginLoadError("its definition has no model factory", name);
  }
  if (!is_model && (!plugin.source.create || plugin.source.inputs.empty() || plugin.source.targets.empty())) {
    throw PluginLoadError("its source definition needs a factory, at least one input and one target", name);
  }
  return plugin;
}

}  // namespace ballista::host
