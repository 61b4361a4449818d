#include "ode_system.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <set>
#include <stdexcept>
#include <utility>

namespace ballista_ode {

using ballista::Expression;
using ballista::ParameterError;

std::string format_number(double value, int digits) {
  std::array<char, 40> text{};
  const auto end = digits > 0
                       ? std::to_chars(text.begin(), text.end(), value, std::chars_format::general, digits).ptr
                       : std::to_chars(text.begin(), text.end(), value).ptr;
  return {text.begin(), end};
}

std::vector<std::string> NetworkShape::output_names() const {
  std::vector<std::string> names;
  for (std::int64_t k = 1; k <= outputs; ++k) {
    names.push_back("net" + std::to_string(k));
  }
  return names;
}

namespace {

std::string trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(" \t");
  return std::string(text.substr(first, last - first + 1));
}

bool is_name(const std::string& text) {
  if (text.empty() || !(std::isalpha(static_cast<unsigned char>(text[0])) != 0 || text[0] == '_')) {
    return false;
  }
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; });
}

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) {
    text += (text.empty() ? "" : ", ") + name;
  }
  return text.empty() ? "none" : text;
}

// Where an entry came from, for messages: "rhs[2] 'ux' = …'".
std::string entry(const std::string& parameter, std::size_t index, const std::string& text) {
  return parameter + "[" + std::to_string(index) + "] '" + text + "'";
}

double parse_number(const std::string& text, const std::string& parameter, const std::string& where) {
  const auto word = trimmed(text);
  if (word == "inf" || word == "+inf") {
    return std::numeric_limits<double>::infinity();
  }
  if (word == "-inf") {
    return -std::numeric_limits<double>::infinity();
  }
  double value = 0.0;
  const auto* begin = word.data();
  const auto* end = word.data() + word.size();
  const auto [ptr, error] = std::from_chars(begin, end, value);
  if (word.empty() || error != std::errc() || ptr != end || !std::isfinite(value)) {
    throw ParameterError(parameter, where + ": '" + word + "' is not a number");
  }
  return value;
}

// "NAME = TEXT" or, with `primed`, "NAME' = TEXT". Returns {NAME, TEXT}.
std::pair<std::string, std::string> split_equation(const std::string& text, const std::string& parameter,
                                                   std::size_t index, bool primed) {
  const auto where = entry(parameter, index, text);
  const auto equals = text.find('=');
  if (equals == std::string::npos) {
    throw ParameterError(parameter, where + ": expected " + (primed ? "NAME' = EXPRESSION" : "NAME = EXPRESSION"));
  }
  auto name = trimmed(std::string_view(text).substr(0, equals));
  if (primed) {
    if (name.empty() || name.back() != '\'') {
      throw ParameterError(parameter, where + ": the left side must be a state variable with a prime, as in ux' = ...");
    }
    name = trimmed(name.substr(0, name.size() - 1));
  }
  if (!is_name(name)) {
    throw ParameterError(parameter, where + ": '" + name + "' is not a name (letters, digits and _, not first a digit)");
  }
  auto rest = trimmed(std::string_view(text).substr(equals + 1));
  if (rest.empty()) {
    throw ParameterError(parameter, where + ": nothing after '='");
  }
  return {name, rest};
}

Expression parsed(const std::string& text, const std::string& parameter, const std::string& where) {
  try {
    return Expression::parse(text);
  } catch (const ballista::ExpressionError& error) {
    throw ParameterError(parameter, where + ": " + error.what());
  }
}

}  // namespace

