// Sweeps over many processes and machines (issue 19, part 2; suite sweep_shards):
// `run --shard I/N` runs every N-th model, `merge` makes of the shards the run directory
// the unsharded run writes, and `run --shards N --emit slurm|parallel` prints a script
// that does both. The reference is the unsharded run itself: each model trains the same
// way in a shard, so every figure must be the same to the last bit, and every file the
// same but for timings and paths.
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <bit>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace test = ballista::test;
using nlohmann::json;

namespace {

// Six cheap models once the override below has made near a sweep: two variants of a
// gradient-trained linear model, two of knn, the closed-form basis model and Adam on the
// same basis (loss curves, fit_values), evaluated with two metrics on three sets and at
// two probes. Without the override, near is one model with k: 3.
const char* const kPipeline = R"yaml(name: shards
seed: 7
data:
  inputs: {v: "uniform(0, 10)", theta: "uniform(0, pi/2)"}
  targets: {s: {expression: "v^2*sin(2*theta)/9.81", noise: 0.01}}
  n: 150
  sets: {test: {rows: 60}, far: {rows: 60, inputs: {v: "uniform(10, 20)"}}}
models:
  line: {plugin: linear, solver: sgd, epochs: 40, lr: {sweep: [0.01, 0.003]}}
  near: {plugin: knn, k: 3}
  basis: {plugin: basis, functions: [v, v^2*sin(2*theta)]}
  basis_adam: {plugin: basis, solver: adam, lr: 0.1, epochs: 60, functions: [v, v^2*sin(2*theta)]}
evaluate:
  metrics: [mse, r2]
  probes: [{v: 4, theta: 1.2}, {v: 20, theta: 0.85}]
)yaml";

// On every run of the suite: YAML with a space and braces, to be quoted on its way
// through the emitted scripts.
const std::string kOverride = "models.near.k={sweep: [1, 2]}";

const std::vector<std::string> kModels{"line@lr=0.01", "line@lr=0.003", "near@k=1",
                                       "near@k=2",     "basis",         "basis_adam"};

std::string quoted(const std::filesystem::path& path) { return test::shell_quote(path.string()); }

std::string ballista_line(const std::string& arguments) {
  return test::shell_quote(test::ballista_binary().string()) + " " + arguments;
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The unsharded run and its three shards, made once for the suite. The shards draw no
// plots (GNUPLOT names no program): merge draws its own, and gnuplot is most of a small
// run's time.
struct Runs {
  test::TemporaryDirectory directory;
  std::filesystem::path pipeline = directory.path() / "shards.yaml";
  std::filesystem::path unsharded = directory.path() / "unsharded";
  std::filesystem::path shard(std::size_t index) const { return directory.path() / ("shard-" + std::to_string(index)); }

  // `run` of the suite's pipeline (with kOverride) and `options`.
  test::CommandResult run(const std::string& options, bool plots = true) const {
    return test::run_command((plots ? "" : "GNUPLOT=/nonexistent/gnuplot ") +
                             ballista_line("run " + quoted(pipeline) + " --set " + test::shell_quote(kOverride) + " " +
                                      options));
  }

  Runs() {
    std::ofstream(pipeline) << kPipeline;
    const auto made = run("--quiet --out " + quoted(unsharded));
    BOOST_REQUIRE_MESSAGE(made.exit_code == 0, made.output);
    for (std::size_t index = 0; index < 3; ++index) {
      const auto shard_made = run("--quiet --shard " + std::to_string(index) + "/3 --out " + quoted(shard(index)), false);
      BOOST_REQUIRE_MESSAGE(shard_made.exit_code == 0, shard_made.output);
    }
  }
};

const Runs& runs() {
  static const Runs made;
  return made;
}

std::vector<std::string> model_names(const json& metrics) {
  std::vector<std::string> names;
  for (const auto& model : metrics.at("models")) {
    names.push_back(model.at("name").get<std::string>());
  }
  return names;
}

// metrics.json without what may differ: timings and the model files' paths.
json without_timings(json metrics) {
  for (auto& model : metrics.at("models")) {
    model.erase("fit_seconds");
    model.erase("predict_seconds");
    model.erase("model_file");
    model.at("fit_values").erase("optimum_seconds");
  }
  return metrics;
}

// "model set metric" and "model probe i target" → the value's bits.
std::map<std::string, std::uint64_t> figure_bits(const json& metrics) {
  std::map<std::string, std::uint64_t> bits;
  for (const auto& model : metrics.at("models")) {
    const auto name = model.at("name").get<std::string>();
    for (const auto& [set, values] : model.at("metrics").items()) {
      for (const auto& [metric, value] : values.items()) {
        bits[name + " " + set + " " + metric] = std::bit_cast<std::uint64_t>(value.get<double>());
      }
    }
    for (std::size_t p = 0; p < model.at("probes").size(); ++p) {
      for (const auto& [target, value] : model.at("probes")[p].at("prediction").items()) {
        bits[name + " probe " + std::to_string(p) + " " + target] = std::bit_cast<std::uint64_t>(value.get<double>());
      }
    }
  }
  return bits;
}

// The files under `folder` of a run directory (models/, data/, loss/, plots/), by path
// relative to the run directory; PNGs only when `pictures`.
std::set<std::string> files_under(const std::filesystem::path& run, const std::string& folder, bool pictures) {
  std::set<std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(run / folder)) {
    if (entry.is_regular_file() && (pictures || entry.path().extension() != ".png")) {
      files.insert(entry.path().lexically_relative(run).string());
    }
  }
  return files;
}

