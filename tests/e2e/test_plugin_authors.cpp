// Issue 15 (suite plugin_authors): what plugin authors and pipeline users met. The
// messages a plugin logs through its Context reach the run's record (log.txt, the
// model's entry and "source_messages" in metrics.json, the report) and the terminal
// (debug only with --verbose); `run --quiet` prints the table alone; `--set KEY=null`
// removes a key as `null` does in a file that extends another; `plugin NAME` says which
// LibTorch version it reports. And a model that reads its inputs by name gets them, or
// the pipeline is refused (SDK ABI 7; 8 added Dataset::units and Context::report_table).
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <torch/version.h>

#include <fstream>
#include <map>


namespace test = ballista::test;
using nlohmann::json;

namespace {

std::string quoted(const std::filesystem::path& path) { return test::shell_quote(path.string()); }

std::string ballista_command(const std::string& arguments) {
  return test::shell_quote(test::ballista_binary().string()) + " --plugin-path " + quoted(test::chatty_plugin_dir()) +
         " " + arguments;
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The chatty source (y = x, a warning at each call) and the chatty model, with a probe
// (so the source is called for the truth there too) and a linear model that logs nothing.
std::string chatty_pipeline(const std::string& then = "fit") {
  return R"yaml(data:
  source: chatty_source
  inputs: {x: "uniform(0, 1)"}
  targets: {y: {}}
  sets: {train: {rows: 20}, test: {rows: 10}}
models:
  talker: {plugin: chatty, then: )yaml" +
         then + R"yaml(}
  line: {plugin: linear}
evaluate:
  probes: [{x: 0.5}]
)yaml";
}

// The messages of model `name` in metrics.json, as [level, message] pairs.
std::vector<std::pair<std::string, std::string>> messages_of(const json& metrics, const std::string& name) {
  std::vector<std::pair<std::string, std::string>> found;
  for (const auto& model : metrics.at("models")) {
    if (model.at("name") == name) {
      for (const auto& message : model.at("messages")) {
        found.emplace_back(message.at("level"), message.at("message"));
      }
    }
  }
  return found;
}

// The calls of the SDK's require_finite(values, what) in `code`, each checked for its
// two arguments at the top level; calls of functions whose names end so are skipped.
int require_finite_calls(const std::string& code, const std::string& where) {
  int calls = 0;
  const std::string name = "require_finite(";
  for (auto call = code.find(name); call != std::string::npos; call = code.find(name, call + 1)) {
    if (call > 0 && (std::isalnum(static_cast<unsigned char>(code[call - 1])) != 0 || code[call - 1] == '_')) {
      continue;
    }
    int depth = 0;
    int commas = 0;
    for (auto i = call + name.size() - 1; i < code.size(); ++i) {
      const char c = code[i];
      depth += (c == '(' || c == '[' || c == '{') ? 1 : (c == ')' || c == ']' || c == '}') ? -1 : 0;
      commas += (c == ',' && depth == 1) ? 1 : 0;
      if (depth == 0) {
        break;
      }
    }
    ++calls;
    BOOST_TEST(commas == 1, where << ": require_finite with " << commas + 1 << " arguments at "
                                  << code.substr(call, code.find('\n', call) - call));
  }
  return calls;
}

// What chatty's fit() logs, in order, as the plugin sent it.
const std::vector<std::pair<std::string, std::string>> kChattySaid{
    {"debug", "debug: fitting 20 rows"},
    {"info", "info: the mean is all there is"},
    {"warning", "warning: two\nlines and an \x1b[31mescape"}};

}  // namespace

BOOST_AUTO_TEST_SUITE(plugin_authors)

