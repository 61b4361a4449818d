// Finding plugins: the search path, its precedence, and the list of what was found
// and what was refused (with reasons). Every plugin is known from its manifest at once;
// its code is loaded only when a command asks for that plugin, so a plugin that
// crashes while it loads takes down only the commands that use it.
#pragma once

#include "plugin_library.hpp"

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ballista::host {

class PluginCatalog {
 public:
  // The directories searched, first match wins: plugin_search_path (plugin_discovery.hpp).
  static std::vector<std::filesystem::path> search_path(const std::vector<std::filesystem::path>& command_line);

  // Scans each directory (scan_plugin_directories: refuses files others could have
  // written, and files whose manifest says they do not fit this host) and keeps the
  // first plugin of each name; a later one of the same name is a warning. Runs no
  // plugin code: find() loads a plugin the first time it is asked for.
  explicit PluginCatalog(std::vector<std::filesystem::path> directories, bool allow_insecure = false);

  // The refusal of a file that holds plugin `name` (by its manifest, or else by the
  // file name NAME.so), or nullptr: lets "unknown plugin" say why it is missing. A
  // plugin that fails to load is refused by the find() that tried it.
  const PluginRefusal* refusal_for(std::string_view name) const;

  const std::vector<std::filesystem::path>& directories() const { return directories_; }
  // The plugins found, from their manifests, in search order, without loading any:
  // for the lists of known plugins in messages. One that failed to load is dropped.
  const std::vector<PluginListing::Entry>& available() const;
  // Every plugin, loaded: loads each one not loaded yet. Only for commands that need
  // them all (`schema`, `plugins --verbose`).
  const std::vector<LoadedPlugin>& plugins() const;
  // Every refusal, including those only loading finds: loads every plugin.
  const std::vector<PluginRefusal>& refusals() const;
  // Notes for the user: a plugin shadowed by an earlier one of the same name.
  const std::vector<std::string>& warnings() const { return warnings_; }
  // What `ballista plugins --verbose` prints: every plugin loaded and every refusal.
  PluginListing listing() const;

  // The plugin of that name, loaded now if it was not yet; nullptr if no plugin has
  // that name or it failed to load (refusal_for then says why).
  const LoadedPlugin* find(std::string_view name) const;
  // The names of the plugins available(), without loading any.
  std::vector<std::string> names() const;

 private:
  struct Candidate {
    DiscoveredPlugin found;
    std::unique_ptr<LoadedPlugin> loaded;  // stays put: find() hands out its address
    bool tried = false;
  };
  // Loads `candidate` unless tried before; false (and a refusal) if it failed.
  bool load(Candidate& candidate) const;
  void load_all() const;

  std::vector<std::filesystem::path> directories_;
  bool allow_insecure_ = false;
  std::vector<std::string> warnings_;
  mutable std::recursive_mutex mutex_;
  mutable std::vector<Candidate> candidates_;
  mutable std::vector<PluginListing::Entry> available_;
  mutable std::vector<PluginRefusal> refusals_;
  mutable std::vector<LoadedPlugin> all_loaded_;
  mutable bool all_tried_ = false;
};

}  // namespace ballista::host