// metrics.csv without its two timing columns (fit_seconds, predict_seconds; no field of
// this suite's holds a comma).
std::vector<std::string> csv_without_timings(const std::string& text) {
  std::vector<std::string> rows;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::vector<std::string> fields;
    std::istringstream cells(line);
    std::string cell;
    while (std::getline(cells, cell, ',')) {
      fields.push_back(cell);
    }
    std::string row;
    for (std::size_t c = 0; c < fields.size(); ++c) {
      row += c == 7 || c == 8 ? std::string(",") : fields[c] + ",";
    }
    rows.push_back(row);
  }
  return rows;
}

// The lines log.txt has for each model, in order ("  basis: ok"), the fit time cut off.
std::vector<std::string> model_log_lines(const std::filesystem::path& run) {
  std::vector<std::string> lines;
  std::istringstream log(read_text(run / "log.txt"));
  std::string line;
  std::getline(log, line);  // "ballista VERSION: PIPELINE → DIRECTORY": paths
  while (std::getline(log, line) && !line.empty()) {
    if (line.starts_with("  ")) {  // not a warning that gnuplot is missing
      lines.push_back(line.substr(0, line.find(" (fit ")));
    }
  }
  return lines;
}

// `merged` is what `unsharded` is: the same figures to the bit, the models in the
// pipeline's order, the same files with the same bytes (PNGs compared when `pictures`).
void check_same_run(const std::filesystem::path& unsharded, const std::filesystem::path& merged, bool pictures) {
  const auto expected = test::read_json(unsharded / "metrics.json");
  const auto got = test::read_json(merged / "metrics.json");
  BOOST_TEST(model_names(expected) == kModels, "the pipeline's order");
  BOOST_TEST(model_names(got) == kModels, "the pipeline's order");
  BOOST_TEST(!got.contains("shard"));
  const auto expected_bits = figure_bits(expected);
  const auto got_bits = figure_bits(got);
  BOOST_TEST(expected_bits.size() == 6 * (3 * 2 + 2));  // models × (sets × metrics + probes)
  for (const auto& [name, bits] : expected_bits) {
    BOOST_TEST((got_bits.count(name) == 1 && got_bits.at(name) == bits), name << ": not the same bits");
  }
  BOOST_TEST(got_bits.size() == expected_bits.size());
  BOOST_TEST(without_timings(got) == without_timings(expected),
             "metrics.json differs beyond timings and paths:\n" << without_timings(got).dump(1));
  for (std::size_t m = 0; m < kModels.size(); ++m) {
    BOOST_TEST(got["models"][m]["model_file"] == (merged / "models" / (kModels[m] + ".pt")).string());
  }
  BOOST_TEST(csv_without_timings(read_text(merged / "metrics.csv")) ==
             csv_without_timings(read_text(unsharded / "metrics.csv")));
  for (const auto* folder : {"models", "data", "loss", "plots"}) {
    const auto expected_files = files_under(unsharded, folder, pictures);
    BOOST_TEST(files_under(merged, folder, pictures) == expected_files, folder);
    BOOST_TEST(!expected_files.empty(), folder);
    for (const auto& file : expected_files) {
      BOOST_TEST(read_text(merged / file) == read_text(unsharded / file), file << " differs");
    }
  }
  BOOST_TEST(read_text(merged / "pipeline.resolved.yaml") == read_text(unsharded / "pipeline.resolved.yaml"));
  BOOST_TEST(model_log_lines(merged) == model_log_lines(unsharded));
  for (const auto* file : {"report.md", "report.html", "environment.json"}) {
    BOOST_TEST(std::filesystem::exists(merged / file), file);
  }
  BOOST_TEST(!std::filesystem::exists(merged / "shard"));
}

