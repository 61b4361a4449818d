// Writing files so that a reader, or a run interrupted half-way, never sees one
// half-written under its final name.
#pragma once

#include <filesystem>
#include <string>

namespace ballista::host {

// Writes `content` to a temporary file beside `path`, then renames it onto `path`.
// Throws std::runtime_error if the file cannot be written.
void write_file_atomically(const std::filesystem::path& path, const std::string& content);

}  // namespace ballista::host
