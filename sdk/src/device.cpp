// The shared `device` parameter (see device.hpp).
#include <ballista/device.hpp>

#include <torch/torch.h>

BALLISTA_NAMESPACE_BEGIN

ParameterSpec device_parameter() {
  return ParameterSpec::choice("device", "cpu", {"cpu", "cuda"}, "where to compute: cpu, or cuda (a CUDA build of LibTorch and a GPU)");
}

torch::Device chosen_device(const Parameters& parameters) {
  if (parameters.get<std::string>("device") != "cuda") {
    return torch::kCPU;
  }
  if (!torch::cuda::is_available()) {
    throw ParameterError("device", "device: cuda, but this LibTorch has no usable CUDA device "
                                   "(torch::cuda::is_available() is false); use device: cpu");
  }
  return torch::kCUDA;
}

BALLISTA_NAMESPACE_END
