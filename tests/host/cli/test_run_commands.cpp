// The `ballista` commands that run pipelines and read runs back: `run` (--threads,
// sweeps, CSV sources and splits, default run directories, progress, --isolate),
// `compare` and `reproduce` (the same bits at every thread count and in new processes).
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace test = ballista::test;
using test::ballista_command;
using test::model_entry;
using test::read_json;
using test::run_pipeline_text;

namespace {

nlohmann::json read_json_text(const std::string& text) { return nlohmann::json::parse(text); }

}  // namespace

BOOST_AUTO_TEST_SUITE(run_commands)

// --threads reaches LibTorch and OpenBLAS (environment.json records both); a bad
// count is a usage error.
BOOST_AUTO_TEST_CASE(threads_are_honoured_by_libtorch_and_openblas) {
  test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << "data:\n  inputs: {x: \"uniform(0, 1)\"}\n  targets: {y: 2*x}\n  n: 50\n"
                                           "models:\n  l: {plugin: linear}\n";
  for (const int threads : {1, 2, 3}) {
    const auto out = work.path() / ("run" + std::to_string(threads));
    const auto result = test::run_command(ballista_command("run " + (work.path() / "p.yaml").string() + " --threads " +
                                                           std::to_string(threads) + " --quiet --out " + out.string()));
    BOOST_REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    const auto environment = read_json(out / "environment.json");
    BOOST_TEST(environment["threads"].get<int>() == threads);
    BOOST_TEST(environment["blas_threads"].get<int>() == threads, environment.dump());
  }
  // Without --threads: $OMP_NUM_THREADS, else every usable core (here: taskset to one).
  auto result = test::run_command("OMP_NUM_THREADS=3 " + ballista_command("run " + (work.path() / "p.yaml").string() +
                                                                          " --quiet --out " + (work.path() / "env").string()));
  BOOST_REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  BOOST_TEST(read_json(work.path() / "env" / "environment.json")["threads"].get<int>() == 3);
  result = test::run_command("env -u OMP_NUM_THREADS taskset -c 0 " +
                             ballista_command("run " + (work.path() / "p.yaml").string() + " --quiet --out " +
                                              (work.path() / "one").string()));
  BOOST_REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  BOOST_TEST(read_json(work.path() / "one" / "environment.json")["threads"].get<int>() == 1);
  BOOST_TEST(read_json(work.path() / "one" / "environment.json")["blas_threads"].get<int>() == 1);
  for (const auto* bad : {"0", "-1", "two", "1.5", ""}) {
    const auto refused = test::run_command(ballista_command(std::string("--threads '") + bad + "' plugins"));
    BOOST_TEST(refused.exit_code == 2, bad);
    BOOST_TEST(refused.output.find("--threads needs a whole number of threads, 1 or more") != std::string::npos,
               refused.output);
  }
}

BOOST_AUTO_TEST_CASE(sweeps_csv_sources_and_splits_run_end_to_end) {
  test::TemporaryDirectory out;
  std::ofstream(out.path() / "shots.csv") << "v,s\n0,0\n1,2\n2,4\n3,6\n4,8\n5,10\n6,12\n7,14\n8,16\n9,18\n";
  const auto result = run_pipeline_text(out.path(), R"yaml(data:
  source: csv
  file: shots.csv
  inputs: [v]
  targets: [s]
  split: {train: 0.8, test: 0.2}
models:
  knn: {plugin: knn, k: {sweep: [1, 3]}}
  linear: {plugin: linear}
)yaml");
  BOOST_REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const auto metrics = read_json(out.path() / "run/metrics.json");
  BOOST_REQUIRE_EQUAL(metrics["models"].size(), 3U);
  BOOST_TEST(metrics["models"][0]["name"] == "knn@k=1");
  BOOST_TEST(metrics["models"][1]["name"] == "knn@k=3");
  BOOST_TEST(metrics["models"][1]["swept_from"] == "knn");
  BOOST_TEST(metrics["sets"]["train"]["rows"] == 8);
  BOOST_TEST(metrics["sets"]["test"]["rows"] == 2);
  BOOST_TEST(model_entry(metrics, "linear")["metrics"]["test"]["mse"].get<double>() < 1e-20);  // s = 2v exactly
  BOOST_TEST(std::filesystem::exists(out.path() / "run/models/knn@k=3.pt"));
  // The resolved pipeline runs again as it is.
  const auto again = test::run_command(ballista_command("validate " + (out.path() / "run/pipeline.resolved.yaml").string()));
  BOOST_TEST(again.exit_code == 0, again.output);
}

