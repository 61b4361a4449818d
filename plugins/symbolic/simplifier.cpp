// Canonical forms of search trees, bottom up: each operation is rebuilt from its operands'
// canonical forms. Sums and products are handled as flat lists of signed terms and of
// factors with exponent ±1.
#include "simplifier.hpp"

#include "evaluator.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace symbolic {

namespace {

Tree leaf(Op op, double value) { return {Node{op, 0, value}}; }

bool is_number(const Tree& t) { return t.size() == 1 && t[0].op == Op::number; }
bool is_constant(const Tree& t) { return t.size() == 1 && t[0].op == Op::constant; }
bool is_named(const Tree& t) { return t.size() == 1 && t[0].op == Op::named; }
bool is_number_value(const Tree& t, double value) { return is_number(t) && t[0].value == value; }

Tree join(Op op, const Tree& a, const Tree& b) {
  Tree out;
  out.reserve(1 + a.size() + b.size());
  out.push_back(Node{op, 0, 0.0});
  out.insert(out.end(), a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

Tree wrap(Op op, const Tree& a) {
  Tree out;
  out.reserve(1 + a.size());
  out.push_back(Node{op, 0, 0.0});
  out.insert(out.end(), a.begin(), a.end());
  return out;
}

Tree subtree(const Tree& tree, std::size_t begin) {
  return Tree(tree.begin() + static_cast<std::ptrdiff_t>(begin),
              tree.begin() + static_cast<std::ptrdiff_t>(subtree_end(tree, begin)));
}

bool uses_only_allowed(const Tree& tree, const SimplifyContext& context) {
  return std::all_of(tree.begin(), tree.end(),
                     [&](const Node& node) { return is_leaf(node.op) || context.allows(node.op); });
}

// Terms of a sum and factors of a product, each with its canonical sort key.
struct Part {
  int sign = 1;  // a term's sign, a factor's exponent
  Tree tree;
  std::string key;
};

std::string sort_key(const Tree& tree) {
  // The shape first, so that the order does not depend on fitted values.
  return structure_key(tree) + '|' + exact_key(tree, 0, tree.size());
}

void collect(const Tree& tree, std::size_t pos, int sign, bool sum, std::vector<Part>& parts) {
  const Op op = tree[pos].op;
  const bool chain = sum ? (op == Op::add || op == Op::subtract) : (op == Op::multiply || op == Op::divide);
  if (chain) {
    const auto right = subtree_end(tree, pos + 1);
    collect(tree, pos + 1, sign, sum, parts);
    const bool inverted = op == Op::subtract || op == Op::divide;
    collect(tree, right, inverted ? -sign : sign, sum, parts);
    return;
  }
  auto part = subtree(tree, pos);
  parts.push_back({sign, std::move(part), {}});
}

class Simplifier {
 public:
  explicit Simplifier(const SimplifyContext& context) : context_(context) {}

  Tree at(const Tree& tree, std::size_t pos) const {
    const Node& node = tree[pos];
    if (is_leaf(node.op)) {
      return {node};
    }
    if (arity(node.op) == 1) {
      return unary(node.op, at(tree, pos + 1));
    }
    const auto right = subtree_end(tree, pos + 1);
    return binary(node.op, at(tree, pos + 1), at(tree, right));
  }

  Tree unary(Op op, Tree a) const {
    if (is_number(a) || is_constant(a)) {
      const double value = apply_unary(op, a[0].value);
      if (std::isfinite(value)) {
        return leaf(a[0].op, value);
      }
    }
    if (op == Op::cos) {
      Tree whole = wrap(op, a);
      if (auto flipped = flip_argument(whole)) {
        return std::move(*flipped);  // cos is even
      }
    }
    if (op == Op::log && a[0].op == Op::exp) {
      a.erase(a.begin());
      return a;
    }
    if (op == Op::abs && (a[0].op == Op::abs || a[0].op == Op::exp || a[0].op == Op::sqrt)) {
      return a;
    }
    return wrap(op, a);
  }

  Tree binary(Op op, Tree a, Tree b) const {
    Tree plain = join(op, a, b);
    Tree result;
    if (op == Op::add || op == Op::subtract) {
      std::vector<Part> terms;
      collect(a, 0, 1, true, terms);
      collect(b, 0, op == Op::subtract ? -1 : 1, true, terms);
      result = sum(std::move(terms));
    } else if (op == Op::multiply || op == Op::divide) {
      std::vector<Part> factors;
      collect(a, 0, 1, false, factors);
      collect(b, 0, op == Op::divide ? -1 : 1, false, factors);
      result = product(std::move(factors));
    } else {
      result = power(std::move(a), std::move(b));
    }
    // A rewrite that would need an operator the search was not given, or that grew the
    // tree, is not a simplification.
    if (result.empty() || result.size() > plain.size() || !uses_only_allowed(result, context_)) {
      return plain;
    }
    return result;
  }

 private:
  // For sin, tan and cos of an argument led by a negative coefficient (−2·θ, or a
  // negative constant alone): the same function of the argument with that coefficient's
  // sign flipped; std::nullopt otherwise. (The caller accounts for the sign of sin and tan.)
  static std::optional<Tree> flip_argument(const Tree& t) {
    if (t[0].op != Op::sin && t[0].op != Op::tan && t[0].op != Op::cos) {
      return std::nullopt;
    }
    std::size_t pos = 1;
    while (t[pos].op == Op::multiply || t[pos].op == Op::divide) {
      ++pos;
    }
    if ((t[pos].op != Op::number && t[pos].op != Op::constant) || !(t[pos].value < 0.0)) {
      return std::nullopt;
    }
    Tree flipped = t;
    flipped[pos].value = -flipped[pos].value;
    return flipped;
  }
  static bool is_odd(const Tree& t) { return t[0].op == Op::sin || t[0].op == Op::tan; }

  double named_value(const Tree& t) const { return context_.named_values.at(static_cast<std::size_t>(t[0].index)); }

  Tree power(Tree a, Tree b) const {
    if (is_number_value(b, 1.0)) {
      return a;
    }
    if (is_number_value(b, 0.0) || is_number_value(a, 1.0)) {
      return leaf(Op::number, 1.0);
    }
    // (c·x)^k → c^k·x^k for a whole k: the constant stands in front, as in any product.
    if (is_number(b) && b[0].value == std::round(b[0].value) && (a[0].op == Op::multiply || a[0].op == Op::divide)) {
      auto [factor, rest] = coefficient(a);
      // (1/x)^k has the coefficient 1 and the rest 1/x again: nothing to pull out.
      if (factor && rest.size() + 2 <= a.size()) {
        const double value = std::pow(factor->value, b[0].value);
        if (std::isfinite(value)) {
          return binary(Op::multiply, leaf(factor->op, value), power(std::move(rest), b));
        }
      }
    }
    if ((is_number(a) || is_constant(a)) && (is_number(b) || is_constant(b))) {
      const double value = std::pow(a[0].value, b[0].value);
      if (std::isfinite(value)) {
        return leaf(is_number(a) && is_number(b) ? Op::number : Op::constant, value);
      }
    }
    return join(Op::power, a, b);
  }

  // Splits a term into its numeric coefficient (a number or fitted constant factor) and
  // the rest; the rest is empty when the term is a constant itself.
  std::pair<std::optional<Node>, Tree> coefficient(const Tree& term) const {
    if (term[0].op != Op::multiply && term[0].op != Op::divide) {
      return {std::nullopt, term};
    }
    std::vector<Part> factors;
    collect(term, 0, 1, false, factors);
    for (std::size_t i = 0; i < factors.size(); ++i) {
      const auto& factor = factors[i].tree;
      if (factors[i].sign == 1 && (is_number(factor) || is_constant(factor))) {
        const Node found = factor[0];
        factors.erase(factors.begin() + static_cast<std::ptrdiff_t>(i));
        auto rest = product(std::move(factors));
        if (rest.empty()) {
          break;
        }
        return {found, std::move(rest)};
      }
    }
    return {std::nullopt, term};
  }

  Tree sum(std::vector<Part> terms) const {
    double fixed = 0.0;
    double fitted = 0.0;
    bool any_fixed = false;
    bool any_fitted = false;
    // Like terms, grouped by the exact key of what multiplies their coefficient.
    struct Group {
      Tree rest;
      double coefficient = 0.0;
      bool fitted = false;
      std::vector<Part> members;
    };
    std::map<std::string, Group> groups;
    for (auto& term : terms) {
      if (is_odd(term.tree)) {
        if (auto flipped = flip_argument(term.tree)) {
          term.tree = std::move(*flipped);
          term.sign = -term.sign;
        }
      }
      const Tree& t = term.tree;
      if (is_number(t)) {
        fixed += term.sign * t[0].value;
        any_fixed = true;
        continue;
      }
      if (is_constant(t)) {
        fitted += term.sign * t[0].value;
        any_fitted = true;
        continue;
      }
      auto [factor, rest] = coefficient(t);
      auto& group = groups[exact_key(rest, 0, rest.size())];
      if (group.members.empty()) {
        group.rest = rest;
      }
      group.coefficient += term.sign * (factor ? factor->value : 1.0);
      group.fitted = group.fitted || (factor && factor->op == Op::constant);
      group.members.push_back(std::move(term));
    }
    // Named constants join a fitted constant: c + g is one fitted constant.
    if (any_fitted && context_.absorb_named) {
      for (auto group = groups.begin(); group != groups.end();) {
        if (is_named(group->second.rest) && !group->second.fitted) {
          fitted += group->second.coefficient * named_value(group->second.rest);
          group = groups.erase(group);
        } else {
          ++group;
        }
      }
    }
    std::vector<Part> positive;
    std::vector<Part> negative;
    bool failed = false;  // a product that could not be rebuilt
    const auto add_term = [&](int sign, Tree tree) {
      if (tree.empty()) {
        failed = true;
        return;
      }
      auto key = sort_key(tree);
      (sign > 0 ? positive : negative).push_back({sign, std::move(tree), std::move(key)});
    };
    for (auto& [key, group] : groups) {
      if (group.members.size() == 1 && !group.fitted) {
        // Alone and without a fitted coefficient: kept as it came, with its sign, unless
        // its coefficient is a number that can carry the sign.
        auto& member = group.members.front();
        if (member.sign < 0 && group.coefficient != -1.0) {
          add_term(1, product_with(group.coefficient, false, group.rest));
        } else {
          add_term(member.sign, std::move(member.tree));
        }
        continue;
      }
      if (!group.fitted && group.coefficient == 0.0) {
        continue;  // x − x
      }
      if (!group.fitted && (group.coefficient == 1.0 || group.coefficient == -1.0)) {
        add_term(group.coefficient > 0 ? 1 : -1, group.rest);
        continue;
      }
      add_term(1, product_with(group.coefficient, group.fitted, group.rest));
    }
    if (failed) {
      return {};
    }
    std::sort(positive.begin(), positive.end(), [](const Part& x, const Part& y) { return x.key < y.key; });
    std::sort(negative.begin(), negative.end(), [](const Part& x, const Part& y) { return x.key < y.key; });
    Tree result;
    if (!std::isfinite(fixed) || !std::isfinite(fitted) || !std::isfinite(fixed + fitted)) {
      return {};  // left as written
    }
    if (any_fitted) {
      result = leaf(Op::constant, fixed + fitted);
    } else if (any_fixed && fixed != 0.0) {
      result = leaf(Op::number, fixed);
    }
    for (auto& term : positive) {
      result = result.empty() ? std::move(term.tree) : join(Op::add, result, term.tree);
    }
    if (result.empty() && !negative.empty()) {
      result = leaf(Op::number, 0.0);
    }
    for (const auto& term : negative) {
      result = join(Op::subtract, result, term.tree);
    }
    return result.empty() ? leaf(Op::number, 0.0) : result;
  }

  // coefficient·rest as a canonical product.
  Tree product_with(double value, bool fitted, const Tree& rest) const {
    std::vector<Part> factors;
    factors.push_back({1, leaf(fitted ? Op::constant : Op::number, value), {}});
    collect(rest, 0, 1, false, factors);
    return product(std::move(factors));
  }

  Tree product(std::vector<Part> factors) const {
    double fixed = 1.0;
    double fitted = 1.0;
    bool any_fixed = false;
    bool any_fitted = false;
    std::vector<Part> rest;
    for (auto& factor : factors) {
      const Tree& t = factor.tree;
      if (is_number(t) || is_constant(t)) {
        const double value = factor.sign > 0 ? t[0].value : 1.0 / t[0].value;
        (is_number(t) ? fixed : fitted) *= value;
        (is_number(t) ? any_fixed : any_fitted) = true;
        continue;
      }
      rest.push_back(std::move(factor));
    }
    if (any_fitted && context_.absorb_named) {
      // Named constants join a fitted constant: c·g and c/g are one fitted constant.
      for (auto factor = rest.begin(); factor != rest.end();) {
        if (is_named(factor->tree)) {
          const double value = named_value(factor->tree);
          fitted *= factor->sign > 0 ? value : 1.0 / value;
          factor = rest.erase(factor);
        } else {
          ++factor;
        }
      }
    } else if (any_fixed && fixed == 0.0) {
      return leaf(Op::number, 0.0);
    }
    // sin(−2·θ) is −sin(2·θ): the sign goes to the product's constant, when it has one.
    if (any_fitted || any_fixed) {
      for (auto& factor : rest) {
        if (!is_odd(factor.tree)) {
          continue;
        }
        if (auto flipped = flip_argument(factor.tree)) {
          factor.tree = std::move(*flipped);
          (any_fitted ? fitted : fixed) *= -1.0;
        }
      }
    }
    // Like factors: x·x → x^2 (when ^ is allowed), x/x → 1, x^2/x → x. Grouped by the
    // base's key, which is also their canonical order.
    std::map<std::string, std::pair<Tree, int>> powers;
    for (auto& factor : rest) {
      Tree base = std::move(factor.tree);
      int exponent = factor.sign;
      if (base[0].op == Op::power) {
        const auto exponent_at = subtree_end(base, 1);
        const double k = base[exponent_at].value;
        if (base[exponent_at].op == Op::number && k == std::round(k) && std::abs(k) <= 16) {
          exponent *= static_cast<int>(k);
          base = Tree(base.begin() + 1, base.begin() + static_cast<std::ptrdiff_t>(exponent_at));
        }
      }
      auto& entry = powers[sort_key(base)];
      if (entry.first.empty()) {
        entry.first = std::move(base);
      }
      entry.second += exponent;
    }
    rest.clear();
    for (auto& [key, entry] : powers) {
      const int exponent = entry.second;
      if (exponent == 0) {
        continue;
      }
      const int sign = exponent > 0 ? 1 : -1;
      const int count = exponent * sign;
      if (count == 1) {
        rest.push_back({sign, std::move(entry.first), key});
      } else if (context_.allows(Op::power)) {
        rest.push_back({sign, join(Op::power, entry.first, leaf(Op::number, count)), key});
      } else {
        for (int i = 0; i < count; ++i) {
          rest.push_back({sign, entry.first, key});
        }
      }
    }
    std::vector<Part> numerator;
    std::vector<Part> denominator;
    for (auto& factor : rest) {
      (factor.sign > 0 ? numerator : denominator).push_back(std::move(factor));
    }
    std::sort(numerator.begin(), numerator.end(), [](const Part& x, const Part& y) { return x.key < y.key; });
    std::sort(denominator.begin(), denominator.end(), [](const Part& x, const Part& y) { return x.key < y.key; });
    Tree result;
    if (!std::isfinite(fixed) || !std::isfinite(fitted) || !std::isfinite(fixed * fitted)) {
      return {};  // a division by zero: left as written
    }
    if (any_fitted) {
      result = leaf(Op::constant, any_fixed ? fixed * fitted : fitted);
    } else if (any_fixed && fixed != 1.0) {
      result = leaf(Op::number, fixed);
    }
    for (auto& factor : numerator) {
      result = result.empty() ? std::move(factor.tree) : join(Op::multiply, result, factor.tree);
    }
    if (result.empty()) {
      result = leaf(Op::number, 1.0);
    }
    for (const auto& factor : denominator) {
      result = join(Op::divide, result, factor.tree);
    }
    return result;
  }

  const SimplifyContext& context_;
};

}  // namespace

Tree simplify(const Tree& tree, const SimplifyContext& context) {
  if (tree.empty()) {
    return tree;
  }
  return Simplifier(context).at(tree, 0);
}

}  // namespace symbolic
