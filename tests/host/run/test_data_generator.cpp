// The formula source reproduces NumPy's legacy stream bit for bit: the article's data set.
#include "data_generator.hpp"
#include "numpy_random.hpp"
#include "pipeline_loader.hpp"
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <torch/torch.h>

#include <fstream>

namespace test = ballista::test;
using namespace ballista::host;

BOOST_AUTO_TEST_SUITE(data_generator)

BOOST_AUTO_TEST_CASE(uniform_and_normal_streams_equal_numpys) {
  const auto expected = test::parse_rows(test::run_python_reference("numpy_reference.py", "stream 12345 500"));
  BOOST_REQUIRE_EQUAL(expected.size(), 1000U);
  NumpyRandom random(12345);
  for (std::size_t i = 0; i < 500; ++i) {
    BOOST_TEST(random.uniform() == expected[i][0], "random() #" << i);
  }
  for (std::size_t i = 500; i < 1000; ++i) {
    BOOST_TEST(random.normal() == expected[i][0], "randn() #" << i - 500);
  }
}

BOOST_AUTO_TEST_CASE(cannon_training_set_is_the_articles_data_set) {
  const PluginCatalog catalog({test::plugin_dir()});
  const auto pipeline = load_pipeline(test::source_dir() / "configs/cannon.yaml", catalog);
  BOOST_TEST(pipeline.train_set == "all");
  const auto train = generate_set(pipeline.data, *pipeline.data.find_set("all"));
  const auto reference = test::article_dataset_from_numpy();
  BOOST_TEST((train.input_names == std::vector<std::string>{"v", "theta"}));
  BOOST_TEST((train.target_names == std::vector<std::string>{"s"}));
  // All 1000 rows. Inputs come straight from the generator: equal to the last bit.
  BOOST_TEST(torch::equal(train.inputs, reference.inputs));
  // Targets go through sin, whose last bit may differ between libm and NumPy's SIMD code.
  BOOST_TEST(torch::allclose(train.targets, reference.targets, 1e-13, 1e-15));
  // The article's knn probe: the shot nearest to (4, 1.2) is at (3.9268, 1.2042).
  const auto distances = (train.inputs - torch::tensor({4.0, 1.2}, torch::kFloat64)).square().sum(1);
  const auto nearest = distances.argmin().item<std::int64_t>();
  BOOST_TEST(train.inputs[nearest][0].item<double>() == 3.9268, boost::test_tools::tolerance(1e-4));
  BOOST_TEST(train.inputs[nearest][1].item<double>() == 1.2042, boost::test_tools::tolerance(1e-4));
}

BOOST_AUTO_TEST_CASE(overridden_inputs_and_clipping_are_applied) {
  const PluginCatalog catalog({test::plugin_dir()});
  const auto pipeline = load_pipeline(test::source_dir() / "configs/cannon.yaml", catalog);
  const auto sets = generate_sets(pipeline.data);
  const auto& far = sets.at("far");
  BOOST_TEST(far.inputs.size(0) == 1000);
  BOOST_TEST(far.inputs.select(1, 0).min().item<double>() >= 10.0);
  BOOST_TEST(far.inputs.select(1, 0).max().item<double>() < 20.0);
  BOOST_TEST(far.targets.min().item<double>() >= 0.0);
  BOOST_TEST(!torch::equal(sets.at("test").inputs, sets.at("all").inputs));  // drawn separately
  const auto truth = true_targets(pipeline.data.source, torch::tensor({{20.0, 0.85}}, torch::kFloat64));
  BOOST_TEST(truth->item<double>() == 400.0 * std::sin(1.7) / 9.81, boost::test_tools::tolerance(1e-14));
  // data.n sizes the table and, by default, every drawn set.
  const auto bigger = load_pipeline(test::source_dir() / "configs/cannon.yaml", catalog, {"data.n=5000"});
  BOOST_TEST(bigger.data.find_set("all")->rows == 5000);
  BOOST_TEST(bigger.data.find_set("far")->rows == 5000);
}

