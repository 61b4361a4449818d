// Model files (see model_file.hpp).
#include "model_file.hpp"

#include "atomic_file.hpp"

#include <ballista/archive.hpp>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <sstream>

namespace ballista::host {

namespace {

nlohmann::json to_json(const ParameterValue& value) {
  return std::visit([](const auto& v) { return nlohmann::json(v); }, value);
}

// Converts a stored value back to the type `spec` declares.
ParameterValue from_json(const nlohmann::json& value, const ParameterSpec& spec) {
  switch (spec.type()) {
    case ParameterType::integer: return value.get<std::int64_t>();
    case ParameterType::real: return value.get<double>();
    case ParameterType::boolean: return value.get<bool>();
    case ParameterType::string: return value.get<std::string>();
    case ParameterType::integer_list: return value.get<std::vector<std::int64_t>>();
    case ParameterType::string_list: return value.get<std::vector<std::string>>();
  }
  throw std::logic_error("unknown parameter type");
}

std::string read_string(torch::serialize::InputArchive& archive, const std::string& key) {
  c10::IValue value;
  if (!archive.try_read(key, value) || !value.isString()) {
    throw std::runtime_error("missing entry '" + key + "'");
  }
  return value.toStringRef();
}

}  // namespace

void save_model_file(const std::filesystem::path& file, const ModelSpec& spec, const LoadedPlugin& plugin,
                     const Model& model, const std::vector<std::string>& input_names,
                     const std::vector<std::string>& target_names) {
  nlohmann::json parameters = nlohmann::json::object();
  for (const auto& [name, value] : spec.parameters.values()) {
    parameters[name] = to_json(value);
  }
  torch::serialize::OutputArchive archive;
  archive.write("ballista.format", c10::IValue(kModelFileFormat));
  archive.write("ballista.name", c10::IValue(spec.name));
  archive.write("ballista.plugin", c10::IValue(plugin.name));
  archive.write("ballista.plugin_version", c10::IValue(plugin.version));
  archive.write("ballista.parameters", c10::IValue(parameters.dump()));
  write_strings(archive, "ballista.inputs", input_names);
  write_strings(archive, "ballista.targets", target_names);
  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomically(file, bytes.str());
}

SavedModel load_model_file(const std::filesystem::path& file, const PluginCatalog& catalog) {
  const auto fail = [&](const std::string& what) {
    return std::runtime_error(file.string() + ": " + what);
  };
  if (!std::filesystem::is_regular_file(file)) {
    throw fail("no such model file");
  }
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(file.string());
  } catch (const std::exception&) {
    throw fail("not a Ballista model file (not a LibTorch archive)");
  }
  SavedModel saved;
  std::string parameters_text;
  try {
    c10::IValue format;
    if (!archive.try_read("ballista.format", format) || !format.isInt()) {
      throw fail("not a Ballista model file (no format version)");
    }
    if (format.toInt() != kModelFileFormat) {
      throw fail("model file format " + std::to_string(format.toInt()) + ", this ballista reads format " +
                 std::to_string(kModelFileFormat));
    }
    saved.name = read_string(archive, "ballista.name");
    saved.plugin = read_string(archive, "ballista.plugin");
    saved.plugin_version = read_string(archive, "ballista.plugin_version");
    parameters_text = read_string(archive, "ballista.parameters");
    saved.input_names = read_strings(archive, "ballista.inputs");
    saved.target_names = read_strings(archive, "ballista.targets");
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    throw message.rfind(file.string(), 0) == 0 ? error : fail(message);
  }
  const auto* plugin = catalog.find(saved.plugin);
  if (plugin == nullptr) {
    throw fail("saved by plugin '" + saved.plugin + "', which is not installed (see `ballista plugins --verbose`)");
  }
  if (plugin->kind != PluginKind::model) {
    throw fail("saved by plugin '" + saved.plugin + "', but the plugin of that name found now is a data source");
  }
  const auto stored = nlohmann::json::parse(parameters_text);
  std::map<std::string, ParameterValue> values;
  for (const auto& spec : plugin->definition.parameters) {
    // A parameter the saving version did not have takes its current default.
    values[spec.name()] = stored.contains(spec.name()) ? from_json(stored.at(spec.name()), spec) : spec.default_value();
  }
  for (const auto& [name, value] : stored.items()) {
    if (values.count(name) == 0) {
      throw fail("saved with parameter '" + name + "', which plugin " + plugin->name + " " + plugin->version +
                 " does not declare (saved by version " + saved.plugin_version + ")");
    }
  }
  try {
    saved.model = plugin->definition.create(Parameters(values));
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    saved.model->load(model_archive);
  } catch (const std::exception& error) {
    std::string message = error.what();
    message.resize(std::min(message.size(), message.find('\n')));
    throw fail("plugin " + plugin->name + " could not restore the model: " + message);
  }
  return saved;
}

}  // namespace ballista::host