// Before: the messages went to stderr only (even with --quiet), and into none of
// log.txt, metrics.json or the report.
BOOST_AUTO_TEST_CASE(plugin_messages_reach_the_log_the_metrics_and_the_report) {
  const test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << chatty_pipeline();
  const auto run = work.path() / "run";
  const auto result = test::run_command(ballista_command("run " + quoted(work.path() / "p.yaml") + " --out " + quoted(run)));
  BOOST_REQUIRE_MESSAGE(result.exit_code == 0, result.output);

  // The terminal: info and warning, escaped (no raw escape sequence), debug not shown.
  BOOST_TEST(contains(result.output, "  talker: info: info: the mean is all there is\n"), result.output);
  BOOST_TEST(contains(result.output, "  talker: warning: warning: two\\x0alines and an \\x1b[31mescape\n"),
             result.output);
  BOOST_TEST(!contains(result.output, "debug: fitting"), result.output);
  BOOST_TEST(!contains(result.output, "\x1b[31m"), result.output);

  // log.txt: every level, in the order logged, before the model's status line.
  const auto log = read_text(run / "log.txt");
  const auto debug = log.find("  talker: debug: debug: fitting 20 rows\n");
  const auto info = log.find("  talker: info: info: the mean is all there is\n");
  const auto warning = log.find("  talker: warning: warning: two\\x0alines and an \\x1b[31mescape\n");
  const auto status = log.find("  talker: ok");
  BOOST_TEST((debug < info && info < warning && warning < status && status != std::string::npos), log);
  BOOST_TEST(contains(log, "  source chatty_source (drawing the data): warning: simulated 20 rows\n"), log);
  BOOST_TEST(contains(log, "  source chatty_source (drawing the data): debug: debug from the source\n"), log);
  BOOST_TEST(contains(log, "  source chatty_source (the truth at the probes): warning: simulated 1 rows\n"), log);

  // metrics.json: the model's messages as sent (the line break and escape kept), the
  // linear model's none, and the source's with what it was computing.
  const auto metrics = json::parse(read_text(run / "metrics.json"));
  BOOST_TEST((messages_of(metrics, "talker") == kChattySaid));
  BOOST_TEST(messages_of(metrics, "line").empty());
  const auto& source = metrics.at("source_messages");
  // The training and test sets are drawn apart (two calls), then the probe's truth and
  // the slice plot's: two of each level at least, each tagged.
  BOOST_REQUIRE(source.size() >= 6U);
  BOOST_TEST(source.at(0) == json({{"level", "warning"}, {"during", "drawing the data"}, {"message", "simulated 20 rows"}}));
  BOOST_TEST(source.at(1) == json({{"level", "debug"}, {"during", "drawing the data"}, {"message", "debug from the source"}}));
  bool probes = false;
  bool grids = false;
  for (const auto& message : source) {
    probes = probes || message == json({{"level", "warning"}, {"during", "the truth at the probes"},
                                        {"message", "simulated 1 rows"}});
    grids = grids || message.at("during") == "the truth on the plot grids";
  }
  BOOST_TEST(probes);
  BOOST_TEST(grids);

  // The report: next to the model, info and warning (not debug); the source's warnings.
  const auto report = read_text(run / "report.md");
  BOOST_TEST(contains(report, "plugin info: info: the mean is all there is"), report);
  // printable()'s escapes, and markdown's backslash before each backslash.
  BOOST_TEST(contains(report, "plugin warning: warning: two\\\\x0alines and an \\\\x1b[31mescape"), report);
  BOOST_TEST(!contains(report, "debug: fitting"), report);
  BOOST_TEST(contains(report, "The source plugin chatty_source logged:"), report);
  BOOST_TEST(contains(report, "warning (drawing the data): simulated 20 rows"), report);
  BOOST_TEST(contains(read_text(run / "report.html"), "plugin info: info: the mean is all there is"));
}

BOOST_AUTO_TEST_CASE(verbose_shows_debug_messages_and_quiet_prints_the_table_alone) {
  const test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << chatty_pipeline();
  const auto verbose = test::run_command(ballista_command("run " + quoted(work.path() / "p.yaml") + " --verbose --out " +
                                                          quoted(work.path() / "verbose")));
  BOOST_REQUIRE_MESSAGE(verbose.exit_code == 0, verbose.output);
  BOOST_TEST(contains(verbose.output, "  talker: debug: debug: fitting 20 rows\n"), verbose.output);

  // --quiet: stdout and stderr together are the table, nothing else (before: the model
  // summary, the run directory, the report's path and the plugin's messages too).
  const auto quiet = test::run_command(ballista_command("run " + quoted(work.path() / "p.yaml") + " --quiet --out " +
                                                        quoted(work.path() / "quiet")));
  BOOST_REQUIRE_MESSAGE(quiet.exit_code == 0, quiet.output);
  const auto log = read_text(work.path() / "quiet" / "log.txt");
  // The table is in log.txt too, between the per-model lines and the summary.
  const auto begins = log.find("\nmodel ");
  const auto ends = log.find("\nWhat each model is:");
  BOOST_REQUIRE(begins != std::string::npos);
  BOOST_REQUIRE(ends != std::string::npos);
  const auto table = log.substr(begins + 1, ends - begins - 1);
  BOOST_TEST(quiet.output == table, "quiet printed:\n" << quiet.output << "\ntable:\n" << table);
  BOOST_TEST(!contains(quiet.output, "What each model is"));
  BOOST_TEST(!contains(quiet.output, "Run directory"));
  BOOST_TEST(!contains(quiet.output, "talker: warning"));
  // What --quiet hides is still in log.txt.
  BOOST_TEST(contains(log, "  talker: warning: warning: two"), log);
  BOOST_TEST(contains(log, "  talker: ok"), log);
}

