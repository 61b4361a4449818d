// Symbolic regression: searches expressions over the inputs and the pipeline's constants
// for a law that fits the data, without a handed basis (search.hpp), and predicts with
// the expression chosen from the Pareto front of complexity against error. On the cannon
// it finds s = v²·sin(2θ)/g, written 0.10194*v^2*sin(2*theta) or v^2*sin(2*theta)/g.
//
// What predicts is always the chosen expression's text with 17 significant digits, parsed
// by ballista::Expression — after fit() as after load() — so a loaded model predicts the
// same bits, and describe() prints an expression that can be pasted back into a pipeline.
#include "constant_fitting.hpp"
#include "expression_tree.hpp"
#include "search.hpp"

#include <ballista/archive.hpp>
#include <ballista/expression.hpp>
#include <ballista/expression_program.hpp>
#include <ballista/plugin.hpp>
#include <ballista/units.hpp>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace {

using symbolic::Candidate;
using symbolic::Tree;

constexpr std::int64_t kFormat = 1;
constexpr int kDisplayDigits = 5;
constexpr std::int64_t kPolishIterations = 100;  // Levenberg–Marquardt steps on the final front

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) {
    text += (text.empty() ? "" : ", ") + name;
  }
  return text.empty() ? "none" : text;
}

// An expression compiled for predict(): its postfix steps with names resolved to input
// columns or values, run a block of rows at a time.
class CompiledExpression {
 public:
  CompiledExpression() = default;
  CompiledExpression(const ballista::Expression& expression, const std::vector<std::string>& inputs,
                     const std::vector<std::pair<std::string, double>>& constants) {
    using Kind = ballista::ExpressionStep::Kind;
    std::int64_t depth = 0;
    for (const auto& step : ballista::postfix_program(expression)) {
      Step compiled{step.kind, step.value, -1};
      if (step.kind == Kind::name) {
        const auto input = std::find(inputs.begin(), inputs.end(), step.name);
        const auto constant = std::find_if(constants.begin(), constants.end(),
                                           [&](const auto& entry) { return entry.first == step.name; });
        if (input != inputs.end()) {
          compiled.column = input - inputs.begin();
        } else if (constant != constants.end()) {
          compiled.kind = Kind::number;
          compiled.value = constant->second;
        } else if (step.name == "pi" || step.name == "e") {
          compiled.kind = Kind::number;
          compiled.value = step.name == "pi" ? std::numbers::pi : std::numbers::e;
        } else {
          throw std::runtime_error("it reads '" + step.name + "', which is neither an input nor a constant");
        }
      }
      const bool leaf = step.kind == Kind::number || step.kind == Kind::name;
      const bool binary = step.kind == Kind::add || step.kind == Kind::subtract || step.kind == Kind::multiply ||
                          step.kind == Kind::divide || step.kind == Kind::power;
      depth += leaf ? 1 : (binary ? -1 : 0);
      max_depth_ = std::max(max_depth_, depth);
      steps_.push_back(compiled);
    }
  }