// A stand-in for Slurm's sbatch: runs a job at once. An array script's tasks run one
// after another with SLURM_ARRAY_TASK_ID set; --wrap=COMMAND runs COMMAND with sh, and
// only after the job it depends on (it has just run).
const char* const kFakeSbatch = R"sh(#!/bin/sh
wrap= script=
for argument; do
  case $argument in
    --wrap=*) wrap=${argument#--wrap=} ;;
    --dependency=afterok:4242) ;;
    --dependency=*) echo "fake sbatch: unexpected $argument" >&2; exit 1 ;;
    -*) ;;
    *) script=$argument ;;
  esac
done
if [ -n "$wrap" ]; then
  sh -c "$wrap" >&2 || exit 1
  echo "Submitted batch job 4243"
  exit 0
fi
last=$(sed -n 's/^#SBATCH --array=0-\([0-9]*\)$/\1/p' "$script")
task=0
while [ "$task" -le "$last" ]; do
  SLURM_ARRAY_TASK_ID=$task sh "$script" >&2 || exit 1
  task=$((task + 1))
done
echo "4242;cluster"
)sh";

// A stand-in for GNU parallel where it is not installed, for the line --emit parallel
// writes: parallel --joblog FILE --resume-failed [--jobs N] COMMAND ::: ARGUMENT... runs
// COMMAND once per argument, {} replaced by it, with sh, one after another.
const char* const kFakeParallel = R"sh(#!/bin/sh
joblog= command=
while [ $# -gt 0 ]; do
  case $1 in
    --joblog) joblog=$2; shift 2 ;;
    --resume-failed) shift ;;
    --jobs) shift 2 ;;
    :::) shift; break ;;
    -*) echo "fake parallel: unexpected option $1" >&2; exit 2 ;;
    *) command=$1; shift ;;
  esac
done
failed=0
for argument; do
  status=0
  sh -c "$(printf '%s\n' "$command" | sed "s/{}/$argument/g")" || status=$?
  printf '%s\t%s\n' "$argument" "$status" >> "$joblog"
  [ "$status" -eq 0 ] || failed=$((failed + 1))
done
exit "$failed"
)sh";

void write_program(const std::filesystem::path& file, const char* text) {
  std::ofstream(file) << text;
  std::filesystem::permissions(file, std::filesystem::perms::owner_all);
}

bool has_gnu_parallel() {
  return test::run_command("parallel --version 2>/dev/null").output.find("GNU parallel") != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sweep_shards)

