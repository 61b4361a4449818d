// Plugin search path and discovery (see plugin_catalog.hpp).
#include "plugin_catalog.hpp"

#include <algorithm>

namespace ballista::host {

std::vector<std::filesystem::path> PluginCatalog::search_path(
    const std::vector<std::filesystem::path>& command_line) {
  return plugin_search_path(command_line);
}

PluginCatalog::PluginCatalog(std::vector<std::filesystem::path> directories, bool allow_insecure)
    : directories_(std::move(directories)) {
  auto scan = scan_plugin_directories(directories_, allow_insecure);
  refusals_ = std::move(scan.refusals);
  for (const auto& found : scan.found) {
    try {
      auto plugin = load_plugin_library(found);
      if (const auto* first = find(plugin.name)) {
        warnings_.push_back(shadowing_warning(plugin.name, found.file, first->file));
        continue;
      }
      plugins_.push_back(std::move(plugin));
    } catch (const PluginLoadError& refusal) {
      refusals_.push_back({found.file, refusal.what(), refusal.plugin_name()});
    }
  }
}

PluginListing PluginCatalog::listing() const {
  PluginListing listing;
  listing.directories = directories_;
  for (const auto& plugin : plugins_) {
    listing.plugins.push_back({plugin.name, plugin.kind, plugin.version, plugin.file, plugin.summary});
  }
  listing.refusals = refusals_;
  listing.warnings = warnings_;
  return listing;
}

const LoadedPlugin* PluginCatalog::find(std::string_view name) const {
  const auto found = std::find_if(plugins_.begin(), plugins_.end(),
                                  [&](const LoadedPlugin& plugin) { return plugin.name == name; });
  return found == plugins_.end() ? nullptr : &*found;
}

const PluginRefusal* PluginCatalog::refusal_for(std::string_view name) const {
  for (const auto& refusal : refusals_) {
    if (refusal.name == name || (refusal.name.empty() && refusal.file.stem().string() == name)) {
      return &refusal;
    }
  }
  return nullptr;
}

std::vector<std::string> PluginCatalog::names() const {
  std::vector<std::string> names;
  for (const auto& plugin : plugins_) {
    names.push_back(plugin.name);
  }
  return names;
}

}  // namespace ballista::host
