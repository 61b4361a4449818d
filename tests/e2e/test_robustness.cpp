// Damaged input, faults and hostile plugins (issue 14): every case here was a crash, a
// hang, a lost run or a silently wrong file before its fix. Each names its item.
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace test = ballista::test;

namespace {

std::string ballista_command(const std::string& arguments) {
  return test::shell_quote(test::ballista_binary().string()) + " " + arguments;
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string quoted(const std::filesystem::path& path) { return test::shell_quote(path.string()); }

// A two-input linear model trained on 10 rows, its file at DIR/run/models/line.pt, and
// an input CSV at DIR/in.csv.
std::filesystem::path trained_line(const std::filesystem::path& directory) {
  std::ofstream(directory / "p.yaml") << R"yaml(data:
  inputs: {v: "uniform(0, 1)", w: "uniform(0, 1)"}
  targets: {s: v + w}
  sets: {train: {rows: 10}}
models:
  line: {plugin: linear}
)yaml";
  const auto trained = test::run_command(ballista_command("run " + quoted(directory / "p.yaml") + " --quiet --out " +
                                                          quoted(directory / "run")));
  BOOST_REQUIRE_MESSAGE(trained.exit_code == 0, trained.output);
  std::ofstream(directory / "in.csv") << "v,w\n1,2\n3,4\n";
  return directory / "run/models/line.pt";
}

// An executable shell script at `file`, for GNUPLOT=: gnuplot is called as
// `gnuplot -e output='PATH.partial' SCRIPT`, so "$2" names the PNG to write.
void write_fake_gnuplot(const std::filesystem::path& file, const std::string& body) {
  std::ofstream(file) << "#!/bin/sh\noutput=$(printf '%s' \"$2\" | sed \"s/^output='//; s/'$//\")\n" << body << "\n";
  std::filesystem::permissions(file, std::filesystem::perms::owner_all);
}

const char* const kTwoModels = R"yaml(data:
  inputs: {v: "uniform(0, 1)", w: "uniform(0, 1)"}
  targets: {s: v + w}
  sets: {train: {rows: 20}}
models:
  line: {plugin: linear}
  near: {plugin: knn}
)yaml";

}  // namespace

BOOST_AUTO_TEST_SUITE(robustness)

