// What a plugin exports to be found: a plain C descriptor, readable before any C++
// object of the plugin is touched, and a definition (declared parameters + factory).
// A model plugin writes BALLISTA_PLUGIN(...) once, in one source file, and nothing else;
// a data source plugin (a simulator, see source.hpp) writes BALLISTA_SOURCE_PLUGIN(...).
//
// Both are exported through Boost.DLL aliases in the ELF section "ballista", under
// names that carry the SDK ABI number (ballista_descriptor_v7, ballista_definition_v7;
// a source plugin exports ballista_source_definition_v7 instead of the definition).
// The host lists that section's symbols without loading the library, so a plugin built
// for another ABI is refused before any of its code (static initialisers included) runs.
//
// Both macros also write a manifest (manifest.hpp) into the ELF section ".ballista_manifest": the
// same facts as the descriptor (ABI, kind, name, version, summary, LibTorch version)
// as NUL-separated key/value strings that the host reads from the file without loading
// it, so `ballista plugins` lists plugins without starting LibTorch (which takes ~0.4 s).
// NAME, VERSION and SUMMARY must therefore be string literals.
#pragma once

#include <ballista/manifest.hpp>
#include <ballista/model.hpp>
#include <ballista/parameters.hpp>
#include <ballista/source.hpp>
#include <ballista/version.hpp>

#include <boost/dll/alias.hpp>
#include <torch/version.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

extern "C" {
// Plain data, laid out identically in every SDK version that keeps this name.
struct ballista_plugin_descriptor {
  std::uint32_t sdk_abi;      // BALLISTA_SDK_ABI the plugin was compiled against
  const char* torch_version;  // TORCH_VERSION the plugin was compiled against
  const char* name;           // the name pipelines use: "knn"
  const char* version;        // the plugin's own version: "1.0.0"
  const char* summary;        // one line for `ballista plugins`
};
}

BALLISTA_NAMESPACE_BEGIN

// Builds a model from validated parameters. May throw ParameterError for values that
// pass their declared type and range but are still unusable.
using ModelFactory = std::function<std::unique_ptr<Model>(const Parameters&)>;

struct BALLISTA_API PluginDefinition {
  std::vector<ParameterSpec> parameters;
  ModelFactory create;
};

BALLISTA_NAMESPACE_END

#define BALLISTA_DETAIL_CONCAT_(a, b) a##b
#define BALLISTA_DETAIL_CONCAT(a, b) BALLISTA_DETAIL_CONCAT_(a, b)
#define BALLISTA_DESCRIPTOR_SYMBOL BALLISTA_DETAIL_CONCAT(ballista_descriptor_v, BALLISTA_SDK_ABI)
#define BALLISTA_DEFINITION_SYMBOL BALLISTA_DETAIL_CONCAT(ballista_definition_v, BALLISTA_SDK_ABI)
#define BALLISTA_SOURCE_DEFINITION_SYMBOL BALLISTA_DETAIL_CONCAT(ballista_source_definition_v, BALLISTA_SDK_ABI)

#define BALLISTA_PLUGIN(NAME, VERSION, SUMMARY, DEFINE)                                    \
  BALLISTA_PLUGIN_MANIFEST(BALLISTA_MANIFEST_KIND_MODEL, NAME, VERSION, SUMMARY, TORCH_VERSION)                 \
  namespace ballista_export {                                                              \
  extern const ::ballista_plugin_descriptor descriptor;                                    \
  const ::ballista_plugin_descriptor descriptor{BALLISTA_SDK_ABI, TORCH_VERSION, NAME,     \
                                                VERSION, SUMMARY};                          \
  ::ballista::PluginDefinition definition() { return DEFINE(); }                           \
  }                                                                                        \
  BOOST_DLL_ALIAS_SECTIONED(ballista_export::descriptor, BALLISTA_DESCRIPTOR_SYMBOL, ballista) \
  BOOST_DLL_ALIAS_SECTIONED(ballista_export::definition, BALLISTA_DEFINITION_SYMBOL, ballista)

#define BALLISTA_SOURCE_PLUGIN(NAME, VERSION, SUMMARY, DEFINE)                             \
  BALLISTA_PLUGIN_MANIFEST(BALLISTA_MANIFEST_KIND_SOURCE, NAME, VERSION, SUMMARY, TORCH_VERSION)                \
  namespace ballista_export {                                                              \
  extern const ::ballista_plugin_descriptor descriptor;                                    \
  const ::ballista_plugin_descriptor descriptor{BALLISTA_SDK_ABI, TORCH_VERSION, NAME,     \
                                                VERSION, SUMMARY};                          \
  ::ballista::SourceDefinition source_definition() { return DEFINE(); }                    \
  }                                                                                        \
  BOOST_DLL_ALIAS_SECTIONED(ballista_export::descriptor, BALLISTA_DESCRIPTOR_SYMBOL, ballista) \
  BOOST_DLL_ALIAS_SECTIONED(ballista_export::source_definition, BALLISTA_SOURCE_DEFINITION_SYMBOL, ballista)
