// The installed SDK: `cmake --install` gives a prefix from which an out-of-tree plugin
// builds with find_package(Ballista) + ballista_add_plugin(), and the installed
// `ballista` finds both its bundled plugins and the new one.
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <cmath>

#include <fstream>

namespace test = ballista::test;

namespace {

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sdk_package)

BOOST_AUTO_TEST_CASE(out_of_tree_plugin_builds_against_the_installed_package_and_runs) {
  test::TemporaryDirectory work;
  const auto prefix = work.path() / "prefix";
  const auto build = work.path() / "plugin-build";
  const auto install = test::run_command(test::cmake_command() + " --install " + test::shell_quote(test::build_dir()) +
                                         " --prefix " + test::shell_quote(prefix));
  BOOST_REQUIRE_MESSAGE(install.exit_code == 0, install.output);
  BOOST_TEST(std::filesystem::exists(prefix / "bin/ballista"));
  BOOST_TEST(std::filesystem::exists(prefix / "include/ballista/plugin.hpp"));
  BOOST_TEST(std::filesystem::exists(prefix / "lib/cmake/Ballista/BallistaConfig.cmake"));
  BOOST_TEST(!std::filesystem::exists(prefix / "lib/ballista/plugins/wrong_abi.so"));  // test fixtures stay out

  const auto configure = test::run_command(
      test::cmake_command() + " -S " + test::shell_quote(test::source_dir() / "tests/fixtures/out_of_tree") + " -B " +
      test::shell_quote(build) + " -G " + test::shell_quote(BALLISTA_TEST_GENERATOR) +
      " -DCMAKE_BUILD_TYPE=Release -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DCMAKE_PREFIX_PATH=" + test::shell_quote(prefix));
  BOOST_REQUIRE_MESSAGE(configure.exit_code == 0, configure.output);
  const auto compile = test::run_command(test::cmake_command() + " --build " + test::shell_quote(build));
  BOOST_REQUIRE_MESSAGE(compile.exit_code == 0, compile.output);
  // Issue 15: the plugin of two source files compiled <ballista/plugin.hpp> once,
  // precompiled, and both files used it; the one-file plugin has no precompiled header.
  BOOST_TEST(std::filesystem::exists(build / "CMakeFiles/mean.dir/cmake_pch.hxx.gch"));
  const auto pch_header = read_text(build / "CMakeFiles/mean.dir/cmake_pch.hxx");
  BOOST_TEST(pch_header.find("#include <ballista/plugin.hpp>") != std::string::npos, pch_header);
  const auto commands = nlohmann::json::parse(read_text(build / "compile_commands.json"));
  for (const char* source : {"mean_model.cpp", "mean_text.cpp"}) {
    bool uses_pch = false;
    for (const auto& entry : commands) {
      const std::string file = entry.at("file");
      const std::string command = entry.at("command");
      uses_pch = uses_pch || (file.ends_with(std::string("/") + source) &&
                              command.find("-include " + (build / "CMakeFiles/mean.dir/cmake_pch.hxx").string()) !=
                                  std::string::npos);
    }
    BOOST_TEST(uses_pch, source << " compiled without the precompiled header:\n" << commands.dump(1));
  }
  BOOST_TEST(!std::filesystem::exists(build / "CMakeFiles/drop.dir/cmake_pch.hxx"));

  std::ofstream(work.path() / "p.yaml") << R"yaml(data:
  inputs: {x: "uniform(0, 1)"}
  targets: {y: 3 + 0*x}
  sets: {train: {rows: 20}}
models:
  constant: {plugin: mean}
  line: {plugin: linear}
)yaml";
  const auto installed = test::shell_quote(prefix / "bin/ballista");
  const auto listed = test::run_command("BALLISTA_PLUGIN_PATH=" + test::shell_quote(build) + " " + installed + " plugins");
  BOOST_TEST(listed.output.find("mean") != std::string::npos, listed.output);
  BOOST_TEST(listed.output.find((prefix / "lib/ballista/plugins/knn.so").string()) != std::string::npos, listed.output);
  const auto run = test::run_command(installed + " --plugin-path " + test::shell_quote(build) + " run " +
                                     test::shell_quote(work.path() / "p.yaml") + " --out " +
                                     test::shell_quote(work.path() / "run"));
  BOOST_TEST(run.exit_code == 0, run.output);
  BOOST_TEST(run.output.find("the mean of the training targets") != std::string::npos, run.output);

  // The out-of-tree source plugin feeds a pipeline without touching the host: on the
  // Moon, t = sqrt(2h/1.62), which the basis model recovers exactly.
  BOOST_TEST(listed.output.find("drop        source") != std::string::npos, listed.output);
  std::ofstream(work.path() / "drop.yaml") << R"yaml(data:
  source: drop
  g: 1.62
  inputs: {h: "uniform(0, 100)"}
  n: 200
models:
  basis: {plugin: basis, functions: [sqrt(h)], fit_intercept: false}