OdeSystem::OdeSystem(const ballista::Parameters& parameters) {
  // Every name the system defines, and which kind it is, to check uses and clashes.
  std::map<std::string, std::string> defined{{"t", "the time"}};
  const auto functions = Expression::function_names();
  const auto define = [&](const std::string& name, const std::string& kind, const std::string& parameter,
                          const std::string& where) {
    if (std::find(functions.begin(), functions.end(), name) != functions.end() || name == "pi" || name == "e") {
      throw ParameterError(parameter, where + ": '" + name + "' is a built-in name of the expression language");
    }
    if (const auto found = defined.find(name); found != defined.end()) {
      throw ParameterError(parameter, where + ": '" + name + "' is already " + found->second);
    }
    defined[name] = kind;
  };

  const auto& state = parameters.get<std::vector<std::string>>("state");
  for (std::size_t i = 0; i < state.size(); ++i) {
    const auto [name, text] = split_equation(state[i], "state", i, false);
    define(name, "a state variable", "state", entry("state", i, state[i]));
    state_names_.push_back(name);
    initial_.push_back({name, parsed(text, "state", entry("state", i, state[i]))});
  }
  const auto& constant_texts = parameters.get<std::vector<std::string>>("constants");
  for (std::size_t i = 0; i < constant_texts.size(); ++i) {
    const auto where = entry("constants", i, constant_texts[i]);
    const auto [name, text] = split_equation(constant_texts[i], "constants", i, false);
    define(name, "a constant", "constants", where);
    constants_[name] = parse_number(text, "constants", where);
  }
  const auto& fit = parameters.get<std::vector<std::string>>("fit");
  for (std::size_t i = 0; i < fit.size(); ++i) {
    const auto where = entry("fit", i, fit[i]);
    const auto [name, text] = split_equation(fit[i], "fit", i, false);
    define(name, "a fitted constant", "fit", where);
    FittedConstant constant{name};
    const auto in = text.find(" in ");
    constant.initial = parse_number(text.substr(0, in), "fit", where);
    if (in != std::string::npos) {
      const auto bounds = trimmed(text.substr(in + 4));
      const auto comma = bounds.find(',');
      if (bounds.size() < 2 || bounds.front() != '[' || bounds.back() != ']' || comma == std::string::npos) {
        throw ParameterError("fit", where + ": bounds are written 'in [LOW, HIGH]' (inf for none)");
      }
      constant.lower = parse_number(bounds.substr(1, comma - 1), "fit", where);
      constant.upper = parse_number(bounds.substr(comma + 1, bounds.size() - comma - 2), "fit", where);
      if (!(constant.lower <= constant.initial && constant.initial <= constant.upper)) {
        throw ParameterError("fit", where + ": the initial value must lie within [LOW, HIGH]");
      }
    }
    fitted_.push_back(constant);
  }
  network_.inputs = parameters.get<std::vector<std::string>>("net_inputs");
  network_.outputs = network_.inputs.empty() ? 0 : parameters.get<std::int64_t>("net_outputs");
  network_.hidden = parameters.get<std::vector<std::int64_t>>("net_hidden");
  network_.activation = parameters.get<std::string>("net_activation");
  for (const auto& name : network_.output_names()) {
    define(name, "an output of the network", "net_outputs", "net_outputs");
  }
  const auto& definition_texts = parameters.get<std::vector<std::string>>("define");
  for (std::size_t i = 0; i < definition_texts.size(); ++i) {
    const auto where = entry("define", i, definition_texts[i]);
    const auto [name, text] = split_equation(definition_texts[i], "define", i, false);
    define(name, "defined", "define", where);
    definitions_.push_back({name, parsed(text, "define", where)});
  }

  const auto& rhs = parameters.get<std::vector<std::string>>("rhs");
  std::map<std::string, Equation> by_state;
  for (std::size_t i = 0; i < rhs.size(); ++i) {
    const auto where = entry("rhs", i, rhs[i]);
    const auto [name, text] = split_equation(rhs[i], "rhs", i, true);
    if (std::find(state_names_.begin(), state_names_.end(), name) == state_names_.end()) {
      throw ParameterError("rhs", where + ": '" + name + "' is not a state variable (the state: " +
                                      joined(state_names_) + ")");
    }
    if (by_state.count(name) != 0) {
      throw ParameterError("rhs", where + ": " + name + "' is given twice");
    }
    by_state.emplace(name, Equation{name, parsed(text, "rhs", where)});
  }
  for (const auto& name : state_names_) {
    const auto found = by_state.find(name);
    if (found == by_state.end()) {
      throw ParameterError("rhs", "no equation for " + name + "' (every state variable needs one: " +
                                      joined(state_names_) + ")");
    }
    derivatives_.push_back(found->second);
  }

  const auto& until = parameters.get<std::vector<std::string>>("until");
  for (std::size_t i = 0; i < until.size(); ++i) {
    const auto where = entry("until", i, until[i]);
    auto text = trimmed(until[i]);
    const auto whole = text;
    int direction = 0;
    for (const auto& [word, sense] : {std::pair<std::string, int>{" falling", -1}, std::pair<std::string, int>{" rising", +1}}) {
      if (text.size() > word.size() && text.compare(text.size() - word.size(), std::string::npos, word) == 0) {
        direction = sense;
        text = trimmed(text.substr(0, text.size() - word.size()));
      }
    }
    const auto equals = text.find('=');
    if (equals == std::string::npos) {
      throw ParameterError("until", where + ": expected 'EXPRESSION = EXPRESSION [falling|rising]' or 't = EXPRESSION'");
    }
    const auto left = trimmed(text.substr(0, equals));
    const auto right = trimmed(text.substr(equals + 1));
    (void)parsed(left, "until", where + " (left side)");
    (void)parsed(right, "until", where + " (right side)");
    if (left == "t") {
      if (direction != 0) {
        throw ParameterError("until", where + ": a time has no direction; write 't = EXPRESSION'");
      }
      events_.push_back({Event::Kind::time, whole, parsed(right, "until", where), 0});
    } else {
      events_.push_back(
          {Event::Kind::crossing, whole, parsed("(" + left + ") - (" + right + ")", "until", where), direction});
    }
  }
  if (events_.empty()) {
    throw ParameterError("until", "needs at least one event: 'y = 0 falling', or 't = time' for a time column");
  }

  const auto& output_texts = parameters.get<std::vector<std::string>>("output");
  std::set<std::string> targets;
  for (std::size_t i = 0; i < output_texts.size(); ++i) {
    const auto where = entry("output", i, output_texts[i]);
    const auto [name, text] = split_equation(output_texts[i], "output", i, false);
    if (!targets.insert(name).second) {
      throw ParameterError("output", where + ": target '" + name + "' is given twice");
    }
    outputs_.push_back({name, parsed(text, "output", where)});
  }

  // What each kind of expression may read besides the data's inputs and constants.
  const auto fitted_names = [this] {
    std::set<std::string> names;
    for (const auto& constant : fitted_) {
      names.insert(constant.name);
    }
    for (const auto& [name, value] : constants_) {
      names.insert(name);
    }
    return names;
  }();
  std::set<std::string> free;
  const auto check = [&](const Expression& expression, const std::set<std::string>& allowed,
                         const std::string& parameter, const std::string& where, const std::string& why) {
    for (const auto& name : expression.names()) {
      if (name == "pi" || name == "e" || allowed.count(name) != 0 || fitted_names.count(name) != 0) {
        continue;
      }
      if (const auto found = defined.find(name); found != defined.end()) {
        throw ParameterError(parameter, where + " reads '" + name + "', " + found->second + ", which " + why);
      }
      if (free.insert(name).second) {
        free_names_.push_back(name);
      }
    }
  };
  for (std::size_t i = 0; i < initial_.size(); ++i) {
    check(initial_[i].expression, {}, "state", entry("state", i, state[i]),
          "an initial value cannot read (it may read the data's inputs and the constants)");
  }
  std::set<std::string> dynamic(state_names_.begin(), state_names_.end());
  dynamic.insert("t");
  for (std::size_t i = 0; i < definitions_.size(); ++i) {
    check(definitions_[i].expression, dynamic, "define", entry("define", i, definition_texts[i]),
          "a definition cannot read (it may read the state, t, earlier definitions, inputs and constants)");
    dynamic.insert(definitions_[i].name);
  }
  for (const auto& name : network_.inputs) {
    if (dynamic.count(name) == 0 && defined.count(name) != 0) {
      throw ParameterError("net_inputs", "the network cannot read '" + name + "', " + defined[name] +
                                             " (it may read the state, t, definitions, inputs and constants)");
    }
    if (dynamic.count(name) == 0 && fitted_names.count(name) == 0 && free.insert(name).second) {
      free_names_.push_back(name);
    }
  }
  auto with_network = dynamic;
  for (const auto& name : network_.output_names()) {
    with_network.insert(name);
  }
  for (std::size_t i = 0; i < derivatives_.size(); ++i) {
    check(derivatives_[i].expression, with_network, "rhs", "rhs for " + derivatives_[i].name + "'",
          "the right-hand side cannot read");
  }
  network_output_names_ = network_.output_names();
  for (const auto& definition : definitions_) {
    network_reads_definitions_ =
        network_reads_definitions_ ||
        std::find(network_.inputs.begin(), network_.inputs.end(), definition.name) != network_.inputs.end();
  }
  if (parameters.get<bool>("fused")) {
    fused_.emplace(state_names_, definitions_, derivatives_);
  }
  reads_time_ = std::find(network_.inputs.begin(), network_.inputs.end(), "t") != network_.inputs.end();
  for (const auto* equations : {&derivatives_, &definitions_}) {
    for (const auto& equation : *equations) {
      const auto names = equation.expression.names();
      reads_time_ = reads_time_ || std::find(names.begin(), names.end(), "t") != names.end();
    }
  }
  for (const auto& event : events_) {
    for (const auto& name : event.function.names()) {
      events_read_definitions_ = events_read_definitions_ ||
                                 std::any_of(definitions_.begin(), definitions_.end(),
                                             [&](const Equation& definition) { return definition.name == name; });
    }
  }
  for (std::size_t i = 0; i < events_.size(); ++i) {
    if (events_[i].kind == Event::Kind::time) {
      check(events_[i].function, {}, "until", entry("until", i, until[i]),
            "an end time cannot read (it may read the data's inputs and the constants)");
    } else {
      check(events_[i].function, dynamic, "until", entry("until", i, until[i]),
            "an event cannot read (it may read the state, t, definitions, inputs and constants)");
    }
  }
  for (std::size_t i = 0; i < outputs_.size(); ++i) {
    check(outputs_[i].expression, dynamic, "output", entry("output", i, output_texts[i]),
          "an output cannot read (it may read the state, t, definitions, inputs and constants)");
  }
  if (!network_.inputs.empty()) {
    const auto net_names = network_.output_names();
    const bool used = std::any_of(derivatives_.begin(), derivatives_.end(), [&](const Equation& equation) {
      const auto names = equation.expression.names();
      return std::find_first_of(names.begin(), names.end(), net_names.begin(), net_names.end()) != names.end();
    });
    if (!used) {
      throw ParameterError("rhs", "the network (net_inputs) is not used: write net1 … net" +
                                      std::to_string(network_.outputs) + " in the right-hand side");
    }
  }
}

