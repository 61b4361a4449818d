// Plugin discovery: the bundled plugins load; a non-plugin, a plugin for another SDK ABI
// and a plugin whose definition throws are refused with a reason and never crash us.
#include "plugin_catalog.hpp"
#include "test_support.hpp"

#include <elf.h>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

using ballista::host::PluginCatalog;
using ballista::host::PluginLoadError;
using ballista::host::RefusalReason;
using ballista::host::refusal_reason_name;
namespace test = ballista::test;

namespace {

// The message inspect_plugin_file throws for `file`, or "(accepted)".
std::string inspection_error(const std::filesystem::path& file) {
  try {
    (void)ballista::host::inspect_plugin_file(file);
  } catch (const PluginLoadError& error) {
    return error.what();
  }
  return "(accepted)";
}

// The typed reason inspect_plugin_file refuses `file` for, by name, or "(accepted)".
std::string inspection_reason(const std::filesystem::path& file) {
  try {
    (void)ballista::host::inspect_plugin_file(file);
  } catch (const PluginLoadError& error) {
    return refusal_reason_name(error.reason());
  }
  return "(accepted)";
}

std::string file_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::filesystem::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary) << bytes;
}

std::string refusal_for(const PluginCatalog& catalog, const std::string& file_name) {
  for (const auto& refusal : catalog.refusals()) {
    if (refusal.file.filename() == file_name) {
      return refusal.reason;
    }
  }
  return "(not refused)";
}

// The typed reason of `file_name`'s refusal, by name, or "(not refused)".
std::string refusal_reason_for(const PluginCatalog& catalog, const std::string& file_name) {
  for (const auto& refusal : catalog.refusals()) {
    if (refusal.file.filename() == file_name) {
      return refusal_reason_name(refusal.why);
    }
  }
  return "(not refused)";
}

std::string name_of(RefusalReason reason) { return refusal_reason_name(reason); }

}  // namespace

BOOST_AUTO_TEST_SUITE(plugin_catalog)

BOOST_AUTO_TEST_CASE(finds_the_bundled_plugins_with_their_declarations) {
  const PluginCatalog catalog({test::plugin_dir()});
  auto names = catalog.names();
  std::sort(names.begin(), names.end());
  BOOST_TEST((names == std::vector<std::string>{"basis", "knn", "linear", "mlp", "ode", "projectile", "symbolic"}));
  BOOST_TEST(catalog.refusals().empty());
  const auto* mlp = catalog.find("mlp");
  BOOST_TEST((catalog.find("projectile")->kind == ballista::host::PluginKind::source));
  BOOST_TEST((catalog.find("mlp")->kind == ballista::host::PluginKind::model));
  BOOST_REQUIRE(mlp != nullptr);
  BOOST_TEST(mlp->file == test::plugin_dir() / "mlp.so");
  BOOST_TEST(!mlp->summary.empty());
  BOOST_TEST(mlp->torch_version == TORCH_VERSION);
  std::vector<std::string> parameters;
  for (const auto& spec : mlp->definition.parameters) {
    parameters.push_back(spec.name());
  }
  BOOST_TEST((parameters == std::vector<std::string>{"hidden", "activation", "optimizer", "lr", "epochs", "batch_size",
                                                     "weight_decay", "standardize", "early_stopping",
                                                     "validation_fraction", "patience", "device"}));
}

