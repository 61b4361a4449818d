// A trained model on disk (`.pt`): a LibTorch archive holding the file-format version,
// the plugin's name and version, the model's parameters, the input and target names,
// and the model's own archive (Model::save). Loading rebuilds the model through the
// plugin, in any process, and it predicts bit-identically.
#pragma once

#include "pipeline.hpp"
#include "plugin_catalog.hpp"

#include <ballista/model.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace ballista::host {

// Bumped when the layout of the file (not of a plugin's own archive) changes.
inline constexpr std::int64_t kModelFileFormat = 1;

struct SavedModel {
  std::string name;
  std::string plugin;
  std::string plugin_version;
  std::vector<std::string> input_names;
  std::vector<std::string> target_names;
  std::unique_ptr<Model> model;
};

// The bytes of a model file of `model` (trained from `spec`): its save() and what the
// host records about it, for write_file_atomically.
std::string model_file_bytes(const ModelSpec& spec, const LoadedPlugin& plugin, const Model& model,
                             const std::vector<std::string>& input_names,
                             const std::vector<std::string>& target_names);

// Reads a model file and rebuilds the model with the plugin of the same name found in
// `catalog`. First checks the zip's structure and the CRC-32 of every entry (LibTorch
// does not), then the stored parameters against the plugin's declaration, as a
// pipeline's are. Throws std::runtime_error, "FILE: what is wrong" on one line: not a
// model file, damaged (a checksum or the zip's layout), another format version, plugin
// not found, stored parameters the plugin does not accept, or a plugin that cannot
// read its archive.
SavedModel load_model_file(const std::filesystem::path& file, const PluginCatalog& catalog);

}  // namespace ballista::host
