// Loading one plugin library: inspect it without running its code, check the SDK ABI,
// open it, check the descriptor, and obtain its definition. Every failure is a
// PluginLoadError whose message says why the file was refused.
#pragma once

#include "plugin_discovery.hpp"

#include <ballista/plugin.hpp>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace ballista::host {

struct LoadedPlugin {
  std::string name;
  std::string version;
  std::string summary;
  std::string torch_version;
  std::filesystem::path file;
  PluginKind kind = PluginKind::model;
  PluginDefinition definition;       // a model plugin's
  SourceDefinition source;           // a source plugin's

  // The declared parameters, of either kind.
  const std::vector<ParameterSpec>& parameters() const {
    return kind == PluginKind::model ? definition.parameters : source.parameters;
  }
};

// Inspects `file` (inspect_plugin_file: manifest, ABI, LibTorch version), checks who
// could have written it unless `allow_insecure` (open_plugin_file), then loads it
// through the checked descriptor and keeps it loaded for the rest of the process
// (LibTorch registers global state from plugins; unloading them is a known source of
// crashes at exit). Throws PluginLoadError: not a shared library, not a Ballista
// plugin, SDK ABI or LibTorch version mismatch (both sides named), a file others could
// have written, dlopen failure (its message), or a definition function that throws.
// A plugin's own code that crashes or stops the process while it loads cannot be
// turned into an error: the file is named on stderr before the process dies, and
// again if it takes more than a few seconds.
LoadedPlugin load_plugin_library(const std::filesystem::path& file, bool allow_insecure = false);
// The same for a file whose manifest was already read (scan_plugin_directories).
LoadedPlugin load_plugin_library(const DiscoveredPlugin& found, bool allow_insecure = false);

}  // namespace ballista::host