evaluate: {probes: [{h: 50}]}
)yaml";
  const auto dropped = test::run_command(installed + " --plugin-path " + test::shell_quote(build) + " run " +
                                         test::shell_quote(work.path() / "drop.yaml") + " --out " +
                                         test::shell_quote(work.path() / "drop-run"));
  BOOST_REQUIRE_MESSAGE(dropped.exit_code == 0, dropped.output);
  std::ifstream metrics_file(work.path() / "drop-run/metrics.json");
  const auto metrics = nlohmann::json::parse(metrics_file);
  const double truth = metrics["probes"][0]["truth"]["t"];
  BOOST_TEST(truth == std::sqrt(2 * 50 / 1.62), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(metrics["models"][0]["metrics"]["all"]["mse"].get<double>() < 1e-20);
  BOOST_TEST(dropped.output.find("t = 1.111·sqrt(h)") != std::string::npos, dropped.output);  // sqrt(2/1.62)
}

BOOST_AUTO_TEST_CASE(new_plugin_scaffold_builds_out_of_tree_passes_its_test_and_runs_next_to_mlp) {
  test::TemporaryDirectory work;
  const auto prefix = work.path() / "clean-prefix";
  const auto install = test::run_command(test::cmake_command() + " --install " + test::shell_quote(test::build_dir()) +
                                         " --prefix " + test::shell_quote(prefix));
  BOOST_REQUIRE_MESSAGE(install.exit_code == 0, install.output);
  const auto installed = test::shell_quote(prefix / "bin/ballista");
  const auto project = work.path() / "my_ridge";
  const auto scaffold = test::run_command(installed + " new-plugin my_ridge --dir " + test::shell_quote(project));
  BOOST_REQUIRE_MESSAGE(scaffold.exit_code == 0, scaffold.output);
  for (const auto* file : {"CMakeLists.txt", "my_ridge_model.cpp", "test_my_ridge.cpp", "my_ridge.yaml", "README.md"}) {
    BOOST_TEST(std::filesystem::exists(project / file), file);
  }
  // Built as written, against the installed SDK only; its own test runs check-plugin
  // and the sample pipeline.
  const auto build = project / "build";
  const auto configure =
      test::run_command(test::cmake_command() + " -S " + test::shell_quote(project) + " -B " + test::shell_quote(build) +
                        " -G " + test::shell_quote(BALLISTA_TEST_GENERATOR) + " -DCMAKE_PREFIX_PATH=" +
                        test::shell_quote(prefix));
  BOOST_REQUIRE_MESSAGE(configure.exit_code == 0, configure.output);
  const auto compile = test::run_command(test::cmake_command() + " --build " + test::shell_quote(build));
  BOOST_REQUIRE_MESSAGE(compile.exit_code == 0, compile.output);
  BOOST_TEST(compile.output.find("warning") == std::string::npos, compile.output);
  const auto tested = test::run_command("ctest --test-dir " + test::shell_quote(build) + " --output-on-failure");
  BOOST_TEST(tested.exit_code == 0, tested.output);
  // The comparison: the new plugin's row next to mlp's, from the sample pipeline.
  const auto run = test::run_command(installed + " --plugin-path " + test::shell_quote(build) + " run " +
                                     test::shell_quote(project / "my_ridge.yaml") + " --quiet --out " +
                                     test::shell_quote(work.path() / "run") + " --set models.mlp.epochs=30");
  BOOST_TEST(run.exit_code == 0, run.output);
  const auto metrics = nlohmann::json::parse(std::ifstream(work.path() / "run/metrics.json"));
  std::vector<std::string> names;
  for (const auto& model : metrics["models"]) {
    names.push_back(model["name"]);
    BOOST_TEST(model["status"] == "ok", model["name"]);
  }
  BOOST_TEST((names == std::vector<std::string>{"my_ridge", "basis", "mlp"}));
  // A second scaffold into the same, now non-empty, directory is refused.
  const auto again = test::run_command(installed + " new-plugin my_ridge --dir " + test::shell_quote(project));
  BOOST_TEST(again.exit_code == 2);
  BOOST_TEST(again.output.find("is not an empty directory") != std::string::npos, again.output);
  BOOST_TEST(test::run_command(installed + " new-plugin My-Model --dir " + test::shell_quote(work.path() / "x")).exit_code ==
             2);

  // The guide's example (docs/writing-a-plugin.md) builds the same way and passes too.
  const auto example = work.path() / "poly_ridge-build";
  const auto example_configure = test::run_command(
      test::cmake_command() + " -S " + test::shell_quote(test::source_dir() / "docs/examples/poly_ridge") + " -B " +
      test::shell_quote(example) + " -G " + test::shell_quote(BALLISTA_TEST_GENERATOR) +
      " -DCMAKE_PREFIX_PATH=" + test::shell_quote(prefix));
  BOOST_REQUIRE_MESSAGE(example_configure.exit_code == 0, example_configure.output);
  const auto example_compile = test::run_command(test::cmake_command() + " --build " + test::shell_quote(example));
  BOOST_REQUIRE_MESSAGE(example_compile.exit_code == 0, example_compile.output);
  const auto checked =
      test::run_command(installed + " --plugin-path " + test::shell_quote(example) + " check-plugin poly_ridge");
  BOOST_TEST(checked.exit_code == 0, checked.output);
  const auto validated = test::run_command(installed + " --plugin-path " + test::shell_quote(example) + " validate " +
                                           test::shell_quote(test::source_dir() / "docs/examples/poly_ridge/poly_ridge.yaml"));
  BOOST_TEST(validated.exit_code == 0, validated.output);
}

BOOST_AUTO_TEST_SUITE_END()
