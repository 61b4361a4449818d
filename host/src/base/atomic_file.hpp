// Writing files so that a reader, or a run interrupted half-way, never sees one
// half-written under its final name.
#pragma once

#include <filesystem>
#include <string>

namespace ballista::host {

// Writes `content` to a temporary file beside the target, then renames it onto the
// target. The target is `path` with its symbolic links followed (a link stays a link and
// its file gets the content). An existing target that is not a regular file is written
// in place: a character device or a FIFO (`/dev/stdout`, a pipe that a process reads;
// a FIFO nobody reads is refused rather than waited on); a directory is refused.
// A failed write (a full disk, say) removes its temporary file and throws
// std::runtime_error naming the file and the reason. The first write into a directory
// also removes the temporary files of processes that no longer exist
// (`.NAME.tmp-PID`, left by a kill while writing).
void write_file_atomically(const std::filesystem::path& path, const std::string& content);

// `path` with every symbolic link in its last component followed (at most 40), the way
// open(2) would; a dangling link gives the path it points at.
std::filesystem::path resolve_final_link(const std::filesystem::path& path);

}  // namespace ballista::host
