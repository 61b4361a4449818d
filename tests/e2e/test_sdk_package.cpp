// The installed SDK: `cmake --install` gives a prefix from which an out-of-tree plugin
// builds with find_package(Ballista) + ballista_add_plugin(), and the installed
// `ballista` finds both its bundled plugins and the new one.
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <cmath>

#include <fstream>

namespace test = ballista::test;

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
      " -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" + test::shell_quote(prefix));
  BOOST_REQUIRE_MESSAGE(configure.exit_code == 0, configure.output);
  const auto compile = test::run_command(test::cmake_command() + " --build " + test::shell_quote(build));
  BOOST_REQUIRE_MESSAGE(compile.exit_code == 0, compile.output);

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

BOOST_AUTO_TEST_SUITE_END()
