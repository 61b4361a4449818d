// Unit texts to SI dimension exponents, and the unit of an expression (see units.hpp).
#include <ballista/expression_program.hpp>
#include <ballista/units.hpp>

#include <cctype>
#include <cmath>
#include <sstream>
#include <utility>

BALLISTA_NAMESPACE_BEGIN

namespace {

// m kg s A K mol cd
using E = Unit::Exponents;
const std::vector<std::pair<std::string, E>>& known_symbols() {
  static const std::vector<std::pair<std::string, E>> symbols{
      {"m", {1, 0, 0, 0, 0, 0, 0}},    {"km", {1, 0, 0, 0, 0, 0, 0}},    {"cm", {1, 0, 0, 0, 0, 0, 0}},
      {"mm", {1, 0, 0, 0, 0, 0, 0}},   {"kg", {0, 1, 0, 0, 0, 0, 0}},    {"g", {0, 1, 0, 0, 0, 0, 0}},
      {"s", {0, 0, 1, 0, 0, 0, 0}},    {"ms", {0, 0, 1, 0, 0, 0, 0}},    {"min", {0, 0, 1, 0, 0, 0, 0}},
      {"h", {0, 0, 1, 0, 0, 0, 0}},    {"A", {0, 0, 0, 1, 0, 0, 0}},     {"K", {0, 0, 0, 0, 1, 0, 0}},
      {"mol", {0, 0, 0, 0, 0, 1, 0}},  {"cd", {0, 0, 0, 0, 0, 0, 1}},    {"Hz", {0, 0, -1, 0, 0, 0, 0}},
      {"N", {1, 1, -2, 0, 0, 0, 0}},   {"J", {2, 1, -2, 0, 0, 0, 0}},    {"W", {2, 1, -3, 0, 0, 0, 0}},
      {"Pa", {-1, 1, -2, 0, 0, 0, 0}}, {"C", {0, 0, 1, 1, 0, 0, 0}},     {"V", {2, 1, -3, -1, 0, 0, 0}},
      {"Ohm", {2, 1, -3, -2, 0, 0, 0}}, {"F", {-2, -1, 4, 2, 0, 0, 0}},  {"T", {0, 1, -2, -1, 0, 0, 0}},
      {"Wb", {2, 1, -2, -1, 0, 0, 0}}, {"H", {2, 1, -2, -2, 0, 0, 0}},   {"eV", {2, 1, -2, 0, 0, 0, 0}},
      {"rad", {0, 0, 0, 0, 0, 0, 0}},  {"deg", {0, 0, 0, 0, 0, 0, 0}},   {"sr", {0, 0, 0, 0, 0, 0, 0}},
  };
  return symbols;
}

const char* const kBaseSymbols[Unit::kBaseCount] = {"m", "kg", "s", "A", "K", "mol", "cd"};

// A recursive-descent reader of unit texts: product := factor (('*' | ' ' | '/') factor)*
// (a space between two factors is a product, "N m"),
// factor := (symbol | '1' | '(' product ')') ('^' exponent)?.
class UnitReader {
 public:
  explicit UnitReader(std::string_view text) : text_(text) {}

  Unit read() {
    skip_spaces();
    if (at_end()) {
      return {};
    }
    auto unit = product();
    if (!at_end()) {
      fail("unexpected '" + std::string(1, text_[position_]) + "'");
    }
    return unit;
  }

 private:
  Unit product() {
    auto unit = factor();
    for (;;) {
      skip_spaces();
      if (at_end() || text_[position_] == ')') {
        return unit;
      }
      if (text_[position_] == '/') {
        ++position_;
        unit = unit / factor();
      } else {
        if (text_[position_] == '*') {
          ++position_;
        }
        unit = unit * factor();
      }
    }
  }

