// Loads one plugin library (see plugin_library.hpp).
#include "plugin_library.hpp"

#include <boost/dll/shared_library.hpp>
#include <dlfcn.h>

namespace ballista::host {

namespace {

#define BALLISTA_HOST_STRINGIFY_(x) #x
#define BALLISTA_HOST_STRINGIFY(x) BALLISTA_HOST_STRINGIFY_(x)
constexpr const char* kDescriptorSymbol = BALLISTA_HOST_STRINGIFY(BALLISTA_DESCRIPTOR_SYMBOL);
constexpr const char* kDefinitionSymbol = BALLISTA_HOST_STRINGIFY(BALLISTA_DEFINITION_SYMBOL);
constexpr const char* kSourceDefinitionSymbol = BALLISTA_HOST_STRINGIFY(BALLISTA_SOURCE_DEFINITION_SYMBOL);

}  // namespace

LoadedPlugin load_plugin_library(const std::filesystem::path& file) {
  // Refuses what can be told from the file (not a plugin, another ABI or LibTorch)
  // before any of its code runs.
  return load_plugin_library(DiscoveredPlugin{file, inspect_plugin_file(file)});
}

LoadedPlugin load_plugin_library(const DiscoveredPlugin& found) {
  const auto& [file, manifest] = found;
  // dlopen directly for its error message (a missing dependency names the library),
  // with RTLD_NODELETE so the plugin stays mapped for the life of the process.
  if (dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) == nullptr) {
    // Plugins are loaded from the main thread only, so dlerror's state is ours.
    const char* reason = dlerror();  // NOLINT(concurrency-mt-unsafe)
    throw PluginLoadError(std::string("cannot be loaded: ") + (reason != nullptr ? reason : "dlopen failed"),
                          manifest.name);
  }
  boost::dll::shared_library library;
  try {
    library.load(file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& error) {
    throw PluginLoadError(std::string("cannot be loaded: ") + error.what(), manifest.name);
  }
  const bool is_model = library.has(kDefinitionSymbol);
  const bool is_source = library.has(kSourceDefinitionSymbol);
  if (!library.has(kDescriptorSymbol) || is_model == is_source) {
    throw PluginLoadError(std::string("incomplete Ballista plugin: needs ") + kDescriptorSymbol + " and one of " +
                          kDefinitionSymbol + " (a model) or " + kSourceDefinitionSymbol + " (a data source)",
                          manifest.name);
  }
  const auto& descriptor = library.get_alias<const ballista_plugin_descriptor>(kDescriptorSymbol);
  const std::string torch_version = descriptor.torch_version != nullptr ? descriptor.torch_version : "";
  const std::string name = descriptor.name != nullptr ? descriptor.name : "";
  if (descriptor.sdk_abi != manifest.sdk_abi || torch_version != manifest.torch_version || name != manifest.name ||
      is_model != (manifest.kind == PluginKind::model)) {
    throw PluginLoadError("its descriptor (SDK ABI " + std::to_string(descriptor.sdk_abi) + ", LibTorch " +
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
