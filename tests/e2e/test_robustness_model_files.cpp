// Damaged and forged model files (issue 14, item 7): `ballista predict` on each refuses
// it with one line "ballista: FILE: what is wrong" and exit status 2. Before the fix a
// stored k of 0 crashed, a stored parameter outside its declaration loaded, and bytes
// flipped inside a stored tensor predicted garbage with exit status 0. Each file here
// is a copy of a model trained by `ballista run`, changed by
// tests/reference/damage_model_file.py: behind the zip's back (its CRC-32s no longer
// match), or rewritten by Python's zipfile (a well-formed file that says something else).
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace test = ballista::test;

namespace {

std::string quoted(const std::filesystem::path& path) { return test::shell_quote(path.string()); }

// Five small models, trained once for the whole suite: knn (plain and standardised),
// linear, basis and a two-layer MLP, in DIR/run/models/NAME.pt.
const std::filesystem::path& trained_models() {
  static const test::TemporaryDirectory directory;
  static const std::filesystem::path models = [] {
    const auto& path = directory.path();
    std::ofstream(path / "p.yaml") << R"yaml(data:
  inputs: {v: "uniform(0, 1)", w: "uniform(0, 1)"}
  targets: {s: v + w}
  sets: {train: {rows: 20}}
models:
  near: {plugin: knn, k: 3}
  scaled: {plugin: knn, k: 2, standardize: true, weights: distance}
  line: {plugin: linear}
  base: {plugin: basis, functions: [v, w, v*w], fit_intercept: true}
  net: {plugin: mlp, hidden: [4, 3], epochs: 5}
)yaml";
    std::ofstream(path / "in.csv") << "v,w\n0.3,0.4\n0.9,0.05\n2,-1\n";
    const auto trained = test::run_command("timeout 120 " + quoted(test::ballista_binary()) + " run " +
                                           quoted(path / "p.yaml") + " --quiet --out " + quoted(path / "run"));
    BOOST_REQUIRE_MESSAGE(trained.exit_code == 0, trained.output);
    return path / "run/models";
  }();
  return models;
}

std::filesystem::path model_file(const std::string& name) { return trained_models() / (name + ".pt"); }

test::CommandResult predict(const std::filesystem::path& file) {
  return test::run_command("timeout 20 " + quoted(test::ballista_binary()) + " predict " + quoted(file) +
                           " --input " + quoted(trained_models().parent_path().parent_path() / "in.csv"));
}

// A copy of model NAME changed by damage_model_file.py OPERATION ARGUMENTS.
std::filesystem::path damaged_copy(const std::filesystem::path& directory, const std::string& name,
                                   const std::vector<std::string>& operation) {
  const auto copy = directory / (name + "-changed.pt");
  std::string arguments = quoted(model_file(name)) + " " + quoted(copy);
  for (const auto& argument : operation) {
    arguments += " " + test::shell_quote(argument);
  }
  test::run_python_reference("damage_model_file.py", arguments);
  return copy;
}

struct Case {
  std::string model;
  std::vector<std::string> operation;
  std::string message;  // after "ballista: FILE: "
};

