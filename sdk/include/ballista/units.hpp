// Physical dimensions, for plugins that keep only dimensionally consistent terms (the
// basis plugin's `units: strict`, the symbolic search). A unit is read as exponents of
// the SI base dimensions; its scale is ignored (km and m are both a length), so the
// check is on dimensions only. Angles (rad, deg) are dimensionless.
#pragma once

#include <ballista/expression.hpp>
#include <ballista/version.hpp>

#include <array>
#include <cstddef>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

BALLISTA_NAMESPACE_BEGIN

class BALLISTA_API UnitError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class BALLISTA_API Unit {
 public:
  // m, kg, s, A, K, mol, cd.
  static constexpr std::size_t kBaseCount = 7;
  using Exponents = std::array<double, kBaseCount>;

  Unit() = default;  // dimensionless
  explicit Unit(const Exponents& exponents) : exponents_(exponents) {}

  // Reads "m/s", "m/s^2", "kg*m^2/s^2", "kg/(m*s)", "1/s", "N*m", "1" or "" (dimensionless).
  // Factors are joined by `*` (or a space) and `/`; an exponent is an integer or a fraction
  // in parentheses (`m^(1/2)`). Throws UnitError naming the unknown symbol and the known ones.
  static Unit parse(std::string_view text);
  // The symbols parse() knows, for messages and docs.
  static std::vector<std::string> symbols();

  bool dimensionless() const;
  const Exponents& exponents() const { return exponents_; }
  Unit operator*(const Unit& other) const;
  Unit operator/(const Unit& other) const;
  Unit power(double exponent) const;
  // Equal exponents (to 1e-9).
  bool operator==(const Unit& other) const;
  // In base symbols, e.g. "m*s^-2"; "1" when dimensionless.
  std::string text() const;

 private:
  Exponents exponents_{};
};

using UnitMap = std::map<std::string, Unit, std::less<>>;

// The unit of `expression` when its names have the units in `units`; std::nullopt when the
// expression is dimensionally inconsistent: a sum or difference of different units, sin
// cos tan exp or log of a quantity with units, or an exponent that is not a constant applied
// to a quantity with units. Numbers, pi and e (unless `units` names them) are dimensionless;
// sqrt and abs take any unit. Throws UnitError for a name missing from `units`.
BALLISTA_API std::optional<Unit> expression_unit(const Expression& expression, const UnitMap& units);

// Parses the unit texts of a data set (Dataset::units) into a UnitMap. Throws UnitError
// naming the entry whose text does not parse.
BALLISTA_API UnitMap parse_units(const std::vector<std::pair<std::string, std::string>>& texts);

BALLISTA_NAMESPACE_END
