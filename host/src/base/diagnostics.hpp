// Errors in user input, as values: where (file:line:column), what was expected, what was
// found. A loader collects all of them before giving up, so a user fixes a file in one go.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ballista::host {

struct SourceLocation {
  std::filesystem::path file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
  std::string str() const;
};

struct Diagnostic {
  SourceLocation location;
  std::string message;
  std::string str() const { return location.str() + ": error: " + message; }
};

// Thrown with every diagnostic found; what() lists them one per line.
class InputError : public std::runtime_error {
 public:
  explicit InputError(std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

// `text` as it may be echoed in a message: bytes that are not printable UTF-8 (control
// characters, escape sequences, invalid UTF-8) as \xNN, and at most `limit` bytes of it
// followed by "... (N bytes)", so an error never prints megabytes or drives the terminal.
std::string printable(std::string_view text, std::size_t limit = 80);

// `text` up to its first line break: what a message says, without the C++ backtrace
// LibTorch's messages go on with.
std::string first_line(std::string_view text);

// "a, b, c".
std::string join(const std::vector<std::string>& items);

// Inside a `catch (...)`: "the plugin threw a value of type 'int', which is not a
// std::exception", for a plugin that throws something other than an exception.
std::string non_standard_exception();

// Whether `text` is well-formed UTF-8; if not, `bad_offset` gets the first bad byte.
bool is_valid_utf8(std::string_view text, std::size_t* bad_offset = nullptr);

// " (did you mean 'epochs'?)" when a candidate is within a small edit distance of
// `word` (a third of its length, at least one edit), otherwise "".
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

// " (did you mean 'epochs'?)" when a candidate is within a small edit distance of
// `word`, otherwise " (allowed: a, b, c)".
std::string suggest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace ballista::host
