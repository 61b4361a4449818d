// adam_step (see adam.hpp).
#include <ballista/adam.hpp>

#include <ATen/ATen.h>

#include <cmath>

BALLISTA_NAMESPACE_BEGIN

void adam_step(const torch::Tensor& values, const torch::Tensor& gradients, const torch::Tensor& average,
               const torch::Tensor& average_sq, const torch::Tensor& denominator, std::int64_t step,
               double learning_rate) {
  constexpr double beta1 = 0.9;
  constexpr double beta2 = 0.999;
  constexpr double epsilon = 1e-8;
  const auto steps = static_cast<double>(step);
  const double bias_correction1 = 1 - std::pow(beta1, steps);
  const double bias_correction2 = 1 - std::pow(beta2, steps);
  average.mul_(beta1).add_(gradients, 1 - beta1);
  average_sq.mul_(beta2).addcmul_(gradients, gradients, 1 - beta2);
  auto out = denominator;
  at::sqrt_out(out, average_sq);
  out.div_(std::sqrt(bias_correction2)).add_(epsilon);
  values.addcdiv_(average, out, -learning_rate / bias_correction1);
}

BALLISTA_NAMESPACE_END
