// Run directories (see run_directory.hpp).
#include "run_directory.hpp"

#include "atomic_file.hpp"
#include "csv_table.hpp"
#include "fnv1a.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace ballista::host {

namespace {

const std::filesystem::path kRuns = "runs";

// `link` → `target` (a relative path), replaced atomically: a symlink made aside, then
// renamed over the old one.
void point_link(const std::filesystem::path& link, const std::filesystem::path& target) {
  const auto aside = link.parent_path() / (link.filename().string() + ".tmp-" + std::to_string(getpid()));
  std::error_code error;
  std::filesystem::remove(aside, error);
  std::filesystem::create_directory_symlink(target, aside, error);
  if (!error) {
    std::filesystem::rename(aside, link, error);
  }
  if (error) {
    std::cerr << "ballista: note: could not point " << link.string() << " at " << target.string() << ": "
              << error.message() << '\n';
  }
}

// The name of some entry of `directory`, or nothing when it is empty.
std::optional<std::string> first_entry(const std::filesystem::path& directory) {
  std::error_code error;
  const std::filesystem::directory_iterator entries(directory, error);
  if (error || entries == std::filesystem::directory_iterator()) {
    return std::nullopt;
  }
  return entries->path().filename().string();
}

}  // namespace

RunDirectory RunDirectory::fresh(const std::string& pipeline_name, std::string_view resolved_pipeline) {
  const auto now = std::chrono::system_clock::now();
  const auto seconds = std::chrono::system_clock::to_time_t(now);
  std::tm local{};
  localtime_r(&seconds, &local);
  std::ostringstream stamp;
  stamp << std::put_time(&local, "%Y%m%d-%H%M%S");
  const auto hash = fnv1a(std::to_string(now.time_since_epoch().count()) + "/" + std::to_string(getpid()),
                          fnv1a(resolved_pipeline));
  std::ostringstream id;
  id << std::hex << std::setw(6) << std::setfill('0') << (hash & 0xffffffU);
  const auto name = stamp.str() + "-" + id.str();
  auto directory = kRuns / pipeline_name / name;
  for (int suffix = 2; std::filesystem::exists(directory); ++suffix) {
    directory = kRuns / pipeline_name / (name + "-" + std::to_string(suffix));
  }
  return RunDirectory(directory);
}

std::filesystem::path RunDirectory::latest(const std::string& pipeline_name) {
  return kRuns / pipeline_name / "latest";
}

RunDirectoryWriter::~RunDirectoryWriter() {
  if (lock_ >= 0) {
    ::close(lock_);
  }
}

std::optional<std::string> RunDirectoryWriter::open() {
  const auto& root = directory_.root();
  std::error_code error;
  std::filesystem::create_directories(root, error);
  if (error) {
    return "cannot create run directory " + root.string() + ": " + error.message();
  }
  lock_ = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lock_ < 0 || ::flock(lock_, LOCK_EX | LOCK_NB) != 0) {
    return root.string() + ": another ballista run is writing this directory; give each run its own --out";
  }
  if (const auto first = first_entry(root)) {
    return "--out " + root.string() + " is not empty (it holds " + *first +
           "); give a new or empty directory, so that no earlier run's files mix with this one's";
  }
  return std::nullopt;
}

void RunDirectoryWriter::start(const std::string& resolved_pipeline, const std::string& environment_json) {
  write_file_atomically(directory_.resolved_pipeline(), resolved_pipeline);
  write_file_atomically(directory_.environment(), environment_json);
  log_.open(directory_.log(), std::ios::app);
}

void RunDirectoryWriter::log(const std::string& line) { log_ << line << '\n' << std::flush; }

void RunDirectoryWriter::write_metrics(const std::string& json_text, const std::string& csv_text) {
  write_file_atomically(directory_.metrics_json(), json_text);
  write_file_atomically(directory_.metrics_csv(), csv_text);
}

void RunDirectoryWriter::write_sets(const std::map<std::string, Dataset>& sets) {
  std::filesystem::create_directories(directory_.data());
  for (const auto& [name, set] : sets) {
    auto header = set.input_names;
    header.insert(header.end(), set.target_names.begin(), set.target_names.end());
    write_file_atomically(directory_.data() / (name + ".csv"), format_csv(header, torch::cat({set.inputs, set.targets}, 1)));
  }
}

void RunDirectoryWriter::write_loss_curves(const RunResult& run) {
  for (const auto& model : run.models) {
    if (model.loss_curve.empty()) {
      continue;
    }
    std::ostringstream csv;
    csv << std::setprecision(17) << "step,loss\n";
    for (std::size_t i = 0; i < model.loss_curve.size(); ++i) {
      csv << i + 1 << ',' << model.loss_curve[i] << '\n';
    }
    std::filesystem::create_directories(directory_.loss());
    write_file_atomically(directory_.loss() / (model.name + ".csv"), csv.str());
  }
}

void RunDirectoryWriter::write_report(const std::string& markdown, const std::string& html) {
  write_file_atomically(directory_.report_markdown(), markdown);
  write_file_atomically(directory_.report_html(), html);
}

void RunDirectoryWriter::point_latest() {
  const auto& root = directory_.root();
  point_link(root.parent_path() / "latest", root.filename());
  point_link(root.parent_path().parent_path() / "latest", root.lexically_relative(kRuns));
}

void RunDirectoryWriter::discard(bool remove_directory) {
  log_.close();
  std::error_code ignored;
  for (const auto& written : {directory_.resolved_pipeline(), directory_.environment(), directory_.log()}) {
    std::filesystem::remove(written, ignored);
  }
  if (remove_directory) {
    std::filesystem::remove(directory_.root(), ignored);
  }
}

}  // namespace ballista::host
