// Finding plugin files and reading their manifests without loading them (see
// plugin_discovery.hpp). No LibTorch here: the launcher links this file.
#include "plugin_discovery.hpp"

#include "diagnostics.hpp"
#include "libtorch_version.hpp"

#include <ballista/manifest.hpp>
#include <ballista/version.hpp>

#include <boost/dll/library_info.hpp>
#include <boost/dll/runtime_symbol_info.hpp>
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <sstream>
#include <utility>

namespace ballista::host {

const char* refusal_reason_name(RefusalReason reason) {
  switch (reason) {
    case RefusalReason::not_a_library:
      return "not_a_library";
    case RefusalReason::abi_mismatch:
      return "abi_mismatch";
    case RefusalReason::libtorch_mismatch:
      return "libtorch_mismatch";
    case RefusalReason::load_failed:
      return "load_failed";
    case RefusalReason::definition_threw:
      return "definition_threw";
    case RefusalReason::insecure_file:
      return "insecure_file";
    case RefusalReason::not_a_plugin:
      break;
  }
  return "not_a_plugin";
}

std::string plugin_kind_name(PluginKind kind) { return kind == PluginKind::model ? "model" : "source"; }

namespace {

#if defined(__x86_64__)
constexpr std::uint16_t kThisMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr std::uint16_t kThisMachine = EM_AARCH64;
#else
#error "plugin_discovery.cpp: add this machine's ELF e_machine"
#endif

// A file read piece by piece, every read checked against its size.
class ElfFile {
 public:
  explicit ElfFile(const std::filesystem::path& file) : stream_(file, std::ios::binary) {
    if (!stream_) {
      throw PluginLoadError(RefusalReason::load_failed, "cannot be read: " + std::string(std::strerror(errno)));  // NOLINT(concurrency-mt-unsafe)
    }
    stream_.seekg(0, std::ios::end);
    size_ = static_cast<std::uint64_t>(stream_.tellg());
  }

  std::string bytes(std::uint64_t offset, std::uint64_t count) {
    if (offset > size_ || count > size_ - offset) {
      throw PluginLoadError(RefusalReason::not_a_library, "not a loadable shared library (truncated or corrupt ELF file: " + std::to_string(count) +
                            " bytes at offset " + std::to_string(offset) + " of " + std::to_string(size_) + ")");
    }
    std::string data(count, '\0');
    stream_.seekg(static_cast<std::streamoff>(offset));
    stream_.read(data.data(), static_cast<std::streamsize>(count));
    if (!stream_) {
      throw PluginLoadError(RefusalReason::load_failed, "cannot be read at offset " + std::to_string(offset));
    }
    return data;
  }

  template <class T>
  T read(std::uint64_t offset) {
    const auto data = bytes(offset, sizeof(T));
    T value{};
    std::memcpy(&value, data.data(), sizeof(T));
    return value;
  }