BOOST_AUTO_TEST_CASE(default_run_directories_are_named_and_latest_points_at_the_newest) {
  test::TemporaryDirectory work;
  std::ofstream(work.path() / "tiny.yaml") << "data:\n  inputs: {x: \"uniform(0, 1)\"}\n  targets: {y: 2*x}\n  n: 20\n"
                                               "models:\n  line: {plugin: linear}\n";
  const auto run = [&] {
    return test::run_command("cd " + test::shell_quote(work.path()) + " && " + ballista_command("run tiny.yaml"));
  };
  BOOST_REQUIRE_EQUAL(run().exit_code, 0);
  const auto second = run();
  BOOST_REQUIRE_EQUAL(second.exit_code, 0);
  std::vector<std::filesystem::path> runs;
  for (const auto& entry : std::filesystem::directory_iterator(work.path() / "runs/tiny")) {
    if (!entry.is_symlink()) {
      runs.push_back(entry.path());
    }
  }
  BOOST_REQUIRE_EQUAL(runs.size(), 2U);
  // runs/<name>/<YYYYmmdd-HHMMSS>-<6 hex digits>; the second run is the one it printed.
  const std::string marker = "Run directory: runs/tiny/";
  const auto at = second.output.find(marker);
  BOOST_REQUIRE(at != std::string::npos);
  const auto name = second.output.substr(at + marker.size(), 22);
  BOOST_TEST(name[8] == '-');
  BOOST_TEST(name[15] == '-');
  BOOST_TEST(std::filesystem::is_directory(work.path() / "runs/tiny" / name));
  BOOST_TEST(std::filesystem::read_symlink(work.path() / "runs/tiny/latest") == name);
  BOOST_TEST(std::filesystem::equivalent(work.path() / "runs/latest", work.path() / "runs/tiny" / name));
  BOOST_TEST(std::filesystem::exists(work.path() / "runs/latest/metrics.csv"));
}

BOOST_AUTO_TEST_CASE(progress_comes_from_the_context_and_quiet_silences_it) {
  test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << "data:\n  inputs: {x: \"uniform(0, 1)\"}\n  targets: {y: 2*x}\n  n: 50\n"
                                            "models:\n  net: {plugin: mlp, hidden: [4], epochs: 40}\n";
  const auto command = [&](const std::string& options, const std::string& out) {
    // stderr only: the progress and the per-model lines (not a terminal here).
    return test::run_command("{ " + ballista_command("run " + (work.path() / "p.yaml").string() + " --out " +
                                                     (work.path() / out).string() + " " + options) +
                             " 2>&1 >/dev/null; }");
  };
  const auto verbose = command("--verbose", "a");
  BOOST_TEST(verbose.exit_code == 0);
  for (const auto* step : {"net: 4/40  loss ", "net: 20/40  loss ", "net: 40/40  loss "}) {
    BOOST_TEST(verbose.output.find(step) != std::string::npos, verbose.output);
  }
  BOOST_TEST(verbose.output.find("ETA") != std::string::npos);
  const auto quiet = command("--quiet", "b");
  BOOST_TEST(quiet.exit_code == 0);
  BOOST_TEST(quiet.output.empty(), quiet.output);
  std::ifstream log(work.path() / "b/log.txt");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  BOOST_TEST(text.find("  net: ok") != std::string::npos, text);  // the log keeps what --quiet hides
}