// Shard I of 3 runs models I, I+3 of the six (the sweep's variants counted), on the same
// data, and says which shard it is; merged in any order, the three are the unsharded run.
BOOST_AUTO_TEST_CASE(merged_shards_are_the_unsharded_run) {
  const auto& made = runs();
  for (std::size_t index = 0; index < 3; ++index) {
    const auto metrics = test::read_json(made.shard(index) / "metrics.json");
    BOOST_TEST(metrics.at("shard") == json({{"index", index}, {"count", 3}}));
    BOOST_TEST(model_names(metrics) == std::vector<std::string>({kModels[index], kModels[index + 3]}));
    BOOST_TEST(read_text(made.shard(index) / "pipeline.resolved.yaml") ==
               read_text(made.unsharded / "pipeline.resolved.yaml"));
    BOOST_TEST(read_text(made.shard(index) / "data/far.csv") == read_text(made.unsharded / "data/far.csv"));
  }
  test::TemporaryDirectory out;
  const auto merged = out.path() / "merged";
  const auto merge = test::run_command(ballista_line("merge " + quoted(made.shard(2)) + " " + quoted(made.shard(0)) + " " +
                                                quoted(made.shard(1)) + " --out " + quoted(merged)));
  BOOST_REQUIRE_MESSAGE(merge.exit_code == 0, merge.output);
  BOOST_TEST(merge.output.find("basis_adam") != std::string::npos, merge.output);  // the table
  check_same_run(made.unsharded, merged, true);
  const auto log = read_text(merged / "log.txt");
  BOOST_TEST(log.find("(merged from 3 shards: ") != std::string::npos, log);
  // A shard's run is reproduced as that shard.
  const auto again = test::run_command("GNUPLOT=/nonexistent " + ballista_line("reproduce " + quoted(made.shard(1)) +
                                                                               " --out " + quoted(out.path() / "again")));
  BOOST_TEST(again.exit_code == 0, again.output);
  BOOST_TEST(again.output.find("identical: all 16 metrics and probe predictions match") != std::string::npos,
             again.output);
}

// What is not the N shards of one run is refused, exit 2, naming the directory and why;
// nothing is written.
BOOST_AUTO_TEST_CASE(merge_refuses_what_is_not_the_shards_of_one_run) {
  const auto& made = runs();
  test::TemporaryDirectory scratch;
  const auto other_seed = scratch.path() / "seed-8";
  auto result = made.run("--quiet --set seed=8 --shard 1/3 --out " + quoted(other_seed), false);
  BOOST_REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const auto of_four = scratch.path() / "of-four";
  result = made.run("--quiet --shard 1/4 --out " + quoted(of_four), false);
  BOOST_REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const auto other_pipeline = scratch.path() / "no-override";  // near is one model there
  result = test::run_command("GNUPLOT=/nonexistent " + ballista_line("run " + quoted(made.pipeline) +
                                                                " --quiet --shard 1/3 --out " + quoted(other_pipeline)));
  BOOST_REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  // A second copy of shard 1, and one whose run was interrupted.
  const auto copy = scratch.path() / "shard-1-again";
  std::filesystem::copy(made.shard(1), copy, std::filesystem::copy_options::recursive);
  const auto interrupted = scratch.path() / "interrupted";
  std::filesystem::copy(made.shard(1), interrupted, std::filesystem::copy_options::recursive);
  auto metrics = read_text(interrupted / "metrics.json");
  const std::string complete = "\"state\": \"complete\"";
  metrics.replace(metrics.find(complete), complete.size(), "\"state\": \"interrupted\"");
  std::ofstream(interrupted / "metrics.json") << metrics;

  const auto out = scratch.path() / "merged";
  const auto refused = [&](const std::vector<std::filesystem::path>& shards, const std::string& expected) {
    std::string operands;
    for (const auto& shard : shards) {
      operands += quoted(shard) + " ";
    }
    const auto merge = test::run_command(ballista_line("merge " + operands + "--out " + quoted(out)));
    BOOST_TEST(merge.exit_code == 2, expected << ": " << merge.output);
    BOOST_TEST(merge.output.find(expected) != std::string::npos, "expected: " << expected << "\ngot: " << merge.output);
    BOOST_TEST(!std::filesystem::exists(out), "merge wrote " << out);
  };
  const auto& s = made;
  refused({s.shard(0), other_seed, s.shard(2)},
          other_seed.string() + " ran with seed 8 but " + s.shard(0).string() + " with seed 7");
  refused({s.shard(0), other_pipeline, s.shard(2)},
          other_pipeline.string() + " ran another pipeline than " + s.shard(0).string() +
              ": their pipeline.resolved.yaml differ at line");
  refused({s.shard(0), s.shard(2)}, "shard 1/3 is missing");
  refused({s.shard(0), s.shard(1), s.shard(1), s.shard(2)}, s.shard(1).string() + " is given twice (shard 1/3)");
  refused({s.shard(0), s.shard(1), copy, s.shard(2)},
          copy.string() + " and " + s.shard(1).string() + " are both shard 1/3");
  refused({s.shard(0), s.shard(1), s.shard(2), of_four}, of_four.string() + " is shard 1/4 but " +
                                                             s.shard(0).string() + " is shard 0/3");
  refused({s.shard(0), interrupted, s.shard(2)}, interrupted.string() + " (shard 1/3) is not complete");
  refused({s.shard(0), s.unsharded, s.shard(2)},
          s.unsharded.string() + " is not the run directory of a shard: its metrics.json has no \"shard\"");
  refused({s.shard(0), scratch.path() / "nowhere"}, (scratch.path() / "nowhere").string() + " is not a run directory");
  // An --out that is not empty.
  const auto full = test::run_command(
      ballista_line("merge " + quoted(s.shard(0)) + " " + quoted(s.shard(1)) + " " + quoted(s.shard(2)) + " --out " +
               quoted(s.unsharded)));
  BOOST_TEST(full.exit_code == 2);
  BOOST_TEST(full.output.find("--out " + s.unsharded.string() + " is not empty") != std::string::npos, full.output);
}

