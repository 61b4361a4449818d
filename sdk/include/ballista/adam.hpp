// torch.optim.Adam's update, for code that computes its own gradients.
#pragma once

#include <ballista/version.hpp>

#include <torch/types.h>

#include <cstdint>

BALLISTA_NAMESPACE_BEGIN

// One step of torch.optim.Adam with its defaults (β₁ 0.9, β₂ 0.999, ε 1e-8; no weight
// decay, no amsgrad) on `values`, in place: the ATen calls torch::optim::Adam makes, in
// its order, so the same bits. `step` counts from 1; `average` and `average_sq` (the
// moment estimates, zero before the first step) are updated; `denominator` is scratch.
// All five tensors have one shape. The kernels are elementwise, so a call on any slice
// of flat buffers gives the bits of the call on the whole.
BALLISTA_API void adam_step(const torch::Tensor& values, const torch::Tensor& gradients, const torch::Tensor& average,
                            const torch::Tensor& average_sq, const torch::Tensor& denominator, std::int64_t step,
                            double learning_rate);

BALLISTA_NAMESPACE_END
