// Test helpers (see test_support.hpp).
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <array>
#include <barrier>
#include <cstdio>
#include <exception>
#include <fstream>
#include <random>
#include <sstream>
#include <sys/wait.h>
#include <thread>

namespace ballista::test {

std::filesystem::path source_dir() { return BALLISTA_TEST_SOURCE_DIR; }
std::filesystem::path plugin_dir() { return BALLISTA_TEST_PLUGIN_DIR; }
std::filesystem::path fixture_plugin_dir() { return BALLISTA_TEST_FIXTURE_PLUGIN_DIR; }
std::filesystem::path conformance_plugin_dir() { return BALLISTA_TEST_CONFORMANCE_PLUGIN_DIR; }
std::filesystem::path hostile_plugin_dir() { return BALLISTA_TEST_HOSTILE_PLUGIN_DIR; }
std::filesystem::path forged_plugin_dir() { return BALLISTA_TEST_FORGED_PLUGIN_DIR; }
std::filesystem::path chatty_plugin_dir() { return BALLISTA_TEST_CHATTY_PLUGIN_DIR; }
std::filesystem::path named_plugin_dir() { return BALLISTA_TEST_NAMED_PLUGIN_DIR; }
std::filesystem::path ballista_binary() { return BALLISTA_TEST_BINARY; }
std::filesystem::path build_dir() { return BALLISTA_TEST_BUILD_DIR; }
std::string cmake_command() { return shell_quote(BALLISTA_TEST_CMAKE); }

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) {
    quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return quoted + "'";
}

TemporaryDirectory::TemporaryDirectory() {
  std::random_device entropy;
  for (;;) {
    path_ = std::filesystem::temp_directory_path() / ("ballista-test-" + std::to_string(entropy()));
    if (std::filesystem::create_directory(path_)) {
      break;
    }
  }
}

TemporaryDirectory::~TemporaryDirectory() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) {
    return result;
  }
  std::array<char, 4096> buffer{};
  std::size_t read = 0;
  while ((read = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    result.output.append(buffer.data(), read);
  }
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string ballista_command(const std::string& arguments) { return ballista_binary().string() + " " + arguments; }

CommandResult run_pipeline_text(const std::filesystem::path& directory, const std::string& yaml) {
  std::ofstream(directory / "p.yaml") << yaml;
  return run_command(ballista_command("run " + (directory / "p.yaml").string() + " --out " +
                                      (directory / "run").string()));
}

nlohmann::json read_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  BOOST_REQUIRE_MESSAGE(in.good(), "missing " << file);
  return nlohmann::json::parse(in);
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

std::string run_python_reference(const std::string& script, const std::string& arguments) {
  const auto command = std::string(BALLISTA_TEST_PYTHON) + " " +
                       (source_dir() / "tests/reference" / script).string() + " " + arguments + " 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  BOOST_REQUIRE_MESSAGE(pipe != nullptr, "cannot start " << command);
  std::string output;
  std::array<char, 4096> buffer{};
  std::size_t read = 0;
  while ((read = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    output.append(buffer.data(), read);
  }
  const int status = pclose(pipe);
  BOOST_REQUIRE_MESSAGE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                        "reference failed (is python3-numpy installed?): " << command);
  return output;
}

std::vector<std::vector<double>> parse_rows(const std::string& text) {
  std::vector<std::vector<double>> rows;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    for (auto& c : line) {
      if (c == ',') {
        c = ' ';
      }
    }
    std::istringstream cells(line);
    std::vector<double> row;
    double value = 0.0;
    while (cells >> value) {
      row.push_back(value);
    }
    if (!row.empty()) {
      rows.push_back(row);
    }
  }
  return rows;
}

void write_csv(const std::filesystem::path& file, const torch::Tensor& table) {
  const auto values = table.to(torch::kFloat64).contiguous();
  const auto access = values.accessor<double, 2>();
  std::ofstream out(file);
  out.precision(17);
  for (std::int64_t i = 0; i < values.size(0); ++i) {
    for (std::int64_t j = 0; j < values.size(1); ++j) {
      out << (j == 0 ? "" : ",") << access[i][j];
    }
    out << '\n';
  }
}

host::LoadedPlugin load_bundled_plugin(const std::string& name) {
  return host::load_plugin_library(plugin_dir() / (name + ".so"));
}

std::unique_ptr<Model> make_model(const host::LoadedPlugin& plugin,
                                  const std::map<std::string, ParameterValue>& overrides) {
  std::map<std::string, ParameterValue> values;
  for (const auto& spec : plugin.definition.parameters) {
    values[spec.name()] = spec.default_value();
  }
  for (const auto& [name, value] : overrides) {
    values[name] = value;
  }
  return plugin.definition.create(Parameters(values));
}

