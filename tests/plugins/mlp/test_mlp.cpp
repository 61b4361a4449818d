// mlp: the article's network reaches a small training error in its 1000 epochs, and
// training is a function of the seed alone.
#include "test_support.hpp"

#include <ballista/blas.hpp>
#include <ballista/parameters.hpp>

#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

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

BOOST_AUTO_TEST_CASE(options_train_exactly_as_the_same_loop_in_python_pytorch) {
  const auto plugin = test::load_bundled_plugin("mlp");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(17);
  const auto x = torch::rand({96, 2}, generator, torch::kFloat64) * torch::tensor({10.0, 1.5}, torch::kFloat64);
  const auto y = (x.select(1, 0).square() * torch::sin(2 * x.select(1, 1)) / 9.81).unsqueeze(1) * 100;
  const auto queries = torch::rand({30, 2}, generator, torch::kFloat64) * torch::tensor({12.0, 1.5}, torch::kFloat64);
  test::TemporaryDirectory directory;
  test::write_csv(directory.path() / "train.csv", torch::cat({x, y}, 1));
  test::write_csv(directory.path() / "queries.csv", queries);
  struct Case {
    std::string activation, optimizer;
    double lr;
    std::int64_t epochs, batch_size;
    double weight_decay;
    bool standardize;
    double tolerance;
  };
  // Adam and SGD agree to float32 rounding. L-BFGS is a separate implementation in C++
  // and Python whose 20 inner iterations drift apart in the last bits: one step, compared
  // to 1e-5 of the target scale.
  const std::vector<Case> cases{{"tanh", "adam", 0.01, 40, 16, 1e-3, true, 1e-7},
                                {"relu", "sgd", 0.05, 40, 0, 1e-2, true, 1e-7},
                                {"gelu", "adam", 0.01, 30, 0, 0.0, false, 1e-7},
                                {"silu", "lbfgs", 0.5, 1, 0, 1e-4, true, 1e-5}};
  for (const auto& c : cases) {
    auto model = test::make_model(plugin, {{"hidden", ParameterValue{std::vector<std::int64_t>{12, 6}}},
                                           {"activation", ParameterValue{c.activation}},
                                           {"optimizer", ParameterValue{c.optimizer}},
                                           {"lr", ParameterValue{c.lr}},
                                           {"epochs", ParameterValue{c.epochs}},
                                           {"batch_size", ParameterValue{c.batch_size}},
                                           {"weight_decay", ParameterValue{c.weight_decay}},
                                           {"standardize", ParameterValue{c.standardize}}});
    test::RecordingContext context(1234);
    model->fit({x, y, {"v", "theta"}, {"s"}, {}}, context);
    std::ostringstream arguments;
    arguments << "mlp " << (directory.path() / "train.csv").string() << ' ' << (directory.path() / "queries.csv").string()
              << " 1234 12,6 " << c.activation << ' ' << c.optimizer << ' ' << c.lr << ' ' << c.epochs << ' '
              << c.batch_size << ' ' << c.weight_decay << ' ' << (c.standardize ? 1 : 0);
    const auto reference = test::parse_rows(test::run_python_reference("torch_reference.py", arguments.str()));
    BOOST_REQUIRE_EQUAL(reference.size(), 30U);
    const auto predicted = model->predict(queries).to(torch::kFloat64);
    const auto scale = y.abs().max().item<double>();
    double worst = 0.0;
    for (std::int64_t q = 0; q < 30; ++q) {
      worst = std::max(worst, std::abs(predicted[q][0].item<double>() - reference[static_cast<std::size_t>(q)][0]));
    }
    BOOST_TEST(worst <= c.tolerance * scale, c.optimizer << "/" << c.activation << ": worst difference " << worst);
  }
}