BOOST_AUTO_TEST_CASE(targets_undefined_over_the_input_range_are_refused_with_the_place) {
  SourceSpec source;
  source.kind = SourceSpec::Kind::formula;
  source.inputs.push_back({"x", {Distribution::Kind::uniform, {-1.0, 1.0}, "uniform(-1, 1)"}, std::nullopt, std::nullopt});
  source.targets.push_back({"y", ballista::Expression::parse("sqrt(x)"), 0.0, false, std::nullopt, std::nullopt});
  try {
    (void)draw_rows(source, 100, 0, {}, "train");
    BOOST_FAIL("NaN targets accepted");
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    BOOST_TEST(message.find("set 'train': the targets are not finite in") != std::string::npos, message);
    BOOST_TEST(message.find("first at x=-") != std::string::npos, message);
  }
}

BOOST_AUTO_TEST_CASE(permutations_equal_numpys) {
  for (const auto& [seed, n] : {std::pair{0U, 1000L}, std::pair{12345U, 7L}, std::pair{4294967295U, 70000L}}) {
    const auto expected = test::parse_rows(
        test::run_python_reference("numpy_reference.py", "permutation " + std::to_string(seed) + " " + std::to_string(n)));
    const auto order = numpy_permutation(n, seed);
    BOOST_REQUIRE_EQUAL(expected.size(), order.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
      BOOST_TEST(static_cast<double>(order[i]) == expected[i][0], "seed " << seed << " position " << i);
    }
  }
}

// Every distribution, input clipping, relative and additive noise, target clipping,
// a grid, and a shuffled three-way split: all 1000 rows against NumPy's.
BOOST_AUTO_TEST_CASE(every_distribution_noise_and_split_equals_numpy) {
  test::TemporaryDirectory directory;
  const auto file = directory.path() / "sources.yaml";
  std::ofstream(file) << R"yaml(seed: 7
data:
  constants: {g: 9.81}
  inputs:
    v: {distribution: "normal(5, 3)", clip: [0, null]}
    theta: choice(0.2, 0.4, 0.8)
    k: loguniform(1e-3, 1)
    t: grid(0, 1, 5)
  targets:
    s: {expression: v^2*sin(2*theta)/g + k*t, noise: {relative: 0.05}, clip: [null, 12]}
    r: {expression: v*k, noise: 0.1}
  n: 1000
  split: {train: 0.7, validation: 0.2, test: 0.1}
  sets:
    plot: {inputs: {t: "grid(0, 1, 1000)"}}
models: {lin: {plugin: linear}}
)yaml";
  const PluginCatalog catalog({test::plugin_dir()});
  const auto pipeline = load_pipeline(file, catalog);
  const auto reference = test::parse_rows(test::run_python_reference(
      "numpy_reference.py", "sources 7 1000 " + std::to_string(pipeline.data.split_seed)));
  BOOST_REQUIRE_EQUAL(reference.size(), 2000U);
  std::vector<double> flat;
  for (std::size_t i = 0; i < 1000; ++i) {
    flat.insert(flat.end(), reference[i].begin(), reference[i].end());
  }
  const auto expected = torch::tensor(flat, torch::kFloat64).reshape({1000, 6});
  const auto sets = generate_sets(pipeline.data);
  const auto& all = sets.at("all");
  // v, theta, t: no transcendental function between the stream and the value.
  BOOST_TEST(torch::equal(all.inputs.index_select(1, torch::tensor({0, 1, 3})),
                          expected.index_select(1, torch::tensor({0, 1, 3}))));
  BOOST_TEST(torch::allclose(all.inputs.select(1, 2), expected.select(1, 2), 1e-14, 0));
  BOOST_TEST(torch::allclose(all.targets, expected.slice(1, 4), 1e-13, 1e-15));
  BOOST_TEST(all.inputs.select(1, 0).min().item<double>() == 0.0);  // some normals were clipped
  BOOST_TEST(all.targets.select(1, 0).max().item<double>() == 12.0);
  // The splits: 700, 200, 100 rows of the permuted table, in order.
  std::vector<std::int64_t> permutation;
  for (std::size_t i = 1000; i < 2000; ++i) {
    permutation.push_back(static_cast<std::int64_t>(reference[i][0]));
  }
  const auto order = torch::tensor(permutation, torch::kInt64);
  std::int64_t begin = 0;
  for (const auto& [name, rows] : {std::pair{"train", 700L}, std::pair{"validation", 200L}, std::pair{"test", 100L}}) {
    const auto& part = sets.at(name);
    BOOST_TEST(part.inputs.size(0) == rows);
    BOOST_TEST(torch::equal(part.inputs, all.inputs.index_select(0, order.slice(0, begin, begin + rows))), name);
    BOOST_TEST(torch::equal(part.targets, all.targets.index_select(0, order.slice(0, begin, begin + rows))), name);
    begin += rows;
  }
  BOOST_TEST(pipeline.train_set == "train");
  // A set whose grid replaces the table's: 1000 evenly spaced t from 0 to 1.
  const auto t = sets.at("plot").inputs.select(1, 3);
  BOOST_TEST(t[0].item<double>() == 0.0);
  BOOST_TEST(t[999].item<double>() == 1.0);
  BOOST_TEST(torch::allclose(t, torch::linspace(0, 1, 1000, torch::kFloat64), 0, 1e-15));
}