// Item 2: --output writes through a symlink (the link stays, its file gets the rows),
// into a FIFO or a character device in place, and refuses a directory and a FIFO that
// nobody reads; a failed write leaves no temporary file.
BOOST_AUTO_TEST_CASE(predict_output_writes_through_links_and_never_replaces_special_files) {
  test::TemporaryDirectory out;
  const auto model = trained_line(out.path());
  const auto predict = [&](const std::string& output) {
    return test::run_command(ballista_command("predict " + quoted(model) + " --input " + quoted(out.path() / "in.csv") +
                                              " --output " + output));
  };
  const auto expected = test::run_command(ballista_command("predict " + quoted(model) + " --input " +
                                                           quoted(out.path() / "in.csv") + " 2>/dev/null"));
  BOOST_REQUIRE(expected.exit_code == 0);

  std::filesystem::create_directory(out.path() / "real");
  std::ofstream(out.path() / "real/predictions.csv") << "old\n";
  std::filesystem::create_symlink("real/predictions.csv", out.path() / "link.csv");
  const auto through_link = predict(quoted(out.path() / "link.csv"));
  BOOST_TEST(through_link.exit_code == 0, through_link.output);
  BOOST_TEST(std::filesystem::is_symlink(out.path() / "link.csv"));
  BOOST_TEST(read_text(out.path() / "real/predictions.csv") == expected.output);

  // A dangling link: its target is created.
  std::filesystem::create_symlink("real/new.csv", out.path() / "dangling.csv");
  BOOST_TEST(predict(quoted(out.path() / "dangling.csv")).exit_code == 0);
  BOOST_TEST(std::filesystem::is_symlink(out.path() / "dangling.csv"));
  BOOST_TEST(read_text(out.path() / "real/new.csv") == expected.output);

  // A FIFO that a process reads gets the rows and stays a FIFO.
  const auto fifo = out.path() / "fifo";
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto read_fifo = test::run_command("timeout 20 cat " + quoted(fifo) + " > " + quoted(out.path() / "from_fifo.csv") +
                                           " & reader=$!; sleep 0.2; " +
                                           ballista_command("predict " + quoted(model) + " --input " +
                                                            quoted(out.path() / "in.csv") + " --output " + quoted(fifo)) +
                                           "; status=$?; wait $reader; exit $status");
  BOOST_TEST(read_fifo.exit_code == 0, read_fifo.output);
  BOOST_TEST(read_text(out.path() / "from_fifo.csv") == expected.output);
  BOOST_TEST(std::filesystem::is_fifo(fifo));
  // Nobody reads it: refused at once, not waited on.
  const auto unread = test::run_command("timeout 20 " + ballista_command("predict " + quoted(model) + " --input " +
                                                                         quoted(out.path() / "in.csv") + " --output " +
                                                                         quoted(fifo)));
  BOOST_TEST(unread.exit_code == 2, unread.output);
  BOOST_TEST(unread.output.find("it is a FIFO that no process is reading") != std::string::npos, unread.output);
  BOOST_TEST(std::filesystem::is_fifo(fifo));

  // A character device is written in place: /dev/null swallows the rows, /dev/full
  // reports the full "disk"; both stay devices. Reached through links of the test's own,
  // so that a regression replaces the links, never the machine's device nodes.
  std::filesystem::create_symlink("/dev/null", out.path() / "null");
  std::filesystem::create_symlink("/dev/full", out.path() / "full");
  BOOST_TEST(predict(quoted(out.path() / "null")).exit_code == 0);
  const auto full = predict(quoted(out.path() / "full"));
  BOOST_TEST(full.exit_code == 2, full.output);
  BOOST_TEST(full.output.find("cannot write /dev/full: No space left on device") != std::string::npos, full.output);
  BOOST_TEST(std::filesystem::is_symlink(out.path() / "full"));
  BOOST_TEST(std::filesystem::is_symlink(out.path() / "null"));
  BOOST_TEST(std::filesystem::is_character_file("/dev/full"));
  BOOST_TEST(std::filesystem::is_character_file("/dev/null"));
  // A device node named directly (made here where the test may: as root).
  if (::mknod((out.path() / "device").c_str(), S_IFCHR | 0666, makedev(1, 7)) == 0) {
    const auto device = predict(quoted(out.path() / "device"));
    BOOST_TEST(device.exit_code == 2, device.output);
    BOOST_TEST(std::filesystem::is_character_file(out.path() / "device"));
  }

  const auto directory = predict(quoted(out.path() / "real"));
  BOOST_TEST(directory.exit_code == 2, directory.output);
  BOOST_TEST(directory.output.find("it is a directory") != std::string::npos, directory.output);

  // A write that fails half-way (a file size limit stands in for a full disk) leaves
  // neither a partial file nor its temporary one.
  const auto limited = test::run_command("trap '' XFSZ; ulimit -f 0; " +
                                         ballista_command("predict " + quoted(model) + " --input " +
                                                          quoted(out.path() / "in.csv") + " --output " +
                                                          quoted(out.path() / "real/limited.csv")));
  BOOST_TEST(limited.exit_code == 2, limited.output);
  BOOST_TEST(limited.output.find("File too large") != std::string::npos, limited.output);
  for (const auto& entry : std::filesystem::directory_iterator(out.path() / "real")) {
    BOOST_TEST(entry.path().filename().string().find("limited") == std::string::npos, entry.path());
  }

  // A temporary file left by a process killed while writing (its PID is gone) is swept
  // by the next write into the directory; a live process's is left alone.
  const auto dead = test::run_command("sh -c 'echo $$'");
  const auto dead_pid = std::stol(dead.output);
  const auto stale = out.path() / "real" / (".old.csv.tmp-" + std::to_string(dead_pid));
  const auto live = out.path() / "real" / ".other.csv.tmp-1";
  std::ofstream(stale) << "half";
  std::ofstream(live) << "half";
  BOOST_TEST(predict(quoted(out.path() / "real/after.csv")).exit_code == 0);
  BOOST_TEST(!std::filesystem::exists(stale));
  BOOST_TEST(std::filesystem::exists(live));
}