BOOST_AUTO_TEST_CASE(compare_tabulates_runs_against_a_baseline) {
  test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << "data:\n  inputs: {x: \"uniform(0, 1)\"}\n  targets: {y: 2*x + 0.1*x^2}\n"
                                            "  n: 50\n  sets: {far: {inputs: {x: \"uniform(1, 2)\"}}}\n"
                                            "models:\n  line: {plugin: linear}\n  near: {plugin: knn, k: 3}\n";
  const auto in_work = [&](const std::string& arguments) {
    return test::run_command("cd " + test::shell_quote(work.path()) + " && " + ballista_command(arguments));
  };
  BOOST_REQUIRE_EQUAL(in_work("run p.yaml --out a").exit_code, 0);
  BOOST_REQUIRE_EQUAL(in_work("run p.yaml --out b --set seed=7").exit_code, 0);
  const auto a = read_json(work.path() / "a/metrics.json");
  const auto b = read_json(work.path() / "b/metrics.json");
  const auto csv = in_work("compare a b --baseline a --metric far:mse --sort far:mse --format csv");
  BOOST_REQUIRE_MESSAGE(csv.exit_code == 0, csv.output);
  std::istringstream lines(csv.output);
  std::string line;
  std::getline(lines, line);
  BOOST_TEST(line == "run,model,far:mse,Δ far:mse,fit_s,params");
  std::vector<double> sorted;
  while (std::getline(lines, line)) {
    std::vector<std::string> cells;
    std::istringstream fields(line);
    for (std::string cell; std::getline(fields, cell, ',');) {
      cells.push_back(cell);
    }
    BOOST_REQUIRE_EQUAL(cells.size(), 6U);
    const auto& run = cells[0].substr(cells[0].find('/') + 1) == "a" ? a : b;
    const double mine = model_entry(run, cells[1])["metrics"]["far"]["mse"];
    const double base = model_entry(a, cells[1])["metrics"]["far"]["mse"];
    BOOST_TEST(std::stod(cells[2]) == mine);
    BOOST_TEST(std::stod(cells[3]) == mine - base);
    sorted.push_back(mine);
  }
  BOOST_TEST(sorted.size() == 4U);
  BOOST_TEST(std::is_sorted(sorted.begin(), sorted.end()));
  // The table marks the best value; a pipeline name means its latest run.
  BOOST_REQUIRE_EQUAL(in_work("run p.yaml").exit_code, 0);
  const auto table = in_work("compare p --metric far:mse");
  BOOST_TEST(table.exit_code == 0);
  BOOST_TEST(table.output.find("* best in its column") != std::string::npos, table.output);
  BOOST_TEST(read_json_text(in_work("compare a --format json").output).size() == 2U);
  BOOST_TEST(in_work("compare a --metric far:mae").exit_code == 2);
  BOOST_TEST(in_work("compare a --sort fit").exit_code == 2);
  BOOST_TEST(in_work("compare nowhere").exit_code == 2);
  BOOST_TEST(in_work("compare a --format xml").exit_code == 2);
}

BOOST_AUTO_TEST_CASE(reproduce_reruns_a_run_and_names_every_figure_that_differs) {
  test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << "data:\n  inputs: {x: \"uniform(0, 1)\"}\n  targets: {y: {expression: 2*x, "
                                            "noise: 0.1}}\n  n: 40\nmodels:\n  near: {plugin: knn, k: 2}\n"
                                            "  net: {plugin: mlp, hidden: [4], epochs: 20}\n"
                                            "evaluate: {probes: [{x: 0.5}]}\n";
  const auto in_work = [&](const std::string& arguments) {
    return test::run_command("cd " + test::shell_quote(work.path()) + " && " + ballista_command(arguments));
  };
  BOOST_REQUIRE_EQUAL(in_work("run p.yaml --out first").exit_code, 0);
  const auto same = in_work("reproduce first --out second");
  BOOST_TEST(same.exit_code == 0, same.output);
  BOOST_TEST(same.output.find("identical: all 4 metrics and probe predictions match to the last bit") !=
                 std::string::npos,
             same.output);
  // A recorded figure that the rerun does not give back is named with both values.
  auto metrics = read_json(work.path() / "first/metrics.json");
  const double recorded = model_entry(metrics, "near")["metrics"]["all"]["mse"];
  for (auto& model : metrics["models"]) {
    if (model["name"] == "near") {
      model["metrics"]["all"]["mse"] = std::nextafter(recorded, 1.0);
    }
  }
  std::ofstream(work.path() / "first/metrics.json") << metrics.dump(2);
  const auto different = in_work("reproduce first --out third");
  BOOST_TEST(different.exit_code == 1, different.output);
  BOOST_TEST(different.output.find("3 figures match to the last bit, 1 differ") != std::string::npos,
             different.output);
  BOOST_TEST(different.output.find("near all mse: ") != std::string::npos, different.output);
  BOOST_TEST(different.output.find("Nothing recorded that results depend on changed") != std::string::npos,
             different.output);
  // Recorded on another machine: other OpenBLAS kernels, chosen by a variable. The rerun
  // names both entries and says how the kernels explain the difference.
  auto environment = read_json(work.path() / "first/environment.json");
  const auto core_now = environment["blas_core"].dump();
  // The machine's own OPENBLAS_CORETYPE, where it sets one (never set by the tests).
  const auto coretype_now = environment["variables"].contains("OPENBLAS_CORETYPE")
                                ? environment["variables"]["OPENBLAS_CORETYPE"].dump()
                                : std::string("unset");
  environment["blas_core"] = "Cooperlake";
  environment["variables"]["OPENBLAS_CORETYPE"] = "Cooperlake";
  std::ofstream(work.path() / "first/environment.json") << environment.dump(2);
  const auto elsewhere = in_work("reproduce first --out fourth");
  BOOST_TEST(elsewhere.exit_code == 1, elsewhere.output);
  BOOST_TEST(elsewhere.output.find("environment differs: blas_core was \"Cooperlake\", now " + core_now) !=
                 std::string::npos,
             elsewhere.output);
  BOOST_TEST(elsewhere.output.find("environment differs: variables.OPENBLAS_CORETYPE was \"Cooperlake\", now " +
                                   coretype_now) != std::string::npos,
             elsewhere.output);
  BOOST_TEST(elsewhere.output.find("The environment explains this:\n    blas_core (\"Cooperlake\" then, " + core_now +
                                   " now): OpenBLAS runs other kernels") != std::string::npos,
             elsewhere.output);
  BOOST_TEST(in_work("reproduce p.yaml").exit_code == 2);
}

