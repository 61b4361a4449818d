// The `ballista` commands that answer without running a pipeline: `plugins` and `plugin`
// (the search path, refused plugins and why, listing without loading LibTorch),
// `validate`, `schema`, `check-plugin`, and bad usage.
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace test = ballista::test;
using test::ballista_command;
using test::read_json;

BOOST_AUTO_TEST_SUITE(command_line)

BOOST_AUTO_TEST_CASE(plugins_lists_the_bundled_four) {
  const auto result = test::run_command(ballista_command("plugins"));
  BOOST_TEST(result.exit_code == 0);
  for (const auto* name : {"knn", "linear", "basis", "mlp"}) {
    BOOST_TEST(result.output.find((test::plugin_dir() / (std::string(name) + ".so")).string()) != std::string::npos,
               name);
  }
  BOOST_TEST(result.output.find("0.1.0") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(plugin_path_and_environment_are_searched_and_refusals_explained) {
  const auto result = test::run_command(
      ballista_command("plugins --verbose --plugin-path " + test::fixture_plugin_dir().string()));
  BOOST_TEST(result.exit_code == 0);
  BOOST_TEST(result.output.find("wrong_abi.so: built for SDK ABI 999") != std::string::npos, result.output);
  BOOST_TEST(result.output.find("not_a_plugin.so: not a Ballista plugin") != std::string::npos, result.output);
  test::TemporaryDirectory directory;
  std::filesystem::copy_file(test::plugin_dir() / "knn.so", directory.path() / "knn.so");
  const auto shadowed = test::run_command("BALLISTA_PLUGIN_PATH=" + directory.path().string() + " " +
                                          ballista_command("plugins"));
  BOOST_TEST(shadowed.output.find((directory.path() / "knn.so").string()) != std::string::npos, shadowed.output);
  BOOST_TEST(shadowed.output.find("warning: plugin 'knn'") != std::string::npos, shadowed.output);
  // ~/.local/lib/ballista/plugins is searched too (after the two above).
  test::TemporaryDirectory home;
  const auto user_plugins = home.path() / ".local/lib/ballista/plugins";
  std::filesystem::create_directories(user_plugins);
  std::filesystem::copy_file(test::plugin_dir() / "linear.so", user_plugins / "linear.so");
  const auto user = test::run_command("HOME=" + test::shell_quote(home.path()) + " " + ballista_command("plugins"));
  BOOST_TEST(user.output.find((user_plugins / "linear.so").string()) != std::string::npos, user.output);
}

BOOST_AUTO_TEST_CASE(plugins_others_could_have_written_are_refused_unless_allowed) {
  test::TemporaryDirectory directory;
  const auto file = directory.path() / "other_knn.so";
  std::filesystem::copy_file(test::plugin_dir() / "knn.so", file);
  const auto plugins = [&](const std::string& options) {
    return test::run_command(ballista_command("--plugin-path " + test::shell_quote(directory.path()) + " " + options +
                                              " plugins --verbose"));
  };
  using std::filesystem::perms;
  std::filesystem::permissions(file, perms::others_write, std::filesystem::perm_options::add);
  auto listed = plugins("");
  BOOST_TEST(listed.output.find("other_knn.so: not loaded: the file is writable by every user (mode 0") !=
                 std::string::npos,
             listed.output);
  BOOST_TEST(listed.output.find("--allow-insecure-plugins") != std::string::npos);
  std::filesystem::permissions(file, perms::others_write, std::filesystem::perm_options::remove);
  std::filesystem::permissions(file, perms::group_write, std::filesystem::perm_options::add);
  BOOST_TEST(plugins("").output.find("the file is writable by its group") != std::string::npos);
  std::filesystem::permissions(file, perms::group_write, std::filesystem::perm_options::remove);
  std::filesystem::permissions(directory.path(), perms::others_write, std::filesystem::perm_options::add);
  listed = plugins("");
  BOOST_TEST(listed.output.find("not loaded: its directory " + directory.path().string() + " is writable by every user") !=
                 std::string::npos,
             listed.output);
  // A shared directory with the sticky bit (as /tmp) protects each user's files.
  std::filesystem::permissions(directory.path(), perms::sticky_bit, std::filesystem::perm_options::add);
  BOOST_TEST(plugins("").output.find("not loaded") == std::string::npos);
  std::filesystem::permissions(directory.path(), perms::sticky_bit, std::filesystem::perm_options::remove);
  // Allowed explicitly, it loads (and, named knn, shadows the bundled one with a warning).
  listed = plugins("--allow-insecure-plugins");
  BOOST_TEST(listed.output.find("not loaded") == std::string::npos, listed.output);
  BOOST_TEST(listed.output.find("warning: plugin 'knn' in " + (test::plugin_dir() / "knn.so").string() +
                                " is shadowed by " + file.string()) != std::string::npos,
             listed.output);
  std::filesystem::permissions(directory.path(), perms::others_write, std::filesystem::perm_options::remove);
}

BOOST_AUTO_TEST_CASE(a_pipeline_naming_a_refused_plugin_says_why_it_was_refused) {
  test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << "data:\n  inputs: {x: \"uniform(0, 1)\"}\n  targets: {y: 2*x}\n  n: 20\n"
                                           "models:\n  w: {plugin: throwing}\n";
  const auto result = test::run_command(ballista_command("--plugin-path " + test::shell_quote(test::fixture_plugin_dir()) +
                                                         " validate " + test::shell_quote(work.path() / "p.yaml")));
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(result.output.find("model 'w' uses plugin 'throwing', which was found in " +
                                (test::fixture_plugin_dir() / "throwing_definition.so").string() +
                                " but refused: its definition function threw: this plugin refuses to start") !=
                 std::string::npos,
             result.output);
  // Same-named plugins: run and validate warn too, not only `ballista plugins`.
  test::TemporaryDirectory shadow;
  std::filesystem::copy_file(test::plugin_dir() / "linear.so", shadow.path() / "linear.so");
  std::ofstream(work.path() / "q.yaml") << "data:\n  inputs: {x: \"uniform(0, 1)\"}\n  targets: {y: 2*x}\n  n: 20\n"
                                           "models:\n  w: {plugin: linear}\n";
  const auto warned = test::run_command(ballista_command("--plugin-path " + test::shell_quote(shadow.path()) +
                                                         " validate " + test::shell_quote(work.path() / "q.yaml")));
  BOOST_TEST(warned.exit_code == 0, warned.output);
  BOOST_TEST(warned.output.find("ballista: warning: plugin 'linear'") != std::string::npos, warned.output);
}

BOOST_AUTO_TEST_CASE(plugin_shows_declared_parameters) {
  const auto result = test::run_command(ballista_command("plugin mlp"));
  BOOST_TEST(result.exit_code == 0);
  BOOST_TEST(result.output.find("hidden") != std::string::npos);
  BOOST_TEST(result.output.find("[256, 256]") != std::string::npos);
  BOOST_TEST(result.output.find("one of: sigmoid, tanh, relu, gelu, silu") != std::string::npos);
  BOOST_TEST(test::run_command(ballista_command("plugin mpl")).output.find("did you mean 'mlp'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(validate_checks_without_running) {
  const auto good = test::run_command(ballista_command("validate " + (test::source_dir() / "configs/cannon.yaml").string()));
  BOOST_TEST(good.exit_code == 0, good.output);
  test::TemporaryDirectory directory;
  const auto file = directory.path() / "bad.yaml";
  std::ofstream(file) << "data:\n  inputs: {v: \"uniform(0, 1)\"}\n  targets: {s: v}\n  sets: {train: {rows: 5}}\n"
                         "models:\n  m: {plugin: knn, kk: 2}\n";
  const auto bad = test::run_command(ballista_command("validate " + file.string()));
  BOOST_TEST(bad.exit_code == 2);
  BOOST_TEST(bad.output.find(file.string() + ":6:") != std::string::npos, bad.output);
  BOOST_TEST(bad.output.find("unknown key 'kk'") != std::string::npos, bad.output);
  BOOST_TEST(!std::filesystem::exists(directory.path() / "runs"));
}

// `ballista plugins` answers from the manifests: LibTorch is never loaded (the dynamic
// loader's own log lists every library it opens), yet it lists what a loading run
// lists; --verbose loads them.
BOOST_AUTO_TEST_CASE(plugins_lists_without_loading_libtorch) {
  const auto listed = test::run_command("LD_DEBUG=libs " + ballista_command("plugins"));
  BOOST_TEST(listed.exit_code == 0);
  BOOST_TEST(listed.output.find("libtorch_cpu") == std::string::npos, listed.output.substr(0, 2000));
  BOOST_TEST(listed.output.find((test::plugin_dir() / "mlp.so").string()) != std::string::npos);
  const auto loaded = test::run_command("LD_DEBUG=libs " + ballista_command("plugins --verbose"));
  BOOST_TEST(loaded.output.find("libtorch_cpu") != std::string::npos);
  const auto version = test::run_command("LD_DEBUG=libs " + ballista_command("--version"));
  BOOST_TEST(version.output.find("libtorch_cpu") == std::string::npos);
  BOOST_TEST(version.output.find("SDK ABI " + std::to_string(BALLISTA_SDK_ABI)) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_usage_exits_2_with_help) {
  BOOST_TEST(test::run_command(ballista_command("frobnicate")).exit_code == 2);
  BOOST_TEST(test::run_command(ballista_command("run")).exit_code == 2);
  BOOST_TEST(test::run_command(ballista_command("run /nonexistent.yaml")).exit_code == 2);
  const auto help = test::run_command(ballista_command("--help"));
  BOOST_TEST(help.exit_code == 0);
  BOOST_TEST(help.output.find("validate PIPELINE") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(schema_describes_pipelines_and_plugin_parameters) {
  // Checked by an independent JSON Schema implementation (python3-jsonschema).
  test::TemporaryDirectory directory;
  const auto schema = test::run_command(ballista_command("schema") + " > " + (directory.path() / "schema.json").string());
  BOOST_REQUIRE_EQUAL(schema.exit_code, 0);
  const auto document = read_json(directory.path() / "schema.json");
  const auto& model = document["$defs"]["model"];
  BOOST_TEST(model["properties"]["plugin"]["enum"].size() == 6U);  // the model plugins, not the source
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(directory.path() / name) << text;
    return (directory.path() / name).string();
  };
  const std::string data = "data:\n  inputs: {v: \"uniform(0, 1)\"}\n  targets: {s: v}\n  n: 10\n";
  const std::vector<std::pair<std::string, std::string>> cases{
      {(test::source_dir() / "configs/cannon.yaml").string(), "ok"},
      {(test::source_dir() / "configs/drag.yaml").string(), "ok"},
      {write("sweep.yaml", data + "models:\n  m: {plugin: mlp, lr: {sweep: [0.1, 0.01]}}\n"), "ok"},
      {write("typo.yaml", data + "models:\n  m: {plugin: mlp, epoch: 5}\n"), "'epoch' was unexpected"},
      {write("range.yaml", data + "models:\n  m: {plugin: knn, k: 0}\n"), "models/m/k: 0 is less than the minimum"},
      {write("choice.yaml", data + "models:\n  m: {plugin: mlp, activation: sigmod}\n"),
       "models/m/activation: 'sigmod' is not one of"},
      {write("empty_sweep.yaml", data + "models:\n  m: {plugin: mlp, lr: {sweep: []}}\n"), "models/m/lr"},
      {write("metric.yaml", data + "models:\n  m: {plugin: knn}\nevaluate: {metrics: [mape]}\n"),
       "evaluate/metrics/0: 'mape' is not one of"},
      {write("distribution.yaml", "data:\n  inputs: {v: \"gauss(0, 1)\"}\n  targets: {s: v}\n  n: 5\n"
                                  "models:\n  m: {plugin: knn}\n"),
       "data/inputs/v: 'gauss(0, 1)' does not match"},
      {write("source.yaml", "data:\n  source: projectile\n  drag: -1\n  inputs: {v: \"uniform(0, 1)\"}\n  n: 5\n"
                            "models:\n  m: {plugin: knn}\n"),
       "data/drag: -1 is less than the minimum of 0"}};
  std::string files;
  for (const auto& [file, expected] : cases) {
    files += " " + file;
  }
  const auto checked = test::run_python_reference("schema_check.py", (directory.path() / "schema.json").string() + files);
  BOOST_TEST(checked.find("schema ok") == 0U, checked);
  for (const auto& [file, expected] : cases) {
    const auto line_start = checked.find(" " + file);
    BOOST_REQUIRE_MESSAGE(line_start != std::string::npos, file << " missing in\n" << checked);
    const auto line = checked.substr(checked.rfind('\n', line_start) + 1,
                                     checked.find('\n', line_start) - checked.rfind('\n', line_start) - 1);
    if (expected == "ok") {
      BOOST_TEST(line.rfind("ok ", 0) == 0U, line);
    } else {
      BOOST_TEST(line.find("invalid ") == 0U, line);
      BOOST_TEST(line.find(expected) != std::string::npos, line);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_bundled_model_plugins_pass_check_plugin) {
  for (const auto* arguments : {"knn", "linear", "basis --set 'functions=[x1, x1^2, sin(x1)]'", "mlp --set epochs=20"}) {
    const auto result = test::run_command(ballista_command(std::string("check-plugin ") + arguments));
    BOOST_TEST(result.exit_code == 0, result.output);
    BOOST_TEST(result.output.find("9 checks: 9 passed") != std::string::npos, result.output);
  }
}

BOOST_AUTO_TEST_CASE(check_plugin_names_each_broken_promise) {
  const auto sloppy = test::run_command(ballista_command("--plugin-path " +
                                                         test::shell_quote(test::conformance_plugin_dir()) +
                                                         " check-plugin sloppy"));
  BOOST_TEST(sloppy.exit_code == 1, sloppy.output);
  for (const auto* line : {"ok    shapes", "ok    one training row", "FAIL  predict before fit  predict() before fit() "
                           "returned instead of throwing", "FAIL  same seed           two fits with the same seed",
                           "FAIL  save and load       a fresh instance loaded from save() predicts differently",
                           "FAIL  non-finite inputs   NaN in fit() inputs was accepted", "ok    concurrent predict",
                           "FAIL  thread count        fit() and predict() at 3 threads give other bits "
                           "than at 1",
                           "FAIL  parameters          parameter 'mode' = broken: std::runtime_error: mode broken "
                           "always fails", "9 checks: 3 passed, 6 failed"}) {
    BOOST_TEST(sloppy.output.find(line) != std::string::npos, "missing '" << line << "' in\n" << sloppy.output);
  }
  // Bad requests are usage errors, said before any check runs.
  // So are values the plugin's factory refuses (basis needs `functions` or a `library`).
  const auto required = test::run_command(ballista_command("check-plugin basis"));
  BOOST_TEST(required.exit_code == 2);
  BOOST_TEST(required.output.find("basis refuses these parameters: parameter 'functions': give `functions`, a "
                                  "`library`, or both; give values with --set NAME=VALUE") != std::string::npos,
             required.output);
  const auto misspelt = test::run_command(ballista_command("check-plugin mlp --set epoch=2"));
  BOOST_TEST(misspelt.exit_code == 2);
  BOOST_TEST(misspelt.output.find("mlp has no parameter 'epoch' (did you mean 'epochs'?)") != std::string::npos,
             misspelt.output);
  const auto out_of_range = test::run_command(ballista_command("check-plugin mlp --set epochs=0"));
  BOOST_TEST(out_of_range.exit_code == 2, out_of_range.output);
  // A source plugin gets the source checks (tests/e2e/test_check_plugin.cpp).
  const auto source = test::run_command(ballista_command("check-plugin projectile"));
  BOOST_TEST(source.exit_code == 0, source.output);
  BOOST_TEST(source.output.find("6 checks: 6 passed") != std::string::npos, source.output);
  BOOST_TEST(test::run_command(ballista_command("check-plugin nosuch")).exit_code == 2);
}

BOOST_AUTO_TEST_SUITE_END()
