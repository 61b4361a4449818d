// knn against a brute-force search written here: distances in double, ties broken by
// the lower training-row index.
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <sstream>

namespace test = ballista::test;

namespace {

// Neighbours by (distance, row index), distances summed over dimensions in order.
torch::Tensor brute_force(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& queries,
                          std::int64_t k, bool manhattan) {
  const auto n = x.size(0);
  const auto xs = x.contiguous();
  const auto qs = queries.contiguous();
  auto result = torch::empty({queries.size(0), y.size(1)}, torch::kFloat64);
  for (std::int64_t q = 0; q < queries.size(0); ++q) {
    std::vector<std::pair<double, std::int64_t>> order;
    for (std::int64_t i = 0; i < n; ++i) {
      double distance = 0.0;
      for (std::int64_t j = 0; j < x.size(1); ++j) {
        const double d = xs.data_ptr<double>()[i * x.size(1) + j] - qs.data_ptr<double>()[q * x.size(1) + j];
        distance += manhattan ? std::abs(d) : d * d;
      }
      order.emplace_back(distance, i);
    }
    std::sort(order.begin(), order.end());
    for (std::int64_t j = 0; j < y.size(1); ++j) {
      double sum = 0.0;
      for (std::int64_t m = 0; m < k; ++m) {
        sum += y[order[static_cast<std::size_t>(m)].second][j].item<double>();
      }
      result[q][j] = sum / static_cast<double>(k);
    }
  }
  return result;
}

// Targets that name the neighbour set: row i contributes 2^(i mod 50) to column i / 50
// and 0 elsewhere. A mean of k such rows is an exact sum divided by k whatever the
// order, so two searches agree bit for bit exactly when they pick the same rows.
torch::Tensor row_signatures(std::int64_t n) {
  auto y = torch::zeros({n, (n + 49) / 50}, torch::kFloat64);
  for (std::int64_t i = 0; i < n; ++i) {
    y[i][i / 50] = std::ldexp(1.0, static_cast<int>(i % 50));
  }
  return y;
}

std::unique_ptr<ballista::Model> fitted(const ballista::host::LoadedPlugin& plugin, const torch::Tensor& x,
                                        const torch::Tensor& y,
                                        const std::map<std::string, ballista::ParameterValue>& overrides) {
  auto model = test::make_model(plugin, overrides);
  test::RecordingContext context;
  std::vector<std::string> input_names;
  for (std::int64_t j = 0; j < x.size(1); ++j) {
    input_names.push_back("x" + std::to_string(j));
  }
  std::vector<std::string> target_names;
  for (std::int64_t j = 0; j < y.size(1); ++j) {
    target_names.push_back("y" + std::to_string(j));
  }
  model->fit({x, y, input_names, target_names, {}}, context);
  return model;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(knn)

// Seven points around the origin, four of them (rows 1, 3, 4, 5) and a duplicate of
// row 1 (row 6) at distance 1 in both metrics; row 0 at 3, row 2 farther. The query
// (0, 0) therefore has its k-th neighbour inside that tie for k = 2 … 4, and by the
// rule (distance, then lower row) takes rows {1, 3}, {1, 3, 4}, {1, 3, 4, 5}, then row 6,
// then row 0: a closed form, whatever order the points are met in.
BOOST_AUTO_TEST_CASE(a_tie_at_the_kth_distance_goes_to_the_lower_training_row) {
  const auto plugin = test::load_bundled_plugin("knn");
  const auto x = torch::tensor({{3.0, 0.0}, {0.0, 1.0}, {5.0, 5.0}, {1.0, 0.0}, {0.0, -1.0}, {-1.0, 0.0}, {0.0, 1.0}},
                               torch::kFloat64);
  const auto y = row_signatures(7);
  const auto query = torch::zeros({1, 2}, torch::kFloat64);
  const std::vector<std::vector<std::int64_t>> expected{{1}, {1, 3}, {1, 3, 4}, {1, 3, 4, 5}, {1, 3, 4, 5, 6},
                                                        {0, 1, 3, 4, 5, 6}, {0, 1, 2, 3, 4, 5, 6}};
  for (const std::string algorithm : {"kd_tree", "brute"}) {
    for (const std::string metric : {"euclidean", "manhattan"}) {
      for (std::int64_t k = 1; k <= 7; ++k) {
        double sum = 0.0;
        for (const auto row : expected[static_cast<std::size_t>(k - 1)]) {
          sum += std::ldexp(1.0, static_cast<int>(row));
        }
        const auto model = fitted(plugin, x, y, {{"k", ballista::ParameterValue{k}},
                                                 {"metric", ballista::ParameterValue{metric}},
                                                 {"algorithm", ballista::ParameterValue{algorithm}}});
        BOOST_TEST(model->predict(query).item<double>() == sum / static_cast<double>(k),
                   algorithm << " " << metric << " k = " << k);
      }
    }
  }
}

// Integer coordinates in a 4 × 4 grid: 150 points are mostly duplicates and equal
// distances are everywhere, up to k = n.
BOOST_AUTO_TEST_CASE(both_searches_pick_the_plain_searchs_rows_among_duplicates_up_to_k_equal_n) {
  const auto plugin = test::load_bundled_plugin("knn");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(17);
  const auto x = torch::randint(0, 4, {150, 2}, generator, torch::kFloat64);
  const auto y = row_signatures(150);
  const auto queries = torch::cat({torch::randint(0, 4, {40, 2}, generator, torch::kFloat64),
                                   torch::randint(-2, 10, {40, 2}, generator, torch::kFloat64) / 2.0});
  for (const std::string metric : {"euclidean", "manhattan"}) {
    for (const std::int64_t k : {1, 2, 5, 13, 149, 150}) {
      const auto reference = brute_force(x, y, queries, k, metric == "manhattan");
      for (const std::string algorithm : {"kd_tree", "brute"}) {
        const auto model = fitted(plugin, x, y, {{"k", ballista::ParameterValue{k}},
                                                 {"metric", ballista::ParameterValue{metric}},
                                                 {"algorithm", ballista::ParameterValue{algorithm}}});
        BOOST_TEST(torch::equal(model->predict(queries), reference), algorithm << " " << metric << " k = " << k);
      }
    }
  }
}

// Distance weights read the distances and their order: the tree and brute force give
// the same bits only if both are equal to the last bit.
BOOST_AUTO_TEST_CASE(tree_and_brute_force_give_the_same_bits_with_distance_weights) {
  const auto plugin = test::load_bundled_plugin("knn");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(19);
  const auto x = torch::rand({3000, 3}, generator, torch::kFloat64) * torch::tensor({10.0, 1.0, 0.1}, torch::kFloat64);
  const auto y = torch::randn({3000, 2}, generator, torch::kFloat64);
  auto queries = torch::rand({500, 3}, generator, torch::kFloat64) * torch::tensor({12.0, 1.2, 0.12}, torch::kFloat64);
  queries[3] = x[2999];
  for (const std::string metric : {"euclidean", "manhattan"}) {
    for (const bool standardize : {false, true}) {
      std::map<std::string, ballista::ParameterValue> parameters{{"k", ballista::ParameterValue{std::int64_t{6}}},
                                                                 {"weights", ballista::ParameterValue{std::string("distance")}},
                                                                 {"metric", ballista::ParameterValue{metric}},
                                                                 {"standardize", ballista::ParameterValue{standardize}}};
      const auto tree = fitted(plugin, x, y, parameters);
      parameters["algorithm"] = ballista::ParameterValue{std::string("brute")};
      const auto brute = fitted(plugin, x, y, parameters);
      BOOST_TEST(torch::equal(tree->predict(queries), brute->predict(queries)), metric << " standardize " << standardize);
    }
  }
}

// Brute force on the CPU scans points in blocks of a few thousand and runs of 128, four
// at a time: sizes that fill none of them exactly, one to eleven columns (the tree's
// general form too), and duplicates far apart in the training rows.
BOOST_AUTO_TEST_CASE(blocked_brute_force_and_the_tree_equal_a_plain_search_in_any_dimension) {
  const auto plugin = test::load_bundled_plugin("knn");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(23);
  for (const std::int64_t d : {1, 3, 11}) {
    auto x = torch::rand({9001, d}, generator, torch::kFloat64);
    x[9000] = x[100];
    x[5000] = x[100];
    const auto y = torch::randn({9001, 2}, generator, torch::kFloat64);
    auto queries = torch::rand({37, d}, generator, torch::kFloat64);
    queries[0] = x[100];
    queries[36] = x[9000] + 1e-3;
    for (const std::string metric : {"euclidean", "manhattan"}) {
      for (const std::int64_t k : {1, 6}) {
        const auto reference = brute_force(x, y, queries, k, metric == "manhattan");
        for (const std::string algorithm : {"kd_tree", "brute"}) {
          const auto model = fitted(plugin, x, y, {{"k", ballista::ParameterValue{k}},
                                                   {"metric", ballista::ParameterValue{metric}},
                                                   {"algorithm", ballista::ParameterValue{algorithm}}});
          BOOST_TEST(torch::allclose(model->predict(queries), reference, 1e-15, 1e-15),
                     algorithm << " " << metric << " d = " << d << " k = " << k);
        }
      }
    }
  }
}

// Finite inputs whose squared distances overflow to +∞: still k neighbours, tied at +∞
// and so taken by the lower row.
BOOST_AUTO_TEST_CASE(distances_that_overflow_still_give_k_neighbours_by_row) {
  const auto plugin = test::load_bundled_plugin("knn");
  const auto x = torch::tensor({{4e200, 0.0}, {-1e200, 0.0}, {3e200, 0.0}, {0.0, 2e200}, {1.0, 1.0}}, torch::kFloat64);
  const auto y = row_signatures(5);
  const auto queries = torch::tensor({{0.0, 0.0}, {-2e200, 1e200}}, torch::kFloat64);
  for (const std::string metric : {"euclidean", "manhattan"}) {
    for (const std::int64_t k : {1, 3}) {
      const auto reference = brute_force(x, y, queries, k, metric == "manhattan");
      for (const std::string algorithm : {"kd_tree", "brute"}) {
        const auto model = fitted(plugin, x, y, {{"k", ballista::ParameterValue{k}},
                                                 {"metric", ballista::ParameterValue{metric}},
                                                 {"algorithm", ballista::ParameterValue{algorithm}}});
        BOOST_TEST(torch::equal(model->predict(queries), reference), algorithm << " " << metric << " k = " << k);
      }
    }
  }
}

// The tree splits where the samples' Z-order codes differ, on a grid over their
// bounding box. Here the grid fails: an outlier stretches the box so that a tight
// cluster of 2,500 samples shares one code (the tree halves such runs), integer points
// tie, and a third column is flat. The neighbour sets must still be exactly the plain
// search's (the targets name them bit for bit).
BOOST_AUTO_TEST_CASE(the_tree_is_exact_where_its_grid_does_not_fit_the_data) {
  const auto plugin = test::load_bundled_plugin("knn");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(29);
  const std::int64_t n = 3000;
  auto x = torch::full({n, 3}, 7.0, torch::kFloat64);
  x.slice(0, 0, 2500).slice(1, 0, 2) = 1e-12 * torch::rand({2500, 2}, generator, torch::kFloat64);
  x.slice(0, 2500, n - 1).slice(1, 0, 2) = torch::randint(0, 3, {n - 2501, 2}, generator, torch::kFloat64);
  x[n - 1][0] = 1e6;
  x[n - 1][1] = -1e6;
  const auto y = row_signatures(n);
  auto queries = torch::full({24, 3}, 7.0, torch::kFloat64);
  queries.slice(0, 0, 8).slice(1, 0, 2) = 1e-12 * torch::rand({8, 2}, generator, torch::kFloat64);
  queries.slice(0, 8, 20).slice(1, 0, 2) = 0.5 * torch::randint(0, 6, {12, 2}, generator, torch::kFloat64);
  queries[20][0] = 1e6;
  queries[21][1] = -3e5;
  queries[22][2] = -1.0;
  queries[23][0] = 2e-12;
  for (const std::int64_t d : {2, 3}) {
    const auto samples = x.slice(1, 0, d).contiguous();
    const auto asked = queries.slice(1, 0, d).contiguous();
    for (const std::string metric : {"euclidean", "manhattan"}) {
      for (const std::int64_t k : {1, 4, 17, 40}) {
        const auto reference = brute_force(samples, y, asked, k, metric == "manhattan");
        const auto model = fitted(plugin, samples, y, {{"k", ballista::ParameterValue{k}},
                                                       {"metric", ballista::ParameterValue{metric}},
                                                       {"algorithm", ballista::ParameterValue{std::string("kd_tree")}}});
        BOOST_TEST(torch::equal(model->predict(asked), reference), metric << " d = " << d << " k = " << k);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(tree_and_brute_force_equal_a_plain_search_including_ties) {
  const auto plugin = test::load_bundled_plugin("knn");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(11);
  // Integer coordinates make many equal distances: the tie-break is exercised.
  const auto x = torch::randint(0, 5, {200, 2}, generator, torch::kFloat64);
  const auto y = torch::randn({200, 2}, generator, torch::kFloat64);
  const auto queries = torch::randint(0, 5, {60, 2}, generator, torch::kFloat64) + 0.5 *
                       torch::randint(0, 2, {60, 2}, generator, torch::kFloat64);
  for (const std::string algorithm : {"kd_tree", "brute"}) {
    for (const std::string metric : {"euclidean", "manhattan"}) {
      for (const std::int64_t k : {1, 3, 7}) {
        auto model = test::make_model(plugin, {{"k", ballista::ParameterValue{k}},
                                               {"metric", ballista::ParameterValue{metric}},
                                               {"algorithm", ballista::ParameterValue{algorithm}}});
        test::RecordingContext context;
        model->fit({x, y, {"a", "b"}, {"p", "q"}, {}}, context);
        // Same neighbours; the mean of k of them may round differently in the last bit.
        BOOST_TEST(torch::allclose(model->predict(queries), brute_force(x, y, queries, k, metric == "manhattan"),
                                   1e-15, 1e-15),
                   algorithm << " " << metric << " k = " << k);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_million_points_and_a_hundred_thousand_queries_are_routine) {
  const auto plugin = test::load_bundled_plugin("knn");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto x = torch::rand({1000000, 2}, generator, torch::kFloat64);
  const auto y = torch::rand({1000000, 1}, generator, torch::kFloat64);
  const auto queries = torch::rand({100000, 2}, generator, torch::kFloat64);
  auto tree = test::make_model(plugin, {{"k", ballista::ParameterValue{std::int64_t{5}}}});
  auto brute = test::make_model(plugin, {{"k", ballista::ParameterValue{std::int64_t{5}}},
                                         {"algorithm", ballista::ParameterValue{std::string("brute")}}});
  test::RecordingContext context;
  tree->fit({x, y, {"a", "b"}, {"y"}, {}}, context);
  brute->fit({x, y, {"a", "b"}, {"y"}, {}}, context);
  const auto predicted = tree->predict(queries);
  BOOST_TEST(predicted.sizes() == (std::vector<std::int64_t>{100000, 1}));
  // Brute force agrees on a sample of the queries.
  const auto sample = queries.slice(0, 0, 1000);
  BOOST_TEST(torch::equal(brute->predict(sample), predicted.slice(0, 0, 1000)));
}

BOOST_AUTO_TEST_CASE(equals_scikit_learn_for_every_weighting_metric_and_scaling) {
  const auto plugin = test::load_bundled_plugin("knn");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(21);
  // Inputs on different scales, so standardising changes the neighbours.
  const auto x = torch::rand({300, 3}, generator, torch::kFloat64) * torch::tensor({10.0, 1.0, 0.1}, torch::kFloat64);
  const auto y = torch::randn({300, 2}, generator, torch::kFloat64);
  auto queries = torch::rand({80, 3}, generator, torch::kFloat64) * torch::tensor({10.0, 1.0, 0.1}, torch::kFloat64);
  queries[0] = x[17];  // a query on a stored sample: distance weighting must not divide by zero
  test::TemporaryDirectory directory;
  test::write_csv(directory.path() / "train.csv", torch::cat({x, y}, 1));
  test::write_csv(directory.path() / "queries.csv", queries);
  for (const std::string weights : {"uniform", "distance"}) {
    for (const std::string metric : {"euclidean", "manhattan"}) {
      for (const bool standardize : {false, true}) {
        const auto reference = test::parse_rows(test::run_python_reference(
            "sklearn_reference.py", "knn " + (directory.path() / "train.csv").string() + " " +
                                        (directory.path() / "queries.csv").string() + " 4 " + weights + " " + metric +
                                        (standardize ? " 1" : " 0")));
        BOOST_REQUIRE_EQUAL(reference.size(), 80U);
        for (const std::string algorithm : {"kd_tree", "brute"}) {
          auto model = test::make_model(plugin, {{"k", ballista::ParameterValue{std::int64_t{4}}},
                                                 {"weights", ballista::ParameterValue{weights}},
                                                 {"metric", ballista::ParameterValue{metric}},
                                                 {"standardize", ballista::ParameterValue{standardize}},
                                                 {"algorithm", ballista::ParameterValue{algorithm}}});
          test::RecordingContext context;
          model->fit({x, y, {"a", "b", "c"}, {"p", "q"}, {}}, context);
          const auto predicted = model->predict(queries);
          double worst = 0.0;
          for (std::int64_t q = 0; q < 80; ++q) {
            for (std::int64_t j = 0; j < 2; ++j) {
              worst = std::max(worst, std::abs(predicted[q][j].item<double>() -
                                               reference[static_cast<std::size_t>(q)][static_cast<std::size_t>(j)]));
            }
          }
          BOOST_TEST(worst <= 1e-6, algorithm << " " << weights << "/" << metric << "/standardize=" << standardize
                                              << ": " << worst);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(k1_reproduces_the_training_targets_and_the_articles_probe) {
  const auto plugin = test::load_bundled_plugin("knn");
  const auto data = test::article_dataset_from_numpy();
  auto model = test::make_model(plugin, {});
  test::RecordingContext context;
  model->fit(data, context);
  BOOST_TEST(torch::equal(model->predict(data.inputs), data.targets));
  // The article: the probe (4, 1.2) is answered by the shot at (3.9268, 1.2042).
  const auto probe = torch::tensor({{4.0, 1.2}}, torch::kFloat64);
  const auto nearest = ((data.inputs - probe).square().sum(1)).argmin().item<std::int64_t>();
  BOOST_TEST(model->predict(probe).item<double>() == data.targets[nearest][0].item<double>());
  BOOST_TEST(model->parameter_count() == 3000);
}

BOOST_AUTO_TEST_CASE(explain_names_the_stored_samples_behind_each_answer) {
  const auto plugin = test::load_bundled_plugin("knn");
  const auto data = test::article_dataset_from_numpy();
  auto nearest_one = test::make_model(plugin, {});
  test::RecordingContext context;
  nearest_one->fit(data, context);
  // The article's probe: the shot at (3.9268, 1.2042).
  const auto lines = nearest_one->explain(torch::tensor({{4.0, 1.2}}, torch::kFloat64));
  BOOST_REQUIRE_EQUAL(lines.size(), 1U);
  BOOST_TEST(lines[0].find("nearest stored sample: v=3.9268, theta=1.2042 → s=") == 0U, lines[0]);
  // k = 3 on standardised inputs: the three rows a brute-force search ranks first, in
  // order, each named by its original (not standardised) inputs.
  auto three = test::make_model(plugin, {{"k", ballista::ParameterValue{std::int64_t{3}}},
                                         {"standardize", ballista::ParameterValue{true}}});
  three->fit(data, context);
  const auto queries = torch::tensor({{4.0, 1.2}, {20.0, 0.85}, {0.5, 0.1}}, torch::kFloat64);
  const auto explained = three->explain(queries);
  BOOST_REQUIRE_EQUAL(explained.size(), 3U);
  const auto mean = data.inputs.mean(0);
  const auto scale = data.inputs.std(0, /*unbiased=*/false);
  const auto scaled = (data.inputs - mean) / scale;
  for (std::int64_t q = 0; q < 3; ++q) {
    const auto distance = ((scaled - (queries[q] - mean) / scale).square().sum(1));
    const auto order = std::get<1>(distance.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false));
    std::size_t position = 0;
    for (std::int64_t j = 0; j < 3; ++j) {
      const auto row = order[j].item<std::int64_t>();
      std::ostringstream expected;
      expected.precision(5);
      expected << "v=" << data.inputs[row][0].item<double>() << ", theta=" << data.inputs[row][1].item<double>()
               << " → s=" << data.targets[row][0].item<double>();
      const auto found = explained[static_cast<std::size_t>(q)].find(expected.str(), position);
      BOOST_TEST(found != std::string::npos, explained[static_cast<std::size_t>(q)] << " lacks " << expected.str());
      position = found == std::string::npos ? position : found + 1;
    }
  }
  BOOST_TEST(explained[0].find("3 nearest stored samples: ") == 0U, explained[0]);
}

BOOST_AUTO_TEST_CASE(refuses_k_larger_than_the_data_and_predict_before_fit) {
  const auto plugin = test::load_bundled_plugin("knn");
  auto model = test::make_model(plugin, {{"k", ballista::ParameterValue{std::int64_t{5}}}});
  BOOST_CHECK_THROW((void)model->predict(torch::zeros({1, 2}, torch::kFloat64)), std::logic_error);
  test::RecordingContext context;
  const auto x = torch::zeros({3, 2}, torch::kFloat64);
  BOOST_CHECK_THROW(model->fit({x, torch::zeros({3, 1}, torch::kFloat64), {"a", "b"}, {"y"}, {}}, context),
                    std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(loading_fewer_stored_samples_than_k_is_refused) {
  const auto plugin = test::load_bundled_plugin("knn");
  const auto x = torch::tensor({{0.0, 0.0}, {1.0, 0.0}, {0.0, 1.0}}, torch::kFloat64);
  const auto three_rows = fitted(plugin, x, row_signatures(3), {});
  test::TemporaryDirectory directory;
  torch::serialize::OutputArchive out;
  three_rows->save(out);
  out.save_to((directory.path() / "model.pt").string());
  torch::serialize::InputArchive in;
  in.load_from((directory.path() / "model.pt").string());
  auto five = test::make_model(plugin, {{"k", ballista::ParameterValue{std::int64_t{5}}}});
  BOOST_CHECK_THROW(five->load(in), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(save_load_round_trip_is_bit_identical) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(13);
  const auto x = torch::rand({40, 2}, generator, torch::kFloat64) * 3;
  const auto y = torch::cat({x.select(1, 0).square().unsqueeze(1) / 9.81, torch::sin(x.prod(1)).unsqueeze(1)}, 1);
  const ballista::Dataset data{x, y, {"x", "y"}, {"p", "q"}, {{"g", 9.81}}};
  test::check_save_load_round_trip(test::load_bundled_plugin("knn"), {{"k", ballista::ParameterValue{std::int64_t{3}}},
                                                   {"weights", ballista::ParameterValue{std::string("distance")}},
                                                   {"standardize", ballista::ParameterValue{true}}}, data,
                                   torch::rand({25, 2}, generator, torch::kFloat64) * 4);
}

// The stored samples shared over ranks (threads here, each with its share of the rows,
// contiguous and in rank order, as the host cuts them): every rank answers predict(),
// explain(), describe() and parameter_count() as one process fitted on every row does,
// to the bit, and save() writes the same file. The samples are mostly duplicates on a
// 4 × 4 grid, with each row's signature as its target, so a tie decided otherwise
// than by the lower row of all would show; shares smaller than k, and ranks with none.
BOOST_AUTO_TEST_CASE(shared_samples_answer_and_save_as_one_process_does) {
  const auto plugin = test::load_bundled_plugin("knn");
  auto generator = at::make_generator<at::CPUGeneratorImpl>(29);
  const auto bytes = [](const ballista::Model& model) {
    torch::serialize::OutputArchive archive;
    model.save(archive);
    std::ostringstream out;
    archive.save_to(out);
    return out.str();
  };
  struct Case {
    std::int64_t rows;
    int ranks;
    std::int64_t k;
    std::map<std::string, ballista::ParameterValue> more;
  };
  const std::vector<Case> cases{
      {150, 2, 1, {}},
      {150, 3, 5, {{"metric", ballista::ParameterValue{std::string("manhattan")}}}},
      {150, 7, 13, {{"algorithm", ballista::ParameterValue{std::string("brute")}}}},
      {150, 3, 6, {{"weights", ballista::ParameterValue{std::string("distance")}},
                   {"standardize", ballista::ParameterValue{true}}}},
      {10, 4, 5, {}},  // shares of 2 and 3 rows, fewer than k
      {3, 5, 2, {{"weights", ballista::ParameterValue{std::string("distance")}}}},  // two ranks hold no row
  };
  for (const auto& c : cases) {
    const auto x = torch::randint(0, 4, {c.rows, 2}, generator, torch::kFloat64);
    const auto y = row_signatures(c.rows);
    const auto queries = torch::cat({torch::randint(0, 4, {30, 2}, generator, torch::kFloat64),
                                     torch::randint(-2, 10, {30, 2}, generator, torch::kFloat64) / 2.0});
    auto parameters = c.more;
    parameters["k"] = ballista::ParameterValue{c.k};
    const auto alone = fitted(plugin, x, y, parameters);
    const auto expected = alone->predict(queries);
    const auto expected_lines = alone->explain(queries);
    const auto expected_file = bytes(*alone);
    const auto what = std::to_string(c.rows) + " rows on " + std::to_string(c.ranks) + " ranks, k = " +
                      std::to_string(c.k);
    std::vector<std::string> target_names;  // as fitted() names them
    for (std::int64_t j = 0; j < y.size(1); ++j) {
      target_names.push_back("y" + std::to_string(j));
    }
    test::ThreadRanks ranks(c.ranks);
    std::vector<torch::Tensor> predictions(static_cast<std::size_t>(c.ranks));
    std::vector<std::vector<std::string>> lines(predictions.size());
    std::vector<std::string> files(predictions.size());
    std::vector<std::string> descriptions(predictions.size());
    std::vector<std::int64_t> counts(predictions.size());
    ranks.run([&](int rank, ballista::Collective& collective) {
      const auto begin = c.rows * rank / c.ranks;
      const auto end = c.rows * (rank + 1) / c.ranks;
      auto model = test::make_model(plugin, parameters);
      BOOST_REQUIRE(model->data_parallel());
      test::RecordingContext context(0, &collective);
      model->fit({x.slice(0, begin, end), y.slice(0, begin, end), {"x0", "x1"}, target_names, {}}, context);
      const auto r = static_cast<std::size_t>(rank);
      predictions[r] = model->predict(queries);
      lines[r] = model->explain(queries);
      files[r] = bytes(*model);
      descriptions[r] = model->describe();
      counts[r] = model->parameter_count();
    });
    BOOST_TEST(ranks.calls() >= 4, what << ": the ranks met " << ranks.calls() << " times");
    for (std::size_t r = 0; r < predictions.size(); ++r) {
      BOOST_TEST(torch::equal(predictions[r], expected), what << ": rank " << r << "'s predictions");
      BOOST_TEST((lines[r] == expected_lines), what << ": rank " << r << "'s explanations");
      BOOST_TEST((files[r] == expected_file), what << ": rank " << r << "'s saved model");
      BOOST_TEST(descriptions[r] == alone->describe(), what);
      BOOST_TEST(counts[r] == alone->parameter_count(), what);
    }
  }
}

// A share that fails fit()'s checks fails the fit on every rank, named by its rank.
BOOST_AUTO_TEST_CASE(a_shared_fit_with_a_bad_share_fails_on_every_rank) {
  const auto plugin = test::load_bundled_plugin("knn");
  auto x = torch::rand({20, 2}, torch::kFloat64);
  x[15][1] = std::nan("");
  const auto y = torch::rand({20, 1}, torch::kFloat64);
  test::ThreadRanks ranks(2);
  std::vector<std::string> errors(2);
  ranks.run([&](int rank, ballista::Collective& collective) {
    auto model = test::make_model(plugin, {});
    test::RecordingContext context(0, &collective);
    try {
      model->fit({x.slice(0, 10 * rank, 10 * rank + 10), y.slice(0, 10 * rank, 10 * rank + 10), {"a", "b"}, {}, {}},
                 context);
    } catch (const std::invalid_argument& error) {
      errors[static_cast<std::size_t>(rank)] = error.what();
    }
  });
  BOOST_TEST(errors[0].find("rank 1 of 2") != std::string::npos, errors[0]);
  BOOST_TEST(errors[1].find("row 5, column 1") != std::string::npos, errors[1]);
}

BOOST_AUTO_TEST_SUITE_END()