  // out[i · stride] for rows [begin, end) of x [n, d] (row-major).
  void evaluate(const double* x, std::int64_t d, std::int64_t begin, std::int64_t end, double* out,
                std::int64_t stride) const {
    using Kind = ballista::ExpressionStep::Kind;
    constexpr std::int64_t kBlock = 256;
    std::vector<double> stack(static_cast<std::size_t>(std::max<std::int64_t>(max_depth_, 1) * kBlock));
    for (std::int64_t first = begin; first < end; first += kBlock) {
      const std::int64_t rows = std::min(kBlock, end - first);
      std::int64_t top = 0;  // stack entries in use
      const auto slot = [&](std::int64_t level) { return stack.data() + level * kBlock; };
      for (const auto& step : steps_) {
        if (step.kind == Kind::number || step.kind == Kind::name) {
          double* s = slot(top++);
          for (std::int64_t i = 0; i < rows; ++i) {
            s[i] = step.column >= 0 ? x[(first + i) * d + step.column] : step.value;
          }
          continue;
        }
        const bool binary = step.kind == Kind::add || step.kind == Kind::subtract || step.kind == Kind::multiply ||
                            step.kind == Kind::divide || step.kind == Kind::power;
        if (binary) {
          double* a = slot(top - 2);
          const double* b = slot(top - 1);
          --top;
          for (std::int64_t i = 0; i < rows; ++i) {
            switch (step.kind) {
              case Kind::add: a[i] = a[i] + b[i]; break;
              case Kind::subtract: a[i] = a[i] - b[i]; break;
              case Kind::multiply: a[i] = a[i] * b[i]; break;
              case Kind::divide: a[i] = a[i] / b[i]; break;
              default: a[i] = std::pow(a[i], b[i]); break;
            }
          }
          continue;
        }
        double* a = slot(top - 1);
        for (std::int64_t i = 0; i < rows; ++i) {
          switch (step.kind) {
            case Kind::negate: a[i] = -a[i]; break;
            case Kind::sin: a[i] = std::sin(a[i]); break;
            case Kind::cos: a[i] = std::cos(a[i]); break;
            case Kind::tan: a[i] = std::tan(a[i]); break;
            case Kind::exp: a[i] = std::exp(a[i]); break;
            case Kind::log: a[i] = std::log(a[i]); break;
            case Kind::sqrt: a[i] = std::sqrt(a[i]); break;
            default: a[i] = std::abs(a[i]); break;
          }
        }
      }
      const double* result = slot(0);
      for (std::int64_t i = 0; i < rows; ++i) {
        out[(first + i) * stride] = result[i];
      }
    }
  }

 private:
  struct Step {
    ballista::ExpressionStep::Kind kind;
    double value;
    std::int64_t column;  // an input column for a name; −1 otherwise
  };
  std::vector<Step> steps_;
  std::int64_t max_depth_ = 0;
};

// One target's fitted law: the expression that predicts, and the front it came from.
struct Law {
  std::string text;     // 17 significant digits: what is stored and parsed
  std::string display;  // kDisplayDigits significant digits, for describe()
  CompiledExpression compiled;
  std::int64_t constants = 0;  // fitted constants in it
};

struct FrontRow {
  std::int64_t target = 0;
  std::int64_t complexity = 0;
  double mse = 0.0;
  std::string text;  // 17 digits
};

class SymbolicModel final : public ballista::Model {
 public:
  explicit SymbolicModel(const ballista::Parameters& parameters)
      : choose_(parameters.get<std::string>("choose")),
        chosen_complexity_(parameters.get<std::int64_t>("complexity")),
        best_factor_(parameters.get<double>("best_factor")),
        max_rows_(parameters.get<std::int64_t>("max_rows")) {
    const auto& names = parameters.get<std::vector<std::string>>("operators");
    for (std::size_t i = 0; i < names.size(); ++i) {
      const auto op = symbolic::parse_operator(names[i]);
      if (!op) {
        std::string known;
        for (const auto& name : symbolic::operator_names()) {
          known += (known.empty() ? "" : " ") + name;
        }
        throw ballista::ParameterError("operators", "operators[" + std::to_string(i) + "] '" + names[i] +
                                                        "' is not an operator the search knows (known: " + known + ")");
      }
      auto& list = symbolic::arity(*op) == 2 ? settings_.binary : settings_.unary;
      if (std::find(list.begin(), list.end(), *op) == list.end()) {
        list.push_back(*op);
      }
    }
    settings_.islands = parameters.get<std::int64_t>("islands");
    settings_.population = parameters.get<std::int64_t>("population");
    settings_.max_complexity = parameters.get<std::int64_t>("max_complexity");
    settings_.max_evaluations = parameters.get<std::int64_t>("max_evaluations");
    settings_.time_limit = parameters.get<double>("time_limit");
    settings_.parsimony = parameters.get<double>("parsimony");
    settings_.lm_iterations = parameters.get<std::int64_t>("lm_iterations");
    settings_.nesting = parameters.get<bool>("nesting");
    const auto& units = parameters.get<std::string>("units");
    settings_.units = units == "hard" ? symbolic::UnitsMode::hard
                                      : (units == "soft" ? symbolic::UnitsMode::soft : symbolic::UnitsMode::off);
    settings_.units_penalty = parameters.get<double>("units_penalty");
  }

