// Units against dimensions worked out by hand (SI base exponents m kg s A K mol cd), and
// the units of expressions against the dimensional analysis of textbook formulas.
#include <ballista/units.hpp>

#include <boost/test/unit_test.hpp>

#include <string>

using ballista::Expression;
using ballista::Unit;
using ballista::UnitError;

namespace {

Unit base(double m, double kg, double s, double a = 0) { return Unit(Unit::Exponents{m, kg, s, a, 0, 0, 0}); }

std::string refusal(const std::string& text) {
  try {
    (void)Unit::parse(text);
  } catch (const UnitError& error) {
    return error.what();
  }
  return "(parsed)";
}

std::string unit_of(const std::string& expression, const ballista::UnitMap& units) {
  const auto unit = ballista::expression_unit(Expression::parse(expression), units);
  return unit ? unit->text() : "inconsistent";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(units)

BOOST_AUTO_TEST_CASE(unit_texts_read_as_si_exponents) {
  BOOST_TEST((Unit::parse("m/s") == base(1, 0, -1)));
  BOOST_TEST((Unit::parse("m/s^2") == base(1, 0, -2)));
  BOOST_TEST((Unit::parse("kg*m^2/s^2") == base(2, 1, -2)));
  BOOST_TEST((Unit::parse("J") == base(2, 1, -2)));
  BOOST_TEST((Unit::parse("N m") == base(2, 1, -2)));         // a space is a product
  BOOST_TEST((Unit::parse("kg/(m*s)") == base(-1, 1, -1)));   // Pa·s, a viscosity
  BOOST_TEST((Unit::parse("1/s") == Unit::parse("Hz")));
  BOOST_TEST((Unit::parse("m^(1/2)") == base(0.5, 0, 0)));
  BOOST_TEST((Unit::parse("s^-2") == base(0, 0, -2)));
  BOOST_TEST((Unit::parse("V") == base(2, 1, -3, -1)));        // W/A
  BOOST_TEST((Unit::parse("V*A") == Unit::parse("W")));
  BOOST_TEST((Unit::parse("C/s") == Unit::parse("A")));
  BOOST_TEST(Unit::parse("rad").dimensionless());
  BOOST_TEST(Unit::parse("").dimensionless());
  BOOST_TEST(Unit::parse("1").dimensionless());
  BOOST_TEST(Unit::parse("m/s^2").text() == "m*s^-2");
  BOOST_TEST(Unit().text() == "1");
}

BOOST_AUTO_TEST_CASE(bad_unit_texts_say_what_and_where) {
  BOOST_TEST(refusal("furlong/fortnight").find("unknown unit 'furlong' (known: m km") != std::string::npos);
  BOOST_TEST(refusal("m/").find("a unit is missing at the end") != std::string::npos);
  BOOST_TEST(refusal("m^x").find("expected an integer exponent at column 3") != std::string::npos);
  BOOST_TEST(refusal("(m").find("expected ')'") != std::string::npos);
  BOOST_TEST(refusal("m)").find("unexpected ')'") != std::string::npos);
  BOOST_TEST(refusal("m^(1/0)").find("divides by zero") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(expressions_get_the_units_of_dimensional_analysis) {
  const auto units = ballista::parse_units(
      {{"v", "m/s"}, {"theta", "rad"}, {"g", "m/s^2"}, {"l", "m"}, {"m", "kg"}, {"t", "s"}, {"q", "C"}});
  BOOST_TEST(unit_of("v^2*sin(2*theta)/g", units) == "m");  // the cannon's range
  BOOST_TEST(unit_of("2*pi*sqrt(l/g)", units) == "s");       // a pendulum's period
  BOOST_TEST(unit_of("m*v^2/2", units) == "m^2*kg*s^-2");  // kinetic energy
  BOOST_TEST(unit_of("m*g*l + m*v^2/2", units) == "m^2*kg*s^-2");  // energies add
  BOOST_TEST(unit_of("l^(1/2)", units) == "m^0.5");
  BOOST_TEST(unit_of("abs(-v)", units) == "m*s^-1");
  BOOST_TEST(unit_of("exp(-t*g/v)", units) == "1");
  BOOST_TEST(unit_of("q/t", units) == "A");
  // Sums of different units, functions of quantities, exponents that vary: inconsistent.
  BOOST_TEST(unit_of("v + l", units) == "inconsistent");
  BOOST_TEST(unit_of("sin(v)", units) == "inconsistent");
  BOOST_TEST(unit_of("log(l)", units) == "inconsistent");
  BOOST_TEST(unit_of("l^theta", units) == "inconsistent");
  BOOST_TEST(unit_of("theta^theta", units) == "1");  // a dimensionless base may take any exponent
  BOOST_TEST(unit_of("2^l", units) == "inconsistent");
  BOOST_CHECK_EXCEPTION((void)unit_of("w*v", units), UnitError, [](const UnitError& error) {
    return std::string(error.what()).find("reads 'w', which has no unit in data.units") != std::string::npos;
  });
  BOOST_CHECK_EXCEPTION(ballista::parse_units({{"v", "m/z"}}), UnitError, [](const UnitError& error) {
    return std::string(error.what()).find("data.units.v: unit 'm/z': unknown unit 'z'") != std::string::npos;
  });
}

BOOST_AUTO_TEST_SUITE_END()
