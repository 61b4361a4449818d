// Declared parameters: construction, display, and the checks the host applies to user input.
#include <ballista/parameters.hpp>

#include <cmath>
#include <sstream>

BALLISTA_NAMESPACE_BEGIN

namespace {

std::string format_number(double value) {
  std::ostringstream out;
  out.precision(15);
  out << value;
  return out.str();
}

template <class T>
std::string join(const std::vector<T>& items) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < items.size(); ++i) {
    out << (i == 0 ? "" : ", ") << items[i];
  }
  out << ']';
  return out.str();
}

}  // namespace

std::string to_string(ParameterType type) {
  switch (type) {
    case ParameterType::integer: return "integer";
    case ParameterType::real: return "real";
    case ParameterType::boolean: return "boolean";
    case ParameterType::string: return "string";
    case ParameterType::integer_list: return "list of integer";
    case ParameterType::string_list: return "list of string";
  }
  return "?";
}

ParameterType type_of(const ParameterValue& value) {
  return static_cast<ParameterType>(value.index());
}

std::string to_string(const ParameterValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::int64_t>) {
          return std::to_string(v);
        } else if constexpr (std::is_same_v<T, double>) {
          return format_number(v);
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::string>) {
          return v;
        } else {
          return join(v);
        }
      },
      value);
}

ParameterSpec::ParameterSpec(std::string name, ParameterType type, ParameterValue fallback,
                             std::string doc)
    : name_(std::move(name)), type_(type), default_(std::move(fallback)), doc_(std::move(doc)) {}

ParameterSpec ParameterSpec::integer(std::string name, std::int64_t fallback, std::string doc) {
  return {std::move(name), ParameterType::integer, fallback, std::move(doc)};
}
ParameterSpec ParameterSpec::real(std::string name, double fallback, std::string doc) {
  return {std::move(name), ParameterType::real, fallback, std::move(doc)};
}
ParameterSpec ParameterSpec::boolean(std::string name, bool fallback, std::string doc) {
  return {std::move(name), ParameterType::boolean, fallback, std::move(doc)};
}
ParameterSpec ParameterSpec::choice(std::string name, std::string fallback,
                                    std::vector<std::string> choices, std::string doc) {
  ParameterSpec spec{std::move(name), ParameterType::string, std::move(fallback), std::move(doc)};
  spec.choices_ = std::move(choices);
  return spec;
}
ParameterSpec ParameterSpec::integer_list(std::string name, std::vector<std::int64_t> fallback,
                                          std::string doc) {
  return {std::move(name), ParameterType::integer_list, std::move(fallback), std::move(doc)};
}
ParameterSpec ParameterSpec::string_list(std::string name, std::vector<std::string> fallback,
                                         std::string doc) {
  return {std::move(name), ParameterType::string_list, std::move(fallback), std::move(doc)};
}

ParameterSpec& ParameterSpec::at_least(double bound) {
  lower_ = bound;
  lower_inclusive_ = true;
  return *this;
}
ParameterSpec& ParameterSpec::greater_than(double bound) {
  lower_ = bound;
  lower_inclusive_ = false;
  return *this;
}
ParameterSpec& ParameterSpec::at_most(double bound) {
  upper_ = bound;
  return *this;
}
ParameterSpec& ParameterSpec::required() {
  required_ = true;
  return *this;
}
ParameterSpec& ParameterSpec::non_empty() {
  non_empty_ = true;
  return *this;
}
ParameterSpec& ParameterSpec::expressions() {
  if (type_ != ParameterType::string && type_ != ParameterType::string_list) {
    throw std::logic_error("parameter '" + name_ + "': expressions() applies to a string or a list of strings");
  }
  expressions_ = true;
  return *this;
}

std::string ParameterSpec::bounds() const {
  std::string text;
  if (lower_) {
    text += (lower_inclusive_ ? ">= " : "> ") + format_number(*lower_);
  }
  if (upper_) {
    text += (lower_ ? " and <= " : "<= ") + format_number(*upper_);
  }
  return text;
}

std::string ParameterSpec::allowed() const {
  if (!choices_.empty()) {
    std::string text = "one of: ";
    for (std::size_t i = 0; i < choices_.size(); ++i) {
      text += (i == 0 ? "" : ", ") + choices_[i];
    }
    return text;
  }
  std::string text = (non_empty_ ? "non-empty " : "") + to_string(type_);
  if (expressions_) {
    text.replace(text.find("string"), 6, "expression");
  }
  if (const auto limits = bounds(); !limits.empty()) {
    text += " " + limits;
  }
  return text;
}

std::string ParameterSpec::check_number(double value, const std::string& expected) const {
  if (!std::isfinite(value)) {
    return "must be a finite number, got " + format_number(value);
  }
  const bool too_low =
      lower_ && (lower_inclusive_ ? value < *lower_ : value <= *lower_);
  const bool too_high = upper_ && value > *upper_;
  if (too_low || too_high) {
    return "must be " + expected + ", got " + format_number(value);
  }
  return {};
}

std::string ParameterSpec::check(const ParameterValue& value) const {
  if (type_of(value) != type_) {
    return "must be " + allowed() + ", got a " + to_string(type_of(value));
  }
  if (const auto* number = std::get_if<std::int64_t>(&value)) {
    return check_number(static_cast<double>(*number), allowed());
  }
  if (const auto* number = std::get_if<double>(&value)) {
    return check_number(*number, allowed());
  }
  if (const auto* text = std::get_if<std::string>(&value); text != nullptr && !choices_.empty()) {
    for (const auto& allowed_value : choices_) {
      if (allowed_value == *text) {
        return {};
      }
    }
    return "must be " + allowed() + ", got '" + *text + "'";
  }
  if (const auto* list = std::get_if<std::vector<std::int64_t>>(&value)) {
    if (non_empty_ && list->empty()) {
      return "must not be empty";
    }
    for (const auto element : *list) {
      if (auto problem = check_number(static_cast<double>(element), bounds()); !problem.empty()) {
        return "every element " + problem;
      }
    }
  }
  if (const auto* list = std::get_if<std::vector<std::string>>(&value)) {
    if (non_empty_ && list->empty()) {
      return "must not be empty";
    }
  }
  return {};
}

BALLISTA_NAMESPACE_END
