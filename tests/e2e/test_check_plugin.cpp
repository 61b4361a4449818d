// `ballista check-plugin` on source plugins (the bundled projectile passes, the
// sloppy_source fixture fails each check it breaks), `--range`, the lines that say
// which parameter values the `parameters` check tried, and a model that reads its
// inputs by name.
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

namespace test = ballista::test;

namespace {

std::string ballista_command(const std::string& arguments) { return test::ballista_binary().string() + " " + arguments; }

std::string sloppy_source_command(const std::string& arguments) {
  return ballista_command("--plugin-path " + test::shell_quote(test::conformance_plugin_dir()) +
                          " check-plugin sloppy_source" + arguments);
}

// A check's line as printed: "  ok    shapes                1, 2 and 50 rows ...", the
// name padded to the longest source check's, "out-of-domain inputs".
std::string check_line(bool passed, const std::string& name, const std::string& detail = "") {
  return std::string("  ") + (passed ? "ok    " : "FAIL  ") + name + std::string(20 - name.size(), ' ') + "  " +
         detail;
}

void expect_lines(const test::CommandResult& result, const std::vector<std::string>& lines) {
  for (const auto& line : lines) {
    BOOST_TEST(result.output.find(line) != std::string::npos, "missing '" << line << "' in\n" << result.output);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(check_plugin)

BOOST_AUTO_TEST_CASE(the_bundled_projectile_passes_every_source_check) {
  const auto result = test::run_command(ballista_command("check-plugin projectile --range v=0,20 --range theta=0,1.5"));
  BOOST_TEST(result.exit_code == 0, result.output);
  expect_lines(result, {"  inputs drawn uniformly from v in [0, 20], theta in [0, 1.5]",
                        check_line(true, "declared names", "2 inputs (v, theta) and 1 target (s): identifiers, no "
                                                           "duplicates"),
                        check_line(true, "shapes", "1, 2 and 50 rows give float64 [rows, 1]"),
                        check_line(true, "same bits", "20 rows: a second call, a fresh instance with the same seed, "
                                                      "and 1 and 3 threads give the same bits"),
                        check_line(true, "out-of-domain inputs", "NaN, ±inf and ±1e300 in each input of one row of 5:"),
                        check_line(true, "parameters", "5 declared;"),
                        check_line(true, "concurrent calls", "4 threads, each with its own instance, × 10 simulate() "
                                                             "calls agree with one thread to the bit"),
                        "\n6 checks: 6 passed\n"});
  // projectile says why a shot gives NaN (g = 0.001 and max_time = 0.001 s, just inside
  // their bounds: the shells are still in the air): a warning is fine, and shown.
  expect_lines(result, {"(logged 2 warnings, the first: projectile: 4 of 5 shots were still in the air at max_time = "
                        "1000 s (first: row 0, "});
  // Without --range the inputs are uniform in [0, 1], inside projectile's domain too.
  const auto unit = test::run_command(ballista_command("check-plugin projectile"));
  BOOST_TEST(unit.exit_code == 0, unit.output);
  expect_lines(unit, {"  inputs drawn uniformly from v in [0, 1], theta in [0, 1]", "6 checks: 6 passed"});
}

// The discovery models (issue 18): the basis plugin with a generated library, its
// threshold by cross-validation and an ensemble, and the symbolic search on a small
// budget. check-plugin's columns are dimensionless (unit 1), so strict and hard units
// fit too: every choice value is tried and must fit.
BOOST_AUTO_TEST_CASE(the_discovery_models_pass) {
  const auto basis = test::run_command(ballista_command(
      "check-plugin basis --set 'library=[poly]' --set solver=stlsq --set auto_threshold=true --set ensemble=10"));
  BOOST_TEST(basis.exit_code == 0, basis.output);
  expect_lines(basis, {"  units: tried off (default), strict (choice)\n", "\n9 checks: 9 passed\n"});
  const auto symbolic = test::run_command(ballista_command("check-plugin symbolic --set max_evaluations=2000"));
  BOOST_TEST(symbolic.exit_code == 0, symbolic.output);
  expect_lines(symbolic, {"  units: tried off (default), soft (choice), hard (choice)\n", "\n9 checks: 9 passed\n"});
}

// The bundled ode model reads v and theta and predicts s by name (its default system is
// the article's cannon without drag): the checks run on those columns, and a number at
// its bound that leaves the model unable to fit (max_steps = 1) is a refusal with the
// model's message, not a failure.
BOOST_AUTO_TEST_CASE(the_bundled_ode_passes_on_the_columns_it_reads) {
  const auto result = test::run_command(ballista_command("check-plugin ode --range v=1,10 --range theta=0.2,1.4"));
  BOOST_TEST(result.exit_code == 0, result.output);
  expect_lines(result, {"  inputs drawn uniformly from v in [1, 10], theta in [0.2, 1.4]",
                        "  ok    shapes              fit on 64 rows and predict [17, 1], finite, for inputs v, theta × "
                        "targets s",
                        "  skip  input counts        skipped: the model reads inputs v, theta by name",
                        "  ok    save and load       a fresh instance loaded from save() predicts the same bits",
                        "  ok    thread count        fit() and predict() at 1 and 3 threads give the same bits",
                        "  max_steps: tried 1000000 (default), 1 (lower bound, refused by the plugin: when fitted: "
                        "ode: the event 'y = 0 falling' did not occur within max_steps = 1 for 5 of 5 samples",
                        "\n11 checks: 9 passed, 2 skipped\n"});
}

BOOST_AUTO_TEST_CASE(the_sloppy_source_fails_each_check_it_breaks) {
  const auto sloppy = test::run_command(sloppy_source_command(""));
  BOOST_TEST(sloppy.exit_code == 1, sloppy.output);
  expect_lines(sloppy,
               {check_line(false, "declared names",
                           "input 'drift rate' is not an identifier (a letter or _, then letters, digits or _); "
                           "'x' is both an input and a target"),
                check_line(false, "shapes", "1 row: simulate() returned float64 [1], expected float64 [1, 1]"),
                check_line(false, "same bits", "simulate() at 3 threads gives other bits than at 1 (first at row "),
                check_line(false, "out-of-domain inputs", "nan in input 'x' of row 2: target 'x' is "),
                "; a NaN input must give NaN, or be refused with an exception",
                check_line(false, "parameters",
                           "parameter 'gain' = 10: simulate() threw std::runtime_error: sloppy_source: gain "
                           "10.000000 overflows the table"),
                check_line(false, "concurrent calls", "thread "),
                ": other bits than one thread (first at row ",
                "separate instances must not share mutable state", "\n6 checks: 0 passed, 6 failed\n"});
  // A global call counter: the same instance answers differently the second time.
  const auto counter = test::run_command(sloppy_source_command(" --set how=counter"));
  BOOST_TEST(counter.exit_code == 1, counter.output);
  expect_lines(counter, {check_line(false, "same bits", "a second call of the same instance gives other bits "
                                                        "(first at row 0, target 'x': ")});
}

BOOST_AUTO_TEST_CASE(check_plugin_lists_the_parameter_values_it_tried) {
  // projectile declares g > 0 (default 9.81), drag >= 0 (default 0) and drag_law one of
  // quadratic, linear: `ballista plugin projectile` shows the same declaration.
  const auto declared = test::run_command(ballista_command("plugin projectile"));
  BOOST_TEST(declared.exit_code == 0, declared.output);
  expect_lines(declared, {"9.81", "> 0", ">= 0", "quadratic"});
  const auto result = test::run_command(ballista_command("check-plugin projectile"));
  BOOST_TEST(result.exit_code == 0, result.output);
  // A value just inside an exclusive bound is the bound + max(1e-3, |bound|·1e-3).
  expect_lines(result, {"\n  g: tried 9.81 (default), 0.001 (just inside the lower bound); refused 0 (the excluded "
                        "bound)\n",
                        "\n  drag: tried 0 (default), 0 (lower bound); refused -0.001 (below the bound)\n",
                        "\n  drag_law: tried quadratic (default), linear (choice)\n",
                        "\n  max_time: tried 1000 (default), 0.001 (just inside the lower bound); refused 0 (the "
                        "excluded bound)\n"});
  // A value given with --set is the one tried instead of the default.
  const auto given = test::run_command(ballista_command("check-plugin projectile --set drag=0.5"));
  expect_lines(given, {"\n  drag: tried 0.5 (given with --set), 0 (lower bound); refused -0.001 (below the bound)\n"});
  // A model plugin: knn's k >= 1 (default 1), standardize a boolean (default false).
  const auto knn = test::run_command(ballista_command("check-plugin knn"));
  BOOST_TEST(knn.exit_code == 0, knn.output);
  expect_lines(knn, {"\n  k: tried 1 (default), 1 (lower bound); refused 0 (below the bound)\n",
                     "\n  standardize: tried false (default), true (the other boolean)\n",
                     "\n  weights: tried uniform (default), distance (choice)\n"});
  // A value the plugin refuses with a ParameterError, and the value that failed.
  const auto sloppy = test::run_command(sloppy_source_command(""));
  expect_lines(sloppy, {"\n  gain: tried 1 (default), 0 (lower bound, refused by the plugin: gain 0 makes every "
                        "target 0), 10 (upper bound, failed: see the parameters check); refused -0.001 (below the "
                        "bound)\n",
                        "\n  how: tried threads (default)\n"});
}

BOOST_AUTO_TEST_CASE(range_is_checked_before_any_check_runs) {
  const auto refused = [](const std::string& arguments, const std::string& message) {
    const auto result = test::run_command(ballista_command(arguments));
    BOOST_TEST(result.exit_code == 2, arguments << "\n" << result.output);
    BOOST_TEST(result.output.find(message) != std::string::npos,
               arguments << ": missing '" << message << "' in\n"
                         << result.output);
    BOOST_TEST(result.output.find("checks:") == std::string::npos, result.output);
  };
  refused("check-plugin projectile --range thetta=0,1",
          "--range thetta=0,1: projectile has no input 'thetta' (did you mean 'theta'?)");
  refused("check-plugin projectile --range w=0,1", "projectile has no input 'w'");
  refused("check-plugin projectile --range v=5,1", "--range v=5,1: LOW must be below HIGH");
  refused("check-plugin projectile --range v=1,1", "--range v=1,1: LOW must be below HIGH");
  refused("check-plugin projectile --range v=0,inf", "LOW and HIGH must be finite decimal numbers");
  refused("check-plugin projectile --range v=nan,1", "LOW and HIGH must be finite decimal numbers");
  refused("check-plugin projectile --range v=0x1,2", "LOW and HIGH must be finite decimal numbers");
  refused("check-plugin projectile --range 'v=0, 1'", "LOW and HIGH must be finite decimal numbers");
  refused("check-plugin projectile --range v=0", "--range v=0: expected NAME=LOW,HIGH");
  refused("check-plugin projectile --range v=0,1 --range v=0,2", "the range of 'v' is given twice");
  refused("check-plugin knn --range x1=0,1",
          "--range x1=0,1: 'knn' is a model plugin; --range sets the inputs of a source plugin");
  refused("check-plugin projectile --range", "--range needs a value");
  refused("validate configs/cannon.yaml --range v=0,1", "--range only applies to `check-plugin`");
  // A decimal range with exponents and negatives is fine.
  const auto fine = test::run_command(ballista_command("check-plugin projectile --range v=1e-3,2.5E1"));
  BOOST_TEST(fine.exit_code == 0, fine.output);
  BOOST_TEST(fine.output.find("v in [0.001, 25], theta in [0, 1]") != std::string::npos, fine.output);
}

// A model that reads inputs and predicts targets by name (the fixture named_inputs: b, a
// → c, d) is checked on exactly those columns, in its order: the shape checks that vary
// their number are skipped with the reason, every other check runs and passes. What it
// reads follows the parameters under check (--set), and --range sets those inputs.
BOOST_AUTO_TEST_CASE(a_model_that_reads_inputs_by_name_is_checked_on_them) {
  const auto named = [](const std::string& arguments) {
    return test::run_command(ballista_command("--plugin-path " + test::shell_quote(test::named_plugin_dir()) +
                                              " check-plugin named_inputs" + arguments));
  };
  // The model checks' names are padded to the longest, "predict before fit".
  const auto line = [](const std::string& status, const std::string& name, const std::string& detail) {
    return "\n  " + status + std::string(6 - status.size(), ' ') + name + std::string(18 - name.size(), ' ') + "  " +
           detail;
  };
  const auto result = named("");
  BOOST_TEST(result.exit_code == 0, result.output);
  expect_lines(result, {"\n  inputs drawn uniformly from b in [0, 1], a in [0, 1] (--range NAME=LOW,HIGH): the model "
                        "reads them by name\n",
                        "\n  targets c, d: the model predicts them by name\n",
                        line("ok", "shapes", "fit on 64 rows and predict [17, 2], finite, for inputs b, a × targets c, "
                                             "d\n"),
                        line("skip", "input counts", "skipped: the model reads inputs b, a by name, so it is checked on "
                                                     "those alone (not on 1, 2 and 10 inputs)\n"),
                        line("skip", "output counts", "skipped: the model predicts targets c, d by name, so it is "
                                                      "checked on those alone (not on 1 and 3 outputs)\n"),
                        line("ok", "one training row", "fit on a single row, then predicts [3, 2], finite\n"),
                        line("ok", "predict before fit", "predict() refused"), line("ok", "same seed", ""),
                        line("ok", "save and load", ""), line("ok", "non-finite inputs", ""),
                        line("ok", "concurrent predict", ""), line("ok", "thread count", ""),
                        line("ok", "parameters", "1 declared;"),
                        "\n  b_name: tried b (default), w (choice)\n", "\n11 checks: 9 passed, 2 skipped\n"});
  BOOST_TEST(result.output.find("FAIL") == std::string::npos, result.output);
  // --set changes what the model reads, and --range sets the inputs it reads.
  const auto renamed = named(" --set b_name=w --range a=-2,0.5");
  BOOST_TEST(renamed.exit_code == 0, renamed.output);
  expect_lines(renamed, {"\n  inputs drawn uniformly from w in [0, 1], a in [-2, 0.5] (--range NAME=LOW,HIGH)",
                         "skipped: the model reads inputs w, a by name", "\n11 checks: 9 passed, 2 skipped\n"});
  // --range names one of the inputs the model reads, as it would a source's.
  const auto unread = named(" --range w=0,1");
  BOOST_TEST(unread.exit_code == 2, unread.output);
  BOOST_TEST(unread.output.find("--range w=0,1: named_inputs reads no input 'w' by name") != std::string::npos,
             unread.output);
  BOOST_TEST(unread.output.find("checks:") == std::string::npos, unread.output);
}

BOOST_AUTO_TEST_SUITE_END()