std::vector<torch::Tensor> OdeSystem::initial_network(at::Generator& generator, torch::Dtype dtype) const {
  std::vector<torch::Tensor> weights;
  if (network_.inputs.empty()) {
    return weights;
  }
  auto sizes = network_.hidden;
  sizes.insert(sizes.begin(), static_cast<std::int64_t>(network_.inputs.size()));
  sizes.push_back(network_.outputs);
  for (std::size_t layer = 0; layer + 1 < sizes.size(); ++layer) {
    const auto in = sizes[layer];
    const auto out = sizes[layer + 1];
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    weights.push_back(((torch::rand({out, in}, generator, torch::kFloat64) * 2 - 1) * bound).to(dtype));
    weights.push_back(((torch::rand({out}, generator, torch::kFloat64) * 2 - 1) * bound).to(dtype));
  }
  return weights;
}

torch::Tensor OdeSystem::network_output(const std::vector<torch::Tensor>& weights, const torch::Tensor& inputs) const {
  if (fused_) {
    return fused_network(weights, inputs, network_.activation);
  }
  auto h = inputs;
  for (std::size_t layer = 0; layer + 1 < weights.size(); layer += 2) {
    h = torch::addmm(weights[layer + 1], h, weights[layer].t());
    if (layer + 2 < weights.size()) {
      const auto& activation = network_.activation;
      h = activation == "tanh" ? torch::tanh(h) : activation == "sigmoid" ? torch::sigmoid(h)
                                                                           : torch::nn::functional::softplus(h);
    }
  }
  return h;
}