// L-BFGS spread over ranks (threads here, c10d processes in a run): each rank holds a
// share of the rows and every evaluation of the loss sums the ranks' gradients and loss
// in one all-reduce (the path Adam and SGD take on a GPU, where NCCL carries it). Every
// rank ends with the same bits, and the model is the one-process fit up to the order of
// the sums: L-BFGS's 20 line-searched iterations carry the last bits further, so one
// step is compared, to 1e-5 of the target scale (as one process against Python PyTorch
// above; forgetting the weight decay or a rank's share moves it by 1e-3 or more).
BOOST_AUTO_TEST_CASE(lbfgs_shared_by_ranks_fits_what_one_process_fits) {
  const auto plugin = test::load_bundled_plugin("mlp");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(41);
  const auto x = torch::rand({90, 2}, generator, torch::kFloat64) * torch::tensor({10.0, 1.5}, torch::kFloat64);
  const auto y = torch::cat({(x.select(1, 0).square() * torch::sin(2 * x.select(1, 1)) / 9.81).unsqueeze(1),
                             x.select(1, 0).unsqueeze(1)},
                            1);
  const auto queries = torch::rand({25, 2}, generator, torch::kFloat64) * torch::tensor({12.0, 1.5}, torch::kFloat64);
  struct Case {
    int ranks;
    std::string activation;
    double weight_decay;
    bool standardize;
  };
  for (const auto& c : std::vector<Case>{{2, "tanh", 0.0, true}, {3, "silu", 1e-3, true}, {4, "sigmoid", 1e-2, false}}) {
    const std::map<std::string, ParameterValue> parameters{
        {"hidden", ParameterValue{std::vector<std::int64_t>{12, 6}}},
        {"activation", ParameterValue{c.activation}},
        {"optimizer", ParameterValue{std::string("lbfgs")}},
        {"lr", ParameterValue{0.5}},
        {"epochs", ParameterValue{std::int64_t{1}}},
        {"weight_decay", ParameterValue{c.weight_decay}},
        {"standardize", ParameterValue{c.standardize}}};
    const ballista::Dataset data{x, y, {"v", "theta"}, {"s", "v"}, {}};
    auto alone = test::make_model(plugin, parameters);
    BOOST_TEST(alone->data_parallel());
    test::RecordingContext alone_context(7);
    alone->fit(data, alone_context);
    const auto expected = alone->predict(queries);
    test::ThreadRanks ranks(c.ranks);
    std::vector<torch::Tensor> predictions(static_cast<std::size_t>(c.ranks));
    std::vector<std::vector<double>> losses(predictions.size());
    ranks.run([&](int rank, ballista::Collective& collective) {
      const auto begin = x.size(0) * rank / c.ranks;
      const auto end = x.size(0) * (rank + 1) / c.ranks;
      auto model = test::make_model(plugin, parameters);
      test::RecordingContext context(7, &collective);
      model->fit({x.slice(0, begin, end), y.slice(0, begin, end), data.input_names, data.target_names, {}}, context);
      predictions[static_cast<std::size_t>(rank)] = model->predict(queries);
      losses[static_cast<std::size_t>(rank)] = context.losses();
    });
    const auto what = std::to_string(c.ranks) + " ranks, " + c.activation;
    // An L-BFGS step of up to 20 evaluations, each one all-reduce (plus the row count
    // and, standardising, the statistics).
    BOOST_TEST(ranks.calls() > 2, what << ": the ranks met " << ranks.calls() << " times");
    const auto scale = y.abs().max().item<double>();
    const auto worst = (predictions[0] - expected).abs().max().item<double>();
    BOOST_TEST(worst <= 1e-5 * scale, what << ": worst difference " << worst << " from one process");
    BOOST_REQUIRE_EQUAL(losses[0].size(), alone_context.losses().size());
    for (std::size_t epoch = 0; epoch < losses[0].size(); ++epoch) {
      const auto one = alone_context.losses()[epoch];
      BOOST_TEST(std::abs(losses[0][epoch] - one) <= 1e-6 * std::abs(one), what << ": epoch " << epoch + 1 << " loss");
    }
    for (std::size_t r = 1; r < predictions.size(); ++r) {
      BOOST_TEST(torch::equal(predictions[r], predictions[0]), what << ": rank " << r << " took other steps");
      BOOST_TEST((losses[r] == losses[0]), what << ": rank " << r << "'s losses");
    }
  }
}

