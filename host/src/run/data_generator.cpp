// Data sets of a pipeline (see data_generator.hpp).
#include "data_generator.hpp"

#include "numpy_random.hpp"
#include "host_context.hpp"

#include <torch/torch.h>

#include <cmath>
#include <iostream>
#include <numeric>
#include <stdexcept>

namespace ballista::host {

namespace {

// One value, drawn as NumPy draws it: np.random.uniform(low, high) is
// low + (high − low)·random(); loguniform is exp of a uniform on the logs;
// choice(a, b, ...) picks with randint(0, k), the masked 32-bit rejection.
double draw(const Distribution& distribution, NumpyRandom& random) {
  const auto& a = distribution.arguments;
  using Kind = Distribution::Kind;
  if (distribution.kind == Kind::uniform) {
    return a[0] + (a[1] - a[0]) * random.uniform();
  }
  if (distribution.kind == Kind::loguniform) {
    const double low = std::log(a[0]);
    return std::exp(low + (std::log(a[1]) - low) * random.uniform());
  }
  if (distribution.kind == Kind::choice) {
    return a[random.interval(static_cast<std::uint32_t>(a.size() - 1))];
  }
  return a[0] + a[1] * random.normal();  // normal(mean, sd)
}

// np.linspace(low, high, count)[index]: low + index·step, the last one exactly high.
double grid_value(const Distribution& grid, std::int64_t index) {
  const auto count = static_cast<std::int64_t>(grid.arguments[2]);
  if (index == count - 1) {
    return grid.arguments[1];
  }
  const double step = (grid.arguments[1] - grid.arguments[0]) / static_cast<double>(count - 1);
  return grid.arguments[0] + static_cast<double>(index) * step;
}

void clip_column(torch::TensorAccessor<double, 2>& values, std::int64_t column, const std::optional<double>& low,
                 const std::optional<double>& high) {
  for (std::int64_t i = 0; i < values.size(0); ++i) {
    if (low && values[i][column] < *low) {
      values[i][column] = *low;
    }
    if (high && values[i][column] > *high) {
      values[i][column] = *high;
    }
  }
}

// The sink of the innermost SourceLogScope on this thread, if any.
thread_local const SourceLogScope::Sink* source_log_sink = nullptr;

// The host's side of the SDK Context for a source plugin's simulate().
class SourceContext final : public HostContext {
 public:
  SourceContext(std::string source, std::uint64_t seed) : HostContext(seed), source_(std::move(source)) {}
  void log(LogLevel level, std::string_view message) override {
    if (source_log_sink != nullptr) {
      (*source_log_sink)(level, message);
    } else if (level != LogLevel::debug) {
      std::cerr << "source " << source_ << ": " << message << '\n';
    }
  }