// Item 8: gnuplot exits 0 on a full disk with a truncated PNG; it is never put in place
// under its final name, and the warning says why.
BOOST_AUTO_TEST_CASE(a_truncated_png_is_left_out_with_a_reason) {
  test::TemporaryDirectory out;
  std::ofstream(out.path() / "p.yaml") << kTwoModels;
  write_fake_gnuplot(out.path() / "gnuplot", "printf '\\211PNG\\r\\n\\032\\n half a picture' > \"$output\"; exit 0");
  const auto run = test::run_command("GNUPLOT=" + quoted(out.path() / "gnuplot") + " " +
                                     ballista_command("run " + quoted(out.path() / "p.yaml") + " --out " +
                                                      quoted(out.path() / "run")));
  BOOST_TEST(run.exit_code == 0, run.output);
  BOOST_TEST(run.output.find("gnuplot exited 0 but its PNG is truncated (no IEND chunk at the end) (is the disk "
                             "full?)") != std::string::npos,
             run.output);
  std::size_t pngs = 0;
  std::size_t leftovers = 0;
  for (const auto& entry : std::filesystem::directory_iterator(out.path() / "run/plots")) {
    const auto name = entry.path().filename().string();
    pngs += entry.path().extension() == ".png" ? 1 : 0;
    leftovers += name.find(".partial") != std::string::npos || name.find(".log") != std::string::npos ? 1 : 0;
  }
  BOOST_TEST(pngs == 0U);
  BOOST_TEST(leftovers == 0U);
  BOOST_TEST(read_text(out.path() / "run/report.md").find("truncated") != std::string::npos);
}

// Item 12: Ctrl-C while the plots are drawn stops gnuplot, marks the run interrupted
// and exits 130, as during training; the metrics are kept whole. (`timeout
// --foreground`: without it timeout relays the signal to its process group as well, and
// a second SIGINT ends ballista at once, as a second Ctrl-C does.)
BOOST_AUTO_TEST_CASE(ctrl_c_while_plots_are_drawn_interrupts_the_run) {
  test::TemporaryDirectory out;
  std::ofstream(out.path() / "p.yaml") << kTwoModels;
  const auto started = out.path() / "gnuplot-started";
  write_fake_gnuplot(out.path() / "gnuplot", "touch " + quoted(started) + "; sleep 61.5");
  const auto run = test::run_command(
      "cd " + quoted(out.path()) + " && (GNUPLOT=./gnuplot timeout --foreground 100 " +
      ballista_command("run p.yaml --out run") + " & pid=$!; for i in $(seq 300); do [ -e " + quoted(started) +
      " ] && break; sleep 0.1; done; kill -INT $pid; wait $pid)");
  BOOST_TEST(run.exit_code == 130, run.output);
  BOOST_TEST(run.output.find("not drawn: the run was interrupted") != std::string::npos, run.output);
  const auto metrics = nlohmann::json::parse(read_text(out.path() / "run/metrics.json"));
  BOOST_TEST(metrics["state"] == "interrupted");
  BOOST_TEST(metrics["models"].size() == 2U);
  for (const auto& model : metrics["models"]) {
    BOOST_TEST(model["status"] == "ok");
  }
  BOOST_TEST(read_text(out.path() / "run/report.md").find("State: interrupted") != std::string::npos);
  // Nothing gnuplot started outlives the run (the pattern's brackets keep pgrep from
  // finding its own shell).
  BOOST_TEST(test::run_command("pgrep -f 'slee[p] 61.5'").exit_code != 0);
}

// Item 10: `throw 42` from a plugin's fit() or predict() fails that model only; the
// others run, the table is printed, the state is complete.
BOOST_AUTO_TEST_CASE(a_plugin_throwing_a_non_exception_fails_only_its_model) {
  test::TemporaryDirectory out;
  std::ofstream(out.path() / "p.yaml") << R"yaml(data:
  inputs: {v: "uniform(0, 1)"}
  targets: {s: 2*v}
  sets: {train: {rows: 20}}
models:
  in_fit: {plugin: crashing, how: throw-int}
  in_predict: {plugin: crashing, how: throw-int-in-predict}
  line: {plugin: linear}
)yaml";
  const auto run = test::run_command(ballista_command("--plugin-path " + quoted(test::conformance_plugin_dir()) +
                                                      " run " + quoted(out.path() / "p.yaml") + " --out " +
                                                      quoted(out.path() / "run")));
  BOOST_TEST(run.exit_code == 1, run.output);
  const auto metrics = nlohmann::json::parse(read_text(out.path() / "run/metrics.json"));
  BOOST_TEST(metrics["state"] == "complete");
  const std::string expected = "the plugin threw a value of type 'int', which is not a std::exception";
  for (const auto& model : metrics["models"]) {
    if (model["name"] == "line") {
      BOOST_TEST(model["status"] == "ok");
    } else {
      BOOST_TEST(model["status"] == "failed", model["name"]);
      BOOST_TEST(model["error"].get<std::string>() == expected, model["name"]);
    }
  }
  BOOST_TEST(std::filesystem::exists(out.path() / "run/report.html"));
}

