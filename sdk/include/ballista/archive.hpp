// Small helpers for Model::save/load: values that are not tensors (names, flags), kept
// in the same LibTorch archive as the tensors.
#pragma once

#include <ballista/version.hpp>

#include <torch/serialize/archive.h>

#include <string>
#include <vector>

BALLISTA_NAMESPACE_BEGIN

BALLISTA_API void write_strings(torch::serialize::OutputArchive& archive, const std::string& key,
                                const std::vector<std::string>& values);
// Throws std::runtime_error naming `key` if it is missing or not a list of strings.
BALLISTA_API std::vector<std::string> read_strings(torch::serialize::InputArchive& archive, const std::string& key);

// Reads the tensor under `key`; throws std::runtime_error naming `key` if it is missing.
BALLISTA_API torch::Tensor read_tensor(torch::serialize::InputArchive& archive, const std::string& key);

// "float64 [3, 1]": a stored tensor's type and shape, for load()'s messages about a
// damaged model file.
inline std::string stored_shape(const torch::Tensor& tensor) {
  const auto type = tensor.scalar_type();
  std::string text = type == torch::kFloat64 ? "float64" : type == torch::kFloat32 ? "float32" : c10::toString(type);
  text += " [";
  for (std::int64_t i = 0; i < tensor.dim(); ++i) {
    text += (i == 0 ? "" : ", ") + std::to_string(tensor.size(i));
  }
  return text + "]";
}

BALLISTA_NAMESPACE_END
