// Issue 14 robustness cases (suite robustness_records): see tests/e2e/test_robustness.cpp.
// What a run writes and later reads back: text that is not UTF-8 in what goes into its
// JSON files, and damaged metrics.json and environment.json under compare and reproduce.
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <functional>
#include <optional>
#include <sys/stat.h>

namespace test = ballista::test;
using nlohmann::json;

namespace {

std::string ballista_command(const std::string& arguments) {
  return test::shell_quote(test::ballista_binary().string()) + " " + arguments;
}

std::string quoted(const std::filesystem::path& path) { return test::shell_quote(path.string()); }

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Two models, a test set and a probe: metrics.json then has every kind of field that
// compare and reproduce read (metrics per set, probe predictions, counts, timings).
const char* const kPipeline = R"yaml(data:
  inputs: {v: "uniform(0, 1)", w: "uniform(0, 1)"}
  targets: {s: v + w}
  sets: {train: {rows: 20}, test: {rows: 10}}
models:
  line: {plugin: linear}
  near: {plugin: knn}
evaluate:
  probes: [{v: 0.5, w: 0.5}]
)yaml";

// Runs kPipeline, written to `pipeline_file` next to `run`, into `run`.
void make_run(const std::filesystem::path& run, const std::string& pipeline_file = "p.yaml") {
  const auto pipeline = run.parent_path() / pipeline_file;
  std::ofstream(pipeline) << kPipeline;
  const auto made =
      test::run_command("timeout 300 " + ballista_command("run " + quoted(pipeline) + " --quiet --out " + quoted(run)));
  BOOST_REQUIRE_MESSAGE(made.exit_code == 0, made.output);
}

const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

}  // namespace

BOOST_AUTO_TEST_SUITE(robustness_records)

// Item 5: a pipeline file or run directory whose name is Latin-1 (not UTF-8) used to end
// the run at its first metrics.json write (json type_error.316: no results, no report),
// and made every model fail under --isolate (the child could not send its result). Now
// the run completes; the JSON files parse, with U+FFFD where the bad byte was; compare
// --format json and reproduce read it.
BOOST_AUTO_TEST_CASE(latin1_file_names_complete_the_run_with_replacement_characters) {
  test::TemporaryDirectory out;
  const auto run = out.path() / "r\xE9n";  // "rén" in Latin-1
  make_run(run, "p\xE9.yaml");  // named "p_" (a name has no such character)
  BOOST_TEST(std::filesystem::exists(run / "report.html"));
  BOOST_TEST(std::filesystem::exists(run / "report.md"));
  json metrics;
  BOOST_REQUIRE_NO_THROW(metrics = json::parse(read_text(run / "metrics.json")));  // parse refuses bad UTF-8
  BOOST_TEST(metrics.at("state") == "complete");
  BOOST_TEST(metrics.at("pipeline") == "p_");
  const auto pipeline_file = metrics.at("file").get<std::string>();
  BOOST_TEST(pipeline_file.ends_with("/p" + kReplacement + ".yaml"), pipeline_file);
  for (const auto& model : metrics.at("models")) {
    BOOST_TEST(model.at("status") == "ok");
    const auto file = model.at("model_file").get<std::string>();
    BOOST_TEST(file.find("r" + kReplacement + "n/models/") != std::string::npos, file);
  }
  BOOST_TEST(json::accept(read_text(run / "environment.json")));

  const auto compared = test::run_command("timeout 60 " + ballista_command("compare " + quoted(run) +
                                                                            " --format json 2>/dev/null"));
  BOOST_TEST_REQUIRE(compared.exit_code == 0, compared.output);
  const auto rows = json::parse(compared.output);
  BOOST_TEST_REQUIRE(rows.size() == 2U);
  BOOST_TEST(rows[0].at("run") == "p_/r" + kReplacement + "n");

  const auto again = out.path() / "ag\xE0in";
  const auto reproduced =
      test::run_command("timeout 300 " + ballista_command("reproduce " + quoted(run) + " --out " + quoted(again)));
  BOOST_TEST(reproduced.exit_code == 0, reproduced.output);
  BOOST_TEST(reproduced.output.find("identical: all 6 metrics and probe predictions") != std::string::npos,
             reproduced.output);

  // --isolate: each model's result comes back from its child process, the model file's
  // path byte for byte (the parent reads the file again for the plots).
  const auto isolated_run = out.path() / "iso\xE9";
  const auto isolated = test::run_command("timeout 300 " +
                                          ballista_command("run " + quoted(out.path() / "p\xE9.yaml") +
                                                           " --quiet --isolate --out " + quoted(isolated_run)));
  BOOST_TEST_REQUIRE(isolated.exit_code == 0, isolated.output);
  const auto isolated_metrics = json::parse(read_text(isolated_run / "metrics.json"));
  for (const auto& model : isolated_metrics.at("models")) {
    BOOST_TEST(model.at("status") == "ok", model.dump());
  }
  BOOST_TEST(std::filesystem::exists(isolated_run / "models/line.pt"));
  BOOST_TEST(std::filesystem::exists(isolated_run / "report.html"));
}