// Item 11: a second run into a used --out is refused before it writes anything (it
// mixed runs), and a directory another run holds is refused, not interleaved.
BOOST_AUTO_TEST_CASE(out_directories_hold_one_run) {
  test::TemporaryDirectory out;
  std::ofstream(out.path() / "p.yaml") << kTwoModels;
  const auto run_into = [&](const std::string& directory) {
    return test::run_command(ballista_command("run " + quoted(out.path() / "p.yaml") + " --quiet --out " +
                                              quoted(out.path() / directory)));
  };
  BOOST_REQUIRE_EQUAL(run_into("first").exit_code, 0);
  const auto before = read_text(out.path() / "first/metrics.json");
  const auto again = run_into("first");
  BOOST_TEST(again.exit_code == 2, again.output);
  BOOST_TEST(again.output.find("is not empty") != std::string::npos, again.output);
  BOOST_TEST(read_text(out.path() / "first/metrics.json") == before);
  // An empty directory is fine; one that another process has locked is refused.
  std::filesystem::create_directory(out.path() / "held");
  const auto held = test::run_command("{ flock " + quoted(out.path() / "held") +
                                      " sleep 30 >/dev/null 2>&1 & holder=$!; sleep 0.5; " +
                                      ballista_command("run " + quoted(out.path() / "p.yaml") + " --quiet --out " +
                                                       quoted(out.path() / "held")) +
                                      "; status=$?; pkill -P $holder; kill $holder; exit $status; }");
  BOOST_TEST(held.exit_code == 2, held.output);
  BOOST_TEST(held.output.find("another ballista run is writing this directory") != std::string::npos, held.output);
  BOOST_TEST(std::filesystem::is_empty(out.path() / "held"));
  std::filesystem::create_directory(out.path() / "empty");
  BOOST_TEST(run_into("empty").exit_code == 0);
}

// Item 14: a run refused while drawing its data (targets that are not finite) says
// where, leaves no run directory behind and does not move `latest`.
BOOST_AUTO_TEST_CASE(a_run_refused_while_drawing_its_data_moves_nothing) {
  test::TemporaryDirectory out;
  std::ofstream(out.path() / "good.yaml") << "name: twice\n" << kTwoModels;
  std::ofstream(out.path() / "bad.yaml") << R"yaml(name: twice
data:
  inputs: {v: "uniform(0, 1)"}
  targets: {s: 1/(v-v)}
  n: 20
models:
  line: {plugin: linear}
)yaml";
  const auto in_out = [&](const std::string& arguments) {
    return test::run_command("cd " + quoted(out.path()) + " && " + ballista_command(arguments));
  };
  BOOST_REQUIRE_EQUAL(in_out("run good.yaml --quiet").exit_code, 0);
  const auto latest = std::filesystem::read_symlink(out.path() / "runs/twice/latest");
  const auto refused = in_out("run bad.yaml --quiet");
  BOOST_TEST(refused.exit_code == 2, refused.output);
  BOOST_TEST(refused.output.find("bad.yaml: error: drawing the data: set 'all': the targets are not finite") !=
                 std::string::npos,
             refused.output);
  BOOST_TEST(std::filesystem::read_symlink(out.path() / "runs/twice/latest") == latest);
  std::size_t runs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(out.path() / "runs/twice")) {
    runs += entry.path().filename() != "latest" ? 1 : 0;
  }
  BOOST_TEST(runs == 1U);
  BOOST_TEST(in_out("compare twice").exit_code == 0);
}

