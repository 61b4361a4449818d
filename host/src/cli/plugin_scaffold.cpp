// The project `ballista new-plugin` writes (see plugin_scaffold.hpp). The templates are
// plain text with @NAME@ where the plugin's name goes; the sdk_package test builds the
// result against an installed SDK and runs its test, so they stay buildable.
#include "plugin_scaffold.hpp"

#include "atomic_file.hpp"

#include <ballista/version.hpp>

#include <algorithm>
#include <cctype>
#include <iostream>
#include <stdexcept>

namespace ballista::host {

namespace {

constexpr const char* kCMakeLists = R"cmake(# The @NAME@ model plugin for Ballista, built against an installed Ballista SDK:
#   cmake -S . -B build -DCMAKE_PREFIX_PATH=P    (P: where `cmake --install` put Ballista)
#   cmake --build build && ctest --test-dir build --output-on-failure
# gives build/@NAME@.so; `ballista --plugin-path build plugins` lists it.
cmake_minimum_required(VERSION 3.22)
project(@NAME@ LANGUAGES CXX)

# LibTorch code is several times slower unoptimised: Release unless told otherwise.
if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()

find_package(Ballista @VERSION@ REQUIRED)
ballista_add_plugin(@NAME@ SOURCES @NAME@_model.cpp)
target_compile_options(@NAME@ PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion)

# The test drives the installed `ballista` on the plugin just built: the conformance
# checks (ballista check-plugin) and the sample pipeline.
include(CTest)
if(BUILD_TESTING)
  find_package(Boost REQUIRED COMPONENTS unit_test_framework)
  find_program(BALLISTA_EXECUTABLE ballista REQUIRED
               HINTS "${Ballista_DIR}/../../../bin" "${Ballista_DIR}/../../../../bin")
  add_executable(test_@NAME@ test_@NAME@.cpp)
  target_link_libraries(test_@NAME@ PRIVATE Boost::unit_test_framework)
  target_compile_features(test_@NAME@ PRIVATE cxx_std_20)
  target_compile_definitions(test_@NAME@ PRIVATE
    BOOST_TEST_DYN_LINK
    BALLISTA_EXECUTABLE="${BALLISTA_EXECUTABLE}"
    PLUGIN_DIRECTORY="$<TARGET_FILE_DIR:@NAME@>"
    SOURCE_DIRECTORY="${CMAKE_CURRENT_SOURCE_DIR}")
  add_dependencies(test_@NAME@ @NAME@)
  add_test(NAME @NAME@ COMMAND test_@NAME@)
endif()
)cmake";

constexpr const char* kModel = R"cpp(// The @NAME@ model plugin: ridge regression y = W·x + b in closed form, a starting
// point to replace with your model. Every method of the SDK contract is here, with what
// the host expects of it; <ballista/model.hpp> and <ballista/context.hpp> say more.
#include <ballista/archive.hpp>
#include <ballista/linear_solvers.hpp>
#include <ballista/plugin.hpp>  // brings LibTorch's tensor API too (<torch/types.h>)

#include <stdexcept>

namespace {

class @CLASS@ final : public ballista::Model {
 public:
  // Built by the factory below from parameters the host has already validated against
  // the declaration (types, ranges, choices): read them with get<T>(). Throw
  // ballista::ParameterError for a combination that is still unusable.
  explicit @CLASS@(const ballista::Parameters& parameters)
      : l2_(parameters.get<double>("l2")), fit_intercept_(parameters.get<bool>("fit_intercept")) {}

