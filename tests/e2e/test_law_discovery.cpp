// configs/discover.yaml as a user runs it (issue 18): the article's four models next to
// the basis plugin's generated library and the symbolic search, both of which must find
// s = v²·sin(2θ)/g from the 1000 shots alone. Judged against the closed form: the far
// set's error (v 10–20, never seen) within twice the noise variance, and the symbolic
// law's own text, parsed and evaluated, within 0.5% of v²·sin(2θ)/g everywhere.
#include "test_support.hpp"

#include <ballista/expression.hpp>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace test = ballista::test;

BOOST_AUTO_TEST_SUITE(law_discovery)

BOOST_AUTO_TEST_CASE(discover_pipeline_finds_the_law_without_a_handed_basis) {
  const test::TemporaryDirectory out;
  const auto run = out.path() / "run";
  const auto ran = test::run_command(
      "timeout 600 " +
      test::ballista_command("run " + test::shell_quote((test::source_dir() / "configs" / "discover.yaml").string()) +
                             " --quiet --out " + test::shell_quote(run.string())));
  BOOST_REQUIRE_MESSAGE(ran.exit_code == 0, ran.output);
  const auto metrics = test::read_json(run / "metrics.json");
  const auto far = [&](const std::string& name) {
    return test::model_entry(metrics, name)["metrics"]["far"]["mse"].get<double>();
  };
  const double noise_variance = 1e-4;
  for (const auto* model : {"library", "library_blind", "symbolic"}) {
    BOOST_TEST(far(model) < 2 * noise_variance, model << " far MSE " << far(model));
    BOOST_TEST(far(model) < far("mlp") / 1000, model << " far MSE " << far(model) << ", mlp " << far("mlp"));
  }

  // The generated library: one term, the law, chosen in every resample.
  const auto& library = test::model_entry(metrics, "library");
  BOOST_TEST(library["parameter_count"].get<int>() == 1);
  BOOST_TEST(library["describe"].get<std::string>().find("·v^2*sin(2*theta)/g") != std::string::npos,
             library["describe"]);
  BOOST_TEST(library["fit_values"]["library_terms"].get<double>() == 5.0);
  const auto& inclusion = library["fit_tables"]["inclusion"];
  BOOST_TEST(inclusion["columns"][0] == "term");
  BOOST_TEST(inclusion["rows"][0][0] == "v^2*sin(2*theta)/g");
  BOOST_TEST(inclusion["rows"][0][2] == "1");
  BOOST_TEST(test::model_entry(metrics, "library_blind")["parameter_count"].get<int>() == 1);

  // The symbolic law, read back from its own text: v²·sin(2θ)/g within 0.5% at points
  // inside and beyond the training range.
  const auto& symbolic = test::model_entry(metrics, "symbolic");
  const auto description = symbolic["describe"].get<std::string>();
  BOOST_REQUIRE_MESSAGE(description.rfind("s = ", 0) == 0, description);
  const auto law = ballista::Expression::parse(description.substr(4));
  for (const double v : {1.0, 4.0, 9.5, 15.0, 20.0}) {
    for (const double theta : {0.2, 0.7, 1.0, 1.4}) {
      const double truth = v * v * std::sin(2 * theta) / 9.81;
      const double found = law.evaluate(ballista::Expression::ScalarBindings{{"v", v}, {"theta", theta}, {"g", 9.81}});
      BOOST_TEST(std::abs(found / truth - 1) < 0.005, "at v=" << v << ", theta=" << theta << ": " << description);
    }
  }
  BOOST_TEST(!symbolic["fit_tables"]["pareto_front"]["rows"].empty());

  // The report shows both tables after the models' descriptions.
  std::ifstream report(run / "report.md");
  const std::string text((std::istreambuf_iterator<char>(report)), std::istreambuf_iterator<char>());
  BOOST_TEST(text.find("### library: inclusion") != std::string::npos);
  BOOST_TEST(text.find("### library: threshold_cv") != std::string::npos);
  BOOST_TEST(text.find("### symbolic: pareto_front") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