BOOST_AUTO_TEST_CASE(grids_form_their_cartesian_product_like_numpy_meshgrid) {
  test::TemporaryDirectory directory;
  const auto file = directory.path() / "grid.yaml";
  std::ofstream(file) << R"yaml(data:
  inputs: {v: "uniform(0, 10)", theta: "uniform(0, pi/2)"}
  targets: {s: v*theta}
  sets:
    plot: {inputs: {v: "grid(0, 10, 3)", theta: "grid(0, pi/2, 4)"}}
    twice: {rows: 24, inputs: {v: "grid(0, 10, 3)", theta: "grid(0, pi/2, 4)"}}
models: {lin: {plugin: linear}}
)yaml";
  const PluginCatalog catalog({test::plugin_dir()});
  const auto pipeline = load_pipeline(file, catalog);
  const auto expected = test::parse_rows(test::run_python_reference("numpy_reference.py", "grid"));
  const auto sets = generate_sets(pipeline.data);
  const auto& plot = sets.at("plot");
  BOOST_REQUIRE_EQUAL(plot.inputs.size(0), 12);
  for (std::int64_t i = 0; i < 12; ++i) {
    BOOST_TEST(plot.inputs[i][0].item<double>() == expected[static_cast<std::size_t>(i)][0]);
    BOOST_TEST(plot.inputs[i][1].item<double>() == expected[static_cast<std::size_t>(i)][1]);
  }
  // rows = a multiple of the grid: the grid repeated.
  BOOST_TEST(torch::equal(sets.at("twice").inputs, torch::cat({plot.inputs, plot.inputs})));
}

BOOST_AUTO_TEST_CASE(csv_sources_split_and_extra_sets_from_another_file) {
  test::TemporaryDirectory directory;
  std::ofstream(directory.path() / "shots.csv") << "v,theta,s,note\n1,0.5,0.1,a\n2,0.6,0.4,b\n3,0.7,0.9,c\n"
                                                     "4,0.8,1.6,d\n,0.9,2.5,missing\n5,nan,2.5,nan\n";
  std::ofstream(directory.path() / "far.csv") << "theta,s,v\n0.5,9,20\n";
  std::filesystem::create_directory(directory.path() / "pipelines");
  const auto file = directory.path() / "pipelines" / "csv.yaml";
  std::ofstream(file) << R"yaml(data:
  source: csv
  file: ../shots.csv          # relative to this file
  inputs: [v, theta]
  targets: [s]
  drop_invalid: true
  split: {train: 0.5, test: 0.5}
  shuffle: false
  sets:
    far: {source: {file: ../far.csv}}
models: {lin: {plugin: linear}}
evaluate: {probes: [{v: 1, theta: 1}]}
)yaml";
  const PluginCatalog catalog({test::plugin_dir()});
  const auto pipeline = load_pipeline(file, catalog);
  BOOST_TEST(pipeline.data.source.dropped_rows == 2);
  const auto sets = generate_sets(pipeline.data);
  BOOST_TEST(torch::equal(sets.at("all").inputs,
                          torch::tensor({1.0, 0.5, 2.0, 0.6, 3.0, 0.7, 4.0, 0.8}, torch::kFloat64).reshape({4, 2})));
  BOOST_TEST(torch::equal(sets.at("train").targets, torch::tensor({0.1, 0.4}, torch::kFloat64).reshape({2, 1})));
  BOOST_TEST(torch::equal(sets.at("test").targets, torch::tensor({0.9, 1.6}, torch::kFloat64).reshape({2, 1})));
  // Columns by name, in the pipeline's order.
  BOOST_TEST(torch::equal(sets.at("far").inputs, torch::tensor({{20.0, 0.5}}, torch::kFloat64)));
  BOOST_TEST(!true_targets(pipeline.data.source, sets.at("far").inputs).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