BOOST_AUTO_TEST_CASE(refuses_bad_files_with_reasons) {
  test::TemporaryDirectory directory;
  std::ofstream(directory.path() / "text.so") << "not an ELF file\n";
  const PluginCatalog catalog({test::fixture_plugin_dir(), directory.path()});
  BOOST_TEST(catalog.plugins().empty());
  BOOST_TEST(refusal_for(catalog, "not_a_plugin.so").find("not a Ballista plugin") != std::string::npos);
  const auto abi = refusal_for(catalog, "wrong_abi.so");
  BOOST_TEST(abi.find("SDK ABI 999") != std::string::npos, abi);
  BOOST_TEST(abi.find("this host uses SDK ABI " + std::to_string(BALLISTA_SDK_ABI)) != std::string::npos, abi);
  BOOST_TEST(refusal_for(catalog, "throwing_definition.so").find("this plugin refuses to start") != std::string::npos);
  BOOST_TEST(refusal_for(catalog, "text.so").find("not a loadable shared library") != std::string::npos);
  const auto torch = refusal_for(catalog, "wrong_torch.so");
  BOOST_TEST(torch.find(std::string("built against LibTorch 0.0.1-other, this host uses LibTorch ") + TORCH_VERSION) !=
                 std::string::npos,
             torch);
  const auto missing = refusal_for(catalog, "needs_gone.so");
  BOOST_TEST(missing.find("cannot be loaded: libballista_gone.so: cannot open shared object file") != std::string::npos,
             missing);
  // The same refusals by their typed reason, as callers check them.
  BOOST_TEST(refusal_reason_for(catalog, "not_a_plugin.so") == name_of(RefusalReason::not_a_plugin));
  BOOST_TEST(refusal_reason_for(catalog, "wrong_abi.so") == name_of(RefusalReason::abi_mismatch));
  BOOST_TEST(refusal_reason_for(catalog, "throwing_definition.so") == name_of(RefusalReason::definition_threw));
  BOOST_TEST(refusal_reason_for(catalog, "text.so") == name_of(RefusalReason::not_a_library));
  BOOST_TEST(refusal_reason_for(catalog, "wrong_torch.so") == name_of(RefusalReason::libtorch_mismatch));
  BOOST_TEST(refusal_reason_for(catalog, "needs_gone.so") == name_of(RefusalReason::load_failed));
}

BOOST_AUTO_TEST_CASE(first_directory_wins_and_the_shadowed_file_is_named) {
  test::TemporaryDirectory directory;
  std::filesystem::copy_file(test::plugin_dir() / "knn.so", directory.path() / "knn.so");
  const PluginCatalog catalog({directory.path(), test::plugin_dir()});
  BOOST_REQUIRE(catalog.find("knn") != nullptr);
  BOOST_TEST(catalog.find("knn")->file == directory.path() / "knn.so");
  BOOST_REQUIRE_EQUAL(catalog.warnings().size(), 1U);
  BOOST_TEST(catalog.warnings()[0].find((test::plugin_dir() / "knn.so").string()) != std::string::npos);
}

// Issue 14 item 3: a plugin's code runs only when the plugin is asked for. The catalog
// knows a plugin that segfaults as it loads from its manifest; asking for the others
// never loads it (before, building the catalog loaded every file and this process died).
BOOST_AUTO_TEST_CASE(plugins_are_loaded_only_when_asked_for) {
  test::TemporaryDirectory directory;
  std::filesystem::copy_file(test::hostile_plugin_dir() / "segfault_on_load.so", directory.path() / "segfault_on_load.so");
  const PluginCatalog catalog({directory.path(), test::plugin_dir()});
  auto names = catalog.names();
  std::sort(names.begin(), names.end());
  BOOST_TEST((names == std::vector<std::string>{"basis", "knn", "linear", "mlp", "ode", "projectile", "segfault_on_load", "symbolic"}));
  BOOST_REQUIRE(!catalog.available().empty());
  BOOST_TEST(catalog.available().front().file == directory.path() / "segfault_on_load.so");
  BOOST_TEST((catalog.available().front().kind == ballista::host::PluginKind::model));
  const auto* linear = catalog.find("linear");
  BOOST_REQUIRE(linear != nullptr);
  BOOST_TEST(static_cast<bool>(linear->definition.create));
  BOOST_TEST(catalog.find("knn") != nullptr);
  // Loaded once, and it stays where it was while others load.
  // cppcheck-suppress knownConditionTrueFalse
  BOOST_TEST(catalog.find("linear") == linear);
  BOOST_TEST(catalog.refusal_for("segfault_on_load") == nullptr);
  BOOST_TEST(catalog.warnings().empty());
}

