// The run's plots and report pieces: plot grids against the closed-form law, gnuplot
// output against the sizes the scripts ask for, what happens without gnuplot, base64
// against RFC 4648, and the notes about a model's fit.
#include "data_generator.hpp"
#include "pipeline_loader.hpp"
#include "pipeline_runner.hpp"
#include "plot_grids.hpp"
#include "plugin_catalog.hpp"
#include "report_page.hpp"
#include "run_plots.hpp"
#include "run_directory.hpp"
#include "run_report.hpp"
#include "test_support.hpp"
#include "throttled_records.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numbers>
#include <thread>

namespace test = ballista::test;
using namespace ballista::host;

namespace {

const std::atomic<bool> kNotCancelled{false};

struct Cannon {
  PluginCatalog catalog{{test::plugin_dir()}};
  Pipeline pipeline = load_pipeline(test::source_dir() / "configs/cannon.yaml", catalog);
};

std::string read_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Width and height from a PNG's IHDR chunk (bytes 16..23, big-endian).
std::pair<std::uint32_t, std::uint32_t> png_size(const std::string& bytes) {
  BOOST_REQUIRE(bytes.size() > 24);
  BOOST_REQUIRE(bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
  BOOST_REQUIRE(bytes.compare(12, 4, "IHDR") == 0);
  const auto word = [&](std::size_t at) {
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < 4; ++i) {
      value = (value << 8U) | static_cast<unsigned char>(bytes[at + i]);
    }
    return value;
  };
  return {word(16), word(20)};
}

// A scoped environment variable.
class Environment {
 public:
  Environment(std::string name, const std::string& value) : name_(std::move(name)) {
    // The tests run on one thread.
    const char* old = std::getenv(name_.c_str());  // NOLINT(concurrency-mt-unsafe)
    had_ = old != nullptr;
    old_ = had_ ? old : "";
    ::setenv(name_.c_str(), value.c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
  }
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;
  ~Environment() {
    if (had_) {
      ::setenv(name_.c_str(), old_.c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
    } else {
      ::unsetenv(name_.c_str());  // NOLINT(concurrency-mt-unsafe)
    }
  }

 private:
  std::string name_;
  std::string old_;
  bool had_ = false;
};

// A small run of the cannon pipeline with two quick models, as the runner makes it.
RunResult quick_run(const Pipeline& pipeline, const PluginCatalog& catalog) {
  auto small = pipeline;
  small.models.erase(std::remove_if(small.models.begin(), small.models.end(),
                                    [](const ModelSpec& model) { return model.name != "knn" && model.name != "basis"; }),
                     small.models.end());
  return run_pipeline(small, catalog, {});
}

}  // namespace

BOOST_AUTO_TEST_SUITE(run_report)

BOOST_AUTO_TEST_CASE(base64_matches_rfc_4648) {
  BOOST_TEST(base64("") == "");
  BOOST_TEST(base64("f") == "Zg==");
  BOOST_TEST(base64("fo") == "Zm8=");
  BOOST_TEST(base64("foo") == "Zm9v");
  BOOST_TEST(base64("foob") == "Zm9vYg==");
  BOOST_TEST(base64("fooba") == "Zm9vYmE=");
  BOOST_TEST(base64("foobar") == "Zm9vYmFy");
  BOOST_TEST(base64(std::string("\x00\xff\xfe", 3)) == "AP/+");
}

BOOST_AUTO_TEST_CASE(plot_grids_span_the_training_range_and_carry_the_closed_form_truth) {
  const Cannon cannon;
  const auto sets = generate_sets(cannon.pipeline.data);
  const auto& train = sets.at(cannon.pipeline.train_set);
  const auto grids = plot_grids(cannon.pipeline, train);
  BOOST_REQUIRE_EQUAL(grids.size(), 2U);
  const auto v_low = train.inputs.select(1, 0).min().item<double>();
  const auto v_high = train.inputs.select(1, 0).max().item<double>();
  const auto theta_low = train.inputs.select(1, 1).min().item<double>();
  const auto theta_high = train.inputs.select(1, 1).max().item<double>();
  const auto truth = [](const torch::Tensor& points) {
    const auto v = points.select(1, 0);
    return (v * v * torch::sin(2 * points.select(1, 1)) / 9.81).clamp_min(0).unsqueeze(1);
  };

  const auto& surface = grids[0];
  BOOST_TEST(surface.name == "surface");
  BOOST_TEST(surface.inputs.size(0) == 60 * 60);
  BOOST_TEST(surface.inputs.select(1, 0).min().item<double>() == v_low);
  BOOST_TEST(surface.inputs.select(1, 0).max().item<double>() == v_high);
  BOOST_TEST(surface.inputs.select(1, 1).min().item<double>() == theta_low);
  BOOST_TEST(surface.inputs.select(1, 1).max().item<double>() == theta_high);
  BOOST_TEST(std::get<0>(torch::unique_dim(surface.inputs, 0)).size(0) == 3600);  // a full grid
  BOOST_REQUIRE(surface.truth.has_value());
  BOOST_TEST(torch::allclose(*surface.truth, truth(surface.inputs), 1e-12, 1e-12));

  // Past the data: v from the bottom of its range to twice the width, theta mid-range.
  const auto& slice = grids[1];
  BOOST_TEST(slice.name == "slice");
  BOOST_TEST(slice.inputs.select(1, 0).min().item<double>() == v_low);
  BOOST_TEST(slice.inputs.select(1, 0).max().item<double>() == v_low + 2 * (v_high - v_low),
             boost::test_tools::tolerance(1e-12));
  BOOST_TEST(torch::all(slice.inputs.select(1, 1) == theta_low + (theta_high - theta_low) / 2).item<bool>());
  BOOST_TEST(std::abs(slice.inputs[0][1].item<double>() - std::numbers::pi / 4) < 0.01);
  BOOST_REQUIRE(slice.truth.has_value());
  BOOST_TEST(torch::allclose(*slice.truth, truth(slice.inputs), 1e-12, 1e-12));
}

BOOST_AUTO_TEST_CASE(gnuplot_draws_each_plot_at_the_size_its_script_asks) {
  const Cannon cannon;
  const auto run = quick_run(cannon.pipeline, cannon.catalog);
  test::TemporaryDirectory out;
  const auto outcome = write_plots(cannon.pipeline, run, out.path() / "plots", kNotCancelled);
  BOOST_TEST(outcome.warnings.empty(), outcome.warnings.front());
  // Two models, no iterative one: surface, slice, then parity and residuals per set.
  std::vector<std::string> names;
  for (const auto& plot : outcome.plots) {
    names.push_back(plot.png.filename().string());
    BOOST_TEST(plot.rendered, plot.png);
    const auto script = read_bytes(plot.script);
    const auto at = script.find("pngcairo size ");
    BOOST_REQUIRE(at != std::string::npos);
    unsigned width = 0;
    unsigned height = 0;
    BOOST_REQUIRE(std::sscanf(script.c_str() + at, "pngcairo size %u,%u", &width, &height) == 2);
    const auto [png_width, png_height] = png_size(read_bytes(plot.png));
    BOOST_TEST(png_width == width, plot.png);
    BOOST_TEST(png_height == height, plot.png);
    // No half-written file is left beside it.
    BOOST_TEST(!std::filesystem::exists(plot.png.string() + ".partial"));
  }
  BOOST_TEST((names == std::vector<std::string>{"surface-s.png", "slice-v-s.png", "parity-all-s.png",
                                                 "residuals-all-s.png", "parity-test-s.png", "residuals-test-s.png",
                                                 "parity-far-s.png", "residuals-far-s.png"}));
  // The slice's labels use the pipeline's names; the surface has the truth and both models.
  const auto slice = read_bytes(out.path() / "plots/slice-v-s.gp");
  BOOST_TEST(slice.find("set xlabel 'v [m/s]'") != std::string::npos);  // configs/cannon.yaml's units
  BOOST_TEST(slice.find("set ylabel 's [m]'") != std::string::npos);
  BOOST_TEST(slice.find("title 'truth'") != std::string::npos);
  BOOST_TEST(slice.find("title 'knn'") != std::string::npos);
  const auto surface = read_bytes(out.path() / "plots/surface-s.gp");
  BOOST_TEST(surface.find("set title 'truth'") != std::string::npos);
  BOOST_TEST(surface.find("set title 'basis'") != std::string::npos);
  BOOST_TEST(surface.find("set cbrange [") != std::string::npos);
  // A script re-renders on its own, as its header says.
  const auto again = test::run_command("cd " + test::shell_quote(out.path() / "plots") +
                                       " && rm surface-s.png && gnuplot surface-s.gp && test -s surface-s.png");
  BOOST_TEST(again.exit_code == 0, again.output);
}

BOOST_AUTO_TEST_CASE(without_gnuplot_the_scripts_are_kept_and_the_report_says_why) {
  const Cannon cannon;
  const auto run = quick_run(cannon.pipeline, cannon.catalog);
  test::TemporaryDirectory out;
  const Environment missing("GNUPLOT", "/nonexistent/gnuplot");
  const auto outcome = write_plots(cannon.pipeline, run, out.path() / "plots", kNotCancelled);
  BOOST_REQUIRE_EQUAL(outcome.warnings.size(), 1U);
  BOOST_TEST(outcome.warnings[0].find("cannot run '/nonexistent/gnuplot'") == 0U, outcome.warnings[0]);
  BOOST_TEST(outcome.warnings[0].find("gnuplot-nox") != std::string::npos);
  for (const auto& plot : outcome.plots) {
    BOOST_TEST(!plot.rendered);
    BOOST_TEST(std::filesystem::exists(plot.script));
    BOOST_TEST(!std::filesystem::exists(plot.png));
  }
  const auto pages = report_pages(cannon.pipeline, run, "complete", outcome, out.path());
  BOOST_TEST(pages.html.find("<img") == std::string::npos);
  BOOST_TEST(pages.html.find("Plots left out") != std::string::npos);
  BOOST_TEST(pages.markdown.find("cannot run '/nonexistent/gnuplot'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_failing_gnuplot_script_is_reported_and_the_others_still_drawn) {
  const Cannon cannon;
  const auto run = quick_run(cannon.pipeline, cannon.catalog);
  test::TemporaryDirectory out;
  // A "gnuplot" that fails on the surface script only.
  const auto fake = out.path() / "gnuplot";
  std::ofstream(fake) << "#!/bin/sh\ncase \"$3\" in *surface*) echo 'line 7: broken' >&2; exit 1;; esac\n"
                         "exec gnuplot \"$@\"\n";
  std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
  const Environment failing("GNUPLOT", fake.string());
  const auto outcome = write_plots(cannon.pipeline, run, out.path() / "plots", kNotCancelled);
  BOOST_REQUIRE_EQUAL(outcome.warnings.size(), 1U);
  BOOST_TEST(outcome.warnings[0].find("surface-s.png: gnuplot failed (exit status 1): line 7: broken") == 0U, outcome.warnings[0]);
  std::size_t rendered = 0;
  for (const auto& plot : outcome.plots) {
    rendered += plot.rendered ? 1 : 0;
  }
  BOOST_TEST(rendered == outcome.plots.size() - 1);
  BOOST_TEST(!std::filesystem::exists(out.path() / "plots/surface-s.png"));
  BOOST_TEST(!std::filesystem::exists(out.path() / "plots/surface-s.png.partial"));
}

// The plots are dealt out among one gnuplot process per thread (with `reset session`
// between scripts); each PNG must be the bytes its script draws alone, as its header
// says it re-renders. With a failing script in one process, that process's plots are
// drawn again one by one: the failing one reports its own error, the others are drawn.
BOOST_AUTO_TEST_CASE(one_gnuplot_per_thread_draws_what_each_script_draws_alone) {
  const Cannon cannon;
  const auto run = quick_run(cannon.pipeline, cannon.catalog);
  test::TemporaryDirectory out;
  const auto calls = out.path() / "calls";
  const auto fake = out.path() / "gnuplot";
  std::ofstream(fake) << "#!/bin/sh\necho x >> " << test::shell_quote(calls) << "\n"
                      << "case \"$*\" in *${FAIL:-none}*) echo 'line 3: broken' >&2; exit 1;; esac\n"
                      << "exec gnuplot \"$@\"\n";
  std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
  const Environment wrapped("GNUPLOT", fake.string());
  const auto processes = [&] {
    std::ifstream in(calls);
    std::size_t lines = 0;
    for (std::string line; std::getline(in, line);) {
      ++lines;
    }
    std::filesystem::remove(calls);
    return lines;
  };
  const auto outcome = write_plots(cannon.pipeline, run, out.path() / "plots", kNotCancelled);
  BOOST_TEST(outcome.warnings.empty());
  const auto threads = static_cast<std::size_t>(at::get_num_threads());
  BOOST_TEST(processes() == std::min(threads, outcome.plots.size()));
  for (const auto& plot : outcome.plots) {
    BOOST_REQUIRE(plot.rendered);
    const auto alone = out.path() / "alone.png";
    const auto drawn = test::run_command("gnuplot -e " + test::shell_quote("output='" + alone.string() + "'") + " " +
                                         test::shell_quote(plot.script));
    BOOST_REQUIRE_MESSAGE(drawn.exit_code == 0, drawn.output);
    BOOST_TEST(read_bytes(alone) == read_bytes(plot.png), plot.png);
  }
  // The slice fails: its process's plots are drawn again alone.
  const Environment failing("FAIL", "slice-v-s.gp");
  const auto again = write_plots(cannon.pipeline, run, out.path() / "again", kNotCancelled);
  BOOST_REQUIRE_EQUAL(again.warnings.size(), 1U);
  BOOST_TEST(again.warnings[0].find("slice-v-s.png: gnuplot failed (exit status 1): line 3: broken") == 0U,
             again.warnings[0]);
  std::size_t rendered = 0;
  std::size_t with_slice = 0;  // the plots dealt to the slice's process
  for (std::size_t i = 0; i < again.plots.size(); ++i) {
    rendered += again.plots[i].rendered ? 1 : 0;
    with_slice += i % std::min(threads, again.plots.size()) == 1 % std::min(threads, again.plots.size()) ? 1 : 0;
  }
  BOOST_TEST(rendered == again.plots.size() - 1);
  BOOST_TEST(processes() == std::min(threads, again.plots.size()) + (with_slice > 1 ? with_slice : 0));
}

BOOST_AUTO_TEST_CASE(notes_give_the_gap_to_the_optimum_and_the_probe_explanations) {
  const Cannon cannon;
  ModelResult model;
  model.fit_values = {{"final_mse", 0.5}, {"optimum_mse", 0.125}, {"optimum_seconds", 0.002}};
  model.probes = {{{4.0, 1.2}, {1.0}, "nearest stored sample: v=3.9268"}, {{20.0, 0.85}, {8.0}, ""}};
  const auto notes = model_notes(cannon.pipeline, model);
  BOOST_REQUIRE_EQUAL(notes.size(), 2U);
  BOOST_TEST(notes[0] == "gradient solver: training MSE 0.5; the least-squares optimum of the same objective is "
                         "0.125 (gap 0.375, 4× the optimum), which least squares finds in 2 ms");
  BOOST_TEST(notes[1] == "at (v=4, theta=1.2): nearest stored sample: v=3.9268");
  BOOST_TEST(model_notes(cannon.pipeline, ModelResult{}).empty());
}

// Issue 14 item 15: during a run metrics.json and metrics.csv are rewritten after every
// model; RunningRecords renders only the models whose status changed. Its text must be
// the whole-document rendering's, byte for byte, at every step, and that text must be
// nlohmann's own layout of the document (dump(parse(text)) gives it back).
BOOST_AUTO_TEST_CASE(running_records_match_the_whole_document_at_every_step) {
  test::TemporaryDirectory work;
  std::ofstream(work.path() / "p.yaml") << "extends: " << (test::source_dir() / "configs/cannon.yaml").string()
                                        << "\nmodels:\n  mlp: null\n  basis_adam: null\n"
                                           "  near: {plugin: knn, k: {sweep: [1, 2, 3]}}\n";
  const PluginCatalog catalog{{test::plugin_dir()}};
  const auto pipeline = load_pipeline(work.path() / "p.yaml", catalog);
  RunningRecords records;
  int steps = 0;
  const auto check = [&](const RunResult& progress) {
    ++steps;
    const auto json_text = records.snapshot(pipeline, progress).json();
    BOOST_TEST(json_text == metrics_json(pipeline, progress, "running"), "step " << steps);
    BOOST_TEST(records.snapshot(pipeline, progress).csv() == metrics_csv(progress), "step " << steps);
    BOOST_TEST(nlohmann::json::parse(json_text).dump(2) + "\n" == json_text, "step " << steps);
  };
  RunHooks hooks;
  hooks.progress = check;
  const auto run = run_pipeline(pipeline, catalog, {}, hooks);
  BOOST_TEST(steps == static_cast<int>(pipeline.models.size()) + 1);  // once drawn, then after each model
  BOOST_TEST(nlohmann::json::parse(metrics_json(pipeline, run, "complete"))["models"].size() == pipeline.models.size());

  // Text a plugin may give: quotes, line breaks, Latin-1 bytes (replaced by U+FFFD), and
  // a model with no metrics; the entries still line up with the whole document's.
  auto edited = run;
  edited.models[0].description = "w = \"1\"\nsecond line \xE9";
  edited.models[0].status = ModelStatus::failed;
  edited.models[0].error = "a, \"quoted\"\nerror";
  edited.models[0].metrics.clear();
  BOOST_TEST(records.snapshot(pipeline, edited).json() == metrics_json(pipeline, edited, "running"));
  BOOST_TEST(records.snapshot(pipeline, edited).csv() == metrics_csv(edited));
  const auto parsed = nlohmann::json::parse(records.snapshot(pipeline, edited).json());
  BOOST_TEST(parsed["models"][0]["describe"] == "w = \"1\"\nsecond line \xEF\xBF\xBD");
  // No models at all: an empty array, as nlohmann writes it.
  RunResult empty;
  RunningRecords fresh;
  BOOST_TEST(fresh.snapshot(pipeline, empty).json() == metrics_json(pipeline, empty, "running"));
  BOOST_TEST(nlohmann::json::parse(fresh.snapshot(pipeline, empty).json())["models"] == nlohmann::json::array());
}

// The records of a run in progress, written in the background: the first at once, a
// later one only once the interval since the last write has passed (a newer one
// replacing it while it waits), and one still waiting at stop() not at all.
BOOST_AUTO_TEST_CASE(throttled_records_write_the_newest_at_most_once_per_interval) {
  test::TemporaryDirectory work;
  RunDirectoryWriter writer(RunDirectory(work.path() / "run"));
  BOOST_REQUIRE(!writer.open().has_value());
  const auto file = work.path() / "run/metrics.json";
  const auto read = [&] {
    std::ifstream in(file);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const auto snapshot = [](const std::string& name) {
    RecordsSnapshot records;
    records.document = "{\"models\": [], \"name\": \"" + name + "\"}\n";
    return records;
  };
  // Until `text` is the file's, for at most `seconds`.
  const auto becomes = [&](const std::string& text, double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      if (read() == text) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  ThrottledRecords records(writer, std::chrono::milliseconds(1500), 0);  // every snapshot "large"
  const auto start = std::chrono::steady_clock::now();
  records.offer(snapshot("first"));
  BOOST_TEST(becomes(snapshot("first").json(), 1.0));
  records.offer(snapshot("second"));
  records.offer(snapshot("third"));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  if (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1400)) {  // a slow machine: skip
    BOOST_TEST(read() == snapshot("first").json(), "written again within the interval");
  }
  BOOST_TEST(becomes(snapshot("third").json(), 5.0), "the newest, once the interval is over: " << read());
  records.offer(snapshot("fourth"));  // within the interval of the last write
  records.stop();
  BOOST_TEST(read() == snapshot("third").json(), "a snapshot waiting at stop() is dropped");
  records.stop();  // again: nothing
  // Small records are written before offer() returns, and a large one left waiting
  // never lands after them.
  ThrottledRecords small(writer, std::chrono::milliseconds(1500), 1000);
  small.offer(snapshot("fifth"));
  BOOST_TEST(read() == snapshot("fifth").json());
  auto large = snapshot("sixth");
  large.document += std::string(1000, ' ');
  small.offer(large);
  small.offer(snapshot("seventh"));
  BOOST_TEST(read() == snapshot("seventh").json());
  small.stop();
  BOOST_TEST(read() == snapshot("seventh").json());
}

BOOST_AUTO_TEST_SUITE_END()
