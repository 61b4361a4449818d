// What a name written in a pipeline may be: the pipeline's, a set's and a model's (each
// becomes a file or directory name), and an identifier of the expression language.
// Shared by the loader's sections, which report a bad name where it was written; which
// names are taken or declared already is theirs to know.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>

namespace ballista::host {

// Whether `text` is non-empty, starts with a character of `first` (or a letter or
// digit where allowed) and continues with letters, digits or characters of `rest`.
// Hand-written: std::regex recurses per character and overflows the stack on long text.
inline bool is_word(std::string_view text, bool digit_first, std::string_view first, std::string_view rest) {
  if (text.empty()) {
    return false;
  }
  const auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  const char head = text.front();
  if (!(std::isalpha(static_cast<unsigned char>(head)) != 0 || (digit_first && alnum(head)) ||
        first.find(head) != std::string_view::npos)) {
    return false;
  }
  return std::all_of(text.begin() + 1, text.end(),
                     [&](char c) { return alnum(c) || rest.find(c) != std::string_view::npos; });
}

// Names of pipelines, sets and models: letters, digits, '_', '.', '-'.
inline bool is_plain_name(std::string_view text) { return is_word(text, true, "_.-", "_.-"); }

// What is wrong with `name` as a name that becomes a file or directory name (a run, a
// set's CSV, a model's file): empty when nothing. Names starting with '.' would be
// hidden files, '.' and '..' would escape their directory, and a name must leave room
// in the 255 bytes of a file name for its extension and a temporary file's suffix.
inline constexpr std::size_t kMaxNameLength = 200;
inline std::string file_name_problem(std::string_view name) {
  if (name == "." || name == "..") {
    return "'" + std::string(name) + "' names a directory, not a file";
  }
  if (!name.empty() && name.front() == '.') {
    return "names must not start with '.' (the files would be hidden)";
  }
  if (name.size() > kMaxNameLength) {
    return "names are at most " + std::to_string(kMaxNameLength) + " characters (they become file names), found " +
           std::to_string(name.size());
  }
  return {};
}

// An identifier of the expression language.
inline bool is_identifier(std::string_view text) { return is_word(text, false, "_", "_"); }

}  // namespace ballista::host
