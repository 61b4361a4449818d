// Parameter values from and to YAML (see parameter_yaml.hpp).
#include "parameter_yaml.hpp"

#include "yaml_document.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <type_traits>
#include <variant>
#include <vector>

namespace ballista::host {

std::optional<ParameterValue> parameter_from_yaml(const YAML::Node& node, const ParameterSpec& spec) {
  switch (spec.type()) {
    case ParameterType::integer: {
      std::int64_t value = 0;
      if (decode_decimal(node, value)) {
        return value;
      }
      return std::nullopt;
    }
    case ParameterType::real: {
      double value = 0.0;
      if (node.IsScalar() && YAML::convert<double>::decode(node, value)) {
        return value;
      }
      return std::nullopt;
    }
    case ParameterType::boolean: {
      bool value = false;
      if (node.IsScalar() && YAML::convert<bool>::decode(node, value)) {
        return value;
      }
      return std::nullopt;
    }
    case ParameterType::string:
      if (node.IsScalar()) {
        return node.Scalar();
      }
      return std::nullopt;
    case ParameterType::integer_list: {
      std::vector<std::int64_t> values;
      if (!node.IsSequence()) {
        return std::nullopt;
      }
      for (const auto& element : node) {
        std::int64_t value = 0;
        if (!decode_decimal(element, value)) {
          return std::nullopt;
        }
        values.push_back(value);
      }
      return values;
    }
    case ParameterType::string_list: {
      std::vector<std::string> values;
      if (!node.IsSequence()) {
        return std::nullopt;
      }
      for (const auto& element : node) {
        if (!element.IsScalar()) {
          return std::nullopt;
        }
        values.push_back(element.Scalar());
      }
      return values;
    }
  }
  return std::nullopt;
}

std::optional<ParameterValue> parse_parameter(const std::string& text, const ParameterSpec& spec) {
  try {
    const auto node = YAML::Load(text);
    return parameter_from_yaml(node, spec);
  } catch (const YAML::Exception&) {
    return std::nullopt;
  }
}

void emit_parameter_value(YAML::Emitter& out, const ParameterValue& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::vector<std::int64_t>> || std::is_same_v<T, std::vector<std::string>>) {
          out << YAML::Flow << YAML::BeginSeq;
          for (const auto& element : v) {
            out << element;
          }
          out << YAML::EndSeq;
        } else if constexpr (std::is_same_v<T, double>) {
          out << to_string(ParameterValue{v});
        } else {
          out << v;
        }
      },
      value);
}

}  // namespace ballista::host
