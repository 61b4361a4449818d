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
  std::string name;  // the plugin's name when its descriptor could be read, else empty
};

class PluginCatalog {
 public:
  // The directories searched, first match wins:
  //   1. each --plugin-path, in the order given;
  //   2. each entry of $BALLISTA_PLUGIN_PATH (':'-separated);
  //   3. ~/.local/lib/ballista/plugins (when $HOME is set);
  //   4. the bundled plugins, <dir of ballista>/../LIBDIR/ballista/plugins (LIBDIR as
  //      configured: lib, or lib/x86_64-linux-gnu for prefix /usr on Debian).
  // Never the current directory, unless named explicitly.
  static std::vector<std::filesystem::path> search_path(const std::vector<std::filesystem::path>& command_line);

  // Scans each directory for *.so files (in name order) and loads them. Unless
  // `allow_insecure`, a file is refused without being opened when it, or the directory
  // holding it, is writable by users other than its owner (group or others, a
  // directory's sticky bit excepted), or when it is owned by another user than root or
  // the one running ballista: loading a plugin runs its code.
  explicit PluginCatalog(std::vector<std::filesystem::path> directories, bool allow_insecure = false);

  // The refusal of a file that holds plugin `name` (by its descriptor, or else by the
  // file name NAME.so), or nullptr: lets "unknown plugin" say why it is missing.
  const PluginRefusal* refusal_for(std::string_view name) const;

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