// The thread count changes how fast, never what: the cannon's figures (data, every
// model, metrics, probes) from --threads 1, 2 and 3 are the same to the last bit, as
// `reproduce` at another thread count finds (naming only the thread entries).
BOOST_AUTO_TEST_CASE(the_cannon_gives_the_same_figures_at_every_thread_count) {
  test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << "extends: " << (test::source_dir() / "configs/cannon.yaml").string()
                                        << "\nmodels: {mlp: {epochs: 60}, basis_adam: {epochs: 500}}\n"
                                           "data: {sets: {big: {rows: 50000}}}\n";
  const auto in_work = [&](const std::string& arguments) {
    return test::run_command("cd " + test::shell_quote(work.path()) + " && " + ballista_command(arguments));
  };
  BOOST_REQUIRE_EQUAL(in_work("run p.yaml --quiet --threads 1 --out one").exit_code, 0);
  for (const int threads : {2, 3}) {
    const auto again = in_work("--threads " + std::to_string(threads) + " reproduce one --quiet --out t" +
                               std::to_string(threads));
    BOOST_TEST(again.exit_code == 0, again.output);
    BOOST_TEST(again.output.find("match to the last bit") != std::string::npos, again.output);
    BOOST_TEST(again.output.find("environment differs: threads was 1, now " + std::to_string(threads)) !=
                   std::string::npos,
               again.output);
  }
}