// The full-batch Adam and SGD fast path (no autograd) against Python PyTorch's loop on
// one thread, epoch by epoch: the loss before each step, every weight and bias after the
// last, and the predictions. Same LibTorch kernels in the same order, on blocks of rows
// cut where OpenBLAS's kernels are in step with the whole product: to the bit on the
// kernels where that was checked (README, "Determinism"); elsewhere to 1e-5 relative,
// room for rounding only (a misplaced ε, a missing bias correction or weight decay on
// the wrong term differ by orders of magnitude more).
BOOST_AUTO_TEST_CASE(full_batch_training_follows_python_pytorch_epoch_by_epoch) {
  const auto plugin = test::load_bundled_plugin("mlp");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(29);
  const auto x = torch::rand({120, 2}, generator, torch::kFloat64) * torch::tensor({10.0, 1.5}, torch::kFloat64);
  const auto range = (x.select(1, 0).square() * torch::sin(2 * x.select(1, 1)) / 9.81).unsqueeze(1);
  const auto height = (x.select(1, 0).square() * torch::sin(x.select(1, 1)).square() / 19.62).unsqueeze(1);
  const auto queries = torch::rand({25, 2}, generator, torch::kFloat64) * torch::tensor({12.0, 1.5}, torch::kFloat64);
  // 1100 rows: four blocks of rows in the fast path (the 120 above are one).
  const auto x_large =
      torch::rand({1100, 2}, generator, torch::kFloat64) * torch::tensor({10.0, 1.5}, torch::kFloat64);
  const auto range_large =
      (x_large.select(1, 0).square() * torch::sin(2 * x_large.select(1, 1)) / 9.81).unsqueeze(1);
  test::TemporaryDirectory directory;
  test::write_csv(directory.path() / "one.csv", torch::cat({x, range}, 1));
  test::write_csv(directory.path() / "two.csv", torch::cat({x, range, height}, 1));
  test::write_csv(directory.path() / "large.csv", torch::cat({x_large, range_large}, 1));
  test::write_csv(directory.path() / "queries.csv", queries);
  struct Case {
    std::vector<std::int64_t> hidden;
    std::string activation, optimizer;
    double lr;
    std::int64_t epochs, batch_size;
    double weight_decay;
    bool standardize, two_targets, large = false;
  };
  const std::vector<Case> cases{
      {{16, 16}, "sigmoid", "adam", 0.01, 60, 0, 0.0, false, false},
      {{16}, "sigmoid", "sgd", 0.1, 60, 0, 1e-2, true, false},
      {{16, 16}, "sigmoid", "sgd", 0.05, 40, 500, 0.0, true, true},  // batch ≥ rows: one batch
      {{16}, "tanh", "adam", 0.01, 60, 0, 1e-3, true, false},
      {{16, 16}, "tanh", "sgd", 0.05, 40, 0, 1e-2, true, true},
      {{16, 16}, "relu", "adam", 0.01, 60, 0, 1e-2, true, false},
      {{16}, "relu", "sgd", 0.05, 40, 0, 0.0, true, false},
      {{16}, "gelu", "adam", 0.01, 40, 0, 0.0, false, false},
      {{16, 16}, "gelu", "sgd", 0.05, 40, 0, 1e-3, true, false},
      {{16, 16}, "silu", "adam", 0.01, 40, 0, 1e-3, true, true},
      {{16}, "silu", "sgd", 0.05, 40, 0, 0.0, true, false},
      {{12, 10, 8}, "sigmoid", "adam", 0.02, 40, 0, 1e-4, true, false},  // three hidden layers
      {{256, 256}, "sigmoid", "adam", 0.01, 5, 0, 0.0, false, false},     // the article's network
      // Four blocks of rows, two ranges of weight gradients, widths off the vector length.
      {{300, 260}, "sigmoid", "adam", 0.01, 4, 0, 1e-3, true, false, true},
      {{300, 260}, "silu", "sgd", 0.002, 4, 0, 0.0, false, false, true},
  };
  const std::set<std::string> exact_kernels{"Haswell", "Zen",       "Sandybridge", "Nehalem", "Core2", "Penryn",
                                            "Dunnington", "Prescott", "Barcelona", "Atom", "Bobcat"};
  const double tolerance = exact_kernels.count(ballista::blas_core()) != 0 ? 0.0 : 1e-5;
  BOOST_TEST_MESSAGE("OpenBLAS core " << ballista::blas_core() << ": tolerance " << tolerance);
  const auto close = [tolerance](const std::vector<double>& ours, const std::vector<double>& theirs) {
    double scale = 0.0;
    for (const double value : theirs) {
      scale = std::max(scale, std::abs(value));
    }
    double worst = 0.0;
    for (std::size_t i = 0; i < ours.size(); ++i) {
      worst = std::max(worst, std::abs(ours[i] - theirs[i]));
    }
    return worst <= tolerance * scale;
  };
  const auto values = [](const torch::Tensor& t) {
    const auto flat = t.to(torch::kFloat64).contiguous().flatten();
    return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
  };
  for (const auto& c : cases) {
    std::ostringstream label;
    label << c.activation << "/" << c.optimizer << " hidden " << c.hidden.size() << " wd " << c.weight_decay
          << (c.two_targets ? " two targets" : "") << (c.large ? " 1100 rows" : "");
    auto model = test::make_model(plugin, {{"hidden", ParameterValue{c.hidden}},
                                           {"activation", ParameterValue{c.activation}},
                                           {"optimizer", ParameterValue{c.optimizer}},
                                           {"lr", ParameterValue{c.lr}},
                                           {"epochs", ParameterValue{c.epochs}},
                                           {"batch_size", ParameterValue{c.batch_size}},
                                           {"weight_decay", ParameterValue{c.weight_decay}},
                                           {"standardize", ParameterValue{c.standardize}}});
    const auto& inputs = c.large ? x_large : x;
    const auto targets = c.large ? range_large : c.two_targets ? torch::cat({range, height}, 1) : range;
    test::RecordingContext context(77);
    model->fit({inputs, targets, {"v", "theta"}, c.two_targets ? std::vector<std::string>{"s", "h"} : std::vector<std::string>{"s"}, {}},
               context);
    std::ostringstream arguments;
    std::string hidden;
    for (const auto width : c.hidden) {
      hidden += (hidden.empty() ? "" : ",") + std::to_string(width);
    }
    arguments << "mlp_trajectory "
              << (directory.path() / (c.large ? "large.csv" : c.two_targets ? "two.csv" : "one.csv")).string() << ' '
              << (directory.path() / "queries.csv").string() << " 77 " << hidden << ' ' << c.activation << ' '
              << c.optimizer << ' ' << c.lr << ' ' << c.epochs << ' ' << c.batch_size << ' ' << c.weight_decay << ' '
              << (c.standardize ? 1 : 0);
    const auto reference = test::parse_rows(test::run_python_reference("torch_reference.py", arguments.str()));
    const auto parameter_count = 2 * (c.hidden.size() + 1);
    BOOST_REQUIRE_EQUAL(reference.size(), parameter_count + 2);
    BOOST_REQUIRE_EQUAL(context.losses().size(), reference[0].size());
    BOOST_TEST(close(context.losses(), reference[0]), label.str() << ": loss curve");
    torch::serialize::OutputArchive saved;
    model->save(saved);
    std::stringstream bytes;
    saved.save_to(bytes);
    torch::serialize::InputArchive archive;
    archive.load_from(bytes);
    for (std::size_t i = 0; i < parameter_count; ++i) {
      torch::Tensor parameter;
      archive.read("parameter" + std::to_string(i), parameter);
      BOOST_REQUIRE_EQUAL(static_cast<std::size_t>(parameter.numel()), reference[i + 1].size());
      BOOST_TEST(close(values(parameter), reference[i + 1]), label.str() << ": parameter " << i);
    }
    BOOST_TEST(close(values(model->predict(queries)), reference.back()), label.str() << ": predictions");
  }
}