void OdeSystem::bind_state(const torch::Tensor& t, const torch::Tensor& state, Bindings& scope,
                           bool definitions) const {
  const auto columns = state.unbind(1);
  for (std::size_t i = 0; i < state_names_.size(); ++i) {
    scope[state_names_[i]] = columns[i];
  }
  scope["t"] = t;
  if (!definitions) {
    return;
  }
  for (const auto& definition : definitions_) {
    scope[definition.name] = definition.expression.evaluate(scope);
  }
}

torch::Tensor OdeSystem::network_inputs(const Bindings& scope, std::int64_t rows) const {
  std::vector<torch::Tensor> columns;
  columns.reserve(network_.inputs.size());
  for (const auto& name : network_.inputs) {
    columns.push_back(scope.at(name).expand({rows}));
  }
  return torch::stack(columns, 1);
}

torch::Tensor OdeSystem::learned_output(const LearnedTerm& learned, const Bindings& scope, std::int64_t rows) const {
  if (learned.formula == nullptr) {
    return network_output(learned.network, network_inputs(scope, rows));
  }
  const auto& formula = *learned.formula;
  std::vector<torch::Tensor> columns;
  columns.reserve(formula.terms.size());
  for (const auto& term : formula.terms) {
    columns.push_back(term.evaluate(scope).to(formula.weights.dtype()).expand({rows}));
  }
  return torch::stack(columns, 1).matmul(formula.coefficients());
}

