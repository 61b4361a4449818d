// A run directory: the files a run leaves, each named here once, and writing them.
//
//   pipeline.resolved.yaml  the pipeline with every default filled in
//   environment.json        versions, threads, BLAS, processor
//   log.txt                 what the terminal showed, and the plugins' debug messages
//   metrics.json, .csv      every figure (report/run_report.hpp writes their text)
//   data/SET.csv            the data sets as drawn
//   models/MODEL.pt         the trained models (model_file.hpp)
//   loss/MODEL.csv          the loss per step of the iterative models
//   plots/                  the plots (report/run_plots.hpp)
//   report.md, report.html  the report (report/report_page.hpp)
//   .isolate/               the --isolate children's results while they run
//   shard/MODEL.result      a shard's (run --shard I/N) model results, tensors included,
//                           from which `ballista merge` rebuilds the whole run
//
// By default a run goes to runs/PIPELINE/YYYYmmdd-HHMMSS-ID, and runs/PIPELINE/latest
// and runs/latest point at the newest run. What goes into the files is the caller's:
// this knows names, locking and atomic writes, not metrics or reports.
#pragma once

#include "run_results.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace ballista::host {

class RunDirectory {
 public:
  explicit RunDirectory(std::filesystem::path root) : root_(std::move(root)) {}

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path resolved_pipeline() const { return root_ / "pipeline.resolved.yaml"; }
  std::filesystem::path environment() const { return root_ / "environment.json"; }
  std::filesystem::path log() const { return root_ / "log.txt"; }
  std::filesystem::path metrics_json() const { return root_ / "metrics.json"; }
  std::filesystem::path metrics_csv() const { return root_ / "metrics.csv"; }
  std::filesystem::path data() const { return root_ / "data"; }
  std::filesystem::path models() const { return root_ / "models"; }
  std::filesystem::path loss() const { return root_ / "loss"; }
  std::filesystem::path plots() const { return root_ / "plots"; }
  std::filesystem::path report_markdown() const { return root_ / "report.md"; }
  std::filesystem::path report_html() const { return root_ / "report.html"; }
  std::filesystem::path isolate_scratch() const { return root_ / ".isolate"; }
  std::filesystem::path shard_results() const { return root_ / "shard"; }

  // runs/PIPELINE/YYYYmmdd-HHMMSS-ID: ID (6 hex digits of a hash of the resolved
  // pipeline, the time and the process) tells apart runs started in the same second;
  // "-2", "-3"... is added while the name is taken.
  static RunDirectory fresh(const std::string& pipeline_name, std::string_view resolved_pipeline);
  // runs/PIPELINE/latest.
  static std::filesystem::path latest(const std::string& pipeline_name);

 private:
  std::filesystem::path root_;
};

// Writes one run's directory, which it holds locked (flock(2), released by the kernel
// if the process dies) from open() until destroyed: a second run into the same
// directory is refused, not interleaved.
class RunDirectoryWriter {
 public:
  explicit RunDirectoryWriter(RunDirectory directory) : directory_(std::move(directory)) {}
  RunDirectoryWriter(const RunDirectoryWriter&) = delete;
  RunDirectoryWriter& operator=(const RunDirectoryWriter&) = delete;
  ~RunDirectoryWriter();

  const RunDirectory& directory() const { return directory_; }

  // Creates the directory, locks it and checks that it is empty (an earlier run's
  // models, data or plots must not pass for this one's). Nothing, or why not: the
  // message for "ballista: MESSAGE".
  std::optional<std::string> open();
  // The first files: the resolved pipeline, the environment and an empty log.
  void start(const std::string& resolved_pipeline, const std::string& environment_json);
  // One line of log.txt, appended and flushed (a run that dies keeps its log so far;
  // a plugin that logs every step must not make writing the log quadratic).
  void log(const std::string& line);
  void write_metrics(const std::string& json_text, const std::string& csv_text);
  void write_sets(const std::map<std::string, Dataset>& sets);
  void write_loss_curves(const RunResult& run);
  void write_report(const std::string& markdown, const std::string& html);
  // Points runs/PIPELINE/latest and runs/latest at this directory (for a directory
  // made by RunDirectory::fresh); a link that cannot be made is a note on stderr.
  void point_latest();
  // Removes what start() wrote, and the directory itself if REMOVE_DIRECTORY: for a run
  // refused before anything was computed.
  void discard(bool remove_directory);

 private:
  RunDirectory directory_;
  int lock_ = -1;
  std::ofstream log_;
};

}  // namespace ballista::host
