// `ballista new-plugin NAME [--dir DIR]`: a ready out-of-tree project for a new model
// plugin, which builds against the installed SDK and passes `ballista check-plugin`
// as written.
#pragma once

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace ballista::host {

// The files of the project for plugin NAME, relative to its directory, with their text.
// Throws std::invalid_argument when NAME is not a lower-case identifier.
std::vector<std::pair<std::filesystem::path, std::string>> plugin_scaffold(const std::string& name);

// Writes the scaffold into `directory` (default: ./NAME), which must not exist or be
// empty, and prints what to do next. Exit status 0, or 2 with the reason.
int new_plugin_command(const std::string& name, const std::optional<std::filesystem::path>& directory,
                       std::ostream& out);

}  // namespace ballista::host
