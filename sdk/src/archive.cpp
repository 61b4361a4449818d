// Archive helpers (see archive.hpp).
#include <ballista/archive.hpp>

#include <torch/torch.h>

#include <stdexcept>

BALLISTA_NAMESPACE_BEGIN

void write_strings(torch::serialize::OutputArchive& archive, const std::string& key,
                   const std::vector<std::string>& values) {
  c10::List<std::string> list;
  for (const auto& value : values) {
    list.push_back(value);
  }
  archive.write(key, c10::IValue(std::move(list)));
}

std::vector<std::string> read_strings(torch::serialize::InputArchive& archive, const std::string& key) {
  c10::IValue value;
  if (!archive.try_read(key, value) || !value.isList()) {
    throw std::runtime_error("model archive: missing list of strings '" + key + "'");
  }
  std::vector<std::string> strings;
  for (const auto& element : value.toListRef()) {
    if (!element.isString()) {
      throw std::runtime_error("model archive: '" + key + "' holds something other than strings");
    }
    strings.push_back(element.toStringRef());
  }
  return strings;
}

torch::Tensor read_tensor(torch::serialize::InputArchive& archive, const std::string& key) {
  torch::Tensor tensor;
  if (!archive.try_read(key, tensor)) {
    throw std::runtime_error("model archive: missing tensor '" + key + "'");
  }
  return tensor;
}

BALLISTA_NAMESPACE_END