// Item 6: compare ran outside the engine's error handling, so a well-formed metrics.json
// with a wrong type (a list where a number belongs, a top-level array, a null status)
// ended in an abort (SIGABRT) or undefined behaviour, and a FIFO in its place hung it.
// Each damaged file below now gives exit 2 and one message naming the file and the
// field; the edits a run can write or an older run lacks are still compared.
BOOST_AUTO_TEST_CASE(compare_names_the_file_and_field_of_each_damaged_metrics_json) {
  test::TemporaryDirectory out;
  const auto good = out.path() / "good";
  make_run(good);
  const auto good_text = read_text(good / "metrics.json");
  const auto document = json::parse(good_text);
  BOOST_REQUIRE(document.at("models").at(1).at("name") == "near");  // the pointers below rely on it

  struct Edit {
    std::string pointer;  // where (a JSON pointer)
    std::optional<json> value;  // the new value; none: the field is removed
    std::string expected;  // in the message; "" when the file is still fine (exit 0)
  };
  const std::vector<Edit> edits{
      {"/models/1/metrics/test/mse", json::array({1}),
       "models[1].metrics.test.mse: expected a number or null, found an array"},
      {"", json::array(), "the top level: expected an object (a run's metrics), found an array"},
      {"/models", std::nullopt, "models: missing"},
      {"/models", json::object(), "models: expected an array of models, found an object"},
      {"/models", nullptr, "models: expected an array of models, found null"},
      {"/models/0", "x", "models[0]: expected an object (a model), found a string"},
      {"/models/0/name", 5, "models[0].name: expected a string, found the number 5"},
      {"/models/1/status", nullptr, "models[1].status: expected a string, found null"},
      {"/models/0/metrics", json::array(),
       "models[0].metrics: expected an object {SET: {METRIC: number}}, found an array"},
      {"/models/0/metrics/train", true, "models[0].metrics.train: expected an object of numbers, found true"},
      {"/models/0/fit_seconds", "1", "models[0].fit_seconds: expected a number or null, found a string"},
      {"/models/0/parameter_count", 2.5,
       "models[0].parameter_count: expected a whole number from 0 to 2^53, found the number 2.5"},
      {"/models/0/parameter_count", -3,
       "models[0].parameter_count: expected a whole number from 0 to 2^53, found the number -3"},
      {"/models/0/parameter_count", json::parse("18446744073709551615"),
       "models[0].parameter_count: expected a whole number from 0 to 2^53, found the number 18446744073709551615"},
      {"/models/1/probes", json::object(), "models[1].probes: expected an array, found an object"},
      {"/models/1/probes/0", nullptr, "models[1].probes[0]: expected an object (a probe), found null"},
      {"/models/1/probes/0/prediction/s", "1",
       "models[1].probes[0].prediction.s: expected a number or null, found a string"},
      {"/pipeline", json::array(), "pipeline: expected a string, found an array"},
      // What a run may write (NaN as null) or an older or unfinished run may lack.
      {"/models/0/metrics/test/mse", nullptr, ""},
      {"/models/1/metrics", std::nullopt, ""},
      {"/models/0/probes", std::nullopt, ""},
      {"/models/0/parameter_count", std::nullopt, ""},
      {"/models/0/name", std::nullopt, ""},
      {"/file", std::nullopt, ""},
  };
  struct Case {
    // cppcheck-suppress unusedStructMember ; read through structured bindings
    std::string name;
    // cppcheck-suppress unusedStructMember ; read through structured bindings
    std::string expected;
  };
  std::vector<Case> cases;
  const auto add = [&](const std::string& text, const std::string& expected) {
    const auto directory = out.path() / ("case" + std::to_string(cases.size()));
    std::filesystem::create_directory(directory);
    std::ofstream(directory / "metrics.json", std::ios::binary) << text;
    cases.push_back({directory.filename().string(), expected});
  };
  for (const auto& edit : edits) {
    auto damaged = document;
    const json::json_pointer pointer(edit.pointer);
    if (!edit.value) {
      damaged.at(pointer.parent_pointer()).erase(pointer.back());
    } else {
      damaged[pointer] = *edit.value;
    }
    add(damaged.dump(2), edit.expected);
  }
  add("", "not valid JSON");
  add(good_text.substr(0, good_text.size() / 2), "not valid JSON (damaged or cut short?): parse error at line");
  add("null", "the top level: expected an object (a run's metrics), found null");
  add("1", "the top level: expected an object (a run's metrics), found the number 1");
  auto latin1 = good_text;
  latin1.replace(latin1.find("\"line\""), 6, "\"l\xE9ne\"");  // "léne" in Latin-1: not UTF-8, so not JSON
  add(latin1, "not valid JSON");
  // A directory, a FIFO (reading it would wait for a writer forever) and a dangling link
  // where the file should be.
  const auto special = [&](const std::string& expected, const auto& make) {
    const auto directory = out.path() / ("case" + std::to_string(cases.size()));
    std::filesystem::create_directory(directory);
    make(directory / "metrics.json");
    cases.push_back({directory.filename().string(), expected});
  };
  special("a directory, where a run keeps a file", [](const auto& file) { std::filesystem::create_directory(file); });
  special("not a regular file", [](const auto& file) { BOOST_REQUIRE(mkfifo(file.c_str(), 0600) == 0); });
  special("no such file (a link to a file that is not there)",
          [](const auto& file) { std::filesystem::create_symlink("elsewhere.json", file); });

  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& [name, expected] = cases[i];
    const auto directory = out.path() / name;
    BOOST_TEST_CONTEXT(name << ", expecting \"" << expected << "\"") {
      const auto compared = test::run_command("timeout 60 " + ballista_command("compare " + quoted(directory)));
      BOOST_TEST(compared.output.find("json.exception") == std::string::npos, compared.output);
      if (expected.empty()) {
        BOOST_TEST(compared.exit_code == 0, compared.output);
        continue;
      }
      BOOST_TEST(compared.exit_code == 2, compared.output);
      const auto message = "ballista: compare: " + (directory / "metrics.json").string() + ": " + expected;
      BOOST_TEST(compared.output.find(message) != std::string::npos, compared.output);
      if (i % 3 == 0) {
        // The same as --baseline, with the JSON output.
        const auto as_baseline = test::run_command(
            "timeout 60 " + ballista_command("compare " + quoted(good) + " --baseline " + quoted(directory) +
                                             " --format json"));
        BOOST_TEST(as_baseline.exit_code == 2, as_baseline.output);
        BOOST_TEST(as_baseline.output.find(message) != std::string::npos, as_baseline.output);
      }
    }
  }
}

