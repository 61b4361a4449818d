// Levenberg–Marquardt on the normal equations of a few constants (k ≲ 10): JᵀJ is k×k,
// its conditioning is that of the constants' scales, and a damped Cholesky solve is
// both cheap and robust here (Marquardt 1963; Nocedal & Wright §10.3).
#include "constant_fitting.hpp"

#include <algorithm>
#include <cmath>

namespace symbolic {

namespace {

double sum_of_squares(const std::vector<double>& values, const std::vector<double>& targets) {
  double sum = 0.0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double r = values[i] - targets[i];
    sum += r * r;
  }
  return sum;
}

// Solves the symmetric positive definite system m·x = b (m k×k, row-major, overwritten)
// by Cholesky; false if m is not positive definite.
bool cholesky_solve(std::vector<double>& m, std::vector<double>& b, std::size_t k) {
  for (std::size_t j = 0; j < k; ++j) {
    double d = m[j * k + j];
    for (std::size_t p = 0; p < j; ++p) {
      d -= m[j * k + p] * m[j * k + p];
    }
    if (!(d > 0.0) || !std::isfinite(d)) {
      return false;
    }
    d = std::sqrt(d);
    m[j * k + j] = d;
    for (std::size_t i = j + 1; i < k; ++i) {
      double s = m[i * k + j];
      for (std::size_t p = 0; p < j; ++p) {
        s -= m[i * k + p] * m[j * k + p];
      }
      m[i * k + j] = s / d;
    }
  }
  for (std::size_t i = 0; i < k; ++i) {  // L·y = b
    double s = b[i];
    for (std::size_t p = 0; p < i; ++p) {
      s -= m[i * k + p] * b[p];
    }
    b[i] = s / m[i * k + i];
  }
  for (std::size_t i = k; i-- > 0;) {  // Lᵀ·x = y
    double s = b[i];
    for (std::size_t p = i + 1; p < k; ++p) {
      s -= m[p * k + i] * b[p];
    }
    b[i] = s / m[i * k + i];
  }
  return true;
}

}  // namespace

double mean_squared_error(const Tree& tree, Evaluator& evaluator, const std::vector<double>& targets,
                          FitScratch& scratch) {
  if (!evaluator.values(tree, scratch.values)) {
    return std::numeric_limits<double>::infinity();
  }
  const double mse = sum_of_squares(scratch.values, targets) / static_cast<double>(targets.size());
  return std::isfinite(mse) ? mse : std::numeric_limits<double>::infinity();
}

double fit_constants(Tree& tree, Evaluator& evaluator, const std::vector<double>& targets, std::int64_t iterations,
                     FitScratch& scratch) {
  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  const auto positions = constant_positions(tree);
  const std::size_t k = positions.size();
  const std::size_t n = targets.size();
  const double rows = static_cast<double>(n);
  if (k == 0) {
    return mean_squared_error(tree, evaluator, targets, scratch);
  }
  evaluator.bind(tree);
  if (!evaluator.values_and_jacobian(scratch.values, scratch.jacobian)) {
    // Not finite here (or its derivatives are not): the fit cannot start.
    return mean_squared_error(tree, evaluator, targets, scratch);
  }
  double loss = sum_of_squares(scratch.values, targets);
  if (!std::isfinite(loss)) {
    return kInfinity;
  }
  std::vector<double> theta(k);
  for (std::size_t j = 0; j < k; ++j) {
    theta[j] = tree[positions[j]].value;
  }
  std::vector<double> normal(k * k);
  std::vector<double> gradient(k);
  std::vector<double> system;  // normal plus the damping, rebuilt for each trial
  std::vector<double> step(k);
  double lambda = 1e-3;
  for (std::int64_t iteration = 0; iteration < iterations && loss > 0.0; ++iteration) {
    // JᵀJ and Jᵀr, r = f − y.
    const auto& jac = scratch.jacobian;
    double largest = 0.0;
    for (std::size_t a = 0; a < k; ++a) {
      const double* ja = jac.data() + a * n;
      double g = 0.0;
      for (std::size_t i = 0; i < n; ++i) {
        g += ja[i] * (scratch.values[i] - targets[i]);
      }
      gradient[a] = g;
      for (std::size_t b = 0; b <= a; ++b) {
        const double* jb = jac.data() + b * n;
        double s = 0.0;
        for (std::size_t i = 0; i < n; ++i) {
          s += ja[i] * jb[i];
        }
        normal[a * k + b] = s;
        normal[b * k + a] = s;
      }
      largest = std::max(largest, normal[a * k + a]);
    }
    if (!(largest > 0.0)) {
      break;  // the constants do not change the values
    }
    bool accepted = false;
    double trial_loss = kInfinity;
    while (!accepted && lambda < 1e12) {
      system = normal;
      for (std::size_t a = 0; a < k; ++a) {
        // Marquardt's scaling, with a floor so that a constant without influence (a zero
        // column of J) does not make the system singular.
        system[a * k + a] += lambda * std::max(normal[a * k + a], 1e-12 * largest);
        step[a] = -gradient[a];
      }
      if (!cholesky_solve(system, step, k)) {
        lambda *= 10.0;
        continue;
      }
      for (std::size_t j = 0; j < k; ++j) {
        tree[positions[j]].value = theta[j] + step[j];
      }
      if (evaluator.values(scratch.trial)) {
        trial_loss = sum_of_squares(scratch.trial, targets);
      } else {
        trial_loss = kInfinity;
      }
      if (std::isfinite(trial_loss) && trial_loss < loss) {
        accepted = true;
      } else {
        lambda *= 10.0;
      }
    }
    if (!accepted) {
      break;
    }
    lambda = std::max(lambda * 0.3, 1e-12);
    const double improvement = loss - trial_loss;
    for (std::size_t j = 0; j < k; ++j) {
      theta[j] = tree[positions[j]].value;
    }
    loss = trial_loss;
    if (improvement <= 1e-12 * loss || iteration + 1 == iterations) {
      break;
    }
    if (!evaluator.values_and_jacobian(scratch.values, scratch.jacobian)) {
      break;
    }
  }
  for (std::size_t j = 0; j < k; ++j) {
    tree[positions[j]].value = theta[j];
  }
  return loss / rows;
}

double snap_constants(Tree& tree, double error, Evaluator& evaluator, const std::vector<double>& targets,
                      std::int64_t iterations, const SimplifyContext& context, double floor, FitScratch& scratch) {
  if (!std::isfinite(error)) {
    return error;
  }
  const double rows = static_cast<double>(targets.size());
  const double factor = std::exp(std::log(rows) / rows);
  std::size_t next = 0;  // constants before this one were tried in the current tree
  for (;;) {
    const auto positions = constant_positions(tree);
    if (next >= positions.size()) {
      return error;
    }
    const std::size_t pos = positions[next];
    const double value = tree[pos].value;
    const double whole = std::round(value);
    if (std::abs(value - whole) > 0.05 * std::max(1.0, std::abs(whole))) {
      ++next;
      continue;
    }
    Tree trial = tree;
    trial[pos].op = Op::number;
    trial[pos].value = whole == 0.0 ? 0.0 : whole;  // never −0
    trial = simplify(trial, context);
    const double trial_error = fit_constants(trial, evaluator, targets, iterations, scratch);
    if (std::isfinite(trial_error) && (trial_error <= error * factor || trial_error <= floor)) {
      tree = std::move(trial);
      error = trial_error;
      next = 0;  // the constants may have moved: try the remaining ones again
    } else {
      ++next;
    }
  }
}

}  // namespace symbolic