 private:
  std::ifstream stream_;
  std::uint64_t size_ = 0;
};

// The ABI number in the name of the descriptor symbol, from the symbol table alone.
std::optional<unsigned long> abi_from_symbols(const std::filesystem::path& file) {
  std::vector<std::string> symbols;
  try {
    boost::dll::library_info info(file, /*throw_if_not_native=*/true);
    symbols = info.symbols("ballista");
  } catch (const std::exception& error) {
    throw PluginLoadError(RefusalReason::not_a_library, std::string("not a loadable shared library (") + error.what() + ")");
  }
  static const std::regex pattern("ballista_descriptor_v([0-9]+)");
  for (const auto& symbol : symbols) {
    std::smatch match;
    if (std::regex_match(symbol, match, pattern)) {
      return std::stoul(match[1].str());
    }
  }
  return std::nullopt;
}

std::string abi_mismatch(unsigned long abi) {
  return "built for SDK ABI " + std::to_string(abi) + ", this host uses SDK ABI " + std::to_string(BALLISTA_SDK_ABI) +
         "; rebuild the plugin against this SDK";
}

}  // namespace

std::optional<std::string> read_elf_section(const std::filesystem::path& file, std::string_view section,
                                            std::size_t limit) {
  ElfFile elf(file);
  const auto header = elf.read<Elf64_Ehdr>(0);
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0) {
    throw PluginLoadError(RefusalReason::not_a_library, "not a loadable shared library (not an ELF file)");
  }
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB ||
      header.e_machine != kThisMachine) {
    throw PluginLoadError(RefusalReason::not_a_library, "not a loadable shared library (an ELF file for another machine: class " +
                          std::to_string(header.e_ident[EI_CLASS]) + ", machine " + std::to_string(header.e_machine) +
                          ")");
  }
  if (header.e_type != ET_DYN) {
    throw PluginLoadError(RefusalReason::not_a_library, "not a loadable shared library (ELF type " + std::to_string(header.e_type) +
                          ", not a shared object)");
  }
  if (header.e_shoff == 0 || header.e_shnum == 0 || header.e_shstrndx == SHN_UNDEF) {
    return std::nullopt;  // no section table, so no manifest
  }
  if (header.e_shstrndx >= header.e_shnum || header.e_shentsize < sizeof(Elf64_Shdr) ||
      header.e_shoff > std::numeric_limits<std::uint64_t>::max() / 2) {
    throw PluginLoadError(RefusalReason::not_a_library, "not a loadable shared library (corrupt ELF header: section table at " +
                          std::to_string(header.e_shoff) + ", " + std::to_string(header.e_shnum) + " sections of " +
                          std::to_string(header.e_shentsize) + " bytes, names in section " +
                          std::to_string(header.e_shstrndx) + ")");
  }
  // e_shoff is below 2^63 and index * e_shentsize below 2^32: the sum cannot wrap.
  const auto section_header = [&](std::uint64_t index) {
    return elf.read<Elf64_Shdr>(header.e_shoff + index * header.e_shentsize);
  };
  const auto names = section_header(header.e_shstrndx);
  const auto name_table = elf.bytes(names.sh_offset, std::min<std::uint64_t>(names.sh_size, 1U << 20U));
  for (std::uint64_t index = 1; index < header.e_shnum; ++index) {
    const auto candidate = section_header(index);
    if (candidate.sh_name >= name_table.size()) {
      continue;
    }
    const std::string_view name(name_table.c_str() + candidate.sh_name);
    if (name != section) {
      continue;
    }
    if (candidate.sh_type == SHT_NOBITS) {
      return std::string();
    }
    return elf.bytes(candidate.sh_offset, std::min<std::uint64_t>(candidate.sh_size, limit));
  }
  return std::nullopt;
}

PluginManifest inspect_plugin_file(const std::filesystem::path& file) {
  const auto section = read_elf_section(file, manifest_format::kSection);
  if (!section) {
    const auto abi = abi_from_symbols(file);
    if (!abi) {
      throw PluginLoadError(RefusalReason::not_a_plugin, "not a Ballista plugin (no ballista_descriptor_vN symbol in section 'ballista')");
    }
    if (*abi != BALLISTA_SDK_ABI) {
      throw PluginLoadError(RefusalReason::abi_mismatch, abi_mismatch(*abi));
    }
    throw PluginLoadError(RefusalReason::not_a_plugin, "incomplete Ballista plugin: no " BALLISTA_MANIFEST_SECTION " section (BALLISTA_PLUGIN writes it)");
  }
  // The magic, then key\0value\0 pairs (<ballista/manifest.hpp>): split at NULs.
  std::vector<std::string> fields;
  std::string field;
  for (const char c : *section) {
    if (c == '\0') {
      fields.push_back(field);
      field.clear();
    } else {
      field += c;
    }
  }
  fields.push_back(field);
  if (fields.empty() || fields[0] != manifest_format::kMagic) {
    throw PluginLoadError(RefusalReason::not_a_plugin, "incomplete Ballista plugin: its " BALLISTA_MANIFEST_SECTION " section does not start with "
                          "\"" BALLISTA_MANIFEST_MAGIC "\"");
  }
  std::map<std::string, std::string> values;
  for (std::size_t i = 1; i + 1 < fields.size(); i += 2) {
    values[fields[i]] = fields[i + 1];
  }
  const auto value = [&](std::string_view key) {
    const auto found = values.find(std::string(key));
    return found == values.end() ? std::string() : found->second;
  };
  PluginManifest manifest;
  const auto abi = value(manifest_format::kAbi);
  if (abi.empty() || abi.find_first_not_of("0123456789") != std::string::npos || abi.size() > 9) {
    throw PluginLoadError(RefusalReason::not_a_plugin, "incomplete Ballista plugin: its manifest has no valid 'abi' (got '" + printable(abi) + "')");
  }
  manifest.sdk_abi = std::stoul(abi);
  manifest.name = value(manifest_format::kName);
  // The name is printed by `plugins` and in messages, and written in pipelines: escape
  // sequences, newlines or bytes that are not UTF-8 would drive the terminal or forge lines.
  if (constexpr std::size_t kLongestName = 200;
      !manifest.name.empty() && (printable(manifest.name, kLongestName) != manifest.name || manifest.name.find(' ') != std::string::npos)) {
    throw PluginLoadError(RefusalReason::not_a_plugin, "its manifest's plugin name '" + printable(manifest.name) +
                          "' is not a name (printable UTF-8 without spaces, at most " + std::to_string(kLongestName) +
                          " bytes)");
  }
  if (manifest.sdk_abi != BALLISTA_SDK_ABI) {
    throw PluginLoadError(RefusalReason::abi_mismatch, abi_mismatch(manifest.sdk_abi), manifest.name);
  }
  const auto kind = value(manifest_format::kKind);
  if (kind != manifest_format::kKindModel && kind != manifest_format::kKindSource) {
    throw PluginLoadError(RefusalReason::not_a_plugin, "incomplete Ballista plugin: its manifest's kind is '" + printable(kind) +
                              "' (allowed: model, source)",
                          manifest.name);
  }
  manifest.kind = kind == manifest_format::kKindModel ? PluginKind::model : PluginKind::source;
  if (manifest.name.empty()) {
    throw PluginLoadError(RefusalReason::not_a_plugin, "incomplete Ballista plugin: its manifest has no plugin name");
  }
  // Shown by `plugins`: what cannot be printed as it is is escaped.
  manifest.version = printable(value(manifest_format::kVersion));
  manifest.summary = printable(value(manifest_format::kSummary), 400);
  manifest.torch_version = value(manifest_format::kTorch);
  if (manifest.torch_version != kLibTorchVersion) {
    throw PluginLoadError(RefusalReason::libtorch_mismatch, "built against LibTorch " + printable(manifest.torch_version) + ", this host uses LibTorch " +
                              kLibTorchVersion,
                          manifest.name);
  }
  return manifest;
}