  // Learns from `train`: inputs [n, d_in] and targets [n, d_out], float64 on the CPU,
  // with the pipeline's column names. Called once, from one thread. An iterative
  // solver reports each step with context.report_progress(step, total, loss), stops
  // early when context.cancelled(), and draws random numbers only from a generator
  // seeded with context.seed(). Throw a std::exception with a message the user can act
  // on: the host fails this model only and shows the message.
  void fit(const ballista::Dataset& train, ballista::Context& context) override {
    ballista::require_finite(train.inputs, "@NAME@: fit() inputs");
    ballista::require_finite(train.targets, "@NAME@: fit() targets");
    const auto x = train.inputs.to(torch::kFloat64);
    const auto y = train.targets.to(torch::kFloat64);
    if (fit_intercept_) {
      // Centre first, so the intercept is not penalised by l2.
      const auto x_mean = x.mean(0, /*keepdim=*/true);
      const auto y_mean = y.mean(0, /*keepdim=*/true);
      const auto slopes = ballista::least_squares(x - x_mean, y - y_mean, l2_);
      weights_ = torch::cat({slopes, y_mean - x_mean.mm(slopes)});
    } else {
      weights_ = ballista::least_squares(x, y, l2_);
    }
    context.log(ballista::LogLevel::debug, "@NAME@: solved " + std::to_string(weights_.size(0)) + " weights");
    input_names_ = train.input_names;
    target_names_ = train.target_names;
  }

  // Predictions [n, d_out] for inputs [n, d_in]. Const: after fit() the host may call
  // it from several threads at once. Before fit(): throw std::logic_error.
  torch::Tensor predict(const torch::Tensor& inputs) const override {
    if (!weights_.defined()) {
      throw std::logic_error("@NAME@: predict() called before fit()");
    }
    ballista::require_finite(inputs, "@NAME@: predict() inputs");
    return design(inputs).mm(weights_);
  }

  // What the fitted model is, in one line, in the user's terms: shown in the table and
  // the report ("s = 0.63·v − 0.14·theta − 0.94").
  std::string describe() const override {
    if (!weights_.defined()) {
      return {};
    }
    auto labels = input_names_;
    if (fit_intercept_) {
      labels.emplace_back();  // "" labels the constant term
    }
    return ballista::format_linear_model(weights_, labels, target_names_);
  }

  // Number of learned values (stored samples count for instance-based models).
  std::int64_t parameter_count() const override { return weights_.defined() ? weights_.numel() : 0; }

  // Everything predict() and describe() need. The host stores the plugin name and the
  // parameters around it, and load()s into a fresh instance built from the same
  // parameters, which must then predict the same bits.
  void save(torch::serialize::OutputArchive& archive) const override {
    if (!weights_.defined()) {
      throw std::logic_error("@NAME@: save() called before fit()");
    }
    archive.write("weights", weights_);
    ballista::write_strings(archive, "input_names", input_names_);
    ballista::write_strings(archive, "target_names", target_names_);
  }

  void load(torch::serialize::InputArchive& archive) override {
    weights_ = ballista::read_tensor(archive, "weights");
    input_names_ = ballista::read_strings(archive, "input_names");
    target_names_ = ballista::read_strings(archive, "target_names");
  }

  // Optional: one line per input row saying why the model answers what it does (knn
  // names the stored samples it used). The host asks at the pipeline's probes. The
  // default returns no lines; delete this if there is nothing local to say.
  std::vector<std::string> explain(const torch::Tensor& inputs) const override {
    return std::vector<std::string>(static_cast<std::size_t>(inputs.size(0)), "a global linear fit: " + describe());
  }

  // Optional: the inputs this model reads, and the targets it predicts, by name, when it
  // needs particular ones (an ODE whose initial state reads v and theta). Known from the
  // parameters alone: the host asks right after the factory, and refuses a pipeline
  // whose data lacks one of these inputs or has a target not listed. fit() then finds
  // its columns by name in train.input_names (the data may have more, in any order),
  // predict() gets them in that same order, and the model predicts train.target_names
  // in their order. The defaults, empty, take any inputs and targets, as ridge does.
  // std::vector<std::string> required_inputs() const override { return {"v", "theta"}; }
  // std::vector<std::string> required_targets() const override { return {"s"}; }

 private:
  torch::Tensor design(const torch::Tensor& inputs) const {
    const auto x = inputs.to(torch::kFloat64);
    return fit_intercept_ ? torch::cat({x, torch::ones({x.size(0), 1}, x.options())}, 1) : x;
  }

