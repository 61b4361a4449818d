// Candidate terms from primitives (see term_library.hpp).
#include "term_library.hpp"

#include <ballista/expression.hpp>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <optional>

namespace basis {

const std::vector<std::string>& library_primitives() {
  static const std::vector<std::string> primitives{"poly", "sin", "cos", "exp", "log", "sqrt", "abs"};
  return primitives;
}

namespace {

// Functions whose argument's multiples give new shapes; log(2x), sqrt(2x) and abs(2x) are
// constant multiples or shifts of the k = 1 term, so they are generated once.
bool takes_multiples(const std::string& function) {
  return function == "sin" || function == "cos" || function == "exp";
}

// Monomials of total degree 1..degree, by degree, inputs in order within a degree:
// v, theta, v^2, v*theta, theta^2.
std::vector<std::string> monomials(const std::vector<std::string>& inputs, std::int64_t degree) {
  std::vector<std::string> terms;
  const auto count = static_cast<std::int64_t>(inputs.size());
  std::vector<std::int64_t> powers(inputs.size());
  for (std::int64_t total = 1; total <= degree; ++total) {
    // Exponent vectors summing to `total`, in lexicographically decreasing order.
    std::function<void(std::int64_t, std::int64_t)> place = [&](std::int64_t index, std::int64_t left) {
      if (index == count - 1) {
        powers[static_cast<std::size_t>(index)] = left;
        std::string text;
        for (std::size_t i = 0; i < inputs.size(); ++i) {
          if (powers[i] == 0) {
            continue;
          }
          text += (text.empty() ? "" : "*") + inputs[i] + (powers[i] > 1 ? "^" + std::to_string(powers[i]) : "");
        }
        terms.push_back(text);
        return;
      }
      for (std::int64_t power = left; power >= 0; --power) {
        powers[static_cast<std::size_t>(index)] = power;
        place(index + 1, left - power);
      }
    };
    if (count > 0) {
      place(0, total);
    }
  }
  return terms;
}

std::vector<std::string> function_terms(const std::vector<std::string>& inputs, const LibrarySpec& spec) {
  std::vector<std::string> terms;
  for (const auto& function : spec.functions) {
    if (function == "poly") {
      continue;
    }
    const auto multiples = takes_multiples(function) ? spec.multiples : 1;
    for (const auto& input : inputs) {
      for (std::int64_t k = 1; k <= multiples; ++k) {
        terms.push_back(function + "(" + (k == 1 ? input : std::to_string(k) + "*" + input) + ")");
      }
    }
  }
  return terms;
}

// sqrt(x)*sqrt(x) is x and abs(x)*abs(x) is x^2: with monomials in the library, such a
// product would be a second, collinear copy of one.
bool squares_a_monomial(const std::vector<std::size_t>& chosen, const std::vector<std::string>& functions) {
  for (std::size_t i = 0; i + 1 < chosen.size(); ++i) {
    const auto& factor = functions[chosen[i]];
    if (chosen[i] == chosen[i + 1] && (factor.rfind("sqrt(", 0) == 0 || factor.rfind("abs(", 0) == 0)) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::vector<std::string> generate_terms(const std::vector<std::string>& inputs, const LibrarySpec& spec) {
  const auto with_monomials = std::find(spec.functions.begin(), spec.functions.end(), "poly") != spec.functions.end();
  const auto powers = with_monomials ? monomials(inputs, spec.degree) : std::vector<std::string>{};
  const auto functions = function_terms(inputs, spec);
  std::vector<std::string> terms;
  for (std::int64_t factors = 1; factors <= spec.products; ++factors) {
    // `factors` functions in non-decreasing index order, with or without one monomial in front.
    std::vector<std::size_t> chosen;
    std::function<void(std::size_t)> choose = [&](std::size_t from) {
      if (with_monomials && squares_a_monomial(chosen, functions)) {
        return;  // and every product that contains it
      }
      const auto with_monomial = static_cast<std::int64_t>(chosen.size()) + 1 == factors;
      const auto alone = static_cast<std::int64_t>(chosen.size()) == factors;
      if (alone || with_monomial) {
        std::string product;
        for (const auto index : chosen) {
          product += (product.empty() ? "" : "*") + functions[index];
        }
        if (alone && !product.empty()) {
          terms.push_back(product);
        }
        if (with_monomial) {
          for (const auto& monomial : powers) {
            terms.push_back(monomial + (product.empty() ? "" : "*" + product));
          }
        }
        if (alone) {
          return;
        }
      }
      for (std::size_t index = from; index < functions.size(); ++index) {
        chosen.push_back(index);
        choose(index);
        chosen.pop_back();
      }
    };
    choose(0);
  }
  return terms;
}

std::string dimensioned_term(const std::string& term, const ballista::Unit& target, const ballista::UnitMap& units,
                             const std::vector<std::string>& constants) {
  const auto unit = ballista::expression_unit(ballista::Expression::parse(term), units);
  if (!unit) {
    return {};
  }
  std::vector<std::pair<std::string, ballista::Unit>> dimensioned;
  for (const auto& name : constants) {
    const auto found = units.find(name);
    if (found != units.end() && !found->second.dimensionless()) {
      dimensioned.emplace_back(name, found->second);
    }
  }
  // Every vector of powers in −2..2, the smallest total |power| first.
  constexpr std::int64_t kMaxPower = 2;
  std::vector<std::int64_t> powers(dimensioned.size(), 0);
  std::optional<std::vector<std::int64_t>> best;
  std::int64_t best_total = 0;
  std::function<void(std::size_t)> search = [&](std::size_t index) {
    if (index == dimensioned.size()) {
      auto product = *unit;
      std::int64_t total = 0;
      for (std::size_t i = 0; i < powers.size(); ++i) {
        product = product * dimensioned[i].second.power(static_cast<double>(powers[i]));
        total += std::abs(powers[i]);
      }
      if (product == target && (!best || total < best_total)) {
        best = powers;
        best_total = total;
      }
      return;
    }
    for (std::int64_t power = -kMaxPower; power <= kMaxPower; ++power) {
      powers[index] = power;
      search(index + 1);
    }
  };
  search(0);
  if (!best) {
    return {};
  }
  std::string text = term;
  for (std::size_t i = 0; i < best->size(); ++i) {
    const auto power = std::abs((*best)[i]);
    if (power == 0) {
      continue;
    }
    text += ((*best)[i] < 0 ? "/" : "*") + dimensioned[i].first + (power > 1 ? "^" + std::to_string(power) : "");
  }
  return text;
}

}  // namespace basis
