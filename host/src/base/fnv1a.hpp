// FNV-1a, 64 bits: a fast, stable hash of text, for labels and names that must give the
// same number on every machine and in every run (derived seeds, run directory ids).
// Not for security: anyone can make two texts collide.
#pragma once

#include <cstdint>
#include <string_view>

namespace ballista::host {

inline constexpr std::uint64_t kFnv1aOffsetBasis = 14695981039346656037ULL;

// The hash of TEXT, continuing from HASH (the offset basis for a fresh one), so several
// texts can be hashed as if concatenated.
constexpr std::uint64_t fnv1a(std::string_view text, std::uint64_t hash = kFnv1aOffsetBasis) {
  for (const char c : text) {
    hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  }
  return hash;
}

}  // namespace ballista::host
