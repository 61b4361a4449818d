// Declared parameters: the checks the host applies to what users write.
#include <ballista/parameters.hpp>

#include <boost/test/unit_test.hpp>

using ballista::ParameterSpec;
using ballista::ParameterValue;

BOOST_AUTO_TEST_SUITE(parameters)

BOOST_AUTO_TEST_CASE(ranges_are_enforced_with_the_allowed_values_named) {
  const auto k = ParameterSpec::integer("k", 1, "neighbours").at_least(1);
  BOOST_TEST(k.check(ParameterValue{std::int64_t{3}}).empty());
  BOOST_TEST(k.check(ParameterValue{std::int64_t{0}}) == "must be integer >= 1, got 0");
  const auto lr = ParameterSpec::real("lr", 0.01, "rate").greater_than(0).at_most(1);
  BOOST_TEST(lr.check(ParameterValue{0.0}) == "must be real > 0 and <= 1, got 0");
  BOOST_TEST(lr.check(ParameterValue{1.5}) == "must be real > 0 and <= 1, got 1.5");
  BOOST_TEST(lr.check(ParameterValue{1.0}).empty());
}

BOOST_AUTO_TEST_CASE(choices_list_every_allowed_value) {
  const auto solver = ParameterSpec::choice("solver", "lstsq", {"lstsq", "sgd"}, "how");
  BOOST_TEST(solver.check(ParameterValue{std::string("sgd")}).empty());
  BOOST_TEST(solver.check(ParameterValue{std::string("newton")}) == "must be one of: lstsq, sgd, got 'newton'");
}

BOOST_AUTO_TEST_CASE(types_must_match) {
  const auto epochs = ParameterSpec::integer("epochs", 10, "steps");
  BOOST_TEST(epochs.check(ParameterValue{2.5}) == "must be integer, got a real");
  const auto hidden = ParameterSpec::integer_list("hidden", {8}, "sizes").at_least(1).non_empty();
  BOOST_TEST(hidden.check(ParameterValue{std::vector<std::int64_t>{}}) == "must not be empty");
  BOOST_TEST(hidden.check(ParameterValue{std::vector<std::int64_t>{4, 0}}) ==
             "every element must be >= 1, got 0");
}

BOOST_AUTO_TEST_CASE(values_print_as_a_user_writes_them) {
  BOOST_TEST(ballista::to_string(ParameterValue{std::vector<std::int64_t>{256, 256}}) == "[256, 256]");
  BOOST_TEST(ballista::to_string(ParameterValue{0.01}) == "0.01");
  BOOST_TEST(ballista::to_string(ParameterValue{true}) == "true");
}

BOOST_AUTO_TEST_CASE(typed_access_rejects_undeclared_names_and_wrong_types) {
  const ballista::Parameters values({{"k", ParameterValue{std::int64_t{5}}}});
  BOOST_TEST(values.get<std::int64_t>("k") == 5);
  BOOST_CHECK_THROW((void)values.get<double>("k"), std::logic_error);
  BOOST_CHECK_THROW((void)values.get<std::int64_t>("q"), std::logic_error);
}

BOOST_AUTO_TEST_SUITE_END()