// Item 14: compare printed the names of a hand-edited metrics.json as they were: escape
// sequences reached the terminal, a newline forged a row, a ',' or '|' split a CSV or
// markdown column. Names are escaped (\xNN) and quoted where the format needs it.
BOOST_AUTO_TEST_CASE(compare_prints_edited_names_escaped_and_quoted) {
  test::TemporaryDirectory out;
  const auto run = out.path() / "run";
  make_run(run);
  auto document = json::parse(read_text(run / "metrics.json"));
  document["models"][0]["name"] = "a,\"b\"|c\x1b[2J\nforged  1.0";
  std::ofstream(run / "metrics.json", std::ios::binary | std::ios::trunc) << document.dump(2);
  const auto compare = [&](const std::string& format) {
    const auto result =
        test::run_command("timeout 60 " + ballista_command("compare " + quoted(run) + " --format " + format));
    BOOST_TEST(result.exit_code == 0, result.output);
    BOOST_TEST(result.output.find('\033') == std::string::npos, format << ": " << result.output);
    BOOST_TEST(result.output.find("\nforged") == std::string::npos, format << ": " << result.output);
    return result.output;
  };
  const auto table = compare("table");
  BOOST_TEST(table.find("a,\"b\"|c\\x1b[2J\\x0aforged  1.0") != std::string::npos, table);
  // The CSV parses back (Python's csv module) to the header's number of columns per row,
  // with the escaped name as one cell.
  const auto csv = compare("csv");
  const auto csv_file = out.path() / "compared.csv";
  std::ofstream(csv_file, std::ios::binary) << csv;
  const auto parsed = test::run_command(std::string(BALLISTA_TEST_PYTHON) + " -c " +
                                        test::shell_quote("import csv,sys\n"
                                                          "rows=list(csv.reader(open(sys.argv[1])))\n"
                                                          "assert len({len(r) for r in rows})==1, rows\n"
                                                          "print(rows[1][1])") +
                                        " " + quoted(csv_file));
  BOOST_TEST(parsed.exit_code == 0, parsed.output);
  BOOST_TEST(parsed.output == "a,\"b\"|c\\x1b[2J\\x0aforged  1.0\n", parsed.output);
  const auto markdown = compare("markdown");
  BOOST_TEST(markdown.find("a,\"b\"\\|c") != std::string::npos, markdown);
}