// Issue 14 item 9: the check and the load see the same file. The descriptor
// open_plugin_file returns still reads the checked file after its path was given
// another; and a file whose directory became writable by others after the scan is
// refused when it is asked for.
BOOST_AUTO_TEST_CASE(the_file_loaded_is_the_file_that_was_checked) {
  test::TemporaryDirectory directory;
  const auto file = directory.path() / "p.so";
  std::filesystem::copy_file(test::plugin_dir() / "linear.so", file);
  const auto opened = ballista::host::open_plugin_file(file, false);
  BOOST_TEST(opened.loadable_path().string().starts_with("/proc/self/fd/"));
  std::filesystem::copy_file(test::plugin_dir() / "knn.so", directory.path() / "other.so");
  std::filesystem::rename(directory.path() / "other.so", file);
  BOOST_TEST(ballista::host::inspect_plugin_file(file).name == "knn");
  BOOST_TEST(ballista::host::inspect_plugin_file(opened.loadable_path()).name == "linear");

  const PluginCatalog catalog({directory.path()});
  BOOST_TEST(catalog.names() == std::vector<std::string>{"knn"});
  std::filesystem::permissions(directory.path(), std::filesystem::perms::others_write,
                               std::filesystem::perm_options::add);
  BOOST_TEST(catalog.find("knn") == nullptr);
  const auto* refusal = catalog.refusal_for("knn");
  BOOST_REQUIRE(refusal != nullptr);
  BOOST_TEST(refusal->reason.find("not loaded: its directory " + directory.path().string() +
                                  " is writable by every user") == 0U,
             refusal->reason);
  BOOST_TEST(name_of(refusal->why) == name_of(RefusalReason::insecure_file));
  BOOST_TEST(catalog.names().empty());
  std::filesystem::permissions(directory.path(), std::filesystem::perms::others_write,
                               std::filesystem::perm_options::remove);
}

BOOST_AUTO_TEST_CASE(search_path_order_is_command_line_environment_user_bundled) {
  // The test runs single-threaded; changing the environment is safe here.
  setenv("BALLISTA_PLUGIN_PATH", "/env/one:/env/two", 1);  // NOLINT(concurrency-mt-unsafe)
  setenv("HOME", "/home/someone", 1);                      // NOLINT(concurrency-mt-unsafe)
  const auto path = PluginCatalog::search_path({"/cli"});
  unsetenv("BALLISTA_PLUGIN_PATH");  // NOLINT(concurrency-mt-unsafe)
  BOOST_REQUIRE_EQUAL(path.size(), 5U);
  BOOST_TEST(path[0] == "/cli");
  BOOST_TEST(path[1] == "/env/one");
  BOOST_TEST(path[2] == "/env/two");
  BOOST_TEST(path[3] == "/home/someone/.local/lib/ballista/plugins");
  BOOST_TEST(path[4].string().ends_with("lib/ballista/plugins"));
}

// The manifest read from the file without loading it says what the loaded descriptor
// says, for every bundled plugin, and the listing built from manifests alone equals
// the loaded catalog's.
BOOST_AUTO_TEST_CASE(manifests_read_without_loading_agree_with_the_loaded_descriptors) {
  const PluginCatalog catalog({test::plugin_dir()});
  const auto scan = ballista::host::scan_plugin_directories({test::plugin_dir()}, false);
  BOOST_REQUIRE_EQUAL(scan.found.size(), catalog.plugins().size());
  BOOST_TEST(scan.refusals.empty());
  for (const auto& [file, manifest] : scan.found) {
    const auto* loaded = catalog.find(manifest.name);
    BOOST_REQUIRE_MESSAGE(loaded != nullptr, manifest.name);
    BOOST_TEST(loaded->file == file);
    BOOST_TEST(loaded->version == manifest.version);
    BOOST_TEST(loaded->summary == manifest.summary);
    BOOST_TEST(loaded->torch_version == manifest.torch_version);
    BOOST_TEST((loaded->kind == manifest.kind));
    BOOST_TEST(manifest.sdk_abi == static_cast<unsigned long>(BALLISTA_SDK_ABI));
  }
  const auto fast = ballista::host::listing_from_manifests(scan);
  const auto full = catalog.listing();
  BOOST_REQUIRE_EQUAL(fast.plugins.size(), full.plugins.size());
  for (std::size_t i = 0; i < fast.plugins.size(); ++i) {
    BOOST_TEST(fast.plugins[i].name == full.plugins[i].name);
    BOOST_TEST(fast.plugins[i].file == full.plugins[i].file);
    BOOST_TEST(fast.plugins[i].version == full.plugins[i].version);
    BOOST_TEST(fast.plugins[i].summary == full.plugins[i].summary);
  }
}

