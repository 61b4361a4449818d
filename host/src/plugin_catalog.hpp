// Finding plugins: the search path, its precedence, and the list of what was found
// and what was refused (with reasons).
#pragma once

#include "plugin_library.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ballista::host {

struct PluginRefusal {
  std::filesystem::path file;
  std::string reason;
};

class PluginCatalog {
 public:
  // The directories searched, first match wins:
  //   1. each --plugin-path, in the order given;
  //   2. each entry of $BALLISTA_PLUGIN_PATH (':'-separated);
  //   3. ~/.local/lib/ballista/plugins (when $HOME is set);
  //   4. the bundled plugins, <dir of ballista>/../lib/ballista/plugins.
  // Never the current directory, unless named explicitly.
  static std::vector<std::filesystem::path> search_path(const std::vector<std::filesystem::path>& command_line);

  // Scans each directory for *.so files (in name order) and loads them.
  explicit PluginCatalog(std::vector<std::filesystem::path> directories);

  const std::vector<std::filesystem::path>& directories() const { return directories_; }
  const std::vector<LoadedPlugin>& plugins() const { return plugins_; }
  const std::vector<PluginRefusal>& refusals() const { return refusals_; }
  // Notes for the user: a plugin shadowed by an earlier one of the same name.
  const std::vector<std::string>& warnings() const { return warnings_; }

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
