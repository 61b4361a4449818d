// mlp: the article's network reaches a small training error in its 1000 epochs, and
// training is a function of the seed alone.
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <torch/torch.h>

namespace test = ballista::test;
using ballista::ParameterValue;

BOOST_AUTO_TEST_SUITE(mlp)

BOOST_AUTO_TEST_CASE(article_network_fits_the_shots) {
  const auto plugin = test::load_bundled_plugin("mlp");
  const auto data = test::article_dataset_from_numpy();
  auto model = test::make_model(plugin, {});  // defaults: 2→256→256→1, sigmoid, Adam 0.01, 1000 epochs
  test::RecordingContext context(0);
  model->fit(data, context);
  BOOST_TEST(context.losses().size() == 1000U);
  const double mse = (model->predict(data.inputs) - data.targets).square().mean().item<double>();
  BOOST_TEST(mse < 0.0025, "training MSE " << mse);  // the article: 0.0011
  // 2·256 + 256 + 256·256 + 256 + 256 + 1 weights and biases.
  BOOST_TEST(model->parameter_count() == 66817);
  BOOST_TEST(model->describe() == "black box: MLP 2→256→256→1, sigmoid");
}

BOOST_AUTO_TEST_CASE(same_seed_same_model_bit_for_bit) {
  const auto plugin = test::load_bundled_plugin("mlp");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto x = torch::rand({64, 3}, generator, torch::kFloat64);
  const auto y = torch::rand({64, 2}, generator, torch::kFloat64);
  const ballista::Dataset data{x, y, {"a", "b", "c"}, {"p", "q"}, {}};
  const std::map<std::string, ParameterValue> small{{"hidden", ParameterValue{std::vector<std::int64_t>{16, 8}}},
                                                    {"epochs", ParameterValue{std::int64_t{30}}},
                                                    {"activation", ParameterValue{std::string("tanh")}}};
  const auto train = [&](std::uint64_t seed, std::vector<double>& losses) {
    auto model = test::make_model(plugin, small);
    test::RecordingContext context(seed);
    model->fit(data, context);
    losses = context.losses();
    return model->predict(x);
  };
  std::vector<double> first_losses;
  std::vector<double> second_losses;
  std::vector<double> other_losses;
  const auto first = train(42, first_losses);
  const auto second = train(42, second_losses);
  const auto other = train(43, other_losses);
  BOOST_TEST(first.sizes() == (std::vector<std::int64_t>{64, 2}));
  BOOST_TEST(torch::equal(first, second));
  BOOST_TEST(first_losses == second_losses);
  BOOST_TEST(!torch::equal(first, other));
}

BOOST_AUTO_TEST_CASE(predict_before_fit_is_a_clear_error) {
  const auto plugin = test::load_bundled_plugin("mlp");
  auto model = test::make_model(plugin, {});
  BOOST_CHECK_THROW((void)model->predict(torch::zeros({1, 2}, torch::kFloat64)), std::logic_error);
}

BOOST_AUTO_TEST_CASE(save_load_round_trip_is_bit_identical) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(13);
  const auto x = torch::rand({40, 2}, generator, torch::kFloat64) * 3;
  const auto y = torch::cat({x.select(1, 0).square().unsqueeze(1) / 9.81, torch::sin(x.prod(1)).unsqueeze(1)}, 1);
  const ballista::Dataset data{x, y, {"x", "y"}, {"p", "q"}, {{"g", 9.81}}};
  test::check_save_load_round_trip(test::load_bundled_plugin("mlp"), {{"hidden", ParameterValue{std::vector<std::int64_t>{8, 4}}},
                                                   {"epochs", ParameterValue{std::int64_t{20}}}}, data,
                                   torch::rand({25, 2}, generator, torch::kFloat64) * 4);
}

BOOST_AUTO_TEST_SUITE_END()