// In a child process (--isolate) the messages come back with the result, and survive
// the child's crash: they are written as they are logged.
BOOST_AUTO_TEST_CASE(isolated_models_keep_their_messages_even_when_they_crash) {
  const test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << chatty_pipeline();
  const auto isolated = test::run_command(ballista_command("run " + quoted(work.path() / "p.yaml") +
                                                           " --isolate --out " + quoted(work.path() / "isolated")));
  BOOST_REQUIRE_MESSAGE(isolated.exit_code == 0, isolated.output);
  const auto metrics = json::parse(read_text(work.path() / "isolated" / "metrics.json"));
  BOOST_TEST((messages_of(metrics, "talker") == kChattySaid));
  // Shown once, by the parent.
  const auto shown = isolated.output.find("talker: warning:");
  BOOST_TEST((shown != std::string::npos && isolated.output.find("talker: warning:", shown + 1) == std::string::npos),
             isolated.output);

  for (const std::string then : {"segfault", "throw"}) {
    std::ofstream(work.path() / (then + ".yaml")) << chatty_pipeline(then);
    const auto run = work.path() / then;
    const auto crashed = test::run_command(ballista_command("run " + quoted(work.path() / (then + ".yaml")) +
                                                            (then == "segfault" ? " --isolate" : "") + " --out " +
                                                            quoted(run)));
    BOOST_TEST(crashed.exit_code == 1, crashed.output);
    const auto crashed_metrics = json::parse(read_text(run / "metrics.json"));
    BOOST_TEST((messages_of(crashed_metrics, "talker") == kChattySaid), then);
    BOOST_TEST(contains(read_text(run / "log.txt"), "  talker: warning: warning: two"), then);
    BOOST_TEST(contains(read_text(run / "report.md"), "plugin info: info: the mean is all there is"), then);
  }
}

// The guide's C++ snippets: those of the example's walk-through are the example's code,
// verbatim, and every call of the SDK's require_finite has its two arguments (a snippet
// called a three-argument require_finite, the example's own function of that name, so
// a copied snippet did not compile against the SDK).
BOOST_AUTO_TEST_CASE(the_guides_snippets_are_the_examples_code_and_call_the_sdk_as_declared) {
  const auto guide = read_text(test::source_dir() / "docs/writing-a-plugin.md");
  const auto example = read_text(test::source_dir() / "docs/examples/poly_ridge/poly_ridge_model.cpp");
  const auto walk_through = guide.find("## The example: `poly_ridge`");
  const auto after = guide.find("### The CMake project");
  BOOST_REQUIRE(walk_through != std::string::npos);
  BOOST_REQUIRE(after != std::string::npos);
  int snippets = 0;
  int calls = 0;
  for (auto at = guide.find("```cpp\n"); at != std::string::npos; at = guide.find("```cpp\n", at + 1)) {
    const auto begin = at + 7;
    const auto end = guide.find("```", begin);
    BOOST_REQUIRE(end != std::string::npos);
    const auto snippet = guide.substr(begin, end - begin);
    if (at > walk_through && at < after) {
      ++snippets;
      BOOST_TEST(example.find(snippet) != std::string::npos, "not in poly_ridge_model.cpp:\n" << snippet);
    }
    calls += require_finite_calls(snippet, "a snippet of the guide");
  }
  // The scaffold `new-plugin` writes calls it too.
  calls += require_finite_calls(read_text(test::source_dir() / "host/src/cli/plugin_scaffold.cpp"), "plugin_scaffold.cpp");
  BOOST_TEST(snippets >= 10);
  BOOST_TEST(calls >= 3);
}

// What parameter_count() counts (model.hpp): learned weights and biases; every number
// of every stored row for a model that stores samples.
BOOST_AUTO_TEST_CASE(parameter_count_counts_what_model_hpp_says) {
  const test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << R"yaml(data:
  inputs: {u: "uniform(0, 1)", w: "uniform(0, 1)"}
  targets: {y: u + 2*w}
  sets: {train: {rows: 50}}
models:
  near: {plugin: knn}
  line: {plugin: linear}
  net: {plugin: mlp, hidden: [4, 3], epochs: 2}
  terms: {plugin: basis, functions: [u, w, u*w], fit_intercept: false}
)yaml";
  const auto run = test::run_command(ballista_command("run " + quoted(work.path() / "p.yaml") + " --quiet --out " +
                                                      quoted(work.path() / "run")));
  BOOST_REQUIRE_MESSAGE(run.exit_code == 0, run.output);
  const auto metrics = json::parse(read_text(work.path() / "run/metrics.json"));
  std::map<std::string, std::int64_t> counts;
  for (const auto& model : metrics.at("models")) {
    counts[model.at("name")] = model.at("parameter_count");
  }
  BOOST_TEST(counts.at("near") == 50 * (2 + 1));              // rows × (inputs + targets)
  BOOST_TEST(counts.at("line") == 2 + 1);                     // weights and the bias
  BOOST_TEST(counts.at("net") == (2 * 4 + 4) + (4 * 3 + 3) + (3 * 1 + 1));  // every weight and bias
  BOOST_TEST(counts.at("terms") == 3);                        // least squares: no weight is exactly zero
}