BOOST_AUTO_TEST_CASE(isolate_keeps_a_crashing_plugin_from_taking_the_run_down) {
  test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << R"yaml(data:
  inputs: {x: "uniform(0, 1)", z: "uniform(0, 1)"}
  targets: {y: {expression: 2*x + z, noise: 0.1}}
  n: 50
  sets: {test: {}}
models:
  before: {plugin: linear, solver: sgd, epochs: 50}
  boom: {plugin: crashing}
  aborts: {plugin: crashing, how: abort}
  after: {plugin: mlp, hidden: [8], epochs: 30}
evaluate:
  sets: [all, test]
  probes: [{x: 0.5, z: 0.5}]
)yaml";
  const auto in_work = [&](const std::string& arguments) {
    return test::run_command("cd " + test::shell_quote(work.path()) + " && " +
                             ballista_command("--plugin-path " + test::shell_quote(test::conformance_plugin_dir()) +
                                              " " + arguments));
  };
  const auto isolated = in_work("run p.yaml --isolate --quiet --out isolated");
  BOOST_TEST(isolated.exit_code == 1, isolated.output);  // models failed, the run did not
  const auto metrics = read_json(work.path() / "isolated/metrics.json");
  BOOST_TEST(metrics["state"] == "complete");
  BOOST_TEST(model_entry(metrics, "before")["status"] == "ok");
  BOOST_TEST(model_entry(metrics, "after")["status"] == "ok");
  BOOST_TEST(model_entry(metrics, "boom")["status"] == "failed");
  BOOST_TEST(model_entry(metrics, "boom")["error"].get<std::string>().find("died of signal 11") != std::string::npos);
  BOOST_TEST(model_entry(metrics, "aborts")["error"].get<std::string>().find("died of signal 6") != std::string::npos);
  BOOST_TEST(std::filesystem::exists(work.path() / "isolated/report.html"));
  BOOST_TEST(std::filesystem::exists(work.path() / "isolated/models/after.pt"));
  BOOST_TEST(!std::filesystem::exists(work.path() / "isolated/.isolate"));

  // In a child process a model gives the same bits as in the run's own process.
  std::ofstream(work.path() / "q.yaml") << "extends: p.yaml\nmodels: {boom: null, aborts: null}\n";
  BOOST_REQUIRE_EQUAL(in_work("run q.yaml --quiet --out plain").exit_code, 0);
  BOOST_REQUIRE_EQUAL(in_work("run q.yaml --quiet --isolate --out child").exit_code, 0);
  const auto plain = read_json(work.path() / "plain/metrics.json");
  const auto child = read_json(work.path() / "child/metrics.json");
  for (const auto* name : {"before", "after"}) {
    BOOST_TEST(model_entry(plain, name)["metrics"] == model_entry(child, name)["metrics"], name);
    BOOST_TEST(model_entry(plain, name)["probes"] == model_entry(child, name)["probes"], name);
    BOOST_TEST(model_entry(plain, name)["describe"] == model_entry(child, name)["describe"], name);
    for (const auto* value : {"final_mse", "optimum_mse"}) {  // not optimum_seconds, a timing
      BOOST_TEST(model_entry(plain, name)["fit_values"].value(value, 0.0) ==
                     model_entry(child, name)["fit_values"].value(value, 0.0),
                 name << " " << value);
    }
  }
  BOOST_TEST(read_json(work.path() / "plain/metrics.json")["models"].size() == 2U);

  // Without --isolate the crash takes the process down, and what finished is kept.
  const auto crashed = in_work("run p.yaml --quiet --out crashed");
  BOOST_TEST(crashed.exit_code == 128 + 11, crashed.output);
  const auto kept = read_json(work.path() / "crashed/metrics.json");
  BOOST_TEST(kept["state"] == "running");
  BOOST_TEST(model_entry(kept, "before")["status"] == "ok");
  BOOST_TEST(in_work("validate p.yaml --isolate").exit_code == 2);  // run only

  // A factory that throws is caught when the pipeline is checked, at the model.
  const auto factory = in_work("validate p.yaml --set models.boom.how=factory");
  BOOST_TEST(factory.exit_code == 2);
  BOOST_TEST(factory.output.find("p.yaml:8:9: error: model 'boom': plugin crashing rejected the parameters: the "
                                 "factory refuses to build a model") != std::string::npos,
             factory.output);
}

BOOST_AUTO_TEST_CASE(the_cannons_closed_form_models_reproduce_bit_for_bit_in_new_processes) {
  // Least squares through LAPACK's gelsy gave different last bits from one process to the
  // next (a third of the runs); each reproduce here is a new process.
  test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << "extends: " << (test::source_dir() / "configs/cannon.yaml").string()
                                        << "\nmodels: {knn: null, basis_adam: null, mlp: null}\n";
  const auto in_work = [&](const std::string& arguments) {
    return test::run_command("cd " + test::shell_quote(work.path()) + " && " + ballista_command(arguments));
  };
  BOOST_REQUIRE_EQUAL(in_work("run p.yaml --quiet --out first").exit_code, 0);
  for (int again = 0; again < 6; ++again) {
    const auto rerun = in_work("reproduce first --quiet --out again" + std::to_string(again));
    BOOST_TEST(rerun.exit_code == 0, rerun.output);
  }
}

BOOST_AUTO_TEST_SUITE_END()
