// Plugin search path, discovery and loading on demand (see plugin_catalog.hpp).
#include "plugin_catalog.hpp"

#include <algorithm>

namespace ballista::host {

std::vector<std::filesystem::path> PluginCatalog::search_path(
    const std::vector<std::filesystem::path>& command_line) {
  return plugin_search_path(command_line);
}

PluginCatalog::PluginCatalog(std::vector<std::filesystem::path> directories, bool allow_insecure)
    : directories_(std::move(directories)), allow_insecure_(allow_insecure) {
  auto scan = scan_plugin_directories(directories_, allow_insecure);
  auto manifests = listing_from_manifests(scan);
  available_ = std::move(manifests.plugins);
  warnings_ = std::move(manifests.warnings);
  for (const auto& entry : available_) {
    const auto found = std::find_if(scan.found.begin(), scan.found.end(),
                                    [&](const DiscoveredPlugin& candidate) { return candidate.file == entry.file; });
    candidates_.push_back({*found, nullptr, false});
  }
  // Room for every refusal loading can add, so refusal_for's pointers stay valid.
  refusals_ = std::move(scan.refusals);
  refusals_.reserve(refusals_.size() + candidates_.size());
}

bool PluginCatalog::load(Candidate& candidate) const {
  if (candidate.tried) {
    return candidate.loaded != nullptr;
  }
  candidate.tried = true;
  try {
    candidate.loaded = std::make_unique<LoadedPlugin>(load_plugin_library(candidate.found, allow_insecure_));
    return true;
  } catch (const PluginLoadError& refusal) {
    refusals_.push_back({candidate.found.file, refusal.what(), candidate.found.manifest.name, refusal.reason()});
    std::erase_if(available_, [&](const PluginListing::Entry& entry) { return entry.file == candidate.found.file; });
    return false;
  }
}

void PluginCatalog::load_all() const {
  const std::lock_guard lock(mutex_);
  if (all_tried_) {
    return;
  }
  for (auto& candidate : candidates_) {
    if (load(candidate)) {
      all_loaded_.push_back(*candidate.loaded);
    }
  }
  all_tried_ = true;
}

const std::vector<PluginListing::Entry>& PluginCatalog::available() const { return available_; }

const std::vector<LoadedPlugin>& PluginCatalog::plugins() const {
  load_all();
  return all_loaded_;
}

const std::vector<PluginRefusal>& PluginCatalog::refusals() const {
  load_all();
  return refusals_;
}

PluginListing PluginCatalog::listing() const {
  load_all();
  PluginListing listing;
  listing.directories = directories_;
  for (const auto& plugin : all_loaded_) {
    listing.plugins.push_back({plugin.name, plugin.kind, plugin.version, plugin.file, plugin.summary});
  }
  listing.refusals = refusals_;
  listing.warnings = warnings_;
  return listing;
}

const LoadedPlugin* PluginCatalog::find(std::string_view name) const {
  const std::lock_guard lock(mutex_);
  const auto found = std::find_if(candidates_.begin(), candidates_.end(),
                                  [&](const Candidate& candidate) { return candidate.found.manifest.name == name; });
  return found != candidates_.end() && load(*found) ? found->loaded.get() : nullptr;
}

const PluginRefusal* PluginCatalog::refusal_for(std::string_view name) const {
  const std::lock_guard lock(mutex_);
  for (const auto& refusal : refusals_) {
    if (refusal.name == name || (refusal.name.empty() && refusal.file.stem().string() == name)) {
      return &refusal;
    }
  }
  return nullptr;
}

std::vector<std::string> PluginCatalog::names() const {
  const std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  for (const auto& entry : available_) {
    names.push_back(entry.name);
  }
  return names;
}

}  // namespace ballista::host