void check_save_load_round_trip(const host::LoadedPlugin& plugin, const std::map<std::string, ParameterValue>& overrides,
                                const Dataset& data, const torch::Tensor& queries) {
  auto trained = make_model(plugin, overrides);
  RecordingContext context(3);
  BOOST_CHECK_THROW(
      {
        torch::serialize::OutputArchive early;
        trained->save(early);
      },
      std::logic_error);
  trained->fit(data, context);
  TemporaryDirectory directory;
  const auto file = directory.path() / "model.pt";
  {
    torch::serialize::OutputArchive archive;
    trained->save(archive);
    archive.save_to(file.string());
  }
  auto restored = make_model(plugin, overrides);
  torch::serialize::InputArchive archive;
  archive.load_from(file.string());
  restored->load(archive);
  BOOST_TEST(torch::equal(restored->predict(queries), trained->predict(queries)), plugin.name << " predictions");
  BOOST_TEST(restored->describe() == trained->describe());
  BOOST_TEST(restored->parameter_count() == trained->parameter_count());
}

void RecordingContext::report_progress(std::int64_t /*step*/, std::int64_t total, double loss) {
  losses_.push_back(loss);
  last_total_ = total;
}

namespace {

class ThreadCollective final : public Collective {
 public:
  ThreadCollective(int rank, int size, std::barrier<>& meeting, std::vector<std::vector<torch::Tensor>>& deposits,
                   int& calls)
      : rank_(rank), size_(size), meeting_(meeting), deposits_(deposits), calls_(calls) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void sum(std::vector<torch::Tensor>& tensors) override {
    const auto all = exchange(tensors);
    for (std::size_t t = 0; t < tensors.size(); ++t) {
      auto total = all[0][t].clone();
      for (std::size_t r = 1; r < all.size(); ++r) {
        total += all[r][t];
      }
      tensors[t].copy_(total);
    }
  }
  std::vector<torch::Tensor> gather(const torch::Tensor& tensor) override {
    std::vector<torch::Tensor> result;
    for (const auto& each : exchange({tensor})) {
      result.push_back(each[0]);
    }
    return result;
  }

 private:
  // Every rank's copies of `tensors`, in rank order; the deposits are free again once
  // every rank has read them.
  std::vector<std::vector<torch::Tensor>> exchange(const std::vector<torch::Tensor>& tensors) {
    std::vector<torch::Tensor> copies;
    for (const auto& tensor : tensors) {
      copies.push_back(tensor.detach().clone().contiguous());
    }
    deposits_[static_cast<std::size_t>(rank_)] = std::move(copies);
    meeting_.arrive_and_wait();
    auto all = deposits_;
    if (rank_ == 0) {
      ++calls_;
    }
    meeting_.arrive_and_wait();
    return all;
  }

  int rank_;
  int size_;
  std::barrier<>& meeting_;
  std::vector<std::vector<torch::Tensor>>& deposits_;
  int& calls_;
};

}  // namespace

// The ranks' collectives live as long as the ThreadRanks, so models fitted in run() may
// keep theirs.
struct ThreadRanks::Shared {
  explicit Shared(int ranks) : size(ranks), meeting(ranks), deposits(static_cast<std::size_t>(ranks)) {
    for (int rank = 0; rank < ranks; ++rank) {
      collectives.push_back(std::make_unique<ThreadCollective>(rank, ranks, meeting, deposits, calls));
    }
  }
  int size;
  std::barrier<> meeting;
  std::vector<std::vector<torch::Tensor>> deposits;  // each rank's tensors of the current call
  int calls = 0;
  std::vector<std::unique_ptr<ThreadCollective>> collectives;
};

ThreadRanks::ThreadRanks(int size) : shared_(std::make_unique<Shared>(size)) {}
ThreadRanks::~ThreadRanks() = default;

void ThreadRanks::run(const std::function<void(int rank, Collective& collective)>& body) {
  std::vector<std::exception_ptr> failures(static_cast<std::size_t>(shared_->size));
  std::vector<std::thread> threads;
  for (int rank = 0; rank < shared_->size; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        body(rank, *shared_->collectives[static_cast<std::size_t>(rank)]);
      } catch (...) {
        failures[static_cast<std::size_t>(rank)] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  for (const auto& failure : failures) {
    if (failure) {
      std::rethrow_exception(failure);
    }
  }
}

int ThreadRanks::calls() const { return shared_->calls; }

Dataset article_dataset_from_numpy() {
  const auto rows = parse_rows(run_python_reference("numpy_reference.py", "cannon 0 1000"));
  BOOST_REQUIRE_EQUAL(rows.size(), 1000U);
  auto inputs = torch::empty({1000, 2}, torch::kFloat64);
  auto targets = torch::empty({1000, 1}, torch::kFloat64);
  for (std::int64_t i = 0; i < 1000; ++i) {
    const auto& row = rows[static_cast<std::size_t>(i)];
    inputs[i][0] = row[0];
    inputs[i][1] = row[1];
    targets[i][0] = row[2];
  }
  return {inputs, targets, {"v", "theta"}, {"s"}, {{"g", 9.81}}};
}

}  // namespace ballista::test