  void fit(const ballista::Dataset& train, ballista::Context& context) override {
    ballista::require_finite(train.inputs, "symbolic: fit() inputs");
    ballista::require_finite(train.targets, "symbolic: fit() targets");
    const auto inputs = train.inputs.to(torch::kFloat64).contiguous();
    const auto targets = train.targets.to(torch::kFloat64).contiguous();
    const std::int64_t n = inputs.size(0);
    const std::int64_t d_in = inputs.size(1);
    const std::int64_t d_out = targets.size(1);
    if (n < 1 || d_out < 1) {
      throw std::invalid_argument("symbolic: fit() needs at least one row and one target");
    }
    input_names_ = train.input_names;
    target_names_ = train.target_names;
    for (std::int64_t j = static_cast<std::int64_t>(input_names_.size()); j < d_in; ++j) {
      input_names_.push_back("x" + std::to_string(j + 1));
    }
    for (std::int64_t k = static_cast<std::int64_t>(target_names_.size()); k < d_out; ++k) {
      target_names_.push_back("y" + std::to_string(k + 1));
    }
    constants_ = train.constants;
    symbolic::Symbols symbols{input_names_, {}, {}};
    for (const auto& [name, value] : constants_) {
      symbols.named.push_back(name);
      symbols.named_values.push_back(value);
    }
    auto settings = settings_;
    std::optional<symbolic::UnitTable> unit_table;
    std::vector<ballista::Unit> target_units;
    if (settings.units != symbolic::UnitsMode::off) {
      if (train.units.empty()) {
        throw std::invalid_argument(
            "symbolic: units: " + std::string(settings.units == symbolic::UnitsMode::hard ? "hard" : "soft") +
            " needs data.units for every input, target and constant (e.g. `units: {v: m/s, theta: rad, s: m, "
            "g: m/s^2}`); the data gives none");
      }
      unit_table = units_of(train, target_units);
    }

    // The search fits on at most max_rows rows, a fixed random subset; the final front is
    // refitted on every row.
    std::vector<std::int64_t> rows(static_cast<std::size_t>(n));
    std::iota(rows.begin(), rows.end(), 0);
    if (n > max_rows_) {
      std::uint64_t state = context.seed() ^ 0x5851f42d4c957f2dULL;
      for (std::int64_t i = 0; i < max_rows_; ++i) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        const auto pick = i + static_cast<std::int64_t>((state >> 11) % static_cast<std::uint64_t>(n - i));
        std::swap(rows[static_cast<std::size_t>(i)], rows[static_cast<std::size_t>(pick)]);
      }
      rows.resize(static_cast<std::size_t>(max_rows_));
      std::sort(rows.begin(), rows.end());
    }
    const auto x = inputs.accessor<double, 2>();
    const auto y = targets.accessor<double, 2>();
    const auto columns_of = [&](const std::vector<std::int64_t>& which) {
      symbolic::Columns columns;
      columns.rows = which.size();
      columns.named = symbols.named_values;
      for (std::int64_t j = 0; j < d_in; ++j) {
        std::vector<double> column;
        column.reserve(which.size());
        for (const auto r : which) {
          column.push_back(x[r][j]);
        }
        columns.inputs.push_back(std::move(column));
      }
      return columns;
    };
    std::vector<std::int64_t> every(static_cast<std::size_t>(n));
    std::iota(every.begin(), every.end(), 0);
    const auto all_columns = columns_of(every);