// Each case: exit status 2 and exactly one line, the expected message after the file.
void check_refused(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    std::string what = c.model;
    for (const auto& argument : c.operation) {
      what += " " + argument;
    }
    BOOST_TEST_CONTEXT(what) {
      const test::TemporaryDirectory directory;
      const auto file = damaged_copy(directory.path(), c.model, c.operation);
      const auto result = predict(file);
      BOOST_TEST(result.exit_code == 2, result.output);
      BOOST_TEST(result.output == "ballista: " + file.string() + ": " + c.message + "\n");
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(robustness_model_files)

// Bytes changed behind the zip's back: LibTorch reads entries without checking their
// CRC-32, so 200 bytes flipped inside a stored tensor used to predict garbage (exit 0).
// The copies that change nothing still predict bit-identically (predict writes the
// shortest text that reads back to the same double): a byte-for-byte copy, and copies
// rewritten by zipfile with a parameter set to the value it had, as the forged files of
// the cases below are. So what is refused is the change, not the way the copy was made.
BOOST_AUTO_TEST_CASE(damaged_bytes_are_found_by_the_checksums) {
  const test::TemporaryDirectory directory;
  for (const auto* name : {"near", "scaled", "line", "base", "net"}) {
    BOOST_TEST_CONTEXT(name) {
      const auto original = predict(model_file(name));
      BOOST_REQUIRE_MESSAGE(original.exit_code == 0, original.output);
      BOOST_TEST(original.output.find("v,w,s\n0.3,0.4,") == 0U, original.output);
      const auto copy = directory.path() / (std::string(name) + "-copy.pt");
      std::filesystem::copy_file(model_file(name), copy);
      BOOST_TEST(predict(copy).output == original.output);
    }
  }
  const auto same_k = damaged_copy(directory.path(), "near", {"parameter", "k", "3"});
  BOOST_TEST(predict(same_k).output == predict(model_file("near")).output);
  const auto same_hidden = damaged_copy(directory.path(), "net", {"parameter", "hidden", "[4, 3]"});
  BOOST_TEST(predict(same_hidden).output == predict(model_file("net")).output);

  const std::string changed = "(the file was changed or truncated)";
  const auto size = std::to_string(std::filesystem::file_size(model_file("net")));
  const auto half = std::to_string(std::filesystem::file_size(model_file("net")) / 2);
  check_refused({
      {"net", {"flip-entry", "data/3", "200"}, "damaged: the CRC-32 of entry 'archive/data/3' does not match " + changed},
      {"near", {"flip-entry", "data/0", "200"}, "damaged: the CRC-32 of entry 'archive/data/0' does not match " + changed},
      {"line", {"flip-entry", "data/0", "1"}, "damaged: the CRC-32 of entry 'archive/data/0' does not match " + changed},
      {"base", {"flip-entry", "data.pkl", "200"}, "damaged: the CRC-32 of entry 'archive/data.pkl' does not match " +
                                                      changed},
      {"near", {"flip-entry", "version", "1"}, "damaged: the CRC-32 of entry 'archive/version' does not match " + changed},
      // The central directory: a CRC-32 itself, and the attribute bit that made LibTorch's
      // reader (miniz) extract nothing into a tensor and report success.
      {"line", {"flip-central", "data/0", "16"}, "damaged: the CRC-32 of entry 'archive/data/0' does not match " +
                                                     changed},
      {"line", {"flip-central", "data/0", "38"},
       "damaged: entry 'archive/data/0' is marked as a directory, which LibTorch does not write (the file was "
       "changed)"},
      // LibTorch's code entries are deflated: the stream no longer inflates.
      {"net", {"flip-entry", "code/__torch__.py", "200"},
       "damaged: entry 'archive/code/__torch__.py' does not inflate to its recorded size " + changed},
      {"net", {"truncate", half}, "damaged: the zip directory at the end of the file is missing (the file was truncated?)"},
      {"net", {"truncate", std::to_string(std::stoul(size) - 1)},
       "damaged: the zip directory at the end of the file is missing (the file was truncated?)"},
      {"net", {"truncate", "0"}, "not a Ballista model file (not a LibTorch archive)"},
  });
}

// Stored parameters are read through the plugin's declaration exactly as a pipeline's:
// before, k = 0 crashed predict (a segfault), and a bad metric, solver or epochs loaded.
BOOST_AUTO_TEST_CASE(stored_parameters_are_checked_against_the_declaration) {
  check_refused({
      {"near", {"parameter", "k", "0"}, "stored parameter 'k' must be integer >= 1, got 0"},
      {"near", {"parameter", "k", "2.5"}, "stored parameter 'k' must be integer >= 1, found 2.5"},
      {"near", {"parameter", "metric", "\"bogus\""},
       "stored parameter 'metric' must be one of: euclidean, manhattan, got 'bogus'"},
      {"near", {"parameter", "standardize", "3"}, "stored parameter 'standardize' must be boolean, found 3"},
      {"near", {"drop-parameter", "k"}, "stored parameter 'k' is missing (integer >= 1)"},
      {"near", {"parameter", "leaf_size", "30"},
       "stored parameter 'leaf_size' is not declared by plugin knn 0.2.0 (saved by version 0.2.0)"},
      {"line", {"parameter", "solver", "\"bogus\""},
       "stored parameter 'solver' must be one of: lstsq, sgd, adam, got 'bogus'"},
      {"line", {"parameter", "epochs", "-5"}, "stored parameter 'epochs' must be integer >= 1, got -5"},
      // Within the declaration, refused by the plugin's own check (ParameterError).
      {"line", {"parameters-text", R"({"epochs":500,"fit_intercept":true,"l2":1.0,"lr":0.01,"solver":"sgd"})"},
       "stored parameter 'l2': l2 (ridge) is solved in closed form: use it with solver: lstsq"},
      {"base", {"drop-parameter", "functions"}, "stored parameter 'functions' is missing (list of expression)"},
      {"net", {"parameter", "hidden", "[0]"}, "stored parameter 'hidden' every element must be >= 1, got 0"},
      {"net", {"parameter", "activation", "\"bogus\""},
       "stored parameter 'activation' must be one of: sigmoid, tanh, relu, gelu, silu, got 'bogus'"},
      {"net", {"parameters-text", "[]"}, "the stored parameters are not a JSON object: []"},
      {"net", {"string", "ballista.plugin", "nosuch"},
       "saved by plugin 'nosuch', which is not installed (see `ballista plugins --verbose`)"},
  });
}

// Parameters the declaration accepts, over stored tensors that do not fit them: each
// plugin's load() refuses the inconsistency instead of predicting from it.
BOOST_AUTO_TEST_CASE(plugins_refuse_stored_state_that_does_not_fit_the_parameters) {
  const std::string inconsistent = "the stored model is inconsistent: ";
  check_refused({
      {"near", {"parameter", "k", "21"}, "plugin knn could not restore the model: k = 21 exceeds the 20 stored samples"},
      {"near", {"nan-entry", "data/0"},
       "plugin knn could not restore the model: knn: stored samples: row 0, column 0 is nan; values must be finite "
       "numbers"},
      {"scaled", {"parameter", "standardize", "false"},
       "plugin knn could not restore the model: knn: " + inconsistent +
           "it holds standardisation statistics, but parameter standardize is false"},
      {"line", {"parameter", "fit_intercept", "false"},
       "plugin linear could not restore the model: linear: " + inconsistent +
           "its terms do not match parameter fit_intercept: false"},
      {"base", {"parameter", "functions", R"(["v", "w"])"},
       "plugin basis could not restore the model: basis: " + inconsistent +
           "the weights must be float64 [3, 1] (a row per function and the intercept, a column per target), found "
           "float64 [4, 1]"},
      {"base", {"parameter", "functions", R"(["q", "w", "v*w"])"},
       "plugin basis could not restore the model: basis: " + inconsistent +
           "function 'q' reads 'q', which is neither a stored input nor a stored constant"},
      // hidden: [] is a valid parameter (no hidden layer), not for these stored layers.
      {"net", {"parameter", "hidden", "[]"},
       "plugin mlp could not restore the model: mlp: " + inconsistent +
           "it holds more layers than the 1 of parameter hidden"},
      {"net", {"parameter", "hidden", "[3, 4]"},
       "plugin mlp could not restore the model: mlp: " + inconsistent +
           "layer 1 (weight float32 [4, 2], bias float32 [4]) does not follow from parameter hidden and the layer "
           "before it"},
      {"net", {"parameter", "standardize", "true"}, "plugin mlp could not restore the model: model archive: missing "
                                                    "tensor 'x_mean'"},
      // Another plugin's header over this model's own archive.
      {"near", {"header-from", model_file("line").string()},
       "plugin linear could not restore the model: model archive: missing tensor 'weights'"},
  });
}

BOOST_AUTO_TEST_SUITE_END()
