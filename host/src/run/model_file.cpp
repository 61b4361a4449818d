// Model files (see model_file.hpp).
#include "model_file.hpp"

#include "json_text.hpp"
#include "parameter_yaml.hpp"

#include <ballista/archive.hpp>

#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <string_view>
#include <system_error>

namespace ballista::host {

namespace {

nlohmann::json to_json(const ParameterValue& value) {
  return std::visit([](const auto& v) { return nlohmann::json(v); }, value);
}

std::string read_string(torch::serialize::InputArchive& archive, const std::string& key) {
  c10::IValue value;
  if (!archive.try_read(key, value) || !value.isString()) {
    throw std::runtime_error("missing entry '" + key + "'");
  }
  return value.toStringRef();
}


// ---- The zip's own checks -------------------------------------------------------------
//
// LibTorch 1.13 reads zip entries without checking their CRC-32 (its miniz is built with
// MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS): a file with bytes changed inside a stored
// tensor loads and predicts whatever those bytes now say. So every entry is checked
// here, on the bytes that are then loaded, before anything in the file is trusted.

// A zip record field: little-endian, `width` bytes at `offset`, inside `bytes`.
std::uint64_t field(std::string_view bytes, std::uint64_t offset, int width) {
  if (offset > bytes.size() || bytes.size() - offset < static_cast<std::uint64_t>(width)) {
    throw std::runtime_error("damaged: a zip record runs past the end of the file (the file was truncated?)");
  }
  std::uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) {
    value = (value << 8U) | static_cast<unsigned char>(bytes[offset + static_cast<std::uint64_t>(i)]);
  }
  return value;
}

// A name from the file as it may be shown on one line.
std::string printable(std::string_view name) {
  std::string text(name);
  for (auto& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) {
      c = '?';
    }
  }
  return text;
}

// CRC-32 of a raw deflate stream's output (zip method 8); throws if the stream does
// not inflate to exactly `size` bytes.
std::uint32_t inflated_crc32(std::string_view compressed, std::uint64_t size, const std::string& name) {
  if (compressed.size() > std::numeric_limits<uInt>::max()) {
    throw std::runtime_error("damaged: entry '" + name + "' is compressed and larger than 4 GiB, which LibTorch "
                             "does not write");
  }
  z_stream stream{};
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) {
    throw std::runtime_error("cannot check entry '" + name + "': zlib's inflate did not start");
  }
  std::array<unsigned char, 1 << 16> buffer{};
  uLong crc = crc32_z(0, nullptr, 0);
  std::uint64_t total = 0;
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  int status = Z_OK;
  while (status == Z_OK) {
    stream.next_out = buffer.data();
    stream.avail_out = static_cast<uInt>(buffer.size());
    status = inflate(&stream, Z_NO_FLUSH);
    const auto produced = buffer.size() - stream.avail_out;
    crc = crc32_z(crc, buffer.data(), produced);
    total += produced;
    if ((status == Z_BUF_ERROR && stream.avail_in == 0) || total > size) {
      break;  // the input ended before the stream did, or it inflates to more than recorded
    }
  }
  inflateEnd(&stream);
  if (status != Z_STREAM_END || total != size || stream.avail_in != 0) {
    throw std::runtime_error("damaged: entry '" + name + "' does not inflate to its recorded size (the file was "
                             "changed or truncated)");
  }
  return static_cast<std::uint32_t>(crc);
}

