// Finding plugins: the search path, its precedence, and the list of what was found
// and what was refused (with reasons).
#pragma once

#include "plugin_library.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ballista::host {

class PluginCatalog {
 public:
  // The directories searched, first match wins: plugin_search_path (plugin_discovery.hpp).
  static std::vector<std::filesystem::path> search_path(const std::vector<std::filesystem::path>& command_line);

  // Scans each directory (scan_plugin_directories: refuses files others could have
  // written, and files whose manifest says they do not fit this host) and loads the
  // rest, keeping the first plugin of each name.
  explicit PluginCatalog(std::vector<std::filesystem::path> directories, bool allow_insecure = false);

  // The refusal of a file that holds plugin `name` (by its descriptor, or else by the
  // file name NAME.so), or nullptr: lets "unknown plugin" say why it is missing.
  const PluginRefusal* refusal_for(std::string_view name) const;

  const std::vector<std::filesystem::path>& directories() const { return directories_; }
  const std::vector<LoadedPlugin>& plugins() const { return plugins_; }
  const std::vector<PluginRefusal>& refusals() const { return refusals_; }
  // Notes for the user: a plugin shadowed by an earlier one of the same name.
  const std::vector<std::string>& warnings() const { return warnings_; }
  // What `ballista plugins --verbose` prints: the loaded plugins and every refusal.
  PluginListing listing() const;

  // nullptr if no plugin has that name.
  const LoadedPlugin* find(std::string_view name) const;
  std::vector<std::string> names() const;

 private:
  std::vector<std::filesystem::path> directories_;
  std::vector<LoadedPlugin> plugins_;
  std::vector<PluginRefusal> refusals_;
  std::vector<std::string> warnings_;
};

}  // namespace ballista::host