// The options are checked before anything runs (by the launcher: no LibTorch start-up).
BOOST_AUTO_TEST_CASE(shard_options_are_checked) {
  const auto usage = [](const std::string& arguments, const std::string& expected) {
    const auto result = test::run_command(ballista_line(arguments));
    BOOST_TEST(result.exit_code == 2, arguments << ": " << result.output);
    BOOST_TEST(result.output.find(expected) != std::string::npos,
               arguments << "\nexpected: " << expected << "\ngot: " << result.output);
  };
  for (const auto* shard : {"3/3", "x/3", "1/0", "-1/3", "1", "1/", "/3", "0/10001"}) {
    usage("run p.yaml --shard " + std::string(shard),
          "--shard needs I/N, shard I of N counted from 0 (0 <= I < N <= 10000), e.g. --shard 0/4 for the first of "
          "four; got '" + std::string(shard) + "'");
  }
  usage("validate p.yaml --shard 0/2", "--shard, --shards and --emit only apply to `run`");
  usage("run p.yaml --shards 3", "--shards N needs --emit slurm or --emit parallel");
  usage("run p.yaml --emit slurm", "--emit needs --shards N");
  usage("run p.yaml --shards 3 --emit slrum", "--emit must be slurm or parallel, got 'slrum' (did you mean 'slurm'?)");
  usage("run p.yaml --shards 0 --emit slurm", "--shards needs a whole number of shards, 1 to 10000 (got '0')");
  usage("run p.yaml --shard 0/3 --shards 3 --emit slurm", "--shard I/N runs one shard");
  usage("merge a b", "usage: ballista merge RUN_DIR... --out DIR");
  usage("merge --out m", "usage: ballista merge RUN_DIR... --out DIR");
  usage("marge a --out m", "unknown command 'marge' (did you mean 'merge'?)");
  usage("plugins --out m", "--out only applies to `run`, `reproduce` and `merge`");
  const auto help = test::run_command(ballista_line("help"));
  BOOST_TEST(help.output.find("merge RUN_DIR... --out DIR") != std::string::npos);
  BOOST_TEST(help.output.find("--shards N --emit slurm|parallel") != std::string::npos);
}

