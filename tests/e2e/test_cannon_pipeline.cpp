// The `ballista` program end to end: the cannon pipeline and the command line.
#include "csv_table.hpp"
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

namespace test = ballista::test;

namespace {

std::string ballista_command(const std::string& arguments) { return test::ballista_binary().string() + " " + arguments; }

nlohmann::json read_json_text(const std::string& text) { return nlohmann::json::parse(text); }

nlohmann::json read_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  BOOST_REQUIRE_MESSAGE(in.good(), "missing " << file);
  return nlohmann::json::parse(in);
}

// Writes `yaml` to DIR/p.yaml and runs it with --out DIR/run.
test::CommandResult run_pipeline_text(const std::filesystem::path& directory, const std::string& yaml) {
  std::ofstream(directory / "p.yaml") << yaml;
  return test::run_command(ballista_command("run " + (directory / "p.yaml").string() + " --out " +
                                            (directory / "run").string()));
}

const nlohmann::json& model_entry(const nlohmann::json& metrics, const std::string& name) {
  for (const auto& model : metrics["models"]) {
    if (model["name"] == name) {
      return model;
    }
  }
  BOOST_FAIL("no model " << name << " in metrics.json");
  return metrics;
}

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
  // turns a broken interrupt into a failure instead of a hang).
  const auto run = test::run_command(
      "cd " + test::shell_quote(out.path()) + " && (timeout 60 " + ballista_command("run p.yaml --out run") +
      " & pid=$!; sleep 2; kill -INT $pid; wait $pid)");
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
                             " & pid=$!; sleep 3; kill -KILL $pid; wait $pid)");
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
  BOOST_TEST(model["properties"]["plugin"]["enum"].size() == 4U);  // the model plugins, not the source
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
  const auto required = test::run_command(ballista_command("check-plugin basis"));
  BOOST_TEST(required.exit_code == 2);
  BOOST_TEST(required.output.find("parameter 'functions' is required: give it with --set functions=VALUE") !=
                 std::string::npos,
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