 private:
  std::string source_;
};

torch::Tensor simulate(const SourceSpec& source, const torch::Tensor& inputs, std::uint64_t seed) {
  SourceContext context(source.plugin, seed);
  auto simulator = source.create(source.parameters);
  auto targets = simulator->simulate(inputs, context);
  const auto expected = static_cast<std::int64_t>(source.targets.size());
  if (targets.dim() != 2 || targets.size(0) != inputs.size(0) || targets.size(1) != expected) {
    throw std::runtime_error("source plugin " + source.plugin + ": simulate() returned shape " +
                             c10::str(targets.sizes()) + ", expected [" + std::to_string(inputs.size(0)) + ", " +
                             std::to_string(expected) + "]");
  }
  return targets.to(torch::kCPU, torch::kFloat64).contiguous();
}

void refuse_non_finite(const torch::Tensor& inputs, const torch::Tensor& targets, const std::vector<std::string>& names,
                       const std::string& set_name) {
  // The inputs of a row, "v=0.548814, theta=1.2", for saying where a problem is.
  const auto inputs_of = [&](std::int64_t row) {
    std::string where;
    for (std::size_t j = 0; j < names.size(); ++j) {
      where += (j == 0 ? "" : ", ") + names[j] + "=" + std::to_string(inputs[row][static_cast<std::int64_t>(j)].item<double>());
    }
    return where;
  };
  // Inputs first: a distribution that overflows (uniform(-1e308, 1e308)) draws infinities.
  if (const auto bad_inputs = (~torch::isfinite(inputs)).any(1).nonzero(); bad_inputs.numel() > 0) {
    throw std::runtime_error("set '" + set_name + "': the inputs are not finite in " +
                             std::to_string(bad_inputs.size(0)) + " of " + std::to_string(inputs.size(0)) +
                             " rows (first: " + inputs_of(bad_inputs[0][0].item<std::int64_t>()) +
                             "); a distribution's range overflows a double, narrow it");
  }
  const auto bad = (~torch::isfinite(targets)).any(1).nonzero();
  if (bad.numel() == 0) {
    return;
  }
  const auto where = inputs_of(bad[0][0].item<std::int64_t>());
  throw std::runtime_error("set '" + set_name + "': the targets are not finite in " + std::to_string(bad.size(0)) +
                           " of " + std::to_string(inputs.size(0)) + " rows (first at " + where +
                           "); check the targets over the input ranges");
}

Dataset take_rows(const Dataset& table, const torch::Tensor& index) {
  return {table.inputs.index_select(0, index), table.targets.index_select(0, index), table.input_names,
          table.target_names, table.constants};
}

// The order of the source table's rows before splitting: NumPy's permutation, or as is.
torch::Tensor split_order(const DataSpec& data, std::int64_t rows) {
  return data.shuffle ? torch::tensor(numpy_permutation(rows, data.split_seed), torch::kInt64) : torch::arange(rows);
}

}  // namespace

std::optional<torch::Tensor> true_targets(const SourceSpec& source, const torch::Tensor& inputs) {
  if (source.kind == SourceSpec::Kind::csv) {
    return std::nullopt;
  }
  if (source.kind != SourceSpec::Kind::formula) {
    return simulate(source, inputs.to(torch::kFloat64).contiguous(), 0);
  }
  Expression::TensorBindings bindings;
  for (const auto& [name, value] : source.constants) {
    bindings[name] = torch::scalar_tensor(value, torch::kFloat64);
  }
  for (std::size_t j = 0; j < source.inputs.size(); ++j) {
    bindings[source.inputs[j].name] = inputs.select(1, static_cast<std::int64_t>(j));
  }
  std::vector<torch::Tensor> columns;
  for (const auto& target : source.targets) {
    columns.push_back(target.expression->evaluate(bindings).to(torch::kFloat64).expand({inputs.size(0)}));
  }
  return torch::stack(columns, 1).contiguous();
}

Dataset draw_rows(const SourceSpec& source, std::int64_t rows, std::uint32_t seed,
                  const std::vector<InputSpec>& overrides, const std::string& set_name) {
  std::vector<const InputSpec*> inputs;
  for (const auto& input : source.inputs) {
    const InputSpec* chosen = &input;
    for (const auto& override_input : overrides) {
      if (override_input.name == input.name) {
        chosen = &override_input;
      }
    }
    inputs.push_back(chosen);
  }
  NumpyRandom random(seed);
  auto values = torch::empty({rows, static_cast<std::int64_t>(inputs.size())}, torch::kFloat64);
  auto access = values.accessor<double, 2>();
  // Grid columns: the row index read as a mixed-radix number, the last grid fastest.
  std::int64_t stride = 1;
  for (auto j = static_cast<std::int64_t>(inputs.size()) - 1; j >= 0; --j) {
    const auto& distribution = inputs[static_cast<std::size_t>(j)]->distribution;
    if (distribution.is_grid()) {
      const auto count = static_cast<std::int64_t>(distribution.arguments[2]);
      for (std::int64_t i = 0; i < rows; ++i) {
        access[i][j] = grid_value(distribution, (i / stride) % count);
      }
      stride *= count;
    }
  }
  for (std::size_t j = 0; j < inputs.size(); ++j) {
    const auto& distribution = inputs[j]->distribution;
    const auto column = static_cast<std::int64_t>(j);
    for (std::int64_t i = 0; !distribution.is_grid() && i < rows; ++i) {
      access[i][column] = draw(distribution, random);
    }
    clip_column(access, column, inputs[j]->clip_min, inputs[j]->clip_max);
  }
  auto targets = source.kind == SourceSpec::Kind::formula ? *true_targets(source, values) : simulate(source, values, seed);
  auto target_access = targets.accessor<double, 2>();
  for (std::size_t k = 0; k < source.targets.size(); ++k) {
    const auto& target = source.targets[k];
    const auto column = static_cast<std::int64_t>(k);
    for (std::int64_t i = 0; target.noise > 0 && i < rows; ++i) {
      if (target.relative_noise) {
        target_access[i][column] *= 1.0 + target.noise * random.normal();
      } else {
        target_access[i][column] += target.noise * random.normal();
      }
    }
    clip_column(target_access, column, target.clip_min, target.clip_max);
  }
  // A target undefined somewhere in the input range (log of a negative, say) would
  // poison every model's fit with NaN: refuse the set and say where.
  refuse_non_finite(values, targets, source.input_names(), set_name);
  return {values, targets, source.input_names(), source.target_names(), source.constants};
}

Dataset source_table(const SourceSpec& source, std::uint32_t seed, const std::string& set_name) {
  if (source.kind == SourceSpec::Kind::csv) {
    return {source.csv_inputs, source.csv_targets, source.input_names(), source.target_names(), {}};
  }
  return draw_rows(source, source.rows, seed, {}, set_name);
}

namespace {

// data.units travel with every set (Dataset::units), for models that check dimensions.
Dataset with_units(Dataset set, const DataSpec& data) {
  set.units.assign(data.units.begin(), data.units.end());
  return set;
}

Dataset generate_set_without_units(const DataSpec& data, const SetSpec& set) {
  switch (set.origin) {
    case SetSpec::Origin::all:
      return source_table(data.source, data.seed, set.name);
    case SetSpec::Origin::split: {
      const auto table = source_table(data.source, data.seed, "all");
      return take_rows(table, split_order(data, table.inputs.size(0)).slice(0, set.begin, set.begin + set.rows));
    }
    case SetSpec::Origin::drawn:
      return draw_rows(data.source, set.rows, set.seed, set.overrides, set.name);
    case SetSpec::Origin::other:
      return source_table(*set.source, set.seed, set.name);
  }
  throw std::logic_error("unknown set origin");
}

}  // namespace

Dataset generate_set(const DataSpec& data, const SetSpec& set) { return with_units(generate_set_without_units(data, set), data); }

std::map<std::string, Dataset> generate_sets(const DataSpec& data) {
  std::map<std::string, Dataset> sets;
  // The table is drawn (or read) once, and shuffled once, for `all` and every split.
  std::optional<Dataset> table;
  torch::Tensor order;
  for (const auto& set : data.sets) {
    if (set.origin != SetSpec::Origin::all && set.origin != SetSpec::Origin::split) {
      sets.emplace(set.name, generate_set(data, set));
      continue;
    }
    if (!table) {
      table = source_table(data.source, data.seed, "all");
      order = split_order(data, table->inputs.size(0));
    }
    sets.emplace(set.name, with_units(set.origin == SetSpec::Origin::all
                                          ? *table
                                          : take_rows(*table, order.slice(0, set.begin, set.begin + set.rows)),
                                      data));
  }
  return sets;
}

SourceLogScope::SourceLogScope(Sink sink) : sink_(std::move(sink)), previous_(source_log_sink) {
  source_log_sink = &sink_;
}

SourceLogScope::~SourceLogScope() { source_log_sink = previous_; }

std::vector<std::int64_t> numpy_permutation(std::int64_t n, std::uint32_t seed) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  NumpyRandom random(seed);
  // RandomState.shuffle: Fisher–Yates from the end, j = random_interval(i).
  for (auto i = n - 1; i >= 1; --i) {
    const auto j = static_cast<std::int64_t>(random.interval(static_cast<std::uint32_t>(i)));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

}  // namespace ballista::host
