// Candidate terms generated from primitives (the basis plugin's `library`): monomials of
// the inputs, unary functions of the inputs and of small multiples of them, and their
// products, each named as an expression in the pipeline's language, so a discovered law
// reads (and pastes back) as `v^2*sin(2*theta)`. With units, only terms whose dimensions,
// times a power of the pipeline's constants, match the target's are kept (`v^2*sin(2*theta)/g`).
#pragma once

#include <ballista/units.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace basis {

struct LibrarySpec {
  std::vector<std::string> functions;  // of sin cos exp log sqrt abs; "poly" alone: monomials only
  std::int64_t degree = 2;             // monomials of total degree 1..degree
  std::int64_t multiples = 2;          // sin(k*x), cos(k*x), exp(k*x) for k = 1..multiples
  std::int64_t products = 2;           // terms are products of up to this many factors
};

// The primitives a library may name, for the parameter's doc and its check.
const std::vector<std::string>& library_primitives();

// The candidate terms over `inputs`, in a fixed order: single factors first (monomials
// by degree, then functions), then products of two factors, and so on. A product holds
// at most one monomial (a product of monomials is a monomial of higher degree), and its
// functions in non-decreasing order, so no term is generated twice; with monomials, the
// squares sqrt(x)*sqrt(x) and abs(x)*abs(x) are left out (they are x and x^2).
std::vector<std::string> generate_terms(const std::vector<std::string>& inputs, const LibrarySpec& spec);

// A term whose units, times a product of integer powers (−2..2) of the `constants` that
// have units, are the `target`'s: its text with those powers written out
// ("v^2*sin(2*theta)" → "v^2*sin(2*theta)/g"); the smallest total power wins. Returns an
// empty string when the term is dimensionally inconsistent (sin of a speed) or no such
// product exists. Throws ballista::UnitError for a name without a unit.
std::string dimensioned_term(const std::string& term, const ballista::Unit& target, const ballista::UnitMap& units,
                             const std::vector<std::string>& constants);

}  // namespace basis