// Item 14: a CSV whose header starts with a UTF-8 byte order mark (spreadsheets write
// one) finds its first column; cells of ±1e308 overflow the plot ranges, which must
// leave out the surface and slice plots, not fail every model after its metrics.
BOOST_AUTO_TEST_CASE(csv_with_a_byte_order_mark_and_huge_cells_runs) {
  test::TemporaryDirectory out;
  std::ofstream(out.path() / "table.csv") << "\xEF\xBB\xBFv,w,s\n-1e308,0,1\n1e308,1,2\n0,2,3\n1,3,4\n2,4,5\n";
  std::ofstream(out.path() / "p.yaml") << R"yaml(data:
  source: csv
  file: table.csv
  inputs: [v, w]
  targets: [s]
models:
  near: {plugin: knn}
)yaml";
  const auto run = test::run_command("cd " + quoted(out.path()) + " && " + ballista_command("run p.yaml --out run"));
  BOOST_TEST(run.exit_code == 0, run.output);
  const auto metrics = nlohmann::json::parse(read_text(out.path() / "run/metrics.json"));
  BOOST_TEST(metrics["models"][0]["status"] == "ok", metrics.dump());
  // knn stores the rows: each predicts itself.
  BOOST_TEST(metrics["models"][0]["metrics"]["all"]["mse"].get<double>() == 0.0);
  BOOST_TEST(!std::filesystem::exists(out.path() / "run/plots/surface-s.png"));
  BOOST_TEST(std::filesystem::exists(out.path() / "run/plots/parity-all-s.png"));
  // predict --input reads the same header.
  const auto predicted = test::run_command(ballista_command("predict " + quoted(out.path() / "run/models/near.pt") +
                                                            " --input " + quoted(out.path() / "table.csv")));
  BOOST_TEST(predicted.exit_code == 0, predicted.output);
}

// Item 14: a distribution whose range overflows a double drew infinite inputs, which
// were fed to the models (infinite targets were refused).
BOOST_AUTO_TEST_CASE(infinite_drawn_inputs_are_refused) {
  test::TemporaryDirectory out;
  std::ofstream(out.path() / "p.yaml") << R"yaml(data:
  inputs: {v: "uniform(-1e308, 1e308)"}
  targets: {s: "1"}
  n: 20
models:
  line: {plugin: linear}
)yaml";
  const auto run = test::run_command(ballista_command("run " + quoted(out.path() / "p.yaml") + " --out " +
                                                      quoted(out.path() / "run")));
  BOOST_TEST(run.exit_code == 2, run.output);
  BOOST_TEST(run.output.find("the inputs are not finite in") != std::string::npos, run.output);
}

// Item 15: a sweep of 30 models draws its panel plots with the best 12 (named in the
// caption) and a ranking plot of all 30; the table and metrics.json keep every model.
BOOST_AUTO_TEST_CASE(plots_of_a_large_sweep_show_the_best_and_a_ranking) {
  test::TemporaryDirectory out;
  std::string values;
  for (int i = 1; i <= 30; ++i) {
    values += (i == 1 ? "" : ", ") + std::to_string(i);
  }
  std::ofstream(out.path() / "p.yaml") << R"yaml(data:
  inputs: {v: "uniform(0, 1)", w: "uniform(0, 1)"}
  targets: {s: v + w}
  sets: {train: {rows: 40}}
models:
  near: {plugin: knn, k: {sweep: [)yaml" << values << "]}}\n";
  const auto run = test::run_command(ballista_command("run " + quoted(out.path() / "p.yaml") + " --quiet --out " +
                                                      quoted(out.path() / "run")));
  BOOST_TEST(run.exit_code == 0, run.output);
  const auto metrics = nlohmann::json::parse(read_text(out.path() / "run/metrics.json"));
  BOOST_TEST(metrics["models"].size() == 30U);
  const auto parity = read_text(out.path() / "run/plots/parity-train-s.gp");
  std::size_t panels = 0;
  for (auto at = parity.find("\nplot $model"); at != std::string::npos; at = parity.find("\nplot $model", at + 1)) {
    ++panels;
  }
  BOOST_TEST(panels == 12U);
  // k = 1 fits its training rows exactly: it is the best, and shown; k = 30 is not.
  BOOST_TEST(parity.find("'near@k=1") != std::string::npos);
  BOOST_TEST(parity.find("'near@k=30") == std::string::npos);
  BOOST_TEST(std::filesystem::exists(out.path() / "run/plots/ranking-train-mse.png"));
  const auto report = read_text(out.path() / "run/report.md");
  BOOST_TEST(report.find("Shown: the best 12 of 30 models by mse on set train") != std::string::npos);
}

