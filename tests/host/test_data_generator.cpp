// The formula source reproduces NumPy's legacy stream bit for bit: the article's data set.
#include "data_generator.hpp"
#include "numpy_random.hpp"
#include "pipeline_loader.hpp"
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <torch/torch.h>

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
  const auto train = generate_set(pipeline.data, *pipeline.data.find_set("train"));
  const auto reference = test::article_dataset_from_numpy();
  BOOST_TEST((train.input_names == std::vector<std::string>{"v", "theta"}));
  BOOST_TEST((train.target_names == std::vector<std::string>{"s"}));
  // Inputs come straight from the generator: equal to the last bit.
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
  const auto far = generate_set(pipeline.data, *pipeline.data.find_set("far"));
  BOOST_TEST(far.inputs.select(1, 0).min().item<double>() >= 10.0);
  BOOST_TEST(far.inputs.select(1, 0).max().item<double>() < 20.0);
  BOOST_TEST(far.targets.min().item<double>() >= 0.0);
  const auto test_set = generate_set(pipeline.data, *pipeline.data.find_set("test"));
  const auto train = generate_set(pipeline.data, *pipeline.data.find_set("train"));
  BOOST_TEST(!torch::equal(test_set.inputs, train.inputs));  // drawn separately
  const auto truth = true_targets(pipeline.data, torch::tensor({{20.0, 0.85}}, torch::kFloat64));
  BOOST_TEST(truth.item<double>() == 400.0 * std::sin(1.7) / 9.81, boost::test_tools::tolerance(1e-14));
}

BOOST_AUTO_TEST_CASE(targets_undefined_over_the_input_range_are_refused_with_the_place) {
  DataSpec data;
  data.inputs.push_back({"x", {"uniform", {-1.0, 1.0}, "uniform(-1, 1)"}});
  data.targets.push_back({"y", ballista::Expression::parse("sqrt(x)"), 0.0, std::nullopt, std::nullopt});
  const SetSpec set{"train", 100, {}, 0, {}};
  try {
    (void)generate_set(data, set);
    BOOST_FAIL("NaN targets accepted");
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    BOOST_TEST(message.find("set 'train': the targets are not finite in") != std::string::npos, message);
    BOOST_TEST(message.find("first at x=-") != std::string::npos, message);
  }
}

BOOST_AUTO_TEST_SUITE_END()
