// Issue 14 robustness cases (suite robustness_plugins): hostile plugins. A plugin whose
// static initialiser crashes, aborts, hangs or ends the process reaches only the
// commands that use it, and those name its file (item 3); a plugin file that someone
// else could replace, through a link, a directory above its own or a directory owner,
// is refused (item 9). See tests/e2e/test_robustness.cpp for the other items.
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace test = ballista::test;

namespace {

std::string quoted(const std::filesystem::path& path) { return test::shell_quote(path.string()); }

// `ballista ARGUMENTS`, bounded in time (a plugin that hangs must fail the test, not
// stall it), without core files from the crashing fixtures.
std::string ballista_command(const std::string& arguments, int seconds = 120) {
  return "ulimit -c 0; timeout -k 5 " + std::to_string(seconds) + " " + quoted(test::ballista_binary()) + " " +
         arguments;
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::filesystem::path hostile(const std::string& name) { return test::hostile_plugin_dir() / (name + ".so"); }

const char* const kLine = R"yaml(data:
  inputs: {v: "uniform(0, 1)", w: "uniform(0, 1)"}
  targets: {s: v + w}
  sets: {train: {rows: 10}}
models:
  line: {plugin: linear}
)yaml";

// A pipeline whose only model uses plugin `plugin`.
std::string naming(const std::string& plugin) {
  return "data:\n  inputs: {v: \"uniform(0, 1)\"}\n  targets: {s: 2*v}\n  sets: {train: {rows: 10}}\n"
         "models:\n  m: {plugin: " +
         plugin + "}\n";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(robustness_plugins)

// Item 3: every command that does not use a hostile plugin gives exactly what it gives
// without it on the plugin path. All four sit in one directory (any one of them, loaded,
// ends the command: the first in name order, abort_on_load.so, did before the fix).
BOOST_AUTO_TEST_CASE(plugins_that_crash_while_loading_reach_only_the_commands_that_use_them) {
  test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << kLine;
  std::ofstream(work.path() / "bad.yaml") << "data:\n  inputs: {v: \"uniform(0, 1)\"}\n  targets: {s: v}\n"
                                             "  sets: {train: {rows: 5}}\nmodels:\n  m: {plugin: linear, kk: 2}\n";
  std::ofstream(work.path() / "in.csv") << "v,w\n1,2\n3,4\n";
  struct Outputs {
    test::CommandResult validate, invalid, run, isolated, predict, plugin, check;
  };
  const auto commands = [&](const std::string& label, const std::string& options) {
    Outputs out;
    const auto run_directory = work.path() / ("run-" + label);
    out.validate = test::run_command(ballista_command(options + "validate " + quoted(work.path() / "p.yaml")));
    out.invalid = test::run_command(ballista_command(options + "validate " + quoted(work.path() / "bad.yaml")));
    out.run = test::run_command(ballista_command(options + "run --quiet " + quoted(work.path() / "p.yaml") +
                                                 " --out " + quoted(run_directory)));
    out.isolated = test::run_command(ballista_command(options + "run --isolate --quiet " +
                                                      quoted(work.path() / "p.yaml") + " --out " +
                                                      quoted(work.path() / ("isolated-" + label))));
    out.predict = test::run_command(ballista_command(options + "predict " + quoted(run_directory / "models/line.pt") +
                                                     " --input " + quoted(work.path() / "in.csv")));
    out.plugin = test::run_command(ballista_command(options + "plugin linear"));
    out.check = test::run_command(ballista_command(options + "check-plugin linear"));
    return out;
  };
  const auto plain = commands("plain", "");
  BOOST_REQUIRE_MESSAGE(plain.validate.exit_code == 0, plain.validate.output);
  BOOST_REQUIRE_MESSAGE(plain.invalid.exit_code == 2, plain.invalid.output);
  BOOST_REQUIRE_MESSAGE(plain.run.exit_code == 0, plain.run.output);
  BOOST_REQUIRE_MESSAGE(plain.isolated.exit_code == 0, plain.isolated.output);
  BOOST_REQUIRE_MESSAGE(plain.predict.exit_code == 0, plain.predict.output);
  BOOST_REQUIRE_MESSAGE(plain.plugin.exit_code == 0, plain.plugin.output);
  BOOST_REQUIRE_MESSAGE(plain.check.exit_code == 0, plain.check.output);

  const auto with_hostile = commands("hostile", "--plugin-path " + quoted(test::hostile_plugin_dir()) + " ");
  const auto same = [](const test::CommandResult& got, const test::CommandResult& expected, const std::string& what) {
    BOOST_TEST(got.exit_code == expected.exit_code, what << ": " << got.output);
    BOOST_TEST(got.output == expected.output, what);
  };
  same(with_hostile.validate, plain.validate, "validate");
  same(with_hostile.invalid, plain.invalid, "validate of an invalid pipeline");
  // A run prints its directory and the fit times: its records are compared instead.
  for (const std::string run : {"run", "isolated"}) {
    const auto& got = run == "run" ? with_hostile.run : with_hostile.isolated;
    BOOST_TEST(got.exit_code == 0, run << ": " << got.output);
    const auto models = [&](const std::string& label) {
      auto metrics = nlohmann::json::parse(read_text(work.path() / (run + "-" + label) / "metrics.json"))["models"];
      for (auto& model : metrics) {
        model.erase("fit_seconds");
        model.erase("predict_seconds");
        model.erase("model_file");
      }
      return metrics;
    };
    BOOST_TEST(models("hostile") == models("plain"), run);
    BOOST_TEST(read_text(work.path() / (run + "-hostile") / "models/line.pt") ==
               read_text(work.path() / (run + "-plain") / "models/line.pt"));
  }
  same(with_hostile.predict, plain.predict, "predict");
  same(with_hostile.plugin, plain.plugin, "plugin linear");
  same(with_hostile.check, plain.check, "check-plugin linear");

  // Each alone, the case of the report: `validate` of an invalid pipeline still says
  // what is wrong (with exit_on_load.so it printed nothing and exited 0).
  for (const auto* name : {"segfault_on_load", "abort_on_load", "hang_on_load", "exit_on_load"}) {
    test::TemporaryDirectory alone;
    std::filesystem::copy_file(hostile(name), alone.path() / (std::string(name) + ".so"));
    const auto invalid = test::run_command(ballista_command("--plugin-path " + quoted(alone.path()) + " validate " +
                                                            quoted(work.path() / "bad.yaml")));
    same(invalid, plain.invalid, std::string("validate of an invalid pipeline beside ") + name);
    // An unknown plugin's message lists the plugins found, from their manifests.
    std::ofstream(work.path() / "unknown.yaml") << naming("lienar");
    const auto unknown = test::run_command(ballista_command("--plugin-path " + quoted(alone.path()) + " validate " +
                                                            quoted(work.path() / "unknown.yaml")));
    BOOST_TEST(unknown.exit_code == 2, unknown.output);
    BOOST_TEST(unknown.output.find("unknown plugin 'lienar' (did you mean 'linear'?); model plugins found: ") !=
                   std::string::npos,
               unknown.output);
    BOOST_TEST(unknown.output.find(name) != std::string::npos, unknown.output);
  }
}

// Item 3: a command that loads a plugin which crashes while loading names the file and
// the signal, and ends as the signal would have ended it.
BOOST_AUTO_TEST_CASE(a_plugin_that_crashes_while_loading_is_named_with_the_signal) {
  test::TemporaryDirectory work;
  const auto path_option = "--plugin-path " + quoted(test::hostile_plugin_dir()) + " ";
  const std::vector<std::tuple<std::string, int, std::string>> cases{{"segfault_on_load", SIGSEGV, "SIGSEGV"},
                                                                     {"abort_on_load", SIGABRT, "SIGABRT"}};
  for (const auto& [name, signal, signal_name] : cases) {
    std::ofstream(work.path() / "p.yaml") << naming(name);
    const auto expected = "ballista: plugin " + hostile(name).string() + " crashed while loading (signal " +
                          std::to_string(signal) + ", " + signal_name + ")";
    for (const auto& command : std::vector<std::string>{"validate", "run --quiet --out " + quoted(work.path() / "run")}) {
      const auto result =
          test::run_command(ballista_command(path_option + command + " " + quoted(work.path() / "p.yaml")));
      BOOST_TEST(result.exit_code == 128 + signal, command << " " << name << ": " << result.output);
      BOOST_TEST(result.output.find(expected) != std::string::npos, command << ": " << result.output);
    }
    BOOST_TEST(!std::filesystem::exists(work.path() / "run"));
  }
  // `schema` describes every plugin, so it loads them all: the first to crash is named.
  const auto schema = test::run_command(ballista_command(path_option + "schema"));
  BOOST_TEST(schema.exit_code == 128 + SIGABRT, schema.output);
  BOOST_TEST(schema.output.find("ballista: plugin " + hostile("abort_on_load").string() +
                                " crashed while loading (signal 6, SIGABRT)") != std::string::npos,
             schema.output);
}

// Item 3: a plugin that never finishes loading is named after a few seconds, and again
// when the process is stopped (here by timeout's SIGTERM after 10 s).
BOOST_AUTO_TEST_CASE(a_plugin_that_hangs_while_loading_is_named) {
  test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << naming("hang_on_load");
  const auto result = test::run_command(ballista_command(
      "--plugin-path " + quoted(test::hostile_plugin_dir()) + " validate " + quoted(work.path() / "p.yaml"), 10));
  BOOST_TEST(result.exit_code == 124, result.output);  // timeout's "timed out"
  const auto file = hostile("hang_on_load").string();
  BOOST_TEST(result.output.find("ballista: plugin " + file + " is still loading after 3 s") != std::string::npos,
             result.output);
  BOOST_TEST(result.output.find("ballista: stopped by signal 15 (SIGTERM) while loading plugin " + file) !=
                 std::string::npos,
             result.output);
}

// Item 3, the limit: _Exit(0) in a static initialiser ends the process before anything
// can report it. On a terminal the file being loaded is shown while it loads, so it is
// the last line left; elsewhere the pipeline that names the plugin just ends.
BOOST_AUTO_TEST_CASE(a_plugin_that_exits_while_loading_is_left_named_on_a_terminal) {
  test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << naming("exit_on_load");
  const auto validate = ballista_command("--plugin-path " + quoted(test::hostile_plugin_dir()) + " validate " +
                                         quoted(work.path() / "p.yaml"));
  // script(1) runs the command on a pseudo-terminal and copies what it shows.
  const auto shown = test::run_command("script -qec " + test::shell_quote(validate) + " /dev/null");
  BOOST_TEST(shown.output.find("ballista: loading plugin " + hostile("exit_on_load").string()) != std::string::npos,
             shown.output);
  BOOST_TEST(shown.output.find("ok (") == std::string::npos, shown.output);
  // A plugin that loads: its line is erased once it has loaded.
  std::ofstream(work.path() / "q.yaml") << naming("linear");
  const auto loaded = test::run_command("script -qec " +
                                        test::shell_quote(ballista_command("validate " + quoted(work.path() / "q.yaml"))) +
                                        " /dev/null");
  BOOST_TEST(loaded.exit_code == 0, loaded.output);
  BOOST_TEST(loaded.output.find("ballista: loading plugin ") != std::string::npos, loaded.output);
  BOOST_TEST(loaded.output.find("linear.so\r\033[K") != std::string::npos, loaded.output);
}

// Item 9: the file loaded is judged where it really is, with every directory above it:
// a link into a directory anyone can write, a safe directory inside one anyone can write
// (no sticky bit), and a directory of another user are refused, with the reason, by
// `plugins --verbose` and by a run that names the plugin; safe places still load.
BOOST_AUTO_TEST_CASE(plugin_files_others_could_replace_are_refused_along_the_whole_path) {
  test::TemporaryDirectory root;
  using std::filesystem::perms;
  // crashing_model.so (plugin 'crashing') is in no other directory of the search path.
  const auto plugin = test::conformance_plugin_dir() / "crashing_model.so";
  std::ofstream(root.path() / "p.yaml") << naming("crashing");
  const auto setup = [&](const std::filesystem::path& directory) {
    std::filesystem::create_directories(directory);
    std::filesystem::copy_file(plugin, directory / "crashing_model.so");
    return directory / "crashing_model.so";
  };
  struct Case {
    std::string what;
    std::filesystem::path directory;  // on the plugin path
    std::string reason;               // after "crashing_model.so: not loaded: "
  };
  std::vector<Case> cases;

  // A link whose target lies in a directory anyone can write (the link's own is safe).
  const auto open = root.path() / "open";
  const auto target = setup(open);
  std::filesystem::permissions(open, perms::all);  // 0777, no sticky bit
  std::filesystem::create_directories(root.path() / "linked");
  std::filesystem::create_symlink(target, root.path() / "linked/crashing_model.so");
  cases.push_back({"a link into a world-writable directory", root.path() / "linked",
                   "it links to " + target.string() + ": its directory " + open.string() +
                       " is writable by every user (mode 0777, without the sticky bit)"});

  // A safe directory inside a directory anyone can write: the safe one can be renamed
  // away and replaced.
  const auto shared = root.path() / "shared";
  setup(shared / "safe");
  std::filesystem::permissions(shared, perms::all);
  cases.push_back({"a safe directory in a world-writable one", shared / "safe",
                   "the directory " + shared.string() + " above it is writable by every user (mode 0777"});

  // A directory that belongs to another user.
  if (::geteuid() == 0) {
    const auto theirs = root.path() / "theirs";
    setup(theirs);
    BOOST_REQUIRE(::chown(theirs.c_str(), 65534, 65534) == 0);  // nobody
    cases.push_back({"a directory of another user", theirs,
                     "its directory " + theirs.string() + " belongs to another user (uid 65534)"});
  } else {
    BOOST_TEST_MESSAGE("not root: the case of a directory owned by another user needs chown, skipped");
  }

  for (const auto& refused : cases) {
    const auto& what = refused.what;
    const auto& directory = refused.directory;
    const auto& reason = refused.reason;
    const auto options = "--plugin-path " + quoted(directory) + " ";
    const auto listed = test::run_command(ballista_command(options + "plugins --verbose"));
    BOOST_TEST(listed.exit_code == 0, what << ": " << listed.output);
    BOOST_TEST(listed.output.find("crashing_model.so: not loaded: " + reason) != std::string::npos,
               what << ": " << listed.output);
    const auto run = test::run_command(ballista_command(options + "run " + quoted(root.path() / "p.yaml") + " --out " +
                                                        quoted(root.path() / "run")));
    BOOST_TEST(run.exit_code == 2, what << ": " << run.output);
    BOOST_TEST(run.output.find("uses plugin 'crashing', which was found in " + (directory / "crashing_model.so").string() +
                               " but refused: not loaded: " + reason) != std::string::npos,
               what << ": " << run.output);
    BOOST_TEST(!std::filesystem::exists(root.path() / "run"), what);
    // Allowed explicitly, it loads.
    const auto allowed = test::run_command(ballista_command(options + "--allow-insecure-plugins validate " +
                                                            quoted(root.path() / "p.yaml")));
    BOOST_TEST(allowed.exit_code == 0, what << ": " << allowed.output);
  }

  // Safe places: a plain directory, and a link from one safe directory into another.
  const auto good = setup(root.path() / "good");
  std::filesystem::create_directories(root.path() / "good-link");
  std::filesystem::create_symlink(good, root.path() / "good-link/crashing_model.so");
  for (const auto& directory : {root.path() / "good", root.path() / "good-link"}) {
    const auto options = "--plugin-path " + quoted(directory) + " ";
    const auto listed = test::run_command(ballista_command(options + "plugins --verbose"));
    BOOST_TEST(listed.output.find("not loaded") == std::string::npos, listed.output);
    BOOST_TEST(listed.output.find((directory / "crashing_model.so").string()) != std::string::npos, listed.output);
    const auto validated = test::run_command(ballista_command(options + "validate " + quoted(root.path() / "p.yaml")));
    BOOST_TEST(validated.exit_code == 0, directory << ": " << validated.output);
  }
}

// Item 14: a manifest's name with a newline and terminal escape sequences was printed
// raw by `plugins` (a forged table line, a cleared screen). Such a file is refused, named,
// with the name escaped; what it offers is never listed.
BOOST_AUTO_TEST_CASE(a_manifest_name_that_is_not_printable_is_refused_escaped) {
  const auto options = "--plugin-path " + quoted(test::forged_plugin_dir()) + " ";
  const auto listed = test::run_command(ballista_command(options + "plugins"));
  BOOST_TEST(listed.exit_code == 0, listed.output);
  BOOST_TEST(listed.output.find('\033') == std::string::npos, listed.output);
  BOOST_TEST(listed.output.find("9.9.9") == std::string::npos, listed.output);
  BOOST_TEST(listed.output.find("forged") == std::string::npos, listed.output);
  const auto verbose = test::run_command(ballista_command(options + "plugins --verbose"));
  BOOST_TEST(verbose.exit_code == 0, verbose.output);
  BOOST_TEST(verbose.output.find('\033') == std::string::npos, verbose.output);
  BOOST_TEST(verbose.output.find("forged_name.so: its manifest's plugin name 'forged\\x1b[2J\\x0a  linear    9.9.9  a "
                                 "forged line' is not a name") != std::string::npos,
             verbose.output);
  // A pipeline naming it is refused as naming an unknown plugin, as for any refused file.
  test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << naming("forged");
  const auto validated = test::run_command(ballista_command(options + "validate " + quoted(work.path() / "p.yaml")));
  BOOST_TEST(validated.exit_code == 2, validated.output);
  BOOST_TEST(validated.output.find("unknown plugin 'forged'") != std::string::npos, validated.output);
  BOOST_TEST(validated.output.find('\033') == std::string::npos, validated.output);
}

// Item 14: `run --isolate` waited for ever on a model that never returns. With
// --model-timeout (which implies --isolate) such a model fails with the reason once the
// time is up, its process is killed, and the other models finish with the figures they
// have without it.
BOOST_AUTO_TEST_CASE(model_timeout_fails_a_model_that_never_returns_and_keeps_the_others) {
  test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << R"yaml(data:
  inputs: {x: "uniform(0, 1)"}
  targets: {y: 2*x}
  sets: {train: {rows: 30}, test: {rows: 10}}
models:
  before: {plugin: linear}
  stuck: {plugin: crashing, how: hang}
  after: {plugin: knn, k: 2}
)yaml";
  std::ofstream(work.path() / "q.yaml") << "extends: p.yaml\nmodels: {stuck: null}\n";
  const auto options = "--plugin-path " + quoted(test::conformance_plugin_dir()) + " ";
  const auto started = std::chrono::steady_clock::now();
  const auto timed = test::run_command(ballista_command(options + "run --quiet " + quoted(work.path() / "p.yaml") +
                                                        " --model-timeout 1.5 --out " + quoted(work.path() / "t")));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  BOOST_TEST(timed.exit_code == 1, timed.output);  // a model failed, the run did not
  BOOST_TEST(seconds < 100.0);  // not the 120 s of ballista_command's own limit
  const auto metrics = nlohmann::json::parse(read_text(work.path() / "t/metrics.json"));
  BOOST_TEST(metrics["state"] == "complete");
  std::map<std::string, nlohmann::json> models;
  for (const auto& model : metrics["models"]) {
    models[model["name"]] = model;
  }
  BOOST_TEST(models["stuck"]["status"] == "failed");
  BOOST_TEST(models["stuck"]["error"].get<std::string>() ==
                 "did not finish within 1.5 s (--model-timeout): its process was killed; the other models are "
                 "unaffected",
             models["stuck"]["error"]);
  BOOST_TEST(!std::filesystem::exists(work.path() / "t/.isolate"));
  // The others as in a run without the stuck model.
  const auto plain = test::run_command(ballista_command(options + "run --quiet " + quoted(work.path() / "q.yaml") +
                                                        " --out " + quoted(work.path() / "plain")));
  BOOST_TEST_REQUIRE(plain.exit_code == 0, plain.output);
  const auto reference = nlohmann::json::parse(read_text(work.path() / "plain/metrics.json"));
  for (const auto& model : reference["models"]) {
    BOOST_TEST(models[model["name"]]["status"] == "ok");
    BOOST_TEST(models[model["name"]]["metrics"] == model["metrics"], model["name"]);
  }
  // Usage: seconds above 0, decimal, with run only.
  for (const std::string bad : {"0", "-1", "abc", "0x10", "nan", "inf", "1e9"}) {
    const auto refused = test::run_command(ballista_command(options + "run " + quoted(work.path() / "p.yaml") +
                                                            " --model-timeout " + bad));
    BOOST_TEST(refused.exit_code == 2, bad << ": " << refused.output);
    BOOST_TEST(refused.output.find("--model-timeout needs a number of seconds above 0") != std::string::npos,
               refused.output);
  }
  const auto elsewhere =
      test::run_command(ballista_command(options + "validate " + quoted(work.path() / "p.yaml") + " --model-timeout 3"));
  BOOST_TEST(elsewhere.exit_code == 2, elsewhere.output);
  BOOST_TEST(elsewhere.output.find("--model-timeout only applies to `run`") != std::string::npos, elsewhere.output);
}

BOOST_AUTO_TEST_SUITE_END()
