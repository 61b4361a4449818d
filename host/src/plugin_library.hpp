// Loading one plugin library: inspect it without running its code, check the SDK ABI,
// open it, check the descriptor, and obtain its definition. Every failure is a
// PluginLoadError whose message says why the file was refused.
#pragma once

#include <ballista/plugin.hpp>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace ballista::host {

class PluginLoadError : public std::runtime_error {
 public:
  explicit PluginLoadError(const std::string& message, std::string plugin_name = {})
      : std::runtime_error(message), plugin_name_(std::move(plugin_name)) {}
  // The name from the plugin's descriptor, when it was read before the refusal.
  const std::string& plugin_name() const { return plugin_name_; }

 private:
  std::string plugin_name_;
};

enum class PluginKind { model, source };

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

// "model" or "source", as shown to users.
std::string plugin_kind_name(PluginKind kind);

// Loads `file` and keeps it loaded for the rest of the process (LibTorch registers
// global state from plugins; unloading them is a known source of crashes at exit).
// Throws PluginLoadError: not a shared library, not a Ballista plugin, SDK ABI or
// LibTorch version mismatch (both sides named), dlopen failure (its message), or a
// definition function that throws.
LoadedPlugin load_plugin_library(const std::filesystem::path& file);

}  // namespace ballista::host
