// The `device` parameter (cpu | cuda) shared by plugins that can compute on a GPU.
#pragma once

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

BALLISTA_NAMESPACE_END