// Checks the zip's structure and the CRC-32 of every entry. LibTorch's writer stores
// tensors uncompressed and deflates only its code entries.
void verify_zip(std::string_view bytes) {
  constexpr std::uint64_t kEndRecord = 22;
  const auto damaged = [](const std::string& what) { return std::runtime_error("damaged: " + what); };
  // The end-of-directory record, with its comment, ends the file.
  std::optional<std::uint64_t> end;
  for (std::uint64_t back = 0; bytes.size() >= kEndRecord + back && back <= 0xFFFF; ++back) {
    const auto at = bytes.size() - kEndRecord - back;
    if (field(bytes, at, 4) == 0x06054b50 && field(bytes, at + 20, 2) == back) {
      end = at;
      break;
    }
  }
  if (!end) {
    if (bytes.substr(0, 4) != std::string_view("PK\x03\x04", 4)) {
      throw std::runtime_error("not a Ballista model file (not a LibTorch archive)");
    }
    throw damaged("the zip directory at the end of the file is missing (the file was truncated?)");
  }
  std::uint64_t entries = field(bytes, *end + 10, 2);
  std::uint64_t directory_size = field(bytes, *end + 12, 4);
  std::uint64_t directory = field(bytes, *end + 16, 4);
  std::uint64_t directory_end = *end;
  const bool saturated = entries == 0xFFFF || directory_size == 0xFFFFFFFF || directory == 0xFFFFFFFF;
  if (saturated || (*end >= 20 && field(bytes, *end - 20, 4) == 0x07064b50)) {
    // Zip64, as LibTorch writes: a locator just before the record points to the
    // zip64 end record, which follows the directory and holds the full-width figures.
    if (*end < 20 || field(bytes, *end - 20, 4) != 0x07064b50) {
      throw damaged("the zip64 locator before the end of the zip directory is missing");
    }
    const auto record = field(bytes, *end - 20 + 8, 8);
    if (record > *end - 20 || field(bytes, record, 4) != 0x06064b50) {
      throw damaged("the zip64 end record is not where its locator says");
    }
    const auto wide_entries = field(bytes, record + 32, 8);
    const auto wide_size = field(bytes, record + 40, 8);
    const auto wide_directory = field(bytes, record + 48, 8);
    // Readers take either figure: both must agree.
    if (!saturated && (wide_entries != entries || wide_size != directory_size || wide_directory != directory)) {
      throw damaged("the two end records of the zip directory disagree (the file was changed)");
    }
    entries = wide_entries;
    directory_size = wide_size;
    directory = wide_directory;
    directory_end = record;
  }
  if (directory > directory_end || directory_end - directory != directory_size) {
    throw damaged("the zip directory's recorded place does not match the file (the file was changed or truncated)");
  }
  if (entries == 0) {
    throw std::runtime_error("not a Ballista model file (an empty zip)");
  }
  std::uint64_t at = directory;
  for (std::uint64_t entry = 0; entry < entries; ++entry) {
    if (at >= directory_end || field(bytes, at, 4) != 0x02014b50) {
      throw damaged("zip directory entry " + std::to_string(entry + 1) + " of " + std::to_string(entries) +
                    " is not where the directory says");
    }
    const auto flags = field(bytes, at + 8, 2);
    const auto method = field(bytes, at + 10, 2);
    const auto crc = field(bytes, at + 16, 4);
    std::uint64_t compressed_size = field(bytes, at + 20, 4);
    std::uint64_t size = field(bytes, at + 24, 4);
    const auto name_length = field(bytes, at + 28, 2);
    const auto extra_length = field(bytes, at + 30, 2);
    const auto comment_length = field(bytes, at + 32, 2);
    std::uint64_t local = field(bytes, at + 42, 4);
    if (at + 46 + name_length + extra_length + comment_length > directory_end) {
      throw damaged("zip directory entry " + std::to_string(entry + 1) + " runs past the directory");
    }
    const auto name_bytes = bytes.substr(at + 46, name_length);
    const auto name = printable(name_bytes);
    // Sizes and offsets too large for 4 bytes are in the zip64 extra field, in this order.
    for (std::uint64_t extra = at + 46 + name_length; extra + 4 <= at + 46 + name_length + extra_length;) {
      const auto id = field(bytes, extra, 2);
      const auto length = field(bytes, extra + 2, 2);
      if (id == 0x0001) {
        std::uint64_t next = extra + 4;
        for (auto* value : {&size, &compressed_size, &local}) {
          if (*value == 0xFFFFFFFF && next + 8 <= extra + 4 + length) {
            *value = field(bytes, next, 8);
            next += 8;
          }
        }
      }
      extra += 4 + length;
    }
    // Encrypted or patch data (flag bits 0, 5, 6), or another compression method.
    if ((flags & 0x61U) != 0 || (method != 0 && method != 8)) {
      throw damaged("entry '" + name + "' is encrypted or compressed with method " + std::to_string(method) +
                    ", which LibTorch does not write");
    }
    // LibTorch's reader (miniz) extracts nothing from a directory and reports success,
    // leaving a tensor's memory as it was allocated: one flipped attribute bit did that.
    if ((!name_bytes.empty() && name_bytes.back() == '/') || (field(bytes, at + 38, 4) & 0x10U) != 0) {
      throw damaged("entry '" + name + "' is marked as a directory, which LibTorch does not write (the file was "
                    "changed)");
    }
    if (local > directory || directory - local < 30 + name_length || field(bytes, local, 4) != 0x04034b50 ||
        field(bytes, local + 26, 2) != name_length || bytes.substr(local + 30, name_length) != name_bytes) {
      throw damaged("the local header of entry '" + name + "' is not where the zip directory says");
    }
    const auto data = local + 30 + name_length + field(bytes, local + 28, 2);
    if (data > directory || directory - data < compressed_size || (method == 0 && compressed_size != size)) {
      throw damaged("entry '" + name + "' runs past its place in the file (the file was changed or truncated)");
    }
    const auto content = bytes.substr(data, compressed_size);
    const auto actual = method == 0 ? static_cast<std::uint32_t>(crc32_z(crc32_z(0, nullptr, 0),
                                                                          reinterpret_cast<const Bytef*>(content.data()),
                                                                          content.size()))
                                    : inflated_crc32(content, size, name);
    if (actual != crc) {
      throw damaged("the CRC-32 of entry '" + name + "' does not match (the file was changed or truncated)");
    }
    at += 46 + name_length + extra_length + comment_length;
  }
  if (at != directory_end) {
    throw damaged("the zip directory holds more than its " + std::to_string(entries) + " entries");
  }
}