torch::Tensor OdeSystem::derivative(const torch::Tensor& t, const torch::Tensor& state, Bindings& scope,
                                    const LearnedTerm& learned) const {
  if (fused_ && state.scalar_type() == torch::kFloat64 && state.device().is_cpu()) {
    const auto rows = state.size(0);
    if (network_.inputs.empty()) {
      scope["t"] = t;
    } else {
      bind_state(t, state, scope, network_reads_definitions_);
      const auto values = learned_output(learned, scope, rows).unbind(1);
      for (std::int64_t k = 0; k < network_.outputs; ++k) {
        scope[network_output_names_[static_cast<std::size_t>(k)]] = values[static_cast<std::size_t>(k)];
      }
    }
    std::vector<torch::Tensor> values;
    values.reserve(fused_->reads().size());
    bool usable = true;
    for (const auto& read : fused_->reads()) {
      const auto found = scope.find(read.name);
      auto value = found != scope.end() ? found->second
                                        : torch::scalar_tensor(read.fallback.value_or(0.0), torch::kFloat64);
      usable = usable && value.scalar_type() == torch::kFloat64 && value.device().is_cpu() &&
               (value.dim() == 0 || (value.dim() == 1 && value.size(0) == rows));
      values.push_back(std::move(value));
    }
    if (usable) {
      return (*fused_)(state, values);
    }
  }
  bind_state(t, state, scope);
  if (!network_.inputs.empty()) {
    const auto values = learned_output(learned, scope, state.size(0)).unbind(1);
    for (std::int64_t k = 0; k < network_.outputs; ++k) {
      scope[network_output_names_[static_cast<std::size_t>(k)]] = values[static_cast<std::size_t>(k)];
    }
  }
  std::vector<torch::Tensor> rates;
  rates.reserve(derivatives_.size());
  for (const auto& equation : derivatives_) {
    auto rate = equation.expression.evaluate(scope);
    // A constant rate (ux' = 0) is 0-dimensional; a per-row one is used as it is (an
    // expand would add a node to the graph for nothing).
    rates.push_back(rate.dim() == 1 && rate.size(0) == state.size(0) ? rate : rate.expand({state.size(0)}));
  }
  return torch::stack(rates, 1);
}

namespace {

// `text` with every name in `values` replaced by its value ("-k*speed*ux" →
// "-0.02013*speed*ux"), and every name in `texts` by that text, in parentheses.
std::string substituted(const std::string& text, const std::map<std::string, double>& values,
                        const std::map<std::string, std::string>& texts = {}) {
  std::string result;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (std::isdigit(c) != 0 || c == '.') {  // a number, exponent included: 1e-3 has no name e
      const auto start = i;
      while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) != 0 || text[i] == '.')) {
        ++i;
      }
      if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
        ++i;
        if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
          ++i;
        }
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) {
          ++i;
        }
      }
      result += text.substr(start, i - start);
    } else if (std::isalpha(c) != 0 || c == '_') {
      const auto start = i;
      while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) != 0 || text[i] == '_')) {
        ++i;
      }
      const auto name = text.substr(start, i - start);
      const auto found = values.find(name);
      const auto replaced = texts.find(name);
      if (replaced != texts.end()) {
        result += "(" + replaced->second + ")";
      } else if (found == values.end()) {
        result += name;
      } else {
        const auto value = format_number(found->second, 4);
        result += found->second < 0 ? "(" + value + ")" : value;
      }
    } else {
      result += text[i++];
    }
  }
  return result;
}

}  // namespace

std::string OdeSystem::describe(const std::map<std::string, double>& fitted_values,
                                const std::string& network_summary, const std::vector<std::string>& formulas) const {
  std::map<std::string, std::string> texts;
  for (std::size_t k = 0; k < formulas.size() && k < network_output_names_.size(); ++k) {
    texts[network_output_names_[k]] = formulas[k];
  }
  std::string text;
  for (const auto& definition : definitions_) {
    text += definition.name + " = " + substituted(definition.expression.text(), fitted_values) + "; ";
  }
  for (std::size_t i = 0; i < derivatives_.size(); ++i) {
    const auto& written = derivatives_[i].expression.text();
    const auto alone = texts.find(written);  // ux' = net1: the formula itself, without parentheses
    text += (i == 0 ? "" : "; ") + derivatives_[i].name + "' = " +
            (alone != texts.end() ? substituted(alone->second, fitted_values)
                                  : substituted(written, fitted_values, texts));
  }
  if (!network_summary.empty()) {
    text += "; " + network_summary;
  }
  return text;
}

}  // namespace ballista_ode
