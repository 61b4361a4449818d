// Diagnostics and "did you mean" suggestions (see diagnostics.hpp).
#include "diagnostics.hpp"

#include <algorithm>
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
