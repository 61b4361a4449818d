// Declared hyperparameters: a plugin lists what it accepts (ParameterSpec), the host
// validates user input against that list and hands the plugin typed values (Parameters).
#pragma once

#include <ballista/version.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

BALLISTA_NAMESPACE_BEGIN

enum class ParameterType { integer, real, boolean, string, integer_list, string_list };

// Index order matches ParameterType.
using ParameterValue = std::variant<std::int64_t, double, bool, std::string,
                                    std::vector<std::int64_t>, std::vector<std::string>>;

// "integer", "real", ... as shown to users.
BALLISTA_API std::string to_string(ParameterType type);
// The value as it would be written in a pipeline ("0.01", "[256, 256]", "sigmoid").
BALLISTA_API std::string to_string(const ParameterValue& value);
BALLISTA_API ParameterType type_of(const ParameterValue& value);

// One declared parameter: name, type, default, allowed values and a one-line doc.
// Built with the named constructors and chained restrictions, e.g.
//   ParameterSpec::integer("k", 1, "neighbours averaged").at_least(1)
// Bounds apply to numbers and to every element of a list.
class BALLISTA_API ParameterSpec {
 public:
  static ParameterSpec integer(std::string name, std::int64_t fallback, std::string doc);
  static ParameterSpec real(std::string name, double fallback, std::string doc);
  static ParameterSpec boolean(std::string name, bool fallback, std::string doc);
  // A string restricted to `choices`; `fallback` must be one of them.
  static ParameterSpec choice(std::string name, std::string fallback,
                              std::vector<std::string> choices, std::string doc);
  static ParameterSpec integer_list(std::string name, std::vector<std::int64_t> fallback,
                                    std::string doc);
  static ParameterSpec string_list(std::string name, std::vector<std::string> fallback,
                                   std::string doc);

  ParameterSpec& at_least(double bound);      // value >= bound
  ParameterSpec& greater_than(double bound);  // value > bound
  ParameterSpec& at_most(double bound);       // value <= bound
  ParameterSpec& non_empty();                 // lists must hold at least one element
  // The user must give a value; the default is only shown as an example.
  ParameterSpec& required();
  // A string, or every element of a list of strings, is an expression over the data's
  // inputs and constants (see expression.hpp): the host parses it and checks every name
  // it reads before anything runs, so `validate` finds `w^2` when there is no input w.
  ParameterSpec& expressions();

  const std::string& name() const { return name_; }
  ParameterType type() const { return type_; }
  const ParameterValue& default_value() const { return default_; }
  const std::string& doc() const { return doc_; }
  const std::vector<std::string>& choices() const { return choices_; }
  bool is_required() const { return required_; }
  // The bounds as declared (for numbers and list elements), for tools such as
  // `ballista schema`; allowed() and check() are what users see.
  const std::optional<double>& lower_bound() const { return lower_; }
  bool lower_bound_inclusive() const { return lower_inclusive_; }
  const std::optional<double>& upper_bound() const { return upper_; }
  bool is_non_empty() const { return non_empty_; }
  bool is_expression() const { return expressions_; }
  // "integer ≥ 1", "one of: sgd, lstsq", "list of integer > 0": what the user may write.
  std::string allowed() const;
  // Empty if `value` has this parameter's type and satisfies its restrictions;
  // otherwise a sentence saying what is wrong ("must be ≥ 1, got 0").
  std::string check(const ParameterValue& value) const;

 private:
  ParameterSpec(std::string name, ParameterType type, ParameterValue fallback, std::string doc);
  std::string check_number(double value, const std::string& expected) const;
  std::string bounds() const;  // ">= 1 and <= 5", or empty

  std::string name_;
  ParameterType type_;
  ParameterValue default_;
  std::string doc_;
  std::vector<std::string> choices_;
  std::optional<double> lower_;
  bool lower_inclusive_ = true;
  std::optional<double> upper_;
  bool non_empty_ = false;
  bool required_ = false;
  bool expressions_ = false;
};

// Thrown by a plugin's factory when a value passes its declared type and range but is
// still unusable (an expression that does not parse, say). The host reports it at the
// location where the user wrote that parameter.
class BALLISTA_API ParameterError : public std::runtime_error {
 public:
  ParameterError(std::string parameter, const std::string& message)
      : std::runtime_error(message), parameter_(std::move(parameter)) {}
  const std::string& parameter() const { return parameter_; }

 private:
  std::string parameter_;
};

// Validated values of every declared parameter (defaults filled in by the host).
// Reading an undeclared name or with the wrong type is a plugin bug: std::logic_error.
class BALLISTA_API Parameters {
 public:
  Parameters() = default;
  explicit Parameters(std::map<std::string, ParameterValue> values) : values_(std::move(values)) {}

  template <class T>
  const T& get(const std::string& name) const {
    const auto found = values_.find(name);
    if (found == values_.end()) {
      throw std::logic_error("parameter '" + name + "' was not declared by the plugin");
    }
    const T* value = std::get_if<T>(&found->second);
    if (value == nullptr) {
      throw std::logic_error("parameter '" + name + "' is read with the wrong type");
    }
    return *value;
  }
  const std::map<std::string, ParameterValue>& values() const { return values_; }

 private:
  std::map<std::string, ParameterValue> values_;
};

BALLISTA_NAMESPACE_END
