// Finding plugin files and reading what they are without loading them: the search
// path, the checks on who could have written a file, and the manifest each plugin
// carries in its ELF section ".ballista_manifest" (see <ballista/plugin.hpp>).
//
// Nothing here includes or links LibTorch, so the `ballista` launcher can list the
// plugins (`ballista plugins`) in milliseconds; loading a plugin's code is
// plugin_library.hpp's job.
#pragma once

#include <filesystem>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ballista::host {

// Why a plugin file was refused, as a closed set (the message says it in words).
enum class RefusalReason {
  not_a_library,      // not a loadable shared library: not ELF, another machine, truncated
  not_a_plugin,       // a library without a complete Ballista descriptor and manifest
  abi_mismatch,       // built against another SDK ABI
  libtorch_mismatch,  // built against another LibTorch
  load_failed,        // could not be read, opened or loaded (dlopen: a missing dependency)
  definition_threw,   // its definition function threw
  insecure_file,      // others could have written it (unless --allow-insecure-plugins)
};

// "not_a_library", "abi_mismatch", ...: the enumerator's name.
const char* refusal_reason_name(RefusalReason reason);

// Why a file was refused. The name is the plugin's when its manifest could be read.
class PluginLoadError : public std::runtime_error {
 public:
  PluginLoadError(RefusalReason reason, const std::string& message, std::string plugin_name = {})
      : std::runtime_error(message), reason_(reason), plugin_name_(std::move(plugin_name)) {}
  RefusalReason reason() const { return reason_; }
  const std::string& plugin_name() const { return plugin_name_; }

 private:
  RefusalReason reason_;
  std::string plugin_name_;
};

enum class PluginKind { model, source };

// "model" or "source", as shown to users.
std::string plugin_kind_name(PluginKind kind);

// What a plugin file says it is, read from its manifest section.
struct PluginManifest {
  unsigned long sdk_abi = 0;
  PluginKind kind = PluginKind::model;
  std::string name;
  std::string version;
  std::string summary;
  std::string torch_version;
};

// The bytes of the ELF section `section` of `file`, or nullopt when the file has no
// such section. Throws PluginLoadError when the file is not a 64-bit little-endian
// ELF object for this machine, or is truncated or inconsistent; reads at most
// `limit` bytes of the section. Runs nothing from the file.
std::optional<std::string> read_elf_section(const std::filesystem::path& file, std::string_view section,
                                            std::size_t limit = 1U << 16U);

// The manifest of a plugin file, checked against this host: ABI and LibTorch version
// equal, kind, name and version present. Throws PluginLoadError with the reason
// otherwise (not a shared library, not a Ballista plugin, built for another SDK ABI
// or LibTorch: both sides named). The ABI of a file without a manifest is read from
// its symbol table, so a plugin of an older SDK is told to be rebuilt.
PluginManifest inspect_plugin_file(const std::filesystem::path& file);

// Why loading `file` would run code that someone else could have put there, or "",
// checked as the dynamic loader's secure mode would: the file itself (followed through
// any link) writable by group or others, or owned by another user than root or the
// caller; or any directory from the file's own up to `/` (on the path as named and on
// the file's real path, when a link leads elsewhere) writable by group or others
// without the sticky bit, or owned by another user than root or the caller.
std::string insecurity(const std::filesystem::path& file);

// A plugin file opened for loading by open_plugin_file. Loading it through
// loadable_path() loads the very file that was checked, whatever is done to its path
// between the check and the load. Closes the descriptor when it dies.
class OpenedPluginFile {
 public:
  OpenedPluginFile(int descriptor, std::filesystem::path real_path);
  OpenedPluginFile(const OpenedPluginFile&) = delete;
  OpenedPluginFile(OpenedPluginFile&& other) noexcept;
  OpenedPluginFile& operator=(const OpenedPluginFile&) = delete;
  OpenedPluginFile& operator=(OpenedPluginFile&&) = delete;
  ~OpenedPluginFile();
  // "/proc/self/fd/N", which dlopen opens as the descriptor's file; the real path
  // where /proc is not mounted.
  std::filesystem::path loadable_path() const;
  const std::filesystem::path& real_path() const { return real_path_; }
  // Leaves the descriptor open for the life of the process. Called once the library
  // is loaded: glibc knows a library by the name it was opened by, so
  // "/proc/self/fd/N" must never name another file while the library stays loaded.
  void keep_open() { descriptor_ = -1; }

 private:
  int descriptor_;
  std::filesystem::path real_path_;
};

// Opens the real path of `file` (O_NOFOLLOW) and, unless `allow_insecure`, checks the
// open file as insecurity() does, and that the path still leads to it after its
// directories were checked. Throws PluginLoadError with the reason ("not loaded: …").
OpenedPluginFile open_plugin_file(const std::filesystem::path& file, bool allow_insecure);

// The plugin directories, first match wins:
//   1. each --plugin-path, in the order given;
//   2. each entry of $BALLISTA_PLUGIN_PATH (':'-separated);
//   3. ~/.local/lib/ballista/plugins (when $HOME is set);
//   4. the bundled plugins, PREFIX/LIBDIR/ballista/plugins, where PREFIX is found
//      from the running program (`ballista` in PREFIX/bin, its engine in
//      PREFIX/LIBDIR/ballista, or a test program in BUILD/bin).
// Never the current directory, unless named explicitly.
std::vector<std::filesystem::path> plugin_search_path(const std::vector<std::filesystem::path>& command_line);

// The installation (or build) prefix of the running program.
std::filesystem::path installation_prefix();

struct PluginRefusal {
  std::filesystem::path file;
  std::string reason;  // in words: "not loaded: the file is writable by others (...)"
  std::string name;    // the plugin's name when its manifest could be read, else empty
  RefusalReason why = RefusalReason::not_a_plugin;
};

struct DiscoveredPlugin {
  std::filesystem::path file;
  PluginManifest manifest;
};

// Every *.so in each directory (name order within a directory), checked for who could
// have written it (unless `allow_insecure`) and inspected; runs no plugin code.
// `found` keeps same-named files in search order: the first is the one that counts.
struct PluginScan {
  std::vector<std::filesystem::path> directories;
  std::vector<DiscoveredPlugin> found;
  std::vector<PluginRefusal> refusals;
};
PluginScan scan_plugin_directories(const std::vector<std::filesystem::path>& directories, bool allow_insecure);

// "plugin 'knn' in B is shadowed by A, found first".
std::string shadowing_warning(const std::string& name, const std::filesystem::path& shadowed,
                              const std::filesystem::path& first);

// What `ballista plugins` prints.
struct PluginListing {
  struct Entry {
    std::string name;
    PluginKind kind = PluginKind::model;
    std::string version;
    std::filesystem::path file;
    std::string summary;
  };
  std::vector<std::filesystem::path> directories;
  std::vector<Entry> plugins;
  std::vector<PluginRefusal> refusals;
  std::vector<std::string> warnings;
};

// The listing from manifests alone (same-named files after the first become warnings).
PluginListing listing_from_manifests(const PluginScan& scan);

// Prints the table, the warnings and, when `verbose`, the search path and refusals.
int print_plugin_listing(const PluginListing& listing, bool verbose, std::ostream& out);

// Rows as aligned columns, the first row a header.
void print_columns(const std::vector<std::vector<std::string>>& rows, std::ostream& out);

}  // namespace ballista::host