// Truncated and corrupted files: a clear refusal each time, never a crash or a read
// past the end (the sanitized build runs this suite too).
BOOST_AUTO_TEST_CASE(broken_elf_files_are_refused_with_reasons) {
  test::TemporaryDirectory directory;
  const auto good = file_bytes(test::plugin_dir() / "knn.so");
  BOOST_REQUIRE(good.size() > sizeof(Elf64_Ehdr));
  const auto file = directory.path() / "broken.so";
  // Every prefix length of the header and a spread of longer ones.
  for (std::size_t length : {std::size_t{0}, std::size_t{3}, std::size_t{16}, std::size_t{63}, std::size_t{64},
                             std::size_t{4096}, good.size() / 2, good.size() - 1}) {
    write_bytes(file, good.substr(0, length));
    const auto reason = inspection_error(file);
    BOOST_TEST(reason.find("not a loadable shared library") != std::string::npos, length << ": " << reason);
    BOOST_TEST(inspection_reason(file) == name_of(RefusalReason::not_a_library), length);
  }
  Elf64_Ehdr header{};
  std::memcpy(&header, good.data(), sizeof(header));
  const auto patched = [&](const Elf64_Ehdr& changed) {
    auto bytes = good;
    std::memcpy(bytes.data(), &changed, sizeof(changed));
    write_bytes(file, bytes);
    return inspection_error(file);
  };
  auto changed = header;
  changed.e_machine = EM_ARM;
  BOOST_TEST(patched(changed).find("an ELF file for another machine") != std::string::npos, patched(changed));
  BOOST_TEST(inspection_reason(file) == name_of(RefusalReason::not_a_library));
  changed = header;
  changed.e_ident[EI_CLASS] = ELFCLASS32;
  BOOST_TEST(patched(changed).find("an ELF file for another machine") != std::string::npos);
  BOOST_TEST(inspection_reason(file) == name_of(RefusalReason::not_a_library));
  changed = header;
  changed.e_type = ET_EXEC;
  BOOST_TEST(patched(changed).find("not a shared object") != std::string::npos, patched(changed));
  BOOST_TEST(inspection_reason(file) == name_of(RefusalReason::not_a_library));
  changed = header;
  changed.e_shoff = good.size() - 8;  // the section table runs past the end
  BOOST_TEST(patched(changed).find("truncated or corrupt ELF file") != std::string::npos, patched(changed));
  BOOST_TEST(inspection_reason(file) == name_of(RefusalReason::not_a_library));
  changed = header;
  changed.e_shoff = ~std::uint64_t{0} - 16;  // an offset that would wrap around when added to
  BOOST_TEST(patched(changed).find("corrupt ELF header") != std::string::npos, patched(changed));
  BOOST_TEST(inspection_reason(file) == name_of(RefusalReason::not_a_library));
  changed = header;
  changed.e_shstrndx = static_cast<std::uint16_t>(header.e_shnum + 1);  // names in a section that is not there
  BOOST_TEST(patched(changed).find("corrupt ELF header") != std::string::npos, patched(changed));
  BOOST_TEST(inspection_reason(file) == name_of(RefusalReason::not_a_library));
  changed = header;
  changed.e_shnum = 0;  // no section table at all: no manifest and no symbols
  BOOST_TEST(patched(changed).find("not a Ballista plugin") != std::string::npos, patched(changed));
  BOOST_TEST(inspection_reason(file) == name_of(RefusalReason::not_a_plugin));
  // The manifest's ABI is checked like the symbol table's.
  auto bytes = good;
  const std::string marker = std::string("ballista-manifest\0abi\0", 22) + std::to_string(BALLISTA_SDK_ABI);
  const auto at = bytes.find(marker);
  BOOST_REQUIRE(at != std::string::npos);
  // Another ABI number: the last digit changed (to 9, or to 8 when it is 9).
  auto forged = std::to_string(BALLISTA_SDK_ABI);
  forged.back() = forged.back() == '9' ? '8' : '9';
  bytes[at + marker.size() - 1] = forged.back();
  write_bytes(file, bytes);
  BOOST_TEST(inspection_error(file).find("built for SDK ABI " + forged) != std::string::npos, inspection_error(file));
  BOOST_TEST(inspection_reason(file) == name_of(RefusalReason::abi_mismatch));
}

BOOST_AUTO_TEST_SUITE_END()