// Every way the plugin trains and predicts gives the same bits at every thread count
// (LibTorch's and OpenBLAS's, set together as `ballista --threads` does), whichever
// OpenBLAS kernels run. Cutting each epoch into one piece per thread did not: on the
// AVX2 kernels (Haswell, Zen) a product's rows came out otherwise in blocks of another
// height. 1100 rows (four blocks, not a multiple of the row granule), widths that are
// not multiples of the vector length, two ranges of weight gradients and two targets
// make the pieces uneven; the article's network on 1000 rows, predictions for 3000 rows
// (several blocks, and a product big enough for OpenBLAS to split over its threads) and
// the autograd paths (mini-batch, L-BFGS, early stopping) complete the cases.
BOOST_AUTO_TEST_CASE(training_and_prediction_are_the_same_bits_at_every_thread_count) {
  const auto plugin = test::load_bundled_plugin("mlp");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(31);
  const auto draw = [&](std::int64_t rows) {
    const auto x =
        torch::rand({rows, 2}, generator, torch::kFloat64) * torch::tensor({10.0, 1.5}, torch::kFloat64);
    return std::make_pair(x, torch::stack({x.select(1, 0).square() * torch::sin(2 * x.select(1, 1)) / 9.81,
                                           x.select(1, 0) * torch::cos(x.select(1, 1))},
                                          1));
  };
  const auto [x, y] = draw(1100);   // four blocks of rows
  const auto [x_large, y_large] = draw(1000);
  const auto queries =
      torch::rand({3000, 2}, generator, torch::kFloat64) * torch::tensor({12.0, 1.5}, torch::kFloat64);
  const int threads_before = at::get_num_threads();
  const int blas_before = ballista::blas_threads();
  const auto use_threads = [](int threads) {
    at::set_num_threads(threads);
    ballista::set_blas_threads(threads);
  };
  struct Case {
    std::vector<std::int64_t> hidden;
    std::string activation, optimizer;
    double lr;
    std::int64_t epochs, batch_size;
    bool early_stopping, large, two_targets;
  };
  const std::vector<Case> cases{
      {{24, 40}, "sigmoid", "adam", 0.01, 25, 0, false, false, true},
      {{24, 40}, "silu", "sgd", 0.05, 25, 0, false, false, true},
      {{24, 40}, "gelu", "adam", 0.01, 25, 0, false, false, true},
      {{24, 40}, "tanh", "adam", 0.01, 25, 0, false, false, true},
      {{300, 260}, "gelu", "sgd", 0.005, 10, 0, false, false, true},   // two ranges of weight gradients
      {{256, 256}, "sigmoid", "adam", 0.01, 20, 0, false, true, false},  // the article's network
      {{24, 40}, "relu", "adam", 0.01, 2, 64, false, false, true},        // mini-batches (autograd)
      {{24, 40}, "tanh", "lbfgs", 0.5, 3, 0, false, false, true},         // L-BFGS (autograd)
      {{24, 40}, "sigmoid", "adam", 0.01, 15, 0, true, false, true},      // early stopping (autograd)
  };
  for (const auto& c : cases) {
    std::ostringstream label;
    label << c.activation << "/" << c.optimizer << " hidden " << c.hidden[0] << " batch " << c.batch_size
          << (c.early_stopping ? " early stopping" : "");
    const auto& inputs = c.large ? x_large : x;
    const auto targets = c.two_targets ? (c.large ? y_large : y) : (c.large ? y_large : y).slice(1, 0, 1);
    const auto train = [&](int threads) {
      use_threads(threads);
      auto model = test::make_model(plugin, {{"hidden", ParameterValue{c.hidden}},
                                             {"activation", ParameterValue{c.activation}},
                                             {"optimizer", ParameterValue{c.optimizer}},
                                             {"lr", ParameterValue{c.lr}},
                                             {"weight_decay", ParameterValue{1e-3}},
                                             {"epochs", ParameterValue{c.epochs}},
                                             {"batch_size", ParameterValue{c.batch_size}},
                                             {"early_stopping", ParameterValue{c.early_stopping}}});
      test::RecordingContext context(12);
      model->fit({inputs, targets, {"v", "theta"}, c.two_targets ? std::vector<std::string>{"s", "h"}
                                                                   : std::vector<std::string>{"s"}, {}},
                 context);
      auto predictions = model->predict(queries);
      use_threads(1);
      return std::make_pair(context.losses(), predictions);
    };
    const auto [losses, predictions] = train(1);
    BOOST_TEST_REQUIRE(losses.size() == static_cast<std::size_t>(c.epochs), label.str());
    BOOST_TEST(losses.back() < losses.front(), label.str() << ": did not train");
    for (const int threads : {2, 3, 4}) {
      const auto [other_losses, other_predictions] = train(threads);
      BOOST_TEST(other_losses == losses, label.str() << ": losses at " << threads << " threads");
      BOOST_TEST(torch::equal(other_predictions, predictions),
                 label.str() << ": predictions at " << threads << " threads");
    }
  }
  at::set_num_threads(threads_before);
  ballista::set_blas_threads(blas_before);
}