  double l2_;
  bool fit_intercept_;
  torch::Tensor weights_;  // [d_in (+1), d_out]
  std::vector<std::string> input_names_;
  std::vector<std::string> target_names_;
};

// The declaration: every parameter with its type, default, allowed range and a one-line
// description (`ballista plugin @NAME@` shows them; pipelines are checked against them).
ballista::PluginDefinition define_@NAME@() {
  using ballista::ParameterSpec;
  return {
      {
          ParameterSpec::real("l2", 0.0, "ridge penalty l2·||W||² (the intercept is not penalised)").at_least(0),
          ParameterSpec::boolean("fit_intercept", true, "learn a constant term b"),
      },
      [](const ballista::Parameters& parameters) { return std::make_unique<@CLASS@>(parameters); },
  };
}

}  // namespace

// Name (what pipelines write as `plugin: @NAME@`), version, one-line summary.
BALLISTA_PLUGIN("@NAME@", "0.1.0", "ridge regression y = W·x + b (from ballista new-plugin)", define_@NAME@)
)cpp";

constexpr const char* kTest = R"cpp(// Tests of the @NAME@ plugin through the installed `ballista`: the conformance checks
// every plugin must pass, and the sample pipeline next to the bundled models.
#define BOOST_TEST_MODULE @NAME@
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

namespace {

struct Result {
  int exit_code = -1;
  std::string output;
};

Result run(const std::string& arguments) {
  const std::string command = std::string(BALLISTA_EXECUTABLE) + " --plugin-path '" + PLUGIN_DIRECTORY + "' " +
                              arguments + " 2>&1";
  Result result;
  FILE* pipe = popen(command.c_str(), "r");
  BOOST_REQUIRE(pipe != nullptr);
  std::array<char, 4096> buffer{};
  while (fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) {
    result.output += buffer.data();
  }
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace

BOOST_AUTO_TEST_CASE(passes_ballista_check_plugin) {
  const auto result = run("check-plugin @NAME@");
  BOOST_TEST(result.exit_code == 0, result.output);
  BOOST_TEST(result.output.find("9 checks: 9 passed") != std::string::npos, result.output);
}

BOOST_AUTO_TEST_CASE(runs_in_the_sample_pipeline_next_to_the_bundled_models) {
  const auto out = std::filesystem::temp_directory_path() / "@NAME@-test-run";
  std::filesystem::remove_all(out);
  const auto result = run(std::string("run '") + SOURCE_DIRECTORY + "/@NAME@.yaml' --quiet --out '" + out.string() +
                          "' --set models.mlp.epochs=50");
  BOOST_TEST(result.exit_code == 0, result.output);
  BOOST_TEST(result.output.find("@NAME@ ") != std::string::npos, result.output);
  BOOST_TEST(std::filesystem::exists(out / "models/@NAME@.pt"));
  std::filesystem::remove_all(out);
}
)cpp";

constexpr const char* kPipeline = R"yaml(# The @NAME@ plugin next to Ballista's bundled models on the cannon data (the range s of
# a shot at speed v and angle theta, 1000 noisy shots; `far` lies beyond them):
#   ballista --plugin-path build run @NAME@.yaml
name: @NAME@
seed: 0
data:
  constants: {g: 9.81}
  inputs:
    v: uniform(0, 10)
    theta: uniform(0, pi/2)
  targets:
    s: {expression: v^2*sin(2*theta)/g, noise: 0.01}
  n: 1000
  sets:
    test: {}
    far: {inputs: {v: "uniform(10, 20)"}}
  units: {v: m/s, theta: rad, s: m}
train: all
models:
  @NAME@:
    plugin: @NAME@
  basis:
    plugin: basis
    functions: [v, v^2, v*sin(theta), v*sin(2*theta), v^2*sin(theta), v^2*sin(2*theta)]
  mlp:
    plugin: mlp
    hidden: [64, 64]
    epochs: 500
evaluate:
  sets: [all, test, far]
  metrics: [mse]
  probes:
    - {v: 4, theta: 1.2}
    - {v: 20, theta: 0.85}
)yaml";

constexpr const char* kReadme = R"md(# @NAME@: a Ballista model plugin

