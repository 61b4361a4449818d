// Plugin search path and discovery (see plugin_catalog.hpp).
#include "plugin_catalog.hpp"

#include <boost/dll/runtime_symbol_info.hpp>

#include <sys/stat.h>
#include <unistd.h>

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
  path.push_back((program.parent_path().parent_path() / BALLISTA_PLUGIN_RELATIVE_DIR).lexically_normal());
  return path;
}

namespace {

// Why loading `file` would run code that someone else could have put there, or "".
std::string insecurity(const std::filesystem::path& file) {
  struct stat file_status {};
  struct stat directory_status {};
  if (::stat(file.c_str(), &file_status) != 0) {
    return {};  // loading reports the problem
  }
  const auto mode_text = [](mode_t mode) {
    std::ostringstream text;
    text << std::oct << (mode & 07777U);
    return "mode 0" + text.str();
  };
  if ((file_status.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return "the file is writable by " + std::string((file_status.st_mode & S_IWOTH) != 0 ? "every user" : "its group") +
           " (" + mode_text(file_status.st_mode) + "): chmod go-w it, or pass --allow-insecure-plugins";
  }
  if (file_status.st_uid != 0 && file_status.st_uid != ::geteuid()) {
    return "the file belongs to another user (uid " + std::to_string(file_status.st_uid) +
           "): only root's and your own plugins are loaded, unless --allow-insecure-plugins";
  }
  const auto directory = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
  if (::stat(directory.c_str(), &directory_status) == 0 && (directory_status.st_mode & S_ISVTX) == 0 &&
      (directory_status.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return "its directory " + directory.string() + " is writable by " +
           std::string((directory_status.st_mode & S_IWOTH) != 0 ? "every user" : "its group") + " (" +
           mode_text(directory_status.st_mode) + "): chmod go-w it, or pass --allow-insecure-plugins";
  }
  return {};
}

}  // namespace

PluginCatalog::PluginCatalog(std::vector<std::filesystem::path> directories, bool allow_insecure)
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
      if (!allow_insecure) {
        if (auto reason = insecurity(file); !reason.empty()) {
          refusals_.push_back({file, "not loaded: " + reason, {}});
          continue;
        }
      }
      try {
        auto plugin = load_plugin_library(file);
        if (const auto* first = find(plugin.name)) {
          warnings_.push_back("plugin '" + plugin.name + "' in " + file.string() + " is shadowed by " +
                              first->file.string() + ", found first");
          continue;
        }
        plugins_.push_back(std::move(plugin));
      } catch (const PluginLoadError& refusal) {
        refusals_.push_back({file, refusal.what(), refusal.plugin_name()});
      }
    }
  }
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
