#include "distil.hpp"

#include "ode_system.hpp"

#include <ballista/linear_solvers.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ballista_ode {

namespace {

// Every exponent vector over `limits.size()` primitives with total degree exactly
// `degree`, primitive i at most limits[i], in lexicographic order of the primitives
// (for x, y: x^2, x*y, y^2).
void monomials(const std::vector<std::int64_t>& limits, std::size_t from, std::int64_t degree,
               std::vector<std::int64_t>& exponents, std::vector<std::vector<std::int64_t>>& out) {
  if (from == limits.size()) {
    if (degree == 0) {
      out.push_back(exponents);
    }
    return;
  }
  for (std::int64_t power = std::min(degree, limits[from]); power >= 0; --power) {
    exponents[from] = power;
    monomials(limits, from + 1, degree - power, exponents, out);
  }
  exponents[from] = 0;
}

}  // namespace

Library candidate_library(const std::vector<std::string>& inputs, std::int64_t degree, bool norm) {
  if (inputs.empty() || degree < 1) {
    throw std::invalid_argument("candidate_library: at least one input and a degree of at least 1 are needed");
  }
  std::vector<std::string> primitives = inputs;
  std::vector<std::int64_t> limits(inputs.size(), degree);
  if (norm && inputs.size() >= 2) {
    std::string squares;
    for (const auto& name : inputs) {
      squares += (squares.empty() ? "" : " + ") + name + "^2";
    }
    primitives.push_back("sqrt(" + squares + ")");
    limits.push_back(1);
  }
  // The norm first in a term ("sqrt(ux^2 + uy^2)*ux"), as a drag law is usually written.
  std::vector<std::size_t> order;
  if (primitives.size() > inputs.size()) {
    order.push_back(inputs.size());
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    order.push_back(i);
  }
  Library library;
  for (std::int64_t total = 0; total <= degree; ++total) {
    std::vector<std::int64_t> exponents(primitives.size(), 0);
    std::vector<std::vector<std::int64_t>> found;
    monomials(limits, 0, total, exponents, found);
    for (const auto& powers : found) {
      std::string text;
      for (const auto index : order) {
        if (powers[index] == 0) {
          continue;
        }
        text += (text.empty() ? "" : "*") + primitives[index] +
                (powers[index] == 1 ? "" : "^" + std::to_string(powers[index]));
      }
      if (text.empty()) {
        text = "1";
      }
      library.texts.push_back(text);
      library.terms.push_back(ballista::Expression::parse(text));
    }
  }
  return library;
}

torch::Tensor significant_terms(const torch::Tensor& features, const torch::Tensor& targets,
                                const torch::Tensor& coefficients, double threshold) {
  const auto term_scale = features.to(torch::kFloat64).square().mean(0).sqrt();    // [J]
  const auto target_scale = targets.to(torch::kFloat64).square().mean(0).sqrt();   // [K]
  const auto contribution = coefficients.to(torch::kFloat64).abs() * term_scale.unsqueeze(1);
  return (contribution > threshold * target_scale.unsqueeze(0)) & (contribution > 0);
}

SparseFit sequential_thresholding(const torch::Tensor& features, const torch::Tensor& targets, double threshold) {
  if (features.dim() != 2 || targets.dim() != 2 || features.size(0) != targets.size(0) || features.size(1) < 1 ||
      targets.size(1) < 1) {
    throw std::invalid_argument("sequential_thresholding: features must be [N, J] and targets [N, K] with N rows each");
  }
  if (!(threshold >= 0 && threshold <= 1)) {
    throw std::invalid_argument("sequential_thresholding: the threshold must lie in [0, 1]");
  }
  const auto f = features.to(torch::kFloat64).contiguous();
  const auto y = targets.to(torch::kFloat64).contiguous();
  if (!torch::isfinite(f).all().item<bool>() || !torch::isfinite(y).all().item<bool>()) {
    throw std::invalid_argument("sequential_thresholding: the features and targets must be finite");
  }
  const auto terms = f.size(1);
  auto coefficients = torch::zeros({terms, y.size(1)}, torch::kFloat64);
  auto kept = torch::ones({terms, y.size(1)}, torch::kBool);
  for (std::int64_t k = 0; k < y.size(1); ++k) {
    const auto target = y.select(1, k);
    auto column = kept.select(1, k).clone();
    // Each round drops at least one term or ends: at most J + 1 rounds.
    for (std::int64_t round = 0; round <= terms; ++round) {
      const auto chosen = column.nonzero().squeeze(1);
      auto fitted = torch::zeros({terms}, torch::kFloat64);
      if (chosen.numel() > 0) {
        fitted.index_put_({chosen}, ballista::least_squares(f.index_select(1, chosen), target));
      }
      const auto significant =
          significant_terms(f, target.unsqueeze(1), fitted.unsqueeze(1), threshold).squeeze(1) & column;
      if (torch::equal(significant, column)) {
        coefficients.select(1, k).copy_(fitted);
        break;
      }
      column = significant;
    }
    kept.select(1, k).copy_(column);
  }
  return {coefficients * kept, kept};
}

std::string formula_text(const std::vector<std::string>& terms, const torch::Tensor& coefficients,
                         const torch::Tensor& kept, std::int64_t k) {
  std::string text;
  for (std::size_t j = 0; j < terms.size(); ++j) {
    const auto row = static_cast<std::int64_t>(j);
    if (!kept[row][k].item<bool>()) {
      continue;
    }
    const double value = coefficients[row][k].item<double>();
    const auto magnitude = format_number(std::abs(value), 4);
    const auto term = terms[j] == "1" ? magnitude : magnitude + "*" + terms[j];
    if (text.empty()) {
      text = (value < 0 ? "-" : "") + term;
    } else {
      text += (value < 0 ? " - " : " + ") + term;
    }
  }
  return text.empty() ? "0" : text;
}

}  // namespace ballista_ode
