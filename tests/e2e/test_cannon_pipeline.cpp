// The `ballista` program end to end: the cannon pipeline.
#include "csv_table.hpp"
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>

namespace test = ballista::test;
using test::ballista_command;
using test::model_entry;
using test::read_json;
using test::run_pipeline_text;

namespace {

// Every file a run directory holds parses, and metrics.csv says what metrics.json says.
void check_run_directory(const std::filesystem::path& run, const nlohmann::json& metrics) {
  const auto environment = read_json(run / "environment.json");
  BOOST_TEST(environment["libtorch"].get<std::string>().rfind("1.", 0) == 0U);
  BOOST_TEST(environment["threads"].get<int>() >= 1);
  BOOST_TEST(!environment["blas"].empty(), environment.dump());
  // What the bits depend on: OpenBLAS's kernels (the setup installs OpenBLAS), LibTorch's,
  // and the variables that choose them.
  BOOST_TEST(environment["blas_core"].is_string(), environment.dump());
  BOOST_TEST(environment["blas_config"].get<std::string>().rfind("OpenBLAS", 0) == 0U, environment.dump());
  BOOST_TEST(environment["aten_cpu_capability"].is_string(), environment.dump());
  BOOST_TEST(environment["variables"]["OMP_NUM_THREADS"] == std::to_string(environment["threads"].get<int>()),
             environment.dump());
  const auto table = ballista::host::read_csv(run / "metrics.csv");
  BOOST_TEST((table.header == std::vector<std::string>{"model", "plugin", "status", "set", "metric", "target", "value",
                                                       "fit_seconds", "predict_seconds", "parameter_count", "error"}));
  std::size_t compared = 0;
  for (const auto& row : table.rows) {
    if (row[5].empty() && !row[3].empty()) {
      const auto& entry = model_entry(metrics, row[0]);
      BOOST_TEST(std::stod(row[6]) == entry["metrics"][row[3]][row[4]].get<double>(), row[0] << " " << row[3]);
      BOOST_TEST(std::stod(row[7]) == entry["fit_seconds"].get<double>());
      ++compared;
    }
  }
  std::size_t expected = 0;
  for (const auto& model : metrics["models"]) {
    for (const auto& [set, values] : model["metrics"].items()) {
      expected += values.size();
    }
  }
  BOOST_TEST(compared == expected);
  for (const auto& [name, set] : metrics["sets"].items()) {
    const auto data = ballista::host::read_csv(run / "data" / (name + ".csv"));
    BOOST_TEST(data.rows.size() == set["rows"].get<std::size_t>(), name);
  }
  std::ifstream log(run / "log.txt");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  BOOST_TEST(text.find("state: complete") != std::string::npos, text);
  for (const auto& model : metrics["models"]) {
    BOOST_TEST(text.find("  " + model["name"].get<std::string>() + ": ok") != std::string::npos);
  }
  // The plots are whole PNGs, linked from report.md and embedded in report.html, which
  // shows metrics.json's figures: checked by Python's zlib, base64 and html.parser.
  const auto report = test::run_command("/usr/bin/python3 " +
                                        test::shell_quote(test::source_dir() / "tests/reference/report_check.py") + " " +
                                        test::shell_quote(run));
  BOOST_TEST(report.exit_code == 0, report.output);
  for (const auto* plot : {"surface-s", "slice-v-s", "loss", "parity-far-s", "residuals-far-s"}) {
    BOOST_TEST(std::filesystem::exists(run / "plots" / (std::string(plot) + ".png")), plot);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cannon_pipeline)

BOOST_AUTO_TEST_CASE(runs_and_shows_that_only_the_structured_model_extrapolates) {
  test::TemporaryDirectory out;
  const auto result = test::run_command(ballista_command("run " + (test::source_dir() / "configs/cannon.yaml").string() +
                                                 " --out " + (out.path() / "run").string()));
  BOOST_TEST_MESSAGE(result.output);
  BOOST_REQUIRE_EQUAL(result.exit_code, 0);
  BOOST_TEST(std::filesystem::exists(out.path() / "run/pipeline.resolved.yaml"));
  const auto metrics = read_json(out.path() / "run/metrics.json");
  BOOST_TEST(metrics["state"] == "complete");
  BOOST_REQUIRE_EQUAL(metrics["models"].size(), 6U);
  for (const auto& model : metrics["models"]) {
    BOOST_TEST(model["status"] == "ok", model["name"]);
    for (const auto* set : {"all", "test", "far"}) {
      BOOST_TEST(std::isfinite(model["metrics"][set]["mse"].get<double>()), model["name"] << " " << set);
    }
    BOOST_TEST(std::isfinite(model["fit_seconds"].get<double>()));
    BOOST_REQUIRE_EQUAL(model["probes"].size(), 2U);
    for (const auto& probe : model["probes"]) {
      BOOST_TEST(std::isfinite(probe["prediction"]["s"].get<double>()));
    }
  }
  // The article's lesson: the model with the right structure extrapolates, the others do not.
  const double basis_far = model_entry(metrics, "basis")["metrics"]["far"]["mse"];
  const double mlp_far = model_entry(metrics, "mlp")["metrics"]["far"]["mse"];
  const double knn_far = model_entry(metrics, "knn")["metrics"]["far"]["mse"];
  BOOST_TEST(basis_far * 100 <= mlp_far, basis_far << " vs mlp " << mlp_far);
  BOOST_TEST(basis_far * 100 <= knn_far, basis_far << " vs knn " << knn_far);
  // Probe truths are the noise-free law, and the basis model lands on them.
  BOOST_REQUIRE_EQUAL(metrics["probes"].size(), 2U);
  const double far_truth = metrics["probes"][1]["truth"]["s"];
  BOOST_TEST(far_truth == 400.0 * std::sin(1.7) / 9.81, boost::test_tools::tolerance(1e-12));
  const double basis_far_probe = model_entry(metrics, "basis")["probes"][1]["prediction"]["s"];
  BOOST_TEST(basis_far_probe == far_truth, boost::test_tools::tolerance(0.01));
  // The printed table carries the same figures.
  BOOST_TEST(result.output.find("s(v=20, theta=0.85)") != std::string::npos);
  BOOST_TEST(result.output.find("0.1019·v^2*sin(2*theta)") != std::string::npos);
  BOOST_TEST(model_entry(metrics, "basis_sparse")["describe"] == "s = 0.1019·v^2*sin(2*theta)");
  // What each model is: the stored sample behind knn's answer (the article's shot), and
  // how far Adam stopped from the least-squares optimum, which the lstsq model reached.
  BOOST_TEST(model_entry(metrics, "knn")["probes"][0]["explanation"].get<std::string>().find(
                 "nearest stored sample: v=3.9268, theta=1.2042") == 0U);
  const auto& adam = model_entry(metrics, "basis_adam")["fit_values"];
  const double lstsq_train = model_entry(metrics, "basis")["metrics"]["all"]["mse"];
  BOOST_TEST(adam["optimum_mse"].get<double>() == lstsq_train, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(adam["final_mse"].get<double>() >= adam["optimum_mse"].get<double>());
  BOOST_TEST(model_entry(metrics, "basis")["fit_values"].empty());  // nothing to close
  BOOST_TEST(result.output.find("the least-squares optimum of the same objective is") != std::string::npos);
  BOOST_TEST(std::filesystem::exists(out.path() / "run/loss/mlp.csv"));
  check_run_directory(out.path() / "run", metrics);

  // Every trained model is kept, and reloads in a new process predicting exactly what
  // the run predicted at the probes.
  std::ofstream(out.path() / "probes.csv") << "theta,v\n1.2,4\n0.85,20\n";
  for (const auto& model : metrics["models"]) {
    const std::string name = model["name"];
    const auto file = out.path() / "run/models" / (name + ".pt");
    BOOST_TEST(model["model_file"] == file.string());
    const auto predicted = out.path() / (name + ".csv");
    const auto reloaded = test::run_command(ballista_command("predict " + file.string() + " --input " +
                                                             (out.path() / "probes.csv").string() + " --output " +
                                                             predicted.string()));
    BOOST_REQUIRE_MESSAGE(reloaded.exit_code == 0, reloaded.output);
    std::ifstream in(predicted);
    std::string header;
    std::getline(in, header);
    BOOST_TEST(header == "v,theta,s");
    const auto rows = test::parse_rows(std::string(std::istreambuf_iterator<char>(in), {}));
    BOOST_REQUIRE_EQUAL(rows.size(), 2U);
    for (std::size_t p = 0; p < 2; ++p) {
      BOOST_TEST(rows[p][2] == model["probes"][p]["prediction"]["s"].get<double>(), name << " probe " << p);
    }
  }
  const auto at = test::run_command(
      ballista_command("predict " + (out.path() / "run/models/basis_sparse.pt").string() + " --at v=20,theta=0.85"));
  BOOST_TEST(at.exit_code == 0);
  BOOST_TEST(at.output.find("s = 40.43") == 0U, at.output);
}

BOOST_AUTO_TEST_CASE(predict_rejects_bad_input_clearly) {
  test::TemporaryDirectory out;
  const auto trained = run_pipeline_text(out.path(), R"yaml(data:
  inputs: {v: "uniform(0, 1)", w: "uniform(0, 1)"}
  targets: {s: v + w}
  sets: {train: {rows: 10}}
models:
  line: {plugin: linear}
)yaml");
  BOOST_REQUIRE_MESSAGE(trained.exit_code == 0, trained.output);
  const auto model = (out.path() / "run/models/line.pt").string();
  const auto missing = test::run_command(ballista_command("predict " + model + " --at v=1"));
  BOOST_TEST(missing.exit_code == 2);
  BOOST_TEST(missing.output.find("no value for input 'w'") != std::string::npos, missing.output);
  std::ofstream(out.path() / "bad.csv") << "v,w\n1,2\n3,oops\n";
  const auto bad = test::run_command(ballista_command("predict " + model + " --input " + (out.path() / "bad.csv").string()));
  BOOST_TEST(bad.exit_code == 2);
  BOOST_TEST(bad.output.find("bad.csv:3:3: column 'w': 'oops' is not a number") != std::string::npos, bad.output);
  std::ofstream(out.path() / "other.csv") << "v,x\n1,2\n";
  const auto other =
      test::run_command(ballista_command("predict " + model + " --input " + (out.path() / "other.csv").string()));
  BOOST_TEST(other.output.find("no column 'w' (columns: v, x)") != std::string::npos, other.output);
  const auto not_model = test::run_command(ballista_command("predict " + (out.path() / "p.yaml").string() + " --at v=1,w=2"));
  BOOST_TEST(not_model.exit_code == 2);
  BOOST_TEST(not_model.output.find("not a Ballista model file") != std::string::npos, not_model.output);
  const auto both = test::run_command(ballista_command("predict " + model));
  BOOST_TEST(both.exit_code == 2);
}

BOOST_AUTO_TEST_CASE(several_targets_get_metrics_each) {
  test::TemporaryDirectory out;
  const auto result = run_pipeline_text(out.path(), R"yaml(data:
  inputs: {v: "uniform(0, 1)"}
  targets: {a: 2*v, b: "v^2"}
  sets: {train: {rows: 50}}
models:
  line: {plugin: linear}
evaluate:
  metrics: [mse, mae, r2]
)yaml");
  BOOST_REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const auto metrics = read_json(out.path() / "run/metrics.json");
  const auto& line = model_entry(metrics, "line");
  const auto& per_target = line["metrics_per_target"]["train"];
  // a = 2v is linear: fitted exactly; b = v² is not.
  BOOST_TEST(per_target["a"]["mse"].get<double>() < 1e-20);
  BOOST_TEST(per_target["b"]["mse"].get<double>() > 1e-4);
  BOOST_TEST(per_target["a"]["r2"].get<double>() == 1.0, boost::test_tools::tolerance(1e-12));
  // The overall MSE is the mean over the targets (same rows in each).
  BOOST_TEST(line["metrics"]["train"]["mse"].get<double>() ==
                 (per_target["a"]["mse"].get<double>() + per_target["b"]["mse"].get<double>()) / 2,
             boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(a_failing_model_fails_alone) {
  test::TemporaryDirectory out;
  const auto result = run_pipeline_text(out.path(), R"yaml(data:
  inputs: {v: "uniform(0, 1)"}
  targets: {s: 2*v}
  sets: {train: {rows: 10}}
models:
  too_many_neighbours: {plugin: knn, k: 50}
  fine: {plugin: linear}
)yaml");
  BOOST_TEST(result.exit_code == 1, result.output);
  BOOST_TEST(result.output.find("k = 50 exceeds the 10 training rows") != std::string::npos, result.output);
  const auto metrics = read_json(out.path() / "run/metrics.json");
  BOOST_TEST(model_entry(metrics, "too_many_neighbours")["status"] == "failed");
  BOOST_TEST(model_entry(metrics, "fine")["status"] == "ok");
  BOOST_TEST(model_entry(metrics, "fine")["metrics"]["train"]["mse"].get<double>() < 1e-20);
}

// Shell: waits (up to 60 s) until run/metrics.json records the model `quick` as done,
// then half a second more, so the signal comes while `endless` trains. A fixed sleep
// came too early on a loaded machine.
constexpr const char* kWhenQuickIsDone =
    "for i in $(seq 600); do grep -qs '\"status\": \"ok\"' run/metrics.json && break; sleep 0.1; done; sleep 0.5; ";

BOOST_AUTO_TEST_CASE(ctrl_c_stops_training_and_keeps_what_finished) {
  test::TemporaryDirectory out;
  std::ofstream(out.path() / "p.yaml") << R"yaml(data:
  inputs: {v: "uniform(0, 1)"}
  targets: {s: 2*v}
  sets: {train: {rows: 50}}
models:
  quick: {plugin: linear}
  endless: {plugin: mlp, hidden: [4], epochs: 1000000000}
  never_started: {plugin: knn}
)yaml";
  // The second model would train for hours: only the interrupt can end it (timeout
  // turns a broken interrupt into a failure instead of a hang; --foreground, or timeout
  // relays the SIGINT to its process group too, and when ballista has handled the first
  // before the second arrives, as on a loaded machine, the second ends it at once, as a
  // second Ctrl-C does).
  const auto run = test::run_command(
      "cd " + test::shell_quote(out.path()) + " && (timeout --foreground 60 " + ballista_command("run p.yaml --out run") +
      " & pid=$!; " + kWhenQuickIsDone + "kill -INT $pid; wait $pid)");
  BOOST_TEST(run.exit_code == 130, run.output);
  const auto metrics = read_json(out.path() / "run/metrics.json");
  BOOST_TEST(metrics["state"] == "interrupted");
  BOOST_TEST(model_entry(metrics, "quick")["status"] == "ok");
  BOOST_TEST(model_entry(metrics, "endless")["status"] == "interrupted");
  BOOST_TEST(model_entry(metrics, "never_started")["status"] == "skipped");
  // The report is written for what finished, and says the run was interrupted.
  std::ifstream report(out.path() / "run/report.md");
  const std::string text((std::istreambuf_iterator<char>(report)), std::istreambuf_iterator<char>());
  BOOST_TEST(text.find("State: interrupted") != std::string::npos, text);
  BOOST_TEST(std::filesystem::exists(out.path() / "run/report.html"));
}

BOOST_AUTO_TEST_CASE(sigkill_leaves_no_truncated_file_and_earlier_runs_untouched) {
  test::TemporaryDirectory out;
  std::ofstream(out.path() / "p.yaml") << R"yaml(data:
  inputs: {v: "uniform(0, 1)"}
  targets: {s: 2*v}
  n: 50
models:
  quick: {plugin: linear}
  endless: {plugin: mlp, hidden: [4], epochs: 1000000000}
)yaml";
  const auto in_out = [&](const std::string& command) {
    return test::run_command("cd " + test::shell_quote(out.path()) + " && " + command);
  };
  BOOST_REQUIRE_EQUAL(in_out(ballista_command("run p.yaml --out earlier --set models.endless.epochs=5")).exit_code, 0);
  const auto snapshot = [&](const std::filesystem::path& directory) {
    std::map<std::string, std::string> files;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(directory)) {
      if (entry.is_regular_file()) {
        std::ifstream in(entry.path(), std::ios::binary);
        files[entry.path().string()] = std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      }
    }
    return files;
  };
  const auto before = snapshot(out.path() / "earlier");
  // No chance to clean up: SIGKILL while `endless` trains (to ballista itself: through
  // `timeout` it would not be forwarded).
  const auto killed = in_out("(" + ballista_command("run p.yaml --out run") +
                             " & pid=$!; " + kWhenQuickIsDone + "kill -KILL $pid; wait $pid)");
  BOOST_TEST(killed.exit_code == 137, killed.output);
  BOOST_TEST((snapshot(out.path() / "earlier") == before));
  // Every file under its final name is whole: JSON and CSV parse, the model reloads.
  std::size_t checked = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(out.path() / "run")) {
    const auto name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.find(".tmp") != std::string::npos) {
      continue;
    }
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (entry.path().extension() == ".json") {
      BOOST_CHECK_NO_THROW(read_json(entry.path()));
    } else if (entry.path().extension() == ".csv") {
      BOOST_CHECK_NO_THROW(ballista::host::read_csv(entry.path()));
    } else if (entry.path().extension() == ".png") {  // signature first, IEND chunk last
      BOOST_TEST(bytes.rfind("\x89PNG\r\n\x1a\n", 0) == 0U, entry.path());
      BOOST_TEST(bytes.size() >= 20U);
      BOOST_TEST(bytes.compare(bytes.size() - 8, 4, "IEND") == 0, entry.path());
    } else if (entry.path().extension() == ".html") {
      BOOST_TEST(bytes.ends_with("</html>\n"), entry.path());
    }
    ++checked;
  }
  BOOST_TEST(checked >= 6U);
  const auto metrics = read_json(out.path() / "run/metrics.json");
  BOOST_TEST(metrics["state"] == "running");  // what it was when killed
  BOOST_TEST(model_entry(metrics, "quick")["status"] == "ok");
  const auto reloaded = test::run_command(ballista_command("predict " + (out.path() / "run/models/quick.pt").string() +
                                                           " --at v=0.5"));
  BOOST_TEST(reloaded.exit_code == 0, reloaded.output);
  BOOST_TEST(reloaded.output.find("s = 1") != std::string::npos, reloaded.output);
}

BOOST_AUTO_TEST_SUITE_END()