std::string read_whole_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string bytes;
  if (in) {
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (!in && !in.eof()) {
    throw std::runtime_error("cannot read the file: " + std::generic_category().message(errno));
  }
  return bytes;
}

// ---- Stored parameters ---------------------------------------------------------------

// The stored parameters as the plugin's declaration reads them, checked exactly as a
// pipeline's are (each JSON value is read as the same text in YAML, a superset).
Parameters stored_parameters(const std::string& text, const LoadedPlugin& plugin, const std::string& saved_version) {
  nlohmann::json stored;
  try {
    stored = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {
    throw std::runtime_error("the stored parameters are not JSON: " + first_line(error.what()));
  }
  if (!stored.is_object()) {
    throw std::runtime_error("the stored parameters are not a JSON object: " + printable(json_text(stored).substr(0, 80)));
  }
  std::map<std::string, ParameterValue> values;
  std::vector<std::string> problems;
  for (const auto& spec : plugin.definition.parameters) {
    if (!stored.contains(spec.name())) {
      // A parameter the saving version did not have takes its current default; the
      // version that declares it wrote it, and a required one has no default.
      if (spec.is_required() || saved_version == plugin.version) {
        problems.push_back("stored parameter '" + spec.name() + "' is missing (" + spec.allowed() + ")");
      }
      values[spec.name()] = spec.default_value();
      continue;
    }
    const auto written = json_text(stored.at(spec.name()));
    const auto value = parse_parameter(written, spec);
    const auto problem = value ? spec.check(*value) : "must be " + spec.allowed() + ", found " + written;
    if (!problem.empty()) {
      problems.push_back("stored parameter '" + spec.name() + "' " + problem);
      continue;
    }
    values[spec.name()] = *value;
  }
  const auto& declared = plugin.definition.parameters;
  std::string undeclared;
  for (const auto& [name, value] : stored.items()) {
    if (std::none_of(declared.begin(), declared.end(), [&](const ParameterSpec& spec) { return spec.name() == name; })) {
      undeclared += (undeclared.empty() ? "'" : ", '") + printable(name) + "'";
    }
  }
  if (!undeclared.empty()) {
    const bool one = undeclared.find("', '") == std::string::npos;
    problems.push_back((one ? "stored parameter " : "stored parameters ") + undeclared +
                       (one ? " is" : " are") + " not declared by plugin " + plugin.name + " " + plugin.version +
                       " (saved by version " + printable(saved_version) + ")");
  }
  if (!problems.empty()) {
    std::string message;
    for (const auto& problem : problems) {
      message += (message.empty() ? "" : "; ") + problem;
    }
    throw std::runtime_error(message);
  }
  return Parameters(std::move(values));
}

SavedModel read_model_file(const std::filesystem::path& file, const PluginCatalog& catalog) {
  if (!std::filesystem::exists(file)) {
    throw std::runtime_error("no such model file");
  }
  if (!std::filesystem::is_regular_file(file)) {
    throw std::runtime_error("not a model file (a directory or a special file)");
  }
  const auto bytes = read_whole_file(file);
  verify_zip(bytes);
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(bytes.data(), bytes.size());
  } catch (const std::exception& error) {
    throw std::runtime_error("not a Ballista model file (not a LibTorch archive: " + first_line(error.what()) + ")");
  }
  SavedModel saved;
  c10::IValue format;
  if (!archive.try_read("ballista.format", format) || !format.isInt()) {
    throw std::runtime_error("not a Ballista model file (no format version)");
  }
  if (format.toInt() != kModelFileFormat) {
    throw std::runtime_error("model file format " + std::to_string(format.toInt()) + ", this ballista reads format " +
                             std::to_string(kModelFileFormat));
  }
  saved.name = read_string(archive, "ballista.name");
  saved.plugin = read_string(archive, "ballista.plugin");
  saved.plugin_version = read_string(archive, "ballista.plugin_version");
  const auto parameters_text = read_string(archive, "ballista.parameters");
  saved.input_names = read_strings(archive, "ballista.inputs");
  saved.target_names = read_strings(archive, "ballista.targets");
  const auto* plugin = catalog.find(saved.plugin);
  if (plugin == nullptr) {
    throw std::runtime_error("saved by plugin '" + printable(saved.plugin) +
                             "', which is not installed (see `ballista plugins --verbose`)");
  }
  if (plugin->kind != PluginKind::model) {
    throw std::runtime_error("saved by plugin '" + printable(saved.plugin) +
                             "', but the plugin of that name found now is a data source");
  }
  const auto parameters = stored_parameters(parameters_text, *plugin, saved.plugin_version);
  try {
    saved.model = plugin->definition.create(parameters);
  } catch (const ParameterError& problem) {
    throw std::runtime_error("stored parameter '" + problem.parameter() + "': " + first_line(problem.what()));
  } catch (const std::exception& error) {
    throw std::runtime_error("plugin " + plugin->name + " could not create the model from the stored parameters: " +
                             first_line(error.what()));
  }
  try {
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    saved.model->load(model_archive);
  } catch (const std::exception& error) {
    throw std::runtime_error("plugin " + plugin->name + " could not restore the model: " + first_line(error.what()));
  }
  return saved;
}

}  // namespace

std::string model_file_bytes(const ModelSpec& spec, const LoadedPlugin& plugin, const Model& model,
                             const std::vector<std::string>& input_names,
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
  archive.write("ballista.parameters", c10::IValue(json_text(parameters)));
  write_strings(archive, "ballista.inputs", input_names);
  write_strings(archive, "ballista.targets", target_names);
  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  return bytes.str();
}

SavedModel load_model_file(const std::filesystem::path& file, const PluginCatalog& catalog) {
  // Every problem, from the plugin's load() and LibTorch too, is one line that names
  // the file: LibTorch's messages go on with C++ frames after their first line.
  try {
    return read_model_file(file, catalog);
  } catch (const std::exception& error) {
    throw std::runtime_error(file.string() + ": " + first_line(error.what()));
  }
}

}  // namespace ballista::host
