// Diagnostics and "did you mean" suggestions (see diagnostics.hpp).
#include "diagnostics.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cxxabi.h>
#include <typeinfo>
#include <numeric>

namespace ballista::host {

namespace {

// Optimal-string-alignment distance: insertions, deletions, substitutions and
// transpositions of neighbours ("mpl" → "mlp") each cost one edit.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) {
    d[i][0] = i;
  }
  std::iota(d[0].begin(), d[0].end(), std::size_t{0});
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string join_messages(const std::vector<Diagnostic>& diagnostics) {
  std::string text;
  for (const auto& diagnostic : diagnostics) {
    text += (text.empty() ? "" : "\n") + diagnostic.str();
  }
  return text;
}

}  // namespace

std::string first_line(std::string_view text) { return std::string(text.substr(0, text.find('\n'))); }

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (std::size_t i = 0; i < items.size(); ++i) {
    text += (i == 0 ? "" : ", ") + items[i];
  }
  return text;
}

std::string non_standard_exception() {
  const std::type_info* type = abi::__cxa_current_exception_type();
  std::string name = type != nullptr ? type->name() : "unknown";
  int status = 0;
  if (char* demangled = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status); demangled != nullptr) {
    name = demangled;
    std::free(demangled);  // NOLINT(cppcoreguidelines-no-malloc): __cxa_demangle's contract
  }
  return "the plugin threw a value of type '" + name + "', which is not a std::exception";
}

bool is_valid_utf8(std::string_view text, std::size_t* bad_offset) {
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t code = 0;
    if (byte < 0x80) {
      length = 1;
      code = byte;
    } else if ((byte & 0xE0U) == 0xC0) {
      length = 2;
      code = byte & 0x1FU;
    } else if ((byte & 0xF0U) == 0xE0) {
      length = 3;
      code = byte & 0x0FU;
    } else if ((byte & 0xF8U) == 0xF0) {
      length = 4;
      code = byte & 0x07U;
    }
    bool valid = length != 0 && i + length <= text.size();
    for (std::size_t k = 1; valid && k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      valid = (next & 0xC0U) == 0x80;
      code = (code << 6U) | (next & 0x3FU);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    static constexpr std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    valid = valid && code >= kSmallest[length] && code <= 0x10FFFF && !(code >= 0xD800 && code <= 0xDFFF);
    if (!valid) {
      if (bad_offset != nullptr) {
        *bad_offset = i;
      }
      return false;
    }
    i += length;
  }
  return true;
}

std::string printable(std::string_view text, std::size_t limit) {
  std::string result;
  const auto shown = text.substr(0, limit);
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < shown.size();) {
    const auto byte = static_cast<unsigned char>(shown[i]);
    std::size_t bad = 0;
    if (byte >= 0x80) {
      // A whole UTF-8 sequence is kept; a broken one is escaped byte by byte.
      const std::size_t length = (byte & 0xE0U) == 0xC0 ? 2 : (byte & 0xF0U) == 0xE0 ? 3 : (byte & 0xF8U) == 0xF0 ? 4 : 1;
      if (length > 1 && i + length <= shown.size() && is_valid_utf8(shown.substr(i, length), &bad)) {
        result.append(shown.substr(i, length));
        i += length;
        continue;
      }
    } else if (byte >= 0x20 && byte != 0x7F) {
      result += static_cast<char>(byte);
      ++i;
      continue;
    }
    result += "\\x";
    result += kHex[byte >> 4U];
    result += kHex[byte & 0xFU];
    ++i;
  }
  if (text.size() > limit) {
    result += "... (" + std::to_string(text.size()) + " bytes)";
  }
  return result;
}

std::string SourceLocation::str() const {
  std::string text = file.string();
  if (line > 0) {
    text += ":" + std::to_string(line);
    if (column > 0) {
      text += ":" + std::to_string(column);
    }
  }
  return text;
}

InputError::InputError(std::vector<Diagnostic> diagnostics)
    : std::runtime_error(join_messages(diagnostics)), diagnostics_(std::move(diagnostics)) {}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  std::size_t best_distance = 0;
  for (const auto& candidate : candidates) {
    const std::size_t distance = edit_distance(word, candidate);
    if (best == nullptr || distance < best_distance) {
      best = &candidate;
      best_distance = distance;
    }
  }
  // Up to a third of the word may be wrong (at least one edit): "epoch" → "epochs".
  if (best != nullptr && best_distance <= std::max<std::size_t>(1, word.size() / 3)) {
    return " (did you mean '" + *best + "'?)";
  }
  return {};
}

std::string suggest(std::string_view word, const std::vector<std::string>& candidates) {
  if (auto close = did_you_mean(word, candidates); !close.empty()) {
    return close;
  }
  std::string list;
  for (const auto& candidate : candidates) {
    list += (list.empty() ? "" : ", ") + candidate;
  }
  return list.empty() ? std::string() : " (allowed: " + list + ")";
}

}  // namespace ballista::host
