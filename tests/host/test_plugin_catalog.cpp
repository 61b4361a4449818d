// Plugin discovery: the bundled plugins load; a non-plugin, a plugin for another SDK ABI
// and a plugin whose definition throws are refused with a reason and never crash us.
#include "plugin_catalog.hpp"
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>

using ballista::host::PluginCatalog;
namespace test = ballista::test;

namespace {

std::string refusal_for(const PluginCatalog& catalog, const std::string& file_name) {
  for (const auto& refusal : catalog.refusals()) {
    if (refusal.file.filename() == file_name) {
      return refusal.reason;
    }
  }
  return "(not refused)";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(plugin_catalog)

BOOST_AUTO_TEST_CASE(finds_the_bundled_plugins_with_their_declarations) {
  const PluginCatalog catalog({test::plugin_dir()});
  auto names = catalog.names();
  std::sort(names.begin(), names.end());
  BOOST_TEST((names == std::vector<std::string>{"basis", "knn", "linear", "mlp", "projectile"}));
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

BOOST_AUTO_TEST_SUITE_END()
