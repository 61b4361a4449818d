// Formula data source (see data_generator.hpp).
#include "data_generator.hpp"

#include "numpy_random.hpp"

#include <torch/torch.h>

#include <stdexcept>

namespace ballista::host {

namespace {

// np.random.uniform(low, high) computes low + (high − low)·random(), which we mirror.
double draw(const Distribution& distribution, NumpyRandom& random) {
  if (distribution.kind == "uniform") {
    return distribution.arguments[0] + (distribution.arguments[1] - distribution.arguments[0]) * random.uniform();
  }
  return distribution.arguments[0] + distribution.arguments[1] * random.normal();
}

}  // namespace

torch::Tensor true_targets(const DataSpec& data, const torch::Tensor& inputs) {
  Expression::TensorBindings bindings;
  for (const auto& [name, value] : data.constants) {
    bindings[name] = torch::scalar_tensor(value, torch::kFloat64);
  }
  for (std::size_t j = 0; j < data.inputs.size(); ++j) {
    bindings[data.inputs[j].name] = inputs.select(1, static_cast<std::int64_t>(j));
  }
  std::vector<torch::Tensor> columns;
  for (const auto& target : data.targets) {
    columns.push_back(target.expression.evaluate(bindings).to(torch::kFloat64).expand({inputs.size(0)}));
  }
  return torch::stack(columns, 1).contiguous();
}

Dataset generate_set(const DataSpec& data, const SetSpec& set) {
  NumpyRandom random(set.seed);
  const auto rows = set.rows;
  auto inputs = torch::empty({rows, static_cast<std::int64_t>(data.inputs.size())}, torch::kFloat64);
  auto input_access = inputs.accessor<double, 2>();
  for (std::size_t j = 0; j < data.inputs.size(); ++j) {
    const Distribution* distribution = &data.inputs[j].distribution;
    for (const auto& override_input : set.overrides) {
      if (override_input.name == data.inputs[j].name) {
        distribution = &override_input.distribution;
      }
    }
    for (std::int64_t i = 0; i < rows; ++i) {
      input_access[i][static_cast<std::int64_t>(j)] = draw(*distribution, random);
    }
  }
  auto targets = true_targets(data, inputs);
  auto target_access = targets.accessor<double, 2>();
  for (std::size_t k = 0; k < data.targets.size(); ++k) {
    const auto& target = data.targets[k];
    const auto column = static_cast<std::int64_t>(k);
    for (std::int64_t i = 0; target.noise > 0 && i < rows; ++i) {
      target_access[i][column] += target.noise * random.normal();
    }
    for (std::int64_t i = 0; i < rows; ++i) {
      if (target.clip_min && target_access[i][column] < *target.clip_min) {
        target_access[i][column] = *target.clip_min;
      }
      if (target.clip_max && target_access[i][column] > *target.clip_max) {
        target_access[i][column] = *target.clip_max;
      }
    }
  }
  // A target expression undefined somewhere in the input range (log of a negative, say)
  // would poison every model's fit with NaN: refuse the set and say where.
  const auto bad = (~torch::isfinite(targets)).any(1).nonzero();
  if (bad.numel() > 0) {
    const auto row = bad[0][0].item<std::int64_t>();
    std::string where;
    for (std::size_t j = 0; j < data.inputs.size(); ++j) {
      where += (j == 0 ? "" : ", ") + data.inputs[j].name + "=" +
               std::to_string(input_access[row][static_cast<std::int64_t>(j)]);
    }
    throw std::runtime_error("set '" + set.name + "': the targets are not finite in " + std::to_string(bad.size(0)) +
                             " of " + std::to_string(rows) + " rows (first at " + where +
                             "); check the target expressions over the input ranges");
  }
  return {inputs, targets, data.input_names(), data.target_names(), data.constants};
}

}  // namespace ballista::host