// Item 14: --threads had no upper bound (2048 made `validate` take 22 s starting threads);
// an input given twice to predict --at was taken silently (the last value won).
BOOST_AUTO_TEST_CASE(threads_are_bounded_and_predict_inputs_are_given_once) {
  const auto many = test::run_command("timeout 20 " + ballista_command("validate " +
                                                                       quoted(test::source_dir() / "configs/cannon.yaml") +
                                                                       " --threads 2048"));
  BOOST_TEST(many.exit_code == 2, many.output);
  BOOST_TEST(many.output.find("--threads 2048 is more than") != std::string::npos, many.output);
  test::TemporaryDirectory out;
  const auto model = trained_line(out.path());
  const auto twice = test::run_command(ballista_command("predict " + quoted(model) + " --at v=1,w=2,w=3"));
  BOOST_TEST(twice.exit_code == 2, twice.output);
  BOOST_TEST(twice.output.find("input 'w' is given twice") != std::string::npos, twice.output);
}

// Item 14: a pipeline or base that is a loop of symbolic links, and /dev/stdin, ended
// `validate` with a bare "filesystem error" (no file, no line); a file that cannot be
// read did not say why. Each is now located (the file, or the `extends` line) with the
// reason; /dev/stdin redirected from a file is read like the file.
BOOST_AUTO_TEST_CASE(unreadable_pipelines_and_bases_are_located_with_the_reason) {
  test::TemporaryDirectory work;
  const auto& dir = work.path();
  std::filesystem::create_symlink("loop_b.yaml", dir / "loop_a.yaml");
  std::filesystem::create_symlink("loop_a.yaml", dir / "loop_b.yaml");
  std::ofstream(dir / "child.yaml") << "extends: loop_a.yaml\nmodels: {}\n";
  std::ofstream(dir / "missing.yaml") << "seed: 1\nextends: nowhere.yaml\n";
  std::ofstream(dir / "good.yaml") << "data:\n  inputs: {v: \"uniform(0, 1)\"}\n  targets: {s: 2*v}\n"
                                      "  sets: {train: {rows: 10}}\nmodels:\n  line: {plugin: linear}\n";
  const auto validate = [&](const std::string& arguments) {
    return test::run_command("cd " + quoted(dir) + " && timeout 60 " + ballista_command("validate " + arguments));
  };
  const auto expect = [&](const std::string& arguments, int status, const std::string& message) {
    const auto result = validate(arguments);
    BOOST_TEST(result.exit_code == status, arguments << ": " << result.output);
    BOOST_TEST(result.output.find(message) != std::string::npos, arguments << ": " << result.output);
    BOOST_TEST(result.output.find("filesystem error") == std::string::npos, result.output);
  };
  expect("loop_a.yaml", 2, "loop_a.yaml: error: cannot read the pipeline file: Too many levels of symbolic links");
  expect("child.yaml", 2,
         "child.yaml:1:10: error: extends 'loop_a.yaml': cannot read the file: Too many levels of symbolic links");
  expect("missing.yaml", 2, "missing.yaml:2:10: error: extends 'nowhere.yaml': cannot read the file: no such file");
  expect("/dev/stdin < good.yaml", 0, "/dev/stdin: ok (1 data sets, 1 models, 0 probes)");
  expect("/dev/stdin < /dev/null", 2, "/dev/stdin: error: the pipeline is not a regular file");
  const auto piped = test::run_command("cd " + quoted(dir) + " && cat good.yaml | " + ballista_command("validate /dev/stdin"));
  BOOST_TEST(piped.exit_code == 2, piped.output);
  BOOST_TEST(piped.output.find("/dev/stdin: error: the pipeline is not a regular file (pipelines are read from "
                               "files; save what a pipe gives to one first)") != std::string::npos,
             piped.output);
  if (geteuid() != 0) {  // root reads any file
    std::filesystem::permissions(dir / "good.yaml", std::filesystem::perms::none);
    expect("good.yaml", 2, "good.yaml: error: cannot read the pipeline file: Permission denied");
  }
}

BOOST_AUTO_TEST_SUITE_END()
