// The plugin manifest: what a plugin says about itself in a form the host reads from
// the file without loading it (so `ballista plugins` runs without LibTorch). This
// header is the one definition of its format, for both sides: BALLISTA_PLUGIN and
// BALLISTA_SOURCE_PLUGIN (plugin.hpp) write it, the host's plugin discovery reads it.
// It includes nothing of LibTorch, so code compiled without LibTorch can use it.
//
// Format: the ELF section BALLISTA_MANIFEST_SECTION holds the magic string, then
// key/value pairs, every string ending in a NUL:
//   "ballista-manifest\0" "abi\0" "6\0" "kind\0" "model\0" "name\0" "knn\0"
//   "version\0" "1.0.0\0" "summary\0" "...\0" "torch\0" "1.13.0"
// The keys are macros so that the writer can paste them into one string literal.
#pragma once

#include <ballista/version.hpp>

#include <string_view>

#define BALLISTA_MANIFEST_SECTION ".ballista_manifest"
#define BALLISTA_MANIFEST_MAGIC "ballista-manifest"
#define BALLISTA_MANIFEST_KEY_ABI "abi"          // BALLISTA_SDK_ABI, in decimal
#define BALLISTA_MANIFEST_KEY_KIND "kind"        // BALLISTA_MANIFEST_KIND_MODEL or _SOURCE
#define BALLISTA_MANIFEST_KEY_NAME "name"        // the name pipelines use
#define BALLISTA_MANIFEST_KEY_VERSION "version"  // the plugin's own version
#define BALLISTA_MANIFEST_KEY_SUMMARY "summary"  // one line for `ballista plugins`
#define BALLISTA_MANIFEST_KEY_TORCH "torch"      // the TORCH_VERSION it was compiled against
#define BALLISTA_MANIFEST_KIND_MODEL "model"
#define BALLISTA_MANIFEST_KIND_SOURCE "source"

#define BALLISTA_DETAIL_STRINGIFY_(x) #x
#define BALLISTA_DETAIL_STRINGIFY(x) BALLISTA_DETAIL_STRINGIFY_(x)

// Writes the manifest. KIND is BALLISTA_MANIFEST_KIND_MODEL or _SOURCE; NAME, VERSION,
// SUMMARY and TORCH are string literals (TORCH is TORCH_VERSION, unless a test fixture
// pretends to be built against another LibTorch).
#define BALLISTA_PLUGIN_MANIFEST(KIND, NAME, VERSION, SUMMARY, TORCH)                          \
  namespace ballista_export {                                                                  \
  [[gnu::used, gnu::section(BALLISTA_MANIFEST_SECTION)]] const char manifest[] =               \
      BALLISTA_MANIFEST_MAGIC "\0" BALLISTA_MANIFEST_KEY_ABI "\0" BALLISTA_DETAIL_STRINGIFY(    \
          BALLISTA_SDK_ABI) "\0" BALLISTA_MANIFEST_KEY_KIND "\0" KIND "\0" BALLISTA_MANIFEST_KEY_NAME \
          "\0" NAME "\0" BALLISTA_MANIFEST_KEY_VERSION "\0" VERSION "\0" BALLISTA_MANIFEST_KEY_SUMMARY \
          "\0" SUMMARY "\0" BALLISTA_MANIFEST_KEY_TORCH "\0" TORCH;                             \
  }

BALLISTA_NAMESPACE_BEGIN
// The same names for the reader.
namespace manifest_format {
inline constexpr std::string_view kSection = BALLISTA_MANIFEST_SECTION;
inline constexpr std::string_view kMagic = BALLISTA_MANIFEST_MAGIC;
inline constexpr std::string_view kAbi = BALLISTA_MANIFEST_KEY_ABI;
inline constexpr std::string_view kKind = BALLISTA_MANIFEST_KEY_KIND;
inline constexpr std::string_view kName = BALLISTA_MANIFEST_KEY_NAME;
inline constexpr std::string_view kVersion = BALLISTA_MANIFEST_KEY_VERSION;
inline constexpr std::string_view kSummary = BALLISTA_MANIFEST_KEY_SUMMARY;
inline constexpr std::string_view kTorch = BALLISTA_MANIFEST_KEY_TORCH;
inline constexpr std::string_view kKindModel = BALLISTA_MANIFEST_KIND_MODEL;
inline constexpr std::string_view kKindSource = BALLISTA_MANIFEST_KIND_SOURCE;
}  // namespace manifest_format
BALLISTA_NAMESPACE_END