    laws_.clear();
    front_.clear();
    chosen_.clear();
    const auto start = std::chrono::steady_clock::now();
    std::int64_t evaluations = 0;
    bool out_of_time = false;
    std::vector<std::vector<std::string>> table;
    for (std::int64_t k = 0; k < d_out; ++k) {
      symbolic::SearchProblem problem;
      problem.columns = columns_of(rows);
      for (const auto r : rows) {
        problem.targets.push_back(y[r][k]);
      }
      if (unit_table) {
        problem.units = unit_table;
        problem.target_unit = target_units[static_cast<std::size_t>(k)];
      }
      settings.seed = context.seed() + 0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(k);
      symbolic::SearchMonitor monitor;
      monitor.cancelled = [&context] { return context.cancelled(); };
      monitor.progress = [&, k](std::int64_t epoch, std::int64_t total, double loss) {
        context.report_progress(k * total + epoch, d_out * total, loss);
      };
      auto outcome = symbolic::run_search(problem, settings, monitor);
      evaluations += outcome.evaluations;
      out_of_time = out_of_time || outcome.out_of_time;
      if (outcome.front.empty()) {
        throw std::runtime_error("symbolic: no expression over " + join(input_names_) + " is finite at every row of " +
                                 target_names_[static_cast<std::size_t>(k)] + "'s training data" +
                                 (settings.units == symbolic::UnitsMode::hard ? " and has its units" : ""));
      }
      // Refit the front's constants on every row, with more steps, and score them there.
      std::vector<double> all_targets;
      for (std::int64_t r = 0; r < n; ++r) {
        all_targets.push_back(y[r][k]);
      }
      symbolic::Evaluator evaluator(all_columns);
      symbolic::FitScratch scratch;
      std::vector<Candidate> polished;
      for (auto candidate : outcome.front) {
        // Refitted on more rows, a constant may again be one the data cannot tell from a
        // whole number (sin(2.0001*theta)): snapped as in the search.
        const double fitted =
            symbolic::fit_constants(candidate.tree, evaluator, all_targets, kPolishIterations, scratch);
        const double mse = symbolic::snap_constants(candidate.tree, fitted, evaluator, all_targets, kPolishIterations,
                                                    outcome.simplify, outcome.snap_floor, scratch);
        if (!std::isfinite(mse)) {
          continue;
        }
        candidate.complexity = static_cast<std::int64_t>(candidate.tree.size());
        candidate.mse = mse;
        candidate.loss = mse;
        if (settings.units == symbolic::UnitsMode::soft && !symbolic::units_match(candidate.tree, problem)) {
          candidate.loss *= settings.units_penalty;
        }
        polished.push_back(std::move(candidate));
      }
      const auto front = symbolic::pareto_front(std::move(polished));
      if (front.empty()) {
        throw std::runtime_error("symbolic: no expression of the front is finite at every training row of " +
                                 target_names_[static_cast<std::size_t>(k)]);
      }
      const auto chosen = choose(front);
      for (std::size_t i = 0; i < front.size(); ++i) {
        const auto text = symbolic::format_tree(front[i].tree, symbols, 17);
        if (i == chosen) {
          chosen_.push_back(static_cast<std::int64_t>(front_.size()));
          laws_.push_back(make_law(text, symbolic::constant_count(front[i].tree)));
        }
        front_.push_back({k, front[i].complexity, front[i].mse, text});
        const auto shown = display_of(text);
        table.push_back({std::to_string(front[i].complexity), symbolic::number_text(front[i].mse, 6),
                         d_out > 1 ? target_names_[static_cast<std::size_t>(k)] + " = " + shown : shown,
                         i == chosen ? "yes" : ""});
      }
    }
    const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
    context.report_table("pareto_front", {"complexity", "mse", "expression", "chosen"}, table);
    context.report_value("evaluations", static_cast<double>(evaluations));
    context.report_value("front_size", static_cast<double>(front_.size()));
    context.report_value("search_seconds", seconds.count());
    if (out_of_time) {
      context.log(ballista::LogLevel::warning,
                  "symbolic: time_limit (" + symbolic::number_text(settings.time_limit, 6) + " s) ended the search after " +
                      std::to_string(evaluations) +
                      " expressions: the result depends on the machine's speed; raise time_limit (or lower "
                      "max_evaluations) for a result that is the same bits in every run");
    }
  }

  torch::Tensor predict(const torch::Tensor& inputs) const override {
    if (laws_.empty()) {
      throw std::logic_error("symbolic: predict() called before fit()");
    }
    ballista::require_finite(inputs, "symbolic: predict() inputs");
    if (inputs.dim() != 2 || inputs.size(1) != static_cast<std::int64_t>(input_names_.size())) {
      throw std::invalid_argument("symbolic: expected inputs [n, " + std::to_string(input_names_.size()) + "], got " +
                                  ballista::stored_shape(inputs));
    }
    const auto x = inputs.to(torch::kFloat64).contiguous();
    const std::int64_t n = x.size(0);
    const std::int64_t d = x.size(1);
    const auto outputs = static_cast<std::int64_t>(laws_.size());
    auto result = torch::empty({n, outputs}, torch::kFloat64);
    const double* in = x.data_ptr<double>();
    double* out = result.data_ptr<double>();
    // Every row is computed by the same scalar code whichever thread runs its block, so
    // the bits do not depend on the thread count.
    constexpr std::int64_t kRowsPerTask = 4096;
    at::parallel_for(0, n, kRowsPerTask, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t k = 0; k < outputs; ++k) {
        laws_[static_cast<std::size_t>(k)].compiled.evaluate(in, d, begin, end, out + k, outputs);
      }
    });
    return result;
  }

  std::string describe() const override {
    std::string text;
    for (std::size_t k = 0; k < laws_.size(); ++k) {
      text += (k == 0 ? "" : "; ") + target_names_[k] + " = " + laws_[k].display;
    }
    return text;
  }

  std::int64_t parameter_count() const override {
    std::int64_t count = 0;
    for (const auto& law : laws_) {
      count += law.constants;
    }
    return count;
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    if (laws_.empty()) {
      throw std::logic_error("symbolic: save() called before fit()");
    }
    archive.write("format", torch::tensor({kFormat}, torch::kInt64));
    ballista::write_strings(archive, "input_names", input_names_);
    ballista::write_strings(archive, "target_names", target_names_);
    std::vector<std::string> constant_names;
    std::vector<double> constant_values;
    for (const auto& [name, value] : constants_) {
      constant_names.push_back(name);
      constant_values.push_back(value);
    }
    ballista::write_strings(archive, "constant_names", constant_names);
    archive.write("constant_values", torch::tensor(constant_values, torch::kFloat64).reshape({-1}));
    std::vector<std::string> texts;
    std::vector<std::int64_t> counts;
    for (const auto& law : laws_) {
      texts.push_back(law.text);
      counts.push_back(law.constants);
    }
    ballista::write_strings(archive, "expressions", texts);
    archive.write("parameter_counts", torch::tensor(counts, torch::kInt64));
    std::vector<std::string> front_texts;
    std::vector<std::int64_t> front_targets;
    std::vector<std::int64_t> front_complexity;
    std::vector<double> front_mse;
    for (const auto& row : front_) {
      front_texts.push_back(row.text);
      front_targets.push_back(row.target);
      front_complexity.push_back(row.complexity);
      front_mse.push_back(row.mse);
    }
    ballista::write_strings(archive, "front_expressions", front_texts);
    archive.write("front_targets", torch::tensor(front_targets, torch::kInt64).reshape({-1}));
    archive.write("front_complexity", torch::tensor(front_complexity, torch::kInt64).reshape({-1}));
    archive.write("front_mse", torch::tensor(front_mse, torch::kFloat64).reshape({-1}));
    archive.write("front_chosen", torch::tensor(chosen_, torch::kInt64));
  }

  // A file may be damaged or forged: every entry is checked against the others before
  // anything is kept.
  void load(torch::serialize::InputArchive& archive) override {
    const auto require = [](bool condition, const std::string& message) {
      if (!condition) {
        throw std::runtime_error("symbolic: the stored model is inconsistent: " + message);
      }
    };
    const auto int_vector = [&](const std::string& key, std::int64_t size) {
      const auto tensor = ballista::read_tensor(archive, key);
      require(tensor.scalar_type() == torch::kInt64 && tensor.dim() == 1 && (size < 0 || tensor.size(0) == size),
              key + " must be int64 [" + (size < 0 ? std::string("n") : std::to_string(size)) + "], found " +
                  ballista::stored_shape(tensor));
      return std::vector<std::int64_t>(tensor.data_ptr<std::int64_t>(), tensor.data_ptr<std::int64_t>() + tensor.size(0));
    };
    const auto real_vector = [&](const std::string& key, std::int64_t size) {
      const auto tensor = ballista::read_tensor(archive, key);
      require(tensor.scalar_type() == torch::kFloat64 && tensor.dim() == 1 && tensor.size(0) == size,
              key + " must be float64 [" + std::to_string(size) + "], found " + ballista::stored_shape(tensor));
      return std::vector<double>(tensor.data_ptr<double>(), tensor.data_ptr<double>() + tensor.size(0));
    };
    const auto format = int_vector("format", 1);
    require(format[0] == kFormat, "format " + std::to_string(format[0]) + " is not " + std::to_string(kFormat) +
                                      ", the one this plugin reads");
    auto input_names = ballista::read_strings(archive, "input_names");
    auto target_names = ballista::read_strings(archive, "target_names");
    const auto constant_names = ballista::read_strings(archive, "constant_names");
    const auto constant_values = real_vector("constant_values", static_cast<std::int64_t>(constant_names.size()));
    std::vector<std::pair<std::string, double>> constants;
    for (std::size_t i = 0; i < constant_names.size(); ++i) {
      require(std::isfinite(constant_values[i]), "constant '" + constant_names[i] + "' is not finite");
      constants.emplace_back(constant_names[i], constant_values[i]);
    }
    const auto texts = ballista::read_strings(archive, "expressions");
    const auto outputs = static_cast<std::int64_t>(target_names.size());
    require(outputs > 0 && static_cast<std::int64_t>(texts.size()) == outputs,
            "there must be one expression per target (" + std::to_string(outputs) + " targets, " +
                std::to_string(texts.size()) + " expressions)");
    const auto counts = int_vector("parameter_counts", outputs);
    const auto front_texts = ballista::read_strings(archive, "front_expressions");
    const auto m = static_cast<std::int64_t>(front_texts.size());
    const auto front_targets = int_vector("front_targets", m);
    const auto front_complexity = int_vector("front_complexity", m);
    const auto front_mse = real_vector("front_mse", m);
    const auto chosen = int_vector("front_chosen", outputs);

    // Read back with the stored names in place of the fitted ones.
    std::swap(input_names_, input_names);
    std::swap(target_names_, target_names);
    std::swap(constants_, constants);
    std::vector<Law> laws;
    try {
      for (std::int64_t k = 0; k < outputs; ++k) {
        const auto& text = texts[static_cast<std::size_t>(k)];
        Law law;
        try {
          law = make_law(text, counts[static_cast<std::size_t>(k)]);
        } catch (const std::exception& error) {
          require(false, "expression " + std::to_string(k) + " '" + text + "': " + error.what());
        }
        require(law.constants >= 0 && law.constants <= numbers_in(text),
                "expression " + std::to_string(k) + " '" + text + "' cannot have " + std::to_string(law.constants) +
                    " fitted constants");
        const auto index = chosen[static_cast<std::size_t>(k)];
        require(index >= 0 && index < m && front_targets[static_cast<std::size_t>(index)] == k &&
                    front_texts[static_cast<std::size_t>(index)] == text,
                "the chosen expression of target " + std::to_string(k) + " is not on its stored front");
        laws.push_back(std::move(law));
      }
      for (std::int64_t i = 0; i < m; ++i) {
        const auto at = static_cast<std::size_t>(i);
        require(front_targets[at] >= 0 && front_targets[at] < outputs && front_complexity[at] >= 1 &&
                    std::isfinite(front_mse[at]) && front_mse[at] >= 0.0,
                "front entry " + std::to_string(i) + " has a target, complexity or error out of range");
      }
    } catch (...) {
      std::swap(input_names_, input_names);
      std::swap(target_names_, target_names);
      std::swap(constants_, constants);
      throw;
    }
    laws_ = std::move(laws);
    chosen_ = chosen;
    front_.clear();
    for (std::int64_t i = 0; i < m; ++i) {
      const auto at = static_cast<std::size_t>(i);
      front_.push_back({front_targets[at], front_complexity[at], front_mse[at], front_texts[at]});
    }
  }

 private:
  // The front's entry the choice rule picks (the front is by complexity, each entry
  // more accurate than every simpler one).
  std::size_t choose(const std::vector<Candidate>& front) const {
    if (choose_ == "accuracy") {
      return front.size() - 1;
    }
    if (choose_ == "complexity") {
      std::size_t pick = 0;
      for (std::size_t i = 0; i < front.size(); ++i) {
        if (front[i].complexity <= chosen_complexity_) {
          pick = i;
        }
      }
      return pick;
    }
    // "best", as PySR's: among the entries within best_factor of the lowest loss, the one
    // whose loss fell the most per added node from the previous entry,
    // score = −Δlog(loss)/Δcomplexity.
    const double lowest = front.back().loss;
    constexpr double kTiny = std::numeric_limits<double>::min();
    std::size_t pick = front.size() - 1;
    double best_score = -std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < front.size(); ++i) {
      if (!(front[i].loss <= best_factor_ * lowest)) {
        continue;
      }
      double score = 0.0;
      if (i > 0) {
        score = -(std::log(std::max(front[i].loss, kTiny)) - std::log(std::max(front[i - 1].loss, kTiny))) /
                static_cast<double>(front[i].complexity - front[i - 1].complexity);
      }
      if (score > best_score) {
        best_score = score;
        pick = i;
      }
    }
    return pick;
  }

  Law make_law(const std::string& text, std::int64_t constants) const {
    Law law;
    law.text = text;
    const auto expression = ballista::Expression::parse(text);
    law.compiled = CompiledExpression(expression, input_names_, constants_);
    law.display = display_of(text);
    law.constants = constants;
    return law;
  }

  // The expression re-read from its stored text and printed with fewer digits, so that
  // describe() is the same after fit() and after load().
  std::string display_of(const std::string& text) const {
    symbolic::Symbols symbols{input_names_, {}, {}};
    for (const auto& [name, value] : constants_) {
      symbols.named.push_back(name);
      symbols.named_values.push_back(value);
    }
    const auto tree =
        symbolic::tree_from_program(ballista::postfix_program(ballista::Expression::parse(text)), symbols);
    return symbolic::format_tree(tree, symbols, kDisplayDigits);
  }

  static std::int64_t numbers_in(const std::string& text) {
    std::int64_t count = 0;
    for (const auto& step : ballista::postfix_program(ballista::Expression::parse(text))) {
      count += step.kind == ballista::ExpressionStep::Kind::number ? 1 : 0;
    }
    return count;
  }

  // The units of every input and constant, and of each target; throws naming the first
  // name that data.units leaves out.
  static symbolic::UnitTable units_of(const ballista::Dataset& train, std::vector<ballista::Unit>& target_units) {
    ballista::UnitMap map;
    try {
      map = ballista::parse_units(train.units);
    } catch (const std::exception& error) {
      throw std::invalid_argument(std::string("symbolic: data.units: ") + error.what());
    }
    std::vector<std::string> given;
    for (const auto& [name, unit] : train.units) {
      given.push_back(name);
    }
    const auto unit_of = [&](const std::string& name, const char* what) {
      const auto found = map.find(name);
      if (found == map.end()) {
        throw std::invalid_argument("symbolic: units: the search needs the unit of " + std::string(what) + " '" + name +
                                    "', which data.units does not give (it gives: " + join(given) +
                                    "); add it, e.g. '" + name + ": 1' for a dimensionless one");
      }
      return found->second;
    };
    symbolic::UnitTable table;
    for (const auto& name : train.input_names) {
      table.inputs.push_back(unit_of(name, "input"));
    }
    for (const auto& [name, value] : train.constants) {
      table.named.push_back(unit_of(name, "constant"));
    }
    for (const auto& name : train.target_names) {
      target_units.push_back(unit_of(name, "target"));
    }
    return table;
  }

  std::string choose_;
  std::int64_t chosen_complexity_;
  double best_factor_;
  std::int64_t max_rows_;
  symbolic::SearchSettings settings_;
  std::vector<std::string> input_names_;
  std::vector<std::string> target_names_;
  std::vector<std::pair<std::string, double>> constants_;
  std::vector<Law> laws_;            // one per target
  std::vector<FrontRow> front_;      // every target's front
  std::vector<std::int64_t> chosen_;  // per target: its law's row in front_
};

