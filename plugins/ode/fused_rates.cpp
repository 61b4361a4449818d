#include "fused_rates.hpp"

#include "ode_system.hpp"

#include <ballista/expression_program.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

namespace ballista_ode {

namespace {

using Kind = FusedRates::Instruction::Kind;
using Step = ballista::ExpressionStep;

// A slot's values during a call: a column (stride 1, or the state's m) or one number
// for every row (stride 0).
struct Column {
  const double* data;
  std::int64_t stride;
  double operator[](std::int64_t row) const { return data[row * stride]; }
};

Kind kind_of(Step::Kind step) {
  switch (step) {
    case Step::Kind::negate: return Kind::negate;
    case Step::Kind::add: return Kind::add;
    case Step::Kind::subtract: return Kind::subtract;
    case Step::Kind::multiply: return Kind::multiply;
    case Step::Kind::divide: return Kind::divide;
    case Step::Kind::power: return Kind::power;
    case Step::Kind::sin: return Kind::sin;
    case Step::Kind::cos: return Kind::cos;
    case Step::Kind::tan: return Kind::tan;
    case Step::Kind::exp: return Kind::exp;
    case Step::Kind::log: return Kind::log;
    case Step::Kind::sqrt: return Kind::sqrt;
    case Step::Kind::abs: return Kind::abs;
    default: throw std::logic_error("fused rates: not an operation");
  }
}

bool unary(Kind kind) { return kind != Kind::add && kind != Kind::subtract && kind != Kind::multiply &&
                               kind != Kind::divide && kind != Kind::power; }

// Runs `body(row)` for rows [0, count): the per-kind loops below keep the switch on the
// operation outside the loop over rows.
template <class Body>
void for_rows(std::int64_t count, Body body) {
  for (std::int64_t row = 0; row < count; ++row) {
    body(row);
  }
}

// The values of every slot at one call: the state's columns, the reads, then each
// instruction's result, in `results` (K·n doubles; only the first of a result's n
// where it is the same for every row).
std::vector<Column> run_program(const FusedRates& program, const torch::Tensor& state,
                                const std::vector<torch::Tensor>& values, double* results) {
  const auto rows = state.size(0);
  std::vector<Column> slots;
  slots.reserve(static_cast<std::size_t>(program.state_size()) + values.size() + program.instructions().size());
  const auto* state_data = state.data_ptr<double>();
  for (std::int64_t j = 0; j < program.state_size(); ++j) {
    slots.push_back({state_data + j, state.stride(0)});
  }
  for (const auto& value : values) {
    slots.push_back({value.data_ptr<double>(), value.dim() == 0 ? 0 : value.stride(0)});
  }
  const auto& instructions = program.instructions();
  for (std::size_t k = 0; k < instructions.size(); ++k) {
    const auto& instruction = instructions[k];
    double* r = results + static_cast<std::int64_t>(k) * rows;
    if (instruction.kind == Kind::constant) {
      r[0] = instruction.value;
      slots.push_back({r, 0});
      continue;
    }
    const auto a = slots[static_cast<std::size_t>(instruction.a)];
    const auto b = instruction.b >= 0 ? slots[static_cast<std::size_t>(instruction.b)] : a;
    const bool same = a.stride == 0 && b.stride == 0;
    const auto count = same ? 1 : rows;
    switch (instruction.kind) {
      case Kind::add: for_rows(count, [&](std::int64_t i) { r[i] = a[i] + b[i]; }); break;
      case Kind::subtract: for_rows(count, [&](std::int64_t i) { r[i] = a[i] - b[i]; }); break;
      case Kind::multiply: for_rows(count, [&](std::int64_t i) { r[i] = a[i] * b[i]; }); break;
      case Kind::divide: for_rows(count, [&](std::int64_t i) { r[i] = a[i] / b[i]; }); break;
      case Kind::negate: for_rows(count, [&](std::int64_t i) { r[i] = -a[i]; }); break;
      case Kind::sqrt: for_rows(count, [&](std::int64_t i) { r[i] = std::sqrt(a[i]); }); break;
      case Kind::power:
        if (b.stride == 0 && b[0] == 2.0) {  // x^2 is x*x, as LibTorch's pow
          for_rows(count, [&](std::int64_t i) { r[i] = a[i] * a[i]; });
        } else {
          for_rows(count, [&](std::int64_t i) { r[i] = std::pow(a[i], b[i]); });
        }
        break;
      case Kind::sin: for_rows(count, [&](std::int64_t i) { r[i] = std::sin(a[i]); }); break;
      case Kind::cos: for_rows(count, [&](std::int64_t i) { r[i] = std::cos(a[i]); }); break;
      case Kind::tan: for_rows(count, [&](std::int64_t i) { r[i] = std::tan(a[i]); }); break;
      case Kind::exp: for_rows(count, [&](std::int64_t i) { r[i] = std::exp(a[i]); }); break;
      case Kind::log: for_rows(count, [&](std::int64_t i) { r[i] = std::log(a[i]); }); break;
      case Kind::abs: for_rows(count, [&](std::int64_t i) { r[i] = std::abs(a[i]); }); break;
      case Kind::constant: break;
    }
    slots.push_back({r, same ? 0 : 1});
  }
  return slots;
}

// Scratch memory of this thread, reused call after call: a fresh [K, n] buffer per call
// is a large allocation (mmap, page faults) every stage of every step.
double* scratch(std::vector<double>& buffer, std::size_t size) {
  if (buffer.size() < size) {
    buffer.resize(size);
  }
  return buffer.data();
}

// The program a node was built from, kept in the node's saved data.
struct ProgramReference : public torch::CustomClassHolder {
  explicit ProgramReference(const FusedRates* of) : program(of) {}
  const FusedRates* program;
};

// The program as one autograd node: forward runs it; backward runs it again (cheaper
// than keeping every intermediate column of every stage alive in the graph) and then
// its reverse sweep. LibTorch's derivatives: pow's base 0 where the exponent is 0, its
// exponent 0 where the base is 0 and the exponent >= 0; abs 0 at 0.
struct FusedFunction : public torch::autograd::Function<FusedFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const FusedRates* program,
                               const torch::Tensor& state, at::TensorList values) {
    thread_local std::vector<double> buffer;
    const auto rows = state.size(0);
    const auto m = program->state_size();
    const std::vector<torch::Tensor> inputs(values.begin(), values.end());
    const auto slots = run_program(*program, state, inputs,
                                   scratch(buffer, program->instructions().size() * static_cast<std::size_t>(rows)));
    auto rates = torch::empty({rows, m}, state.options());
    auto* out = rates.data_ptr<double>();
    for (std::int64_t j = 0; j < m; ++j) {
      const auto column = slots[static_cast<std::size_t>(program->outputs()[static_cast<std::size_t>(j)])];
      for_rows(rows, [&](std::int64_t i) { out[i * m + j] = column[i]; });
    }
    std::vector<torch::Tensor> saved{state};
    saved.insert(saved.end(), values.begin(), values.end());
    context->save_for_backward(saved);
    // The program outlives every graph built from it: it belongs to the model's system.
    context->saved_data["program"] = c10::IValue::make_capsule(c10::make_intrusive<ProgramReference>(program));
    return rates;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list gradients) {
    thread_local std::vector<double> result_buffer;
    thread_local std::vector<double> adjoint_buffer;
    const auto* program =
        c10::static_intrusive_pointer_cast<ProgramReference>(context->saved_data["program"].toCapsule())->program;
    const auto saved = context->get_saved_variables();
    const auto& state = saved[0];
    const std::vector<torch::Tensor> values(saved.begin() + 1, saved.end());
    const auto rows = state.size(0);
    const auto m = program->state_size();
    const auto reads = static_cast<std::int64_t>(values.size());
    const auto& instructions = program->instructions();
    const auto slots = run_program(*program, state, values,
                                   scratch(result_buffer, instructions.size() * static_cast<std::size_t>(rows)));
    const auto total = static_cast<std::size_t>(m + reads) + instructions.size();
    double* adjoint = scratch(adjoint_buffer, total * static_cast<std::size_t>(rows));
    std::fill(adjoint, adjoint + total * static_cast<std::size_t>(rows), 0.0);
    const auto gradient = gradients[0].contiguous();
    const auto* seed = gradient.data_ptr<double>();
    for (std::int64_t j = 0; j < m; ++j) {
      double* target = adjoint + program->outputs()[static_cast<std::size_t>(j)] * rows;
      for_rows(rows, [&](std::int64_t i) { target[i] += seed[i * m + j]; });
    }
    const auto is_constant = [&](std::int64_t slot) {
      const auto k = slot - m - reads;
      return k >= 0 && instructions[static_cast<std::size_t>(k)].kind == Kind::constant;
    };
    for (auto k = static_cast<std::int64_t>(instructions.size()) - 1; k >= 0; --k) {
      const auto& instruction = instructions[static_cast<std::size_t>(k)];
      if (instruction.kind == Kind::constant) {
        continue;
      }
      const auto slot = m + reads + k;
      const double* g = adjoint + slot * rows;
      const auto s = slots[static_cast<std::size_t>(slot)];
      const auto a = slots[static_cast<std::size_t>(instruction.a)];
      double* da = adjoint + instruction.a * rows;
      const bool binary = instruction.b >= 0;
      const auto b = binary ? slots[static_cast<std::size_t>(instruction.b)] : a;
      double* db = binary && !is_constant(instruction.b) ? adjoint + instruction.b * rows : nullptr;
      switch (instruction.kind) {
        case Kind::add:
          for_rows(rows, [&](std::int64_t i) { da[i] += g[i]; });
          if (db != nullptr) for_rows(rows, [&](std::int64_t i) { db[i] += g[i]; });
          break;
        case Kind::subtract:
          for_rows(rows, [&](std::int64_t i) { da[i] += g[i]; });
          if (db != nullptr) for_rows(rows, [&](std::int64_t i) { db[i] -= g[i]; });
          break;
        case Kind::multiply:
          for_rows(rows, [&](std::int64_t i) { da[i] += g[i] * b[i]; });
          if (db != nullptr) for_rows(rows, [&](std::int64_t i) { db[i] += g[i] * a[i]; });
          break;
        case Kind::divide:
          for_rows(rows, [&](std::int64_t i) { da[i] += g[i] / b[i]; });
          if (db != nullptr) for_rows(rows, [&](std::int64_t i) { db[i] -= g[i] * s[i] / b[i]; });
          break;
        case Kind::negate: for_rows(rows, [&](std::int64_t i) { da[i] -= g[i]; }); break;
        case Kind::sqrt: for_rows(rows, [&](std::int64_t i) { da[i] += g[i] / (2.0 * s[i]); }); break;
        case Kind::power:
          if (b.stride == 0 && b[0] == 2.0) {
            for_rows(rows, [&](std::int64_t i) { da[i] += g[i] * 2.0 * a[i]; });
          } else {
            for_rows(rows, [&](std::int64_t i) {
              da[i] += b[i] == 0.0 ? 0.0 : g[i] * b[i] * std::pow(a[i], b[i] - 1.0);
            });
          }
          if (db != nullptr) {
            for_rows(rows, [&](std::int64_t i) { db[i] += a[i] == 0.0 && b[i] >= 0.0 ? 0.0 : g[i] * s[i] * std::log(a[i]); });
          }
          break;
        case Kind::sin: for_rows(rows, [&](std::int64_t i) { da[i] += g[i] * std::cos(a[i]); }); break;
        case Kind::cos: for_rows(rows, [&](std::int64_t i) { da[i] -= g[i] * std::sin(a[i]); }); break;
        case Kind::tan: for_rows(rows, [&](std::int64_t i) { da[i] += g[i] * (1.0 + s[i] * s[i]); }); break;
        case Kind::exp: for_rows(rows, [&](std::int64_t i) { da[i] += g[i] * s[i]; }); break;
        case Kind::log: for_rows(rows, [&](std::int64_t i) { da[i] += g[i] / a[i]; }); break;
        case Kind::abs:
          for_rows(rows, [&](std::int64_t i) { da[i] += a[i] > 0 ? g[i] : a[i] < 0 ? -g[i] : 0.0; });
          break;
        case Kind::constant: break;
      }
    }
    const auto options = state.options();
    torch::autograd::variable_list out{torch::Tensor()};
    if (context->needs_input_grad(0)) {
      auto grad_state = torch::empty({rows, m}, options);
      auto* target = grad_state.data_ptr<double>();
      for (std::int64_t j = 0; j < m; ++j) {
        const double* from = adjoint + j * rows;
        for_rows(rows, [&](std::int64_t i) { target[i * m + j] = from[i]; });
      }
      out.push_back(grad_state);
    } else {
      out.emplace_back();
    }
    for (std::int64_t i = 0; i < reads; ++i) {
      const auto& value = values[static_cast<std::size_t>(i)];
      if (!context->needs_input_grad(static_cast<std::size_t>(1 + i))) {
        out.emplace_back();
        continue;
      }
      const double* from = adjoint + (m + i) * rows;
      if (value.dim() == 0) {
        double sum = 0.0;
        for_rows(rows, [&](std::int64_t row) { sum += from[row]; });
        out.push_back(torch::scalar_tensor(sum, options));
      } else {
        auto column = torch::empty({rows}, options);
        std::copy(from, from + rows, column.data_ptr<double>());
        out.push_back(column);
      }
    }
    return out;
  }
};