// The Slurm script: a job array of N tasks, task I running shard I/N with the same
// options, and the merge submitted to start after every task succeeded. Run through a
// stand-in sbatch, it makes the unsharded run, a shard without models included (seven
// shards of six models), in a directory whose name needs quoting.
BOOST_AUTO_TEST_CASE(emitted_slurm_script_runs_the_shards_and_merges_them) {
  const auto& made = runs();
  test::TemporaryDirectory scratch;
  const auto base = scratch.path() / "sweep base's";
  const auto script =
      test::run_command(ballista_line("--threads 1 run " + quoted(made.pipeline) + " --set " + test::shell_quote(kOverride) +
                                 " --shards 7 --emit slurm --out " + quoted(base) + " 2>&1"));
  BOOST_REQUIRE_MESSAGE(script.exit_code == 0, script.output);
  const auto& text = script.output;
  const auto program = test::ballista_binary().string();
  for (const auto& expected :
       {std::string("#!/bin/sh\n"), std::string("\n#SBATCH --array=0-6\n"), std::string("\n#SBATCH --cpus-per-task=1\n"),
        "\n" + program + " --threads 1 run " + made.pipeline.string() + " --set " + test::shell_quote(kOverride) +
            " --shard \"$SLURM_ARRAY_TASK_ID\"/7 --out " + quoted(base) + "/shard-\"$SLURM_ARRAY_TASK_ID\"",
        std::string("sbatch --dependency=\"afterok:${job%%;*}\""), std::string("#   shard 6: no models\n")}) {
    BOOST_TEST(text.find(expected) != std::string::npos, "expected: " << expected << "\nin:\n" << text);
  }
  const auto file = scratch.path() / "shards.sh";
  std::ofstream(file) << text;
  const auto bin = scratch.path() / "bin";
  std::filesystem::create_directory(bin);
  write_program(bin / "sbatch", kFakeSbatch);
  const auto submitted = test::run_command("cd " + quoted(scratch.path()) + " && PATH=" + quoted(bin) +
                                           ":\"$PATH\" GNUPLOT=/nonexistent sh shards.sh");
  BOOST_REQUIRE_MESSAGE(submitted.exit_code == 0, submitted.output);
  BOOST_TEST(submitted.output.find("shards: job 4242") != std::string::npos, submitted.output);
  BOOST_TEST(test::read_json(base / "shard-6" / "metrics.json").at("models").empty());
  check_same_run(made.unsharded, base / "merged", false);
}

// The GNU parallel line: every shard under --joblog BASE/joblog and --resume-failed,
// then the merge. Run by GNU parallel where it is installed, else by a stand-in that runs
// the same command line through sh.
BOOST_AUTO_TEST_CASE(emitted_parallel_line_runs_the_shards_and_merges_them) {
  const auto& made = runs();
  test::TemporaryDirectory scratch;
  const auto base = scratch.path() / "sweep base's";
  const auto script = test::run_command(ballista_line("run " + quoted(made.pipeline) + " --set " +
                                                 test::shell_quote(kOverride) + " --shards 3 --emit parallel --out " +
                                                 quoted(base) + " 2>&1"));
  BOOST_REQUIRE_MESSAGE(script.exit_code == 0, script.output);
  const auto& text = script.output;
  const auto program = test::ballista_binary().string();
  for (const auto& expected :
       {"mkdir -p " + quoted(base) + " && parallel --joblog " + quoted(base / "joblog") + " --resume-failed ",
        std::string(" ::: 0 1 2 && ") + program + " --threads 1 merge " + quoted(base) + "/shard-* --out " +
            quoted(base / "merged") + "\n",
        std::string("--shard {}/3 --out ")}) {
    BOOST_TEST(text.find(expected) != std::string::npos, "expected: " << expected << "\nin:\n" << text);
  }
  const auto file = scratch.path() / "shards.sh";
  std::ofstream(file) << text;
  std::string path = "\"$PATH\"";
  if (!has_gnu_parallel()) {
    const auto bin = scratch.path() / "bin";
    std::filesystem::create_directory(bin);
    write_program(bin / "parallel", kFakeParallel);
    path = quoted(bin) + ":" + path;
  }
  const auto ran = test::run_command("PATH=" + path + " GNUPLOT=/nonexistent sh " + quoted(file));
  BOOST_REQUIRE_MESSAGE(ran.exit_code == 0, ran.output);
  BOOST_TEST(std::filesystem::exists(base / "joblog"));
  check_same_run(made.unsharded, base / "merged", false);
}

BOOST_AUTO_TEST_SUITE_END()
