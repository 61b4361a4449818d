// Helpers shared by the test suites: paths of built artefacts, running commands and
// Python references, running `ballista` and reading its metrics.json, loading the
// bundled plugins, and a Context for fitting models.
#pragma once

#include "plugin_library.hpp"

#include <ballista/collective.hpp>
#include <ballista/context.hpp>
#include <ballista/model.hpp>

#include <nlohmann/json_fwd.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ballista::test {

std::filesystem::path source_dir();
std::filesystem::path plugin_dir();          // build/lib/ballista/plugins
std::filesystem::path fixture_plugin_dir();  // test-only plugins
std::filesystem::path conformance_plugin_dir();  // a plugin that check-plugin must fail
// Plugins whose static initialiser segfaults, aborts, hangs or calls _Exit(0):
// segfault_on_load.so, abort_on_load.so, hang_on_load.so, exit_on_load.so.
std::filesystem::path hostile_plugin_dir();
// The fixture plugin whose manifest forges a name with a newline and escape sequences.
std::filesystem::path forged_plugin_dir();
// The fixtures that log through their Context: model "chatty", source "chatty_source".
std::filesystem::path chatty_plugin_dir();
// The fixture model "named_inputs": reads inputs b, a and predicts c = a + 2b, d = a - b by name.
std::filesystem::path named_plugin_dir();
std::filesystem::path ballista_binary();
std::filesystem::path build_dir();
// "cmake" as configured, with the generator of this build: "/usr/bin/cmake -G Ninja".
std::string cmake_command();
// Quotes `text` for /bin/sh.
std::string shell_quote(const std::string& text);

// A fresh, empty directory under the system temp dir, removed when the object dies.
class TemporaryDirectory {
 public:
  TemporaryDirectory();
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;
  ~TemporaryDirectory();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs `command` through /bin/sh.
CommandResult run_command(const std::string& command);

// The built `ballista` binary (its path unquoted) followed by `arguments`.
std::string ballista_command(const std::string& arguments);
// Writes `yaml` to DIR/p.yaml and runs it with --out DIR/run.
CommandResult run_pipeline_text(const std::filesystem::path& directory, const std::string& yaml);
// The JSON document in `file`; fails the test if the file cannot be read.
nlohmann::json read_json(const std::filesystem::path& file);
// The entry of model `name` in a metrics.json document; fails the test if there is none.
const nlohmann::json& model_entry(const nlohmann::json& metrics, const std::string& name);

// Runs tests/reference/<script> with Debian's python3 and `arguments`; fails the test
// if it exits non-zero. Returns its stdout.
std::string run_python_reference(const std::string& script, const std::string& arguments);

// Parses whitespace/comma-separated numbers, one row per line.
std::vector<std::vector<double>> parse_rows(const std::string& text);
// Writes a tensor [n, d] as CSV without header, 17 significant digits.
void write_csv(const std::filesystem::path& file, const torch::Tensor& table);

// Loads a bundled plugin by name from plugin_dir().
host::LoadedPlugin load_bundled_plugin(const std::string& name);

// Builds a model of `plugin` with its defaults overridden by `overrides`.
std::unique_ptr<Model> make_model(const host::LoadedPlugin& plugin,
                                  const std::map<std::string, ParameterValue>& overrides);

// Fits `model`, saves it through Model::save into a file, loads the file into a fresh
// instance of the same plugin and parameters, and checks that predictions at `queries`
// are bit-identical and describe() and parameter_count() unchanged.
void check_save_load_round_trip(const host::LoadedPlugin& plugin, const std::map<std::string, ParameterValue>& overrides,
                                const Dataset& data, const torch::Tensor& queries);

// A Context that records losses and never cancels.
// `collective`, when given, is what collective() answers (it must outlive the context).
class RecordingContext final : public Context {
 public:
  explicit RecordingContext(std::uint64_t seed = 0, Collective* collective = nullptr)
      : seed_(seed), collective_(collective) {}
  Collective& collective() override { return collective_ != nullptr ? *collective_ : single_process(); }
  void report_progress(std::int64_t step, std::int64_t total, double loss) override;
  bool cancelled() const override { return false; }
  torch::Device device() const override { return torch::kCPU; }
  std::uint64_t seed() const override { return seed_; }
  void log(LogLevel /*level*/, std::string_view /*message*/) override {}
  void report_value(std::string_view name, double value) override { values_[std::string(name)] = value; }
  struct Table {
    std::vector<std::string> columns;
    std::vector<std::vector<std::string>> rows;
  };
  void report_table(std::string_view name, const std::vector<std::string>& columns,
                    const std::vector<std::vector<std::string>>& rows) override {
    tables_[std::string(name)] = {columns, rows};
  }
  const std::vector<double>& losses() const { return losses_; }
  const std::map<std::string, double>& values() const { return values_; }
  const std::map<std::string, Table>& tables() const { return tables_; }
  std::int64_t last_total() const { return last_total_; }

 private:
  std::map<std::string, Table> tables_;
  std::uint64_t seed_;
  Collective* collective_;
  std::vector<double> losses_;
  std::int64_t last_total_ = 0;
  std::map<std::string, double> values_;
};

// `size` ranks as threads of this process, for data-parallel models without processes:
// run(body) calls body(rank, collective) on `size` threads at once, each with that rank's
// Collective, whose sum() and gather() meet the other threads'. sum() adds in rank order,
// so every rank gets the same bits. The first exception thrown by a body is rethrown
// once every thread has ended (a body that throws while others wait in a collective
// would leave them waiting: bodies must fail alike, as ranks of a real run do not).
class ThreadRanks {
 public:
  explicit ThreadRanks(int size);
  ~ThreadRanks();
  ThreadRanks(const ThreadRanks&) = delete;
  ThreadRanks& operator=(const ThreadRanks&) = delete;

  void run(const std::function<void(int rank, Collective& collective)>& body);
  // Collective calls made so far by rank 0.
  int calls() const;

 private:
  struct Shared;
  std::unique_ptr<Shared> shared_;
};

// The article's data set (seed 0, 1000 shots) drawn by NumPy itself.
Dataset article_dataset_from_numpy();

}  // namespace ballista::test