// The network as one autograd node (fused_network).
struct NetworkFunction : public torch::autograd::Function<NetworkFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const std::string& activation,
                               const torch::Tensor& inputs, at::TensorList weights) {
    std::vector<torch::Tensor> saved{inputs};
    auto h = inputs;
    for (std::size_t layer = 0; layer + 1 < weights.size(); layer += 2) {
      auto z = torch::addmm(weights[layer + 1], h, weights[layer].t());
      if (layer + 2 < weights.size()) {
        if (activation == "tanh") {
          z.tanh_();
        } else if (activation == "sigmoid") {
          z.sigmoid_();
        } else {
          saved.push_back(z);  // softplus' derivative reads its input
          z = torch::softplus(z);
        }
        saved.push_back(z);
      }
      h = z;
    }
    saved.insert(saved.end(), weights.begin(), weights.end());
    context->save_for_backward(saved);
    context->saved_data["activation"] = activation;
    return h;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list gradients) {
    const auto activation = context->saved_data["activation"].toStringRef();
    const auto saved = context->get_saved_variables();
    const bool softplus = activation == "softplus";
    // Saved: the inputs, (z and) h of each hidden layer, W and b of each layer: 3·L
    // tensors for L layers, 4·L − 1 with softplus.
    const auto layers = softplus ? (saved.size() + 1) / 4 : saved.size() / 3;
    const auto hidden = layers - 1;
    const auto per_hidden = softplus ? 2U : 1U;
    const auto weights_at = 1 + hidden * per_hidden;
    const auto layer_input = [&](std::size_t layer) {
      return layer == 0 ? saved[0] : saved[1 + (layer - 1) * per_hidden + (per_hidden - 1)];
    };
    torch::autograd::variable_list out(2 + 2 * layers);  // activation, inputs, then W, b per layer
    auto g = gradients[0];
    for (std::size_t layer = layers; layer-- > 0;) {
      const auto& weight = saved[weights_at + 2 * layer];
      const auto& input = layer_input(layer);
      out[2 + 2 * layer] = g.t().mm(input);
      out[3 + 2 * layer] = g.sum(0);
      if (layer == 0 && !context->needs_input_grad(0)) {
        break;
      }
      g = g.mm(weight);
      if (layer > 0) {
        const auto& h = layer_input(layer);
        g = activation == "tanh"      ? torch::tanh_backward(g, h)
            : activation == "sigmoid" ? torch::sigmoid_backward(g, h)
                                      : torch::softplus_backward(g, saved[1 + (layer - 1) * 2], 1.0, 20.0);
      } else {
        out[1] = g;
      }
    }
    return out;
  }
};

}  // namespace

