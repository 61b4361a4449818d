// The `device` parameter (cpu | cuda) shared by plugins that can compute on a GPU.
#pragma once

#include <ballista/context.hpp>
#include <ballista/parameters.hpp>
#include <ballista/version.hpp>

#include <torch/types.h>

BALLISTA_NAMESPACE_BEGIN

// Declares `device`: choice of cpu (default) or cuda.
BALLISTA_API ParameterSpec device_parameter();

// The device the user chose. Throws ParameterError("device", …) when cuda is asked for
// but this LibTorch has no usable CUDA device, so a pipeline fails at validation with
// a clear message instead of crashing in the first kernel.
BALLISTA_API torch::Device chosen_device(const Parameters& parameters);

// Where a fit given `context` computes: `chosen` (chosen_device()), but on the GPU the
// host names in Context::device() when both are CUDA, so each rank of a distributed run
// uses its own GPU (cuda:LOCAL_RANK mod the GPUs) and its collectives go through NCCL.
inline torch::Device fit_device(const torch::Device& chosen, const Context& context) {
  const auto host = context.device();
  return chosen.is_cuda() && host.is_cuda() ? host : chosen;
}

BALLISTA_NAMESPACE_END