  Unit factor() {
    skip_spaces();
    if (at_end()) {
      fail("a unit is missing at the end");
    }
    Unit unit;
    const char first = text_[position_];
    if (first == '(') {
      ++position_;
      unit = product();
      expect(')');
    } else if (first == '1') {
      ++position_;
    } else if (std::isalpha(static_cast<unsigned char>(first)) != 0) {
      const auto begin = position_;
      while (!at_end() && std::isalpha(static_cast<unsigned char>(text_[position_])) != 0) {
        ++position_;
      }
      const std::string symbol(text_.substr(begin, position_ - begin));
      bool found = false;
      for (const auto& [name, dimension] : known_symbols()) {
        if (name == symbol) {
          unit = Unit(dimension);
          found = true;
          break;
        }
      }
      if (!found) {
        std::string list;
        for (const auto& name : Unit::symbols()) {
          list += (list.empty() ? "" : " ") + name;
        }
        fail("unknown unit '" + symbol + "' (known: " + list + ")");
      }
    } else {
      fail("expected a unit symbol, found '" + std::string(1, first) + "'");
    }
    skip_spaces();
    if (!at_end() && text_[position_] == '^') {
      ++position_;
      unit = unit.power(exponent());
    }
    return unit;
  }

  double exponent() {
    skip_spaces();
    if (!at_end() && text_[position_] == '(') {
      ++position_;
      const auto numerator = integer();
      skip_spaces();
      double denominator = 1;
      if (!at_end() && text_[position_] == '/') {
        ++position_;
        denominator = integer();
        if (denominator == 0) {
          fail("an exponent divides by zero");
        }
      }
      expect(')');
      return numerator / denominator;
    }
    return integer();
  }

  double integer() {
    skip_spaces();
    bool negative = false;
    if (!at_end() && (text_[position_] == '-' || text_[position_] == '+')) {
      negative = text_[position_] == '-';
      ++position_;
    }
    if (at_end() || std::isdigit(static_cast<unsigned char>(text_[position_])) == 0) {
      fail("expected an integer exponent");
    }
    double value = 0;
    while (!at_end() && std::isdigit(static_cast<unsigned char>(text_[position_])) != 0) {
      value = value * 10 + (text_[position_] - '0');
      ++position_;
    }
    return negative ? -value : value;
  }

  void expect(char wanted) {
    skip_spaces();
    if (at_end() || text_[position_] != wanted) {
      fail(std::string("expected '") + wanted + "'");
    }
    ++position_;
  }
  void skip_spaces() {
    while (!at_end() && text_[position_] == ' ') {
      ++position_;
    }
  }
  bool at_end() const { return position_ >= text_.size(); }
  [[noreturn]] void fail(const std::string& message) const {
    throw UnitError("unit '" + std::string(text_) + "': " + message + " at column " + std::to_string(position_ + 1));
  }

  std::string_view text_;
  std::size_t position_ = 0;
};

}  // namespace

Unit Unit::parse(std::string_view text) { return UnitReader(text).read(); }

std::vector<std::string> Unit::symbols() {
  std::vector<std::string> names;
  for (const auto& entry : known_symbols()) {
    names.push_back(entry.first);
  }
  return names;
}

bool Unit::dimensionless() const { return *this == Unit(); }

Unit Unit::operator*(const Unit& other) const {
  auto result = exponents_;
  for (std::size_t i = 0; i < kBaseCount; ++i) {
    result[i] += other.exponents_[i];
  }
  return Unit(result);
}

Unit Unit::operator/(const Unit& other) const { return *this * other.power(-1); }

Unit Unit::power(double exponent) const {
  auto result = exponents_;
  for (auto& value : result) {
    value *= exponent;
  }
  return Unit(result);
}

bool Unit::operator==(const Unit& other) const {
  for (std::size_t i = 0; i < kBaseCount; ++i) {
    if (std::abs(exponents_[i] - other.exponents_[i]) > 1e-9) {
      return false;
    }
  }
  return true;
}

std::string Unit::text() const {
  std::ostringstream out;
  bool any = false;
  for (std::size_t i = 0; i < kBaseCount; ++i) {
    const auto exponent = exponents_[i];
    if (std::abs(exponent) <= 1e-9) {
      continue;
    }
    out << (any ? "*" : "") << kBaseSymbols[i];
    if (std::abs(exponent - 1) > 1e-9) {
      out << '^' << exponent;
    }
    any = true;
  }
  return any ? out.str() : "1";
}