Written by `ballista new-plugin @NAME@`. With Ballista installed in prefix `P`
(`cmake --install build --prefix P` in Ballista's repository):

```sh
cmake -S . -B build -DCMAKE_PREFIX_PATH=P
cmake --build build
ctest --test-dir build --output-on-failure        # check-plugin + the sample pipeline
P/bin/ballista --plugin-path build plugin @NAME@  # its parameters
P/bin/ballista --plugin-path build run @NAME@.yaml
```

- `@NAME@_model.cpp`: the model (ridge regression to start from) and its parameter
  declaration; every SDK method is commented.
- `test_@NAME@.cpp`: runs `ballista check-plugin @NAME@` (shapes, one row, predict
  before fit, same seed, save/load, NaN/inf, concurrent predict, parameters) and the
  sample pipeline.
- `@NAME@.yaml`: the cannon comparison with `@NAME@`, `basis` and `mlp`.

To make `ballista` find the plugin without `--plugin-path`, put `build/@NAME@.so` in
`~/.local/lib/ballista/plugins/` or a directory listed in `BALLISTA_PLUGIN_PATH`.
The guide is docs/writing-a-plugin.md in Ballista's repository.
)md";

std::string filled(std::string text, const std::string& name) {
  std::string class_name = "Model";
  bool upper = true;
  std::string camel;
  for (const char c : name) {
    if (c == '_') {
      upper = true;
      continue;
    }
    camel += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  class_name = camel + class_name;
  const std::vector<std::pair<std::string, std::string>> replacements{
      {"@NAME@", name}, {"@CLASS@", class_name}, {"@VERSION@", BALLISTA_VERSION_STRING}};
  for (const auto& [placeholder, value] : replacements) {
    for (auto at = text.find(placeholder); at != std::string::npos; at = text.find(placeholder, at + value.size())) {
      text.replace(at, placeholder.size(), value);
    }
  }
  return text;
}

}  // namespace

std::vector<std::pair<std::filesystem::path, std::string>> plugin_scaffold(const std::string& name) {
  const bool valid = !name.empty() && name.size() <= 64 && std::islower(static_cast<unsigned char>(name[0])) != 0 &&
                     std::all_of(name.begin(), name.end(), [](char c) {
                       return std::islower(static_cast<unsigned char>(c)) != 0 ||
                              std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '_';
                     });
  if (!valid) {
    throw std::invalid_argument("plugin name '" + name +
                                "': use lower-case letters, digits and '_', starting with a letter (e.g. poly_ridge)");
  }
  return {{"CMakeLists.txt", filled(kCMakeLists, name)},
          {name + "_model.cpp", filled(kModel, name)},
          {"test_" + name + ".cpp", filled(kTest, name)},
          {name + ".yaml", filled(kPipeline, name)},
          {"README.md", filled(kReadme, name)}};
}

int new_plugin_command(const std::string& name, const std::optional<std::filesystem::path>& directory,
                       std::ostream& out) {
  std::vector<std::pair<std::filesystem::path, std::string>> files;
  try {
    files = plugin_scaffold(name);
  } catch (const std::invalid_argument& error) {
    std::cerr << "ballista: " << error.what() << '\n';
    return 2;
  }
  const auto target = directory.value_or(std::filesystem::path(name));
  std::error_code error;
  if (std::filesystem::exists(target, error) &&
      (!std::filesystem::is_directory(target, error) || !std::filesystem::is_empty(target, error))) {
    std::cerr << "ballista: " << target.string() << " exists and is not an empty directory; new-plugin writes "
              << "only into a new or empty one (choose another with --dir)\n";
    return 2;
  }
  std::filesystem::create_directories(target, error);
  if (error) {
    std::cerr << "ballista: cannot create " << target.string() << ": " << error.message() << '\n';
    return 2;
  }
  for (const auto& [file, text] : files) {
    write_file_atomically(target / file, text);
    out << "  wrote " << (target / file).string() << '\n';
  }
  out << "\nNext, with Ballista installed in prefix P (cmake --install build --prefix P):\n"
      << "  cmake -S " << target.string() << " -B " << (target / "build").string() << " -DCMAKE_PREFIX_PATH=P\n"
      << "  cmake --build " << (target / "build").string() << " && ctest --test-dir "
      << (target / "build").string() << " --output-on-failure\n"
      << "  ballista --plugin-path " << (target / "build").string() << " run " << (target / (name + ".yaml")).string()
      << '\n';
  return 0;
}

}  // namespace ballista::host