// Item 6: reproduce re-ran the whole pipeline before it read the recorded metrics.json's
// fields, then failed with a bare JSON error (or compared against nonsense: a list where
// a number belongs became a "difference"). Now both records are read and checked first:
// exit 2 naming the file and the field, and no run directory is made.
BOOST_AUTO_TEST_CASE(reproduce_checks_the_records_before_running_anything) {
  test::TemporaryDirectory out;
  const auto good = out.path() / "good";
  make_run(good);
  const auto good_metrics = read_text(good / "metrics.json");
  const auto document = json::parse(good_metrics);
  struct Case {
    // cppcheck-suppress unusedStructMember ; read through structured bindings
    std::string file;  // the damaged one
    std::function<void(const std::filesystem::path&)> damage;
    // cppcheck-suppress unusedStructMember ; read through structured bindings
    std::string expected;  // after "FILE: "
  };
  const auto write = [](const std::string& text) {
    return [text](const std::filesystem::path& file) {
      std::filesystem::remove(file);
      std::ofstream(file, std::ios::binary) << text;
    };
  };
  auto listed = document;
  listed["models"][0]["metrics"]["test"]["mse"] = json::array({1.0});
  auto nameless = document;
  nameless["models"][1]["name"] = json::object();
  const std::vector<Case> cases{
      {"metrics.json", write(listed.dump()),
       "models[0].metrics.test.mse: expected a number or null, found an array; nothing was run"},
      {"metrics.json", write(nameless.dump()), "models[1].name: expected a string, found an object"},
      {"metrics.json", write("[" + document.at("models").dump() + "]"),
       "the top level: expected an object (a run's metrics), found an array"},
      {"metrics.json", write(good_metrics.substr(0, good_metrics.size() / 3)),
       "not valid JSON (damaged or cut short?)"},
      {"metrics.json",
       [](const std::filesystem::path& file) {
         std::filesystem::remove(file);
         std::filesystem::create_directory(file);
       },
       "a directory, where a run keeps a file"},
      {"metrics.json", [](const std::filesystem::path& file) { std::filesystem::remove(file); }, "no such file"},
      {"environment.json", write("{\"ballista\": "), "not valid JSON (damaged or cut short?)"},
      {"environment.json", write("[]"), "the top level: expected an object (the recorded environment)"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& [file, damage, expected] = cases[i];
    const auto run = out.path() / ("case" + std::to_string(i));
    const auto again = out.path() / ("again" + std::to_string(i));
    std::filesystem::copy(good, run, std::filesystem::copy_options::recursive);
    damage(run / file);
    BOOST_TEST_CONTEXT(file << ": " << expected) {
      const auto reproduced =
          test::run_command("timeout 300 " + ballista_command("reproduce " + quoted(run) + " --out " + quoted(again)));
      BOOST_TEST(reproduced.exit_code == 2, reproduced.output);
      BOOST_TEST(reproduced.output.find("ballista: reproduce: " + (run / file).string() + ": " + expected) !=
                     std::string::npos,
                 reproduced.output);
      BOOST_TEST(reproduced.output.find("json.exception") == std::string::npos, reproduced.output);
      BOOST_TEST(!std::filesystem::exists(again), "the pipeline ran again before the records were checked");
    }
  }
  // What the run wrote passes the same checks.
  const auto reproduced = test::run_command(
      "timeout 300 " + ballista_command("reproduce " + quoted(good) + " --out " + quoted(out.path() / "again")));
  BOOST_TEST(reproduced.exit_code == 0, reproduced.output);
  BOOST_TEST(reproduced.output.find("identical: all 6 metrics and probe predictions") != std::string::npos,
             reproduced.output);
}

BOOST_AUTO_TEST_SUITE_END()