std::optional<Unit> expression_unit(const Expression& expression, const UnitMap& units) {
  using Kind = ExpressionStep::Kind;
  // Each stack entry: its unit, and its value when it is a constant (a number, or an
  // operation on numbers), which an exponent must be for a base with units.
  struct Entry {
    Unit unit;
    std::optional<double> value;
  };
  std::vector<Entry> stack;
  const auto pop = [&stack] {
    auto entry = stack.back();
    stack.pop_back();
    return entry;
  };
  for (const auto& step : postfix_program(expression)) {
    switch (step.kind) {
      case Kind::number:
        stack.push_back({Unit(), step.value});
        break;
      case Kind::name: {
        const auto found = units.find(step.name);
        if (found != units.end()) {
          stack.push_back({found->second, std::nullopt});
        } else if (step.name == "pi" || step.name == "e") {
          stack.push_back({Unit(), step.name == "pi" ? M_PI : M_E});
        } else {
          throw UnitError("'" + expression.text() + "' reads '" + step.name + "', which has no unit in data.units");
        }
        break;
      }
      case Kind::negate: {
        auto a = pop();
        if (a.value) {
          a.value = -*a.value;
        }
        stack.push_back(a);
        break;
      }
      case Kind::add:
      case Kind::subtract:
      case Kind::multiply:
      case Kind::divide:
      case Kind::power: {
        const auto b = pop();
        const auto a = pop();
        Entry result;
        if (step.kind == Kind::add || step.kind == Kind::subtract) {
          if (!(a.unit == b.unit)) {
            return std::nullopt;
          }
          result.unit = a.unit;
        } else if (step.kind == Kind::multiply) {
          result.unit = a.unit * b.unit;
        } else if (step.kind == Kind::divide) {
          result.unit = a.unit / b.unit;
        } else {
          if (!b.unit.dimensionless()) {
            return std::nullopt;
          }
          if (a.unit.dimensionless()) {
            result.unit = Unit();
          } else if (b.value) {
            result.unit = a.unit.power(*b.value);
          } else {
            return std::nullopt;
          }
        }
        if (a.value && b.value) {
          switch (step.kind) {
            case Kind::add: result.value = *a.value + *b.value; break;
            case Kind::subtract: result.value = *a.value - *b.value; break;
            case Kind::multiply: result.value = *a.value * *b.value; break;
            case Kind::divide: result.value = *a.value / *b.value; break;
            default: result.value = std::pow(*a.value, *b.value); break;
          }
        }
        stack.push_back(result);
        break;
      }
      case Kind::sqrt:
      case Kind::abs: {
        auto a = pop();
        if (step.kind == Kind::sqrt) {
          a.unit = a.unit.power(0.5);
          if (a.value) {
            a.value = std::sqrt(*a.value);
          }
        } else if (a.value) {
          a.value = std::abs(*a.value);
        }
        stack.push_back(a);
        break;
      }
      case Kind::sin:
      case Kind::cos:
      case Kind::tan:
      case Kind::exp:
      case Kind::log: {
        const auto a = pop();
        if (!a.unit.dimensionless()) {
          return std::nullopt;
        }
        // The value of a function of a constant is not needed: only exponents read values,
        // and an exponent such as 2*sin(1) on a base with units is rare enough to refuse.
        stack.push_back({Unit(), std::nullopt});
        break;
      }
    }
  }
  return stack.empty() ? std::optional<Unit>{} : std::optional<Unit>{stack.back().unit};
}

UnitMap parse_units(const std::vector<std::pair<std::string, std::string>>& texts) {
  UnitMap units;
  for (const auto& [name, text] : texts) {
    try {
      units[name] = Unit::parse(text);
    } catch (const UnitError& error) {
      throw UnitError("data.units." + name + ": " + error.what());
    }
  }
  return units;
}

BALLISTA_NAMESPACE_END
