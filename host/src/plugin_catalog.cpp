// Plugin search path and discovery (see plugin_catalog.hpp).
#include "plugin_catalog.hpp"

#include <boost/dll/runtime_symbol_info.hpp>

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace ballista::host {

std::vector<std::filesystem::path> PluginCatalog::search_path(
    const std::vector<std::filesystem::path>& command_line) {
  std::vector<std::filesystem::path> path = command_line;
  // Discovery runs on the main thread before any other starts: getenv is safe here.
  if (const char* environment = std::getenv("BALLISTA_PLUGIN_PATH")) {  // NOLINT(concurrency-mt-unsafe)
    std::stringstream entries(environment);
    std::string entry;
    while (std::getline(entries, entry, ':')) {
      if (!entry.empty()) {
        path.emplace_back(entry);
      }
    }
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {  // NOLINT(concurrency-mt-unsafe)
    path.push_back(std::filesystem::path(home) / ".local/lib/ballista/plugins");
  }
  const auto program = std::filesystem::path(boost::dll::program_location());
  path.push_back((program.parent_path().parent_path() / "lib/ballista/plugins").lexically_normal());
  return path;
}

PluginCatalog::PluginCatalog(std::vector<std::filesystem::path> directories)
    : directories_(std::move(directories)) {
  for (const auto& directory : directories_) {
    std::error_code error;
    if (!std::filesystem::is_directory(directory, error)) {
      continue;
    }
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
      if (entry.path().extension() == ".so" && entry.is_regular_file(error)) {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      try {
        auto plugin = load_plugin_library(file);
        if (const auto* first = find(plugin.name)) {
          warnings_.push_back("plugin '" + plugin.name + "' in " + file.string() + " is shadowed by " +
                              first->file.string() + ", found first");
          continue;
        }
        plugins_.push_back(std::move(plugin));
      } catch (const PluginLoadError& refusal) {
        refusals_.push_back({file, refusal.what()});
      }
    }
  }
}

const LoadedPlugin* PluginCatalog::find(std::string_view name) const {
  const auto found = std::find_if(plugins_.begin(), plugins_.end(),
                                  [&](const LoadedPlugin& plugin) { return plugin.name == name; });
  return found == plugins_.end() ? nullptr : &*found;
}

std::vector<std::string> PluginCatalog::names() const {
  std::vector<std::string> names;
  for (const auto& plugin : plugins_) {
    names.push_back(plugin.name);
  }
  return names;
}

}  // namespace ballista::host