FusedRates::FusedRates(const std::vector<std::string>& state, const std::vector<Equation>& definitions,
                       const std::vector<Equation>& rates)
    : state_size_(static_cast<std::int64_t>(state.size())) {
  std::vector<std::vector<Step>> programs;
  for (const auto& definition : definitions) {
    programs.push_back(ballista::postfix_program(definition.expression));
  }
  for (const auto& rate : rates) {
    programs.push_back(ballista::postfix_program(rate.expression));
  }
  // The reads first (their slots come before the instructions'): every name that is
  // neither a state variable nor a definition made before it.
  std::map<std::string, bool> known;
  for (const auto& name : state) {
    known[name] = true;
  }
  for (std::size_t p = 0; p < programs.size(); ++p) {
    for (const auto& step : programs[p]) {
      if (step.kind == Step::Kind::name && known.count(step.name) == 0) {
        known[step.name] = true;
        reads_.push_back({step.name, step.name == "pi"  ? std::optional<double>(std::numbers::pi)
                                     : step.name == "e" ? std::optional<double>(std::numbers::e)
                                                        : std::nullopt});
      }
    }
    if (p < definitions.size()) {
      known[definitions[p].name] = true;
    }
  }
  std::map<std::string, std::int64_t> slots;
  for (std::size_t i = 0; i < state.size(); ++i) {
    slots[state[i]] = static_cast<std::int64_t>(i);
  }
  for (std::size_t i = 0; i < reads_.size(); ++i) {
    slots[reads_[i].name] = state_size_ + static_cast<std::int64_t>(i);
  }
  const auto base = state_size_ + static_cast<std::int64_t>(reads_.size());
  const auto compile = [&](const std::vector<Step>& steps) {
    std::vector<std::int64_t> stack;
    for (const auto& step : steps) {
      if (step.kind == Step::Kind::name) {
        stack.push_back(slots.at(step.name));
        continue;
      }
      Instruction instruction{Kind::constant};
      if (step.kind == Step::Kind::number) {
        instruction.value = step.value;
      } else {
        instruction.kind = kind_of(step.kind);
        if (!unary(instruction.kind)) {
          instruction.b = stack.back();
          stack.pop_back();
        }
        instruction.a = stack.back();
        stack.pop_back();
      }
      instructions_.push_back(instruction);
      stack.push_back(base + static_cast<std::int64_t>(instructions_.size()) - 1);
    }
    return stack.back();
  };
  for (std::size_t p = 0; p < programs.size(); ++p) {
    const auto slot = compile(programs[p]);
    if (p < definitions.size()) {
      slots[definitions[p].name] = slot;
    } else {
      outputs_.push_back(slot);
    }
  }
}

torch::Tensor FusedRates::operator()(const torch::Tensor& state, const std::vector<torch::Tensor>& values) const {
  return FusedFunction::apply(this, state.contiguous(), at::TensorList(values));
}

}  // namespace ballista_ode

namespace ballista_ode {

torch::Tensor fused_network(const std::vector<torch::Tensor>& weights, const torch::Tensor& inputs,
                            const std::string& activation) {
  return NetworkFunction::apply(activation, inputs, at::TensorList(weights));
}

}  // namespace ballista_ode