ballista::PluginDefinition define_symbolic() {
  using ballista::ParameterSpec;
  return {
      {
          ParameterSpec::string_list("operators", {"+", "-", "*", "/", "^", "sqrt", "sin", "cos", "exp", "log"},
                                     "the operators expressions may use: + - * / ^ sqrt sin cos tan exp log abs")
              .non_empty(),
          ParameterSpec::integer("max_evaluations", 100000,
                                 "budget: candidate expressions scored, over all islands (checked between epochs)")
              .at_least(1),
          ParameterSpec::real("time_limit", 300,
                              "budget: seconds per target, checked between epochs; 0: none. The result is the "
                              "same bits for a seed only when max_evaluations ends the search")
              .at_least(0),
          ParameterSpec::integer("islands", 8,
                                 "populations evolved apart, in parallel, exchanging members between epochs; "
                                 "the result does not depend on the thread count")
              .at_least(1)
              .at_most(256),
          ParameterSpec::integer("population", 40, "members per island, and children per island per epoch")
              .at_least(2)
              .at_most(1000),
          ParameterSpec::integer("max_complexity", 20, "largest expression, in nodes (v^2 has 3)")
              .at_least(1)
              .at_most(100),
          ParameterSpec::real("parsimony", 0.02,
                              "selection: an extra node must lower log(error) by this much to win a tournament")
              .at_least(0),
          ParameterSpec::integer("lm_iterations", 10,
                                 "Levenberg–Marquardt steps fitting each candidate's constants")
              .at_least(1)
              .at_most(1000),
          ParameterSpec::integer("max_rows", 1000,
                                 "rows the search fits on (a fixed random subset when there are more); the final "
                                 "front is refitted on every row")
              .at_least(1),
          ParameterSpec::boolean("nesting", false, "allow sin cos tan exp log inside one another (sin(exp(x)))"),
          ParameterSpec::choice("choose", "best", {"best", "accuracy", "complexity"},
                                "which expression of the front predicts: best: the largest drop of log(error) "
                                "per node among those within best_factor of the lowest error; accuracy: the "
                                "lowest error; complexity: the most accurate with at most `complexity` nodes"),
          ParameterSpec::real("best_factor", 1.5, "choose: best considers errors up to this factor times the lowest")
              .at_least(1),
          ParameterSpec::integer("complexity", 10, "choose: complexity: the largest complexity allowed").at_least(1),
          ParameterSpec::choice("units", "off", {"off", "soft", "hard"},
                                "dimensional analysis with data.units (fitted constants are dimensionless): hard "
                                "discards expressions whose units are inconsistent or not the target's; soft "
                                "multiplies their error by units_penalty"),
          ParameterSpec::real("units_penalty", 100, "units: soft: factor on the error of an expression with wrong units")
              .at_least(1),
      },
      [](const ballista::Parameters& parameters) { return std::make_unique<SymbolicModel>(parameters); },
  };
}

}  // namespace

BALLISTA_PLUGIN("symbolic", "0.1.0", "symbolic regression: searches expressions for a law (Pareto front of size vs error)",
                define_symbolic)