BOOST_AUTO_TEST_CASE(early_stopping_keeps_the_best_validation_weights) {
  const auto plugin = test::load_bundled_plugin("mlp");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(4);
  // Few noisy rows and a large network trained hard: the validation loss turns up.
  const auto x = torch::rand({40, 1}, generator, torch::kFloat64);
  const auto y = torch::sin(6 * x) + 0.3 * torch::randn({40, 1}, generator, torch::kFloat64);
  auto model = test::make_model(plugin, {{"hidden", ParameterValue{std::vector<std::int64_t>{64, 64}}},
                                         {"activation", ParameterValue{std::string("relu")}},
                                         {"epochs", ParameterValue{std::int64_t{3000}}},
                                         {"early_stopping", ParameterValue{true}},
                                         {"validation_fraction", ParameterValue{0.25}},
                                         {"patience", ParameterValue{std::int64_t{30}}}});
  test::RecordingContext context(8);
  model->fit({x, y, {"x"}, {"y"}, {}}, context);
  BOOST_TEST(context.losses().size() < 3000U, "ran all " << context.losses().size() << " epochs");
  BOOST_TEST(context.losses().size() > 30U);
}

BOOST_AUTO_TEST_CASE(cuda_without_cuda_is_a_clear_error) {
  if (torch::cuda::is_available()) {
    BOOST_TEST_MESSAGE("CUDA is available here: nothing to refuse");
    return;
  }
  try {
    (void)test::make_model(test::load_bundled_plugin("mlp"), {{"device", ParameterValue{std::string("cuda")}}});
    BOOST_FAIL("device: cuda accepted without CUDA");
  } catch (const ballista::ParameterError& error) {
    BOOST_TEST(error.parameter() == "device");
    BOOST_TEST(std::string(error.what()).find("use device: cpu") != std::string::npos, error.what());
  }
  BOOST_CHECK_THROW((void)test::make_model(test::load_bundled_plugin("knn"),
                                           {{"device", ParameterValue{std::string("cuda")}}}),
                    ballista::ParameterError);
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