namespace {

std::string mode_text(mode_t mode) {
  std::ostringstream text;
  text << std::oct << (mode & 07777U);
  return "mode 0" + text.str();
}

bool trusted_owner(uid_t owner) { return owner == 0 || owner == ::geteuid(); }

std::string writable_by(mode_t mode) { return (mode & S_IWOTH) != 0 ? "every user" : "its group"; }

// What makes the plugin file that `status` describes unsafe to load, or "".
std::string file_insecurity(const struct stat& status) {
  if ((status.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return "the file is writable by " + writable_by(status.st_mode) + " (" + mode_text(status.st_mode) +
           "): chmod go-w it, or pass --allow-insecure-plugins";
  }
  if (!trusted_owner(status.st_uid)) {
    return "the file belongs to another user (uid " + std::to_string(status.st_uid) +
           "): only root's and your own plugins are loaded, unless --allow-insecure-plugins";
  }
  return {};
}

// The first of `directory` and the directories above it, up to `/`, that someone
// other than root or the caller could change (and so replace what lies below), with
// how, or "". Each is examined through stat, so a link on the way is judged by where
// it leads, and the directory holding the link by its own entry in the chain.
std::string directory_insecurity(const std::filesystem::path& directory) {
  for (auto current = directory;; current = current.parent_path()) {
    const auto what = current == directory ? "its directory " + current.string()
                                           : "the directory " + current.string() + " above it";
    struct stat status {};
    if (::stat(current.c_str(), &status) != 0) {
      return what + " cannot be examined: " + std::strerror(errno);  // NOLINT(concurrency-mt-unsafe)
    }
    if (!trusted_owner(status.st_uid)) {
      return what + " belongs to another user (uid " + std::to_string(status.st_uid) +
             "): only plugins in directories of root's and your own are loaded, unless --allow-insecure-plugins";
    }
    if ((status.st_mode & S_ISVTX) == 0 && (status.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      return what + " is writable by " + writable_by(status.st_mode) + " (" + mode_text(status.st_mode) +
             ", without the sticky bit): chmod go-w it, or pass --allow-insecure-plugins";
    }
    if (!current.has_relative_path()) {
      return {};  // reached `/`
    }
  }
}

// insecurity() of `file`, whose real path is `real` and whose status (or its open
// descriptor's) is `status`.
std::string insecurity_of(const std::filesystem::path& file, const std::filesystem::path& real,
                          const struct stat& status) {
  std::error_code error;
  const auto named = std::filesystem::absolute(file, error).lexically_normal();
  const bool linked = error || named != real;
  // A link is judged by its target; the target's directories are named after the link.
  const std::string via = linked ? "it links to " + real.string() + ": " : "";
  if (auto reason = file_insecurity(status); !reason.empty()) {
    return via + reason;
  }
  if (!error) {
    if (auto reason = directory_insecurity(named.parent_path()); !reason.empty()) {
      return reason;
    }
  }
  if (linked) {
    if (auto reason = directory_insecurity(real.parent_path()); !reason.empty()) {
      return via + reason;
    }
  }
  return {};
}

}  // namespace

std::string insecurity(const std::filesystem::path& file) {
  std::error_code error;
  const auto real = std::filesystem::canonical(file, error);
  struct stat status {};
  if (error || ::stat(real.c_str(), &status) != 0) {
    return {};  // loading reports the problem
  }
  return insecurity_of(file, real, status);
}

OpenedPluginFile::OpenedPluginFile(int descriptor, std::filesystem::path real_path)
    : descriptor_(descriptor), real_path_(std::move(real_path)) {}

OpenedPluginFile::OpenedPluginFile(OpenedPluginFile&& other) noexcept
    : descriptor_(std::exchange(other.descriptor_, -1)), real_path_(std::move(other.real_path_)) {}

OpenedPluginFile::~OpenedPluginFile() {
  if (descriptor_ >= 0) {
    (void)::close(descriptor_);
  }
}

std::filesystem::path OpenedPluginFile::loadable_path() const {
  // glibc's dlopen opens the magic link as the descriptor's file, whatever its path
  // names by then. Without /proc, the real path (its directories were checked).
  const auto through_descriptor = std::filesystem::path("/proc/self/fd") / std::to_string(descriptor_);
  return ::access(through_descriptor.c_str(), R_OK) == 0 ? through_descriptor : real_path_;
}

OpenedPluginFile open_plugin_file(const std::filesystem::path& file, bool allow_insecure) {
  std::error_code error;
  auto real = std::filesystem::canonical(file, error);
  if (error) {
    throw PluginLoadError(RefusalReason::load_failed, "cannot be opened: " + error.message());
  }
  // The real path has no links left; O_NOFOLLOW refuses one put in its place since.
  const int descriptor = ::open(real.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);  // NOLINT(cppcoreguidelines-pro-type-vararg)
  if (descriptor < 0) {
    throw PluginLoadError(RefusalReason::load_failed, "cannot be opened: " + std::string(std::strerror(errno)));  // NOLINT(concurrency-mt-unsafe)
  }
  OpenedPluginFile opened(descriptor, real);
  struct stat status {};
  if (::fstat(descriptor, &status) != 0 || !S_ISREG(status.st_mode)) {
    throw PluginLoadError(RefusalReason::load_failed, "cannot be loaded: " + real.string() + " is not a regular file");
  }
  if (!allow_insecure) {
    // The open file is judged, then its directories; only their owners can change
    // them, so if the path still leads to the open file afterwards, that file is the
    // one the checks were about.
    if (auto reason = insecurity_of(file, real, status); !reason.empty()) {
      throw PluginLoadError(RefusalReason::insecure_file, "not loaded: " + reason);
    }
    struct stat now {};
    if (::stat(real.c_str(), &now) != 0 || now.st_dev != status.st_dev || now.st_ino != status.st_ino) {
      throw PluginLoadError(RefusalReason::insecure_file, "not loaded: " + real.string() + " was replaced while it was being checked");
    }
  }
  return opened;
}

std::filesystem::path installation_prefix() {
  const auto program = std::filesystem::path(boost::dll::program_location());
  // The engine sits in PREFIX/LIBDIR/ballista, next to the plugins directory.
  const std::filesystem::path engine_directory = std::filesystem::path(BALLISTA_PLUGIN_RELATIVE_DIR).parent_path();
  if (program.filename() == "ballista-engine") {
    auto prefix = program.parent_path();
    for (auto part = engine_directory.begin(); part != engine_directory.end(); ++part) {
      prefix = prefix.parent_path();
    }
    return prefix;
  }
  return program.parent_path().parent_path();
}

std::vector<std::filesystem::path> plugin_search_path(const std::vector<std::filesystem::path>& command_line) {
  std::vector<std::filesystem::path> path = command_line;
  // Discovery runs on the main thread before any other starts: getenv is safe here.
  if (const char* environment = std::getenv("BALLISTA_PLUGIN_PATH")) {  // NOLINT(concurrency-mt-unsafe)
    std::stringstream entries(environment);
    std::string entry;
    while (std::getline(entries, entry, ':')) {
      if (!entry.empty()) {
        path.emplace_back(entry);
      }
    }
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {  // NOLINT(concurrency-mt-unsafe)
    path.push_back(std::filesystem::path(home) / ".local/lib/ballista/plugins");
  }
  path.push_back((installation_prefix() / BALLISTA_PLUGIN_RELATIVE_DIR).lexically_normal());
  return path;
}

PluginScan scan_plugin_directories(const std::vector<std::filesystem::path>& directories, bool allow_insecure) {
  PluginScan scan;
  scan.directories = directories;
  for (const auto& directory : directories) {
    std::error_code error;
    if (!std::filesystem::is_directory(directory, error)) {
      continue;
    }
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
      if (entry.path().extension() == ".so" && entry.is_regular_file(error)) {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      if (!allow_insecure) {
        if (auto reason = insecurity(file); !reason.empty()) {
          // Its manifest only gives the refusal a plugin name (reading it runs nothing).
          std::string name;
          try {
            name = inspect_plugin_file(file).name;
          } catch (const PluginLoadError& refusal) {
            name = refusal.plugin_name();
          }
          scan.refusals.push_back({file, "not loaded: " + reason, name, RefusalReason::insecure_file});
          continue;
        }
      }
      try {
        scan.found.push_back({file, inspect_plugin_file(file)});
      } catch (const PluginLoadError& refusal) {
        scan.refusals.push_back({file, refusal.what(), refusal.plugin_name(), refusal.reason()});
      }
    }
  }
  return scan;
}

std::string shadowing_warning(const std::string& name, const std::filesystem::path& shadowed,
                              const std::filesystem::path& first) {
  return "plugin '" + name + "' in " + shadowed.string() + " is shadowed by " + first.string() + ", found first";
}

PluginListing listing_from_manifests(const PluginScan& scan) {
  PluginListing listing;
  listing.directories = scan.directories;
  listing.refusals = scan.refusals;
  for (const auto& [file, manifest] : scan.found) {
    const auto first = std::find_if(listing.plugins.begin(), listing.plugins.end(),
                                    [&](const PluginListing::Entry& entry) { return entry.name == manifest.name; });
    if (first != listing.plugins.end()) {
      listing.warnings.push_back(shadowing_warning(manifest.name, file, first->file));
      continue;
    }
    listing.plugins.push_back({manifest.name, manifest.kind, manifest.version, file, manifest.summary});
  }
  return listing;
}

void print_columns(const std::vector<std::vector<std::string>>& rows, std::ostream& out) {
  std::vector<std::size_t> widths;
  for (const auto& cells : rows) {
    widths.resize(std::max(widths.size(), cells.size()), 0);
    for (std::size_t c = 0; c < cells.size(); ++c) {
      widths[c] = std::max(widths[c], cells[c].size());
    }
  }
  for (const auto& cells : rows) {
    std::string line;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      line += cells[c];
      if (c + 1 < cells.size()) {
        line += std::string(widths[c] - cells[c].size() + 2, ' ');
      }
    }
    out << line << '\n';
  }
}

int print_plugin_listing(const PluginListing& listing, bool verbose, std::ostream& out) {
  std::vector<std::vector<std::string>> rows{{"NAME", "KIND", "VERSION", "FILE", "SUMMARY"}};
  for (const auto& plugin : listing.plugins) {
    rows.push_back({plugin.name, plugin_kind_name(plugin.kind), plugin.version, plugin.file.string(), plugin.summary});
  }
  print_columns(rows, out);
  if (listing.plugins.empty()) {
    out << "(no plugins found; `ballista plugins --verbose` shows where it looked)\n";
  }
  for (const auto& warning : listing.warnings) {
    out << "warning: " << warning << '\n';
  }
  if (verbose) {
    out << "\nSearch path (first match wins):\n";
    for (const auto& directory : listing.directories) {
      std::error_code error;
      out << "  " << directory.string() << (std::filesystem::is_directory(directory, error) ? "" : "  (missing)")
          << '\n';
    }
    out << "\nRefused files:\n";
    if (listing.refusals.empty()) {
      out << "  (none)\n";
    }
    for (const auto& refusal : listing.refusals) {
      out << "  " << refusal.file.string() << ": " << refusal.reason << '\n';
    }
  }
  return 0;
}

}  // namespace ballista::host