// `plugin NAME` says what its LibTorch version is: the headers' TORCH_VERSION (Debian's
// libtorch-dev 1.13.1 ships headers that say 1.13.0; the bare number looked wrong).
BOOST_AUTO_TEST_CASE(plugin_says_which_libtorch_version_it_reports) {
  const auto shown = test::run_command(ballista_command("plugin chatty"));
  BOOST_REQUIRE_MESSAGE(shown.exit_code == 0, shown.output);
  BOOST_TEST(contains(shown.output, std::string("built with LibTorch ") + TORCH_VERSION +
                                        " (the TORCH_VERSION its LibTorch headers declare; a package may be numbered "
                                        "otherwise)\n"),
             shown.output);
}

// A model that reads inputs and predicts targets by name (Model::required_inputs and
// required_targets; the fixture named_inputs reads b, a and predicts c = a + 2b and
// d = a - b): `validate` refuses a pipeline whose data lacks one of them, at the model,
// and `run` refuses it before drawing anything; with inputs (a, b, z) and target d, in
// orders of the pipeline's own, it runs on the columns it named and predicts exactly.
BOOST_AUTO_TEST_CASE(a_model_gets_the_inputs_it_reads_by_name_or_the_pipeline_is_refused) {
  const test::TemporaryDirectory work;
  const auto named = [](const std::string& arguments) {
    return test::run_command(test::shell_quote(test::ballista_binary().string()) + " --plugin-path " +
                             quoted(test::named_plugin_dir()) + " " + arguments);
  };
  std::ofstream(work.path() / "missing.yaml") << R"yaml(data:
  inputs: {a: "uniform(0, 1)", z: "uniform(0, 1)"}
  targets: {c: a + z}
  sets: {train: {rows: 20}}
models:
  grey_box: {plugin: named_inputs}
)yaml";
  const std::string refusal = (work.path() / "missing.yaml").string() +
                              ":6:13: error: model 'grey_box': plugin named_inputs needs input 'b', which the data "
                              "does not have (its inputs: a, z)";
  const auto validated = named("validate " + quoted(work.path() / "missing.yaml"));
  BOOST_TEST(validated.exit_code == 2, validated.output);
  BOOST_TEST(contains(validated.output, refusal), validated.output);
  const auto refused = named("run " + quoted(work.path() / "missing.yaml") + " --out " + quoted(work.path() / "no"));
  BOOST_TEST(refused.exit_code == 2, refused.output);
  BOOST_TEST(contains(refused.output, refusal), refused.output);
  BOOST_TEST(!std::filesystem::exists(work.path() / "no"));

  std::ofstream(work.path() / "p.yaml") << R"yaml(data:
  inputs: {a: "uniform(0, 2)", b: "uniform(-3, 3)", z: "uniform(0, 1)"}
  targets: {d: a - b}
  sets: {train: {rows: 40}, test: {rows: 25}}
models:
  grey_box: {plugin: named_inputs}
evaluate:
  metrics: [mse, max_error]
  probes: [{a: 1, b: 0.25, z: 7}]
)yaml";
  const auto run = named("run " + quoted(work.path() / "p.yaml") + " --quiet --out " + quoted(work.path() / "run"));
  BOOST_REQUIRE_MESSAGE(run.exit_code == 0, run.output);
  const auto metrics = json::parse(read_text(work.path() / "run/metrics.json"));
  const auto& model = test::model_entry(metrics, "grey_box");
  BOOST_TEST(model.at("status") == "ok", model.dump());
  BOOST_TEST(model.at("describe") == "d = a - b", model.dump());
  for (const auto* set : {"train", "test"}) {
    BOOST_TEST(model.at("metrics").at(set).at("mse").get<double>() == 0.0, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(model.at("metrics").at(set).at("max_error").get<double>() == 0.0, boost::test_tools::tolerance(1e-12));
  }
  BOOST_TEST(model.at("probes").at(0).at("prediction").at("d").get<double>() == 0.75);
  // The saved model predicts with the same columns, given in any order.
  const auto predicted = named("predict " + quoted(work.path() / "run/models/grey_box.pt") + " --at z=7,b=0.25,a=1");
  BOOST_TEST(predicted.exit_code == 0, predicted.output);
  BOOST_TEST(predicted.output == "d = 0.75\n", predicted.output);
}

BOOST_AUTO_TEST_SUITE_END()
