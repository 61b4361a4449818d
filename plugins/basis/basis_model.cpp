// A weighted sum of basis functions written as expressions over the input names,
// y = Σ wᵢ·fᵢ(x). With the article's six functions it discovers s ≈ 0.1019·v²·sin(2θ),
// i.e. v²·sin(2θ)/g: the model with the right structure, which extrapolates. Without
// handed functions, a `library` generates the candidates from primitives (optionally only
// the dimensionally consistent ones), and STLSQ picks the law from them, its threshold by
// cross-validation and its terms' support by bootstrap resampling if asked.
#include "sparse_regression.hpp"
#include "term_library.hpp"

#include <ballista/archive.hpp>
#include <ballista/expression.hpp>
#include <ballista/linear_solvers.hpp>
#include <ballista/plugin.hpp>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace {

class BasisModel final : public ballista::Model {
 public:
  explicit BasisModel(const ballista::Parameters& parameters)
      : solver_(parameters.get<std::string>("solver")),
        fit_intercept_(parameters.get<bool>("fit_intercept")),
        learning_rate_(parameters.get<double>("lr")),
        epochs_(parameters.get<std::int64_t>("epochs")),
        threshold_(parameters.get<double>("threshold")),
        auto_threshold_(parameters.get<bool>("auto_threshold")),
        folds_(parameters.get<std::int64_t>("cv_folds")),
        resamples_(parameters.get<std::int64_t>("ensemble")),
        share_(parameters.get<double>("ensemble_share")),
        ridge_(parameters.get<double>("ridge")),
        strict_units_(parameters.get<std::string>("units") == "strict") {
    library_.functions = parameters.get<std::vector<std::string>>("library");
    library_.degree = parameters.get<std::int64_t>("library_degree");
    library_.multiples = parameters.get<std::int64_t>("library_multiples");
    library_.products = parameters.get<std::int64_t>("library_products");
    const auto& texts = parameters.get<std::vector<std::string>>("functions");
    for (std::size_t i = 0; i < texts.size(); ++i) {
      try {
        handed_.push_back(ballista::Expression::parse(texts[i]));
      } catch (const ballista::ExpressionError& error) {
        throw ballista::ParameterError(
            "functions", "functions[" + std::to_string(i) + "] '" + texts[i] + "': " + error.what());
      }
    }
    functions_empty_ = handed_.empty();
    functions_ = handed_;
    check_options();
  }

  void fit(const ballista::Dataset& train, ballista::Context& context) override {
    ballista::require_finite(train.inputs, "basis: fit() inputs");
    ballista::require_finite(train.targets, "basis: fit() targets");
    bindings_.clear();
    for (const auto& [name, value] : train.constants) {
      bindings_[name] = torch::scalar_tensor(value, torch::kFloat64);
    }
    input_names_ = train.input_names;
    target_names_ = train.target_names;
    const auto inputs = train.inputs.to(torch::kFloat64);
    if (discovers()) {
      fit_library(train, context);
      return;
    }
    if (solver_ == "lstsq") {
      // Features a slice at a time, folded into a QR factor: the [n, m] matrix of
      // features is never formed, and each slice's columns stay in cache.
      const auto targets = train.targets.to(torch::kFloat64);
      weights_ = ballista::streamed_least_squares(
          inputs.size(0), feature_count(), targets.size(1),
          [&](std::int64_t begin, std::int64_t end) {
            return std::make_pair(design(inputs.slice(0, begin, end)), targets.slice(0, begin, end));
          },
          0.0, context.collective());
      return;
    }
    const auto features = design(inputs);
    if (solver_ == "stlsq") {
      weights_ = ballista::thresholded_least_squares(features, train.targets, threshold_, 0.0, context.collective());
    } else {
      // Start from zero: every term "off", the fit decides which to turn on.
      const auto initial = torch::zeros({features.size(1), train.targets.size(1)}, torch::kFloat32);
      weights_ = ballista::gradient_descent(features, train.targets, initial,
                                            {solver_, learning_rate_, epochs_}, context);
    }
  }

  // The handed functions with any solver combine the ranks' shares (QR factors or
  // gradients); a generated library's cross-validation and resampling need every row.
  bool data_parallel() const override { return !discovers(); }

  torch::Tensor predict(const torch::Tensor& inputs) const override {
    if (!weights_.defined()) {
      throw std::logic_error("basis: predict() called before fit()");
    }
    ballista::require_finite(inputs, "basis: predict() inputs");
    const auto x = inputs.to(torch::kFloat64);
    const auto rows = x.size(0);
    if (rows <= ballista::kLeastSquaresSlice) {
      return design(x).mm(weights_);
    }
    // Slice by slice, as in fit(): no [n, m] matrix of features.
    auto predictions = torch::empty({rows, weights_.size(1)}, x.options());
    const auto slices = (rows + ballista::kLeastSquaresSlice - 1) / ballista::kLeastSquaresSlice;
    at::parallel_for(0, slices, 1, [&](std::int64_t first, std::int64_t last) {
      for (std::int64_t slice = first; slice < last; ++slice) {
        const auto begin = slice * ballista::kLeastSquaresSlice;
        const auto end = std::min(rows, begin + ballista::kLeastSquaresSlice);
        auto out = predictions.slice(0, begin, end);
        torch::mm_out(out, design(x.slice(0, begin, end)), weights_);
      }
    });
    return predictions;
  }

  std::string describe() const override {
    std::vector<std::string> labels;
    for (const auto& function : functions_) {
      labels.push_back(function.text());
    }
    if (fit_intercept_) {
      labels.emplace_back();
    }
    return ballista::format_linear_model(weights_, labels, target_names_);
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    if (!weights_.defined()) {
      throw std::logic_error("basis: save() called before fit()");
    }
    archive.write("weights", weights_);
    if (discovers()) {
      // The terms the fit kept: generated from the data's names, not from the parameters.
      std::vector<std::string> terms;
      for (const auto& function : functions_) {
        terms.push_back(function.text());
      }
      ballista::write_strings(archive, "terms", terms);
    }
    ballista::write_strings(archive, "input_names", input_names_);
    ballista::write_strings(archive, "target_names", target_names_);
    std::vector<std::string> constant_names;
    std::vector<torch::Tensor> constant_values;
    for (const auto& [name, value] : bindings_) {
      constant_names.push_back(name);
      constant_values.push_back(value);
    }
    ballista::write_strings(archive, "constant_names", constant_names);
    archive.write("constant_values", constant_values.empty() ? torch::empty({0}, torch::kFloat64)
                                                             : torch::stack(constant_values));
  }

  // A file may be damaged or forged: the weights must fit the functions and
  // fit_intercept parameters, and every function must read only stored names.
  void load(torch::serialize::InputArchive& archive) override {
    weights_ = ballista::read_tensor(archive, "weights");
    input_names_ = ballista::read_strings(archive, "input_names");
    target_names_ = ballista::read_strings(archive, "target_names");
    const auto names = ballista::read_strings(archive, "constant_names");
    const auto values = ballista::read_tensor(archive, "constant_values");
    const auto require = [](bool condition, const std::string& message) {
      if (!condition) {
        throw std::runtime_error("basis: the stored model is inconsistent: " + message);
      }
    };
    if (discovers()) {
      functions_.clear();
      for (const auto& text : ballista::read_strings(archive, "terms")) {
        try {
          functions_.push_back(ballista::Expression::parse(text));
        } catch (const ballista::ExpressionError& error) {
          require(false, "the stored term '" + text + "' does not parse: " + error.what());
        }
      }
    }
    const auto terms = feature_count();
    const auto targets = static_cast<std::int64_t>(target_names_.size());
    require(weights_.scalar_type() == torch::kFloat64 && weights_.dim() == 2 && weights_.size(0) == terms &&
                weights_.size(1) == targets && targets > 0,
            "the weights must be float64 [" + std::to_string(terms) + ", " + std::to_string(targets) +
                "] (a row per function" + (fit_intercept_ ? " and the intercept" : "") +
                ", a column per target), found " + ballista::stored_shape(weights_));
    require(values.scalar_type() == torch::kFloat64 && values.dim() == 1 &&
                values.size(0) == static_cast<std::int64_t>(names.size()),
            "the constants must be float64 [" + std::to_string(names.size()) + "] for their " +
                std::to_string(names.size()) + " names, found " + ballista::stored_shape(values));
    bindings_.clear();
    for (std::size_t i = 0; i < names.size(); ++i) {
      bindings_[names[i]] = values[static_cast<std::int64_t>(i)];
    }
    for (const auto& function : functions_) {
      for (const auto& name : function.names()) {
        require(bindings_.count(name) != 0 ||
                    std::find(input_names_.begin(), input_names_.end(), name) != input_names_.end(),
                "function '" + function.text() + "' reads '" + name + "', which is neither a stored input nor a "
                "stored constant");
      }
    }
  }

  // Terms dropped by stlsq are not parameters of the fitted model.
  std::int64_t parameter_count() const override {
    return weights_.defined() ? weights_.count_nonzero().item<std::int64_t>() : 0;
  }

 private:
  // A library, a chosen threshold or an ensemble: the terms come out of the fit.
  bool discovers() const { return !library_.functions.empty() || auto_threshold_ || resamples_ > 0; }

  void check_options() const {
    const auto& known = basis::library_primitives();
    for (const auto& primitive : library_.functions) {
      if (std::find(known.begin(), known.end(), primitive) == known.end()) {
        std::string list;
        for (const auto& name : known) {
          list += (list.empty() ? "" : ", ") + name;
        }
        throw ballista::ParameterError("library", "library: unknown primitive '" + primitive + "' (allowed: " + list + ")");
      }
    }
    if (library_.functions.empty() && functions_empty_) {
      throw ballista::ParameterError("functions", "give `functions`, a `library`, or both");
    }
    if ((auto_threshold_ || resamples_ > 0) && solver_ != "stlsq") {
      throw ballista::ParameterError(auto_threshold_ ? "auto_threshold" : "ensemble",
                                     std::string(auto_threshold_ ? "auto_threshold" : "ensemble") +
                                         " chooses STLSQ's terms: it needs `solver: stlsq` (solver is " + solver_ +
                                         ")");
    }
    if (strict_units_ && library_.functions.empty()) {
      throw ballista::ParameterError("units", "units: strict filters the generated library: give a `library`");
    }
  }

  // The candidates' texts and, per target, which of them it may use: every handed
  // function, and the generated terms (under strict units, each target's consistent ones
  // with the constants' powers written out).
  struct Candidates {
    std::vector<std::string> texts;
    std::vector<std::vector<bool>> allowed;  // [term][target]
    std::vector<bool> generated;
  };

  Candidates candidates(const ballista::Dataset& train) const {
    Candidates result;
    const auto targets = train.target_names.size();
    const auto add = [&](const std::string& text, std::size_t target, bool generated) {
      auto found = std::find(result.texts.begin(), result.texts.end(), text);
      if (found == result.texts.end()) {
        result.texts.push_back(text);
        result.allowed.emplace_back(targets, false);
        result.generated.push_back(generated);
        found = result.texts.end() - 1;
      }
      const auto index = static_cast<std::size_t>(found - result.texts.begin());
      if (target == targets) {
        result.allowed[index].assign(targets, true);
      } else {
        result.allowed[index][target] = true;
      }
    };
    for (const auto& function : handed_) {
      add(function.text(), targets, false);
    }
    const auto generated = basis::generate_terms(train.input_names, library_);
    if (!strict_units_) {
      for (const auto& term : generated) {
        add(term, targets, true);
      }
      return result;
    }
    ballista::UnitMap units;
    try {
      units = ballista::parse_units(train.units);
    } catch (const ballista::UnitError& error) {
      throw std::invalid_argument(std::string("basis: units: strict: ") + error.what());
    }
    std::vector<std::string> constants;
    for (const auto& [name, value] : train.constants) {
      constants.push_back(name);
    }
    auto needed = train.input_names;
    needed.insert(needed.end(), train.target_names.begin(), train.target_names.end());
    for (const auto& name : needed) {
      if (units.count(name) == 0) {
        throw std::invalid_argument("basis: units: strict needs the unit of every input and target in data.units; '" +
                                    name + "' has none (e.g. `units: {v: m/s, theta: rad, s: m, g: m/s^2}`)");
      }
    }
    for (std::size_t t = 0; t < targets; ++t) {
      const auto& target_unit = units.at(train.target_names[t]);
      for (const auto& term : generated) {
        const auto text = basis::dimensioned_term(term, target_unit, units, constants);
        if (!text.empty()) {
          add(text, t, true);
        }
      }
    }
    return result;
  }

  void fit_library(const ballista::Dataset& train, ballista::Context& context) {
    auto pool = candidates(train);
    for (std::size_t t = 0; t < train.target_names.size() && !fit_intercept_; ++t) {
      if (std::none_of(pool.allowed.begin(), pool.allowed.end(), [t](const auto& row) { return row[t]; })) {
        const auto& name = train.target_names[t];
        throw std::invalid_argument("basis: no candidate term has the units of '" + name +
                                    "' (units: strict): no product of the library's terms and powers of the "
                                    "constants with units matches them; widen the library (library_degree, "
                                    "library_products, more primitives) or check data.units");
      }
    }
    functions_.clear();
    for (const auto& text : pool.texts) {
      functions_.push_back(ballista::Expression::parse(text));
    }
    const auto inputs = train.inputs.to(torch::kFloat64);
    const auto targets = train.targets.to(torch::kFloat64);
    auto features = design(inputs);
    // A generated term undefined or constant zero on the training rows (log of a
    // negative input, say) cannot be fitted: it leaves the library, said in the log. A
    // handed function that is undefined is the user's to fix.
    const auto finite = torch::isfinite(features).all(0);
    const auto nonzero = features.abs().amax(0) > 0;
    std::vector<std::int64_t> usable;
    for (std::size_t j = 0; j < functions_.size(); ++j) {
      const auto column = static_cast<std::int64_t>(j);
      if (finite[column].item<bool>() && nonzero[column].item<bool>()) {
        usable.push_back(column);
      } else if (pool.generated[j]) {
        context.log(ballista::LogLevel::info, "library: dropped " + functions_[j].text() + ": " +
                                                  (finite[column].item<bool>() ? "zero" : "not finite") +
                                                  " on the training rows");
      } else {
        throw std::invalid_argument("basis function '" + functions_[j].text() + "' is " +
                                    (finite[column].item<bool>() ? "zero" : "not finite") +
                                    " on the training rows");
      }
    }
    context.report_value("library_terms", static_cast<double>(usable.size()));
    const auto intercept_column = static_cast<std::int64_t>(functions_.size());
    auto weights = torch::zeros({feature_count(), targets.size(1)}, torch::kFloat64);
    std::vector<std::vector<std::string>> inclusion_rows;
    for (std::int64_t t = 0; t < targets.size(1); ++t) {
      std::vector<std::int64_t> columns;
      for (const auto column : usable) {
        if (pool.allowed[static_cast<std::size_t>(column)][static_cast<std::size_t>(t)]) {
          columns.push_back(column);
        }
      }
      if (fit_intercept_) {
        columns.push_back(intercept_column);
      }
      if (columns.empty()) {  // every candidate of this target was dropped as not finite or zero
        throw std::invalid_argument("basis: no usable candidate term is left for '" +
                                    train.target_names[static_cast<std::size_t>(t)] +
                                    "': each is not finite or zero on the training rows (see the log)");
      }
      const auto index = torch::tensor(columns, torch::kInt64);
      const auto f = features.index_select(1, index);
      const auto y = targets.select(1, t).contiguous();
      const auto name = target_names_[static_cast<std::size_t>(t)];
      const auto suffix = targets.size(1) > 1 ? " " + name : std::string();
      torch::Tensor w;
      if (solver_ == "lstsq") {
        w = ballista::least_squares(f, y);
      } else if (solver_ == "stlsq") {
        double threshold = threshold_;
        if (auto_threshold_) {
          const auto choice = basis::choose_threshold(f, y, ridge_, folds_, context.seed() + static_cast<std::uint64_t>(t));
          threshold = choice.lambda;
          std::vector<std::vector<std::string>> rows;
          for (std::size_t i = 0; i < choice.grid.size(); ++i) {
            rows.push_back({number(choice.grid[i]), number(choice.cv_mse[i]), number(choice.cv_se[i]),
                            std::to_string(choice.terms[i]), choice.grid[i] == choice.lambda ? "chosen" : ""});
          }
          context.report_table("threshold_cv" + suffix, {"threshold", "cv_mse", "cv_se", "terms", "chosen"}, rows);
          context.report_value("threshold" + suffix, threshold);
        }
        w = auto_threshold_ ? basis::relative_stlsq(f, y, threshold, ridge_)
                            : ballista::thresholded_least_squares(f, y.unsqueeze(1), threshold).squeeze(1);
        if (resamples_ > 0) {
          const auto ensemble = basis::bootstrap_inclusion(f, y, threshold, auto_threshold_, ridge_, resamples_,
                                                           context.seed() + 1000003 + static_cast<std::uint64_t>(t));
          // The terms chosen in at least `share` of the resamples, refitted on every row.
          std::vector<std::int64_t> kept;
          for (std::int64_t j = 0; j < f.size(1); ++j) {
            if (ensemble.frequency[j].item<double>() >= share_) {
              kept.push_back(j);
            }
          }
          w = torch::zeros({f.size(1)}, torch::kFloat64);
          if (!kept.empty()) {
            const auto kept_index = torch::tensor(kept, torch::kInt64);
            w.index_put_({kept_index}, ballista::least_squares(f.index_select(1, kept_index), y));
          }
          for (std::int64_t j = 0; j < f.size(1); ++j) {
            const auto frequency = ensemble.frequency[j].item<double>();
            if (frequency > 0) {
              inclusion_rows.push_back({label(columns[static_cast<std::size_t>(j)]), name, number(frequency),
                                        number(ensemble.mean_weight[j].item<double>()),
                                        frequency >= share_ ? "kept" : ""});
            }
          }
          context.report_value("ensemble_terms" + suffix, static_cast<double>(kept.size()));
        }
      } else {
        const auto initial = torch::zeros({f.size(1), 1}, torch::kFloat32);
        w = ballista::gradient_descent(f, y.unsqueeze(1), initial, {solver_, learning_rate_, epochs_}, context)
                .squeeze(1);
      }
      weights.select(1, t).index_put_({index}, w);
    }
    if (!inclusion_rows.empty()) {
      std::stable_sort(inclusion_rows.begin(), inclusion_rows.end(),
                       [](const auto& a, const auto& b) { return std::stod(a[2]) > std::stod(b[2]); });
      context.report_table("inclusion", {"term", "target", "frequency", "mean_weight", "kept"}, inclusion_rows);
    }
    // Only the terms some target uses stay in the model (and in its file).
    std::vector<ballista::Expression> kept_functions;
    std::vector<std::int64_t> kept_rows;
    for (std::size_t j = 0; j < functions_.size(); ++j) {
      if (weights[static_cast<std::int64_t>(j)].count_nonzero().item<std::int64_t>() > 0) {
        kept_functions.push_back(functions_[j]);
        kept_rows.push_back(static_cast<std::int64_t>(j));
      }
    }
    if (fit_intercept_) {
      kept_rows.push_back(intercept_column);
    }
    functions_ = std::move(kept_functions);
    weights_ = weights.index_select(0, torch::tensor(kept_rows, torch::kInt64));
  }

  std::string label(std::int64_t column) const {
    return column < static_cast<std::int64_t>(functions_.size()) ? functions_[static_cast<std::size_t>(column)].text()
                                                                  : "(intercept)";
  }

  // Six significant digits, as printf's %g: the report's tables.
  static std::string number(double value) {
    std::ostringstream text;
    text << std::setprecision(6) << value;
    return text.str();
  }

  std::int64_t feature_count() const {
    return static_cast<std::int64_t>(functions_.size()) + (fit_intercept_ ? 1 : 0);
  }

  // The feature matrix [n, m] of float64 CPU inputs [n, d_in]: one column per basis
  // function (+ a column of ones), stored column by column.
  torch::Tensor design(const torch::Tensor& x) const {
    if (x.size(1) != static_cast<std::int64_t>(input_names_.size())) {
      throw std::invalid_argument("basis: expected " + std::to_string(input_names_.size()) +
                                  " input columns, got " + std::to_string(x.size(1)));
    }
    // Contiguous input columns keep LibTorch's element-wise kernels on their vector
    // path; a plain loop transposes [k, d_in] several times faster than a strided copy.
    const auto rows = x.size(0);
    auto columns_of_x = torch::empty({x.size(1), rows}, x.options());
    {
      const auto from = x.accessor<double, 2>();
      auto to = columns_of_x.accessor<double, 2>();
      for (std::int64_t i = 0; i < rows; ++i) {
        for (std::int64_t j = 0; j < x.size(1); ++j) {
          to[j][i] = from[i][j];
        }
      }
    }
    auto bindings = bindings_;
    for (std::size_t j = 0; j < input_names_.size(); ++j) {
      bindings[input_names_[j]] = columns_of_x[static_cast<std::int64_t>(j)];
    }
    std::vector<torch::Tensor> columns;
    for (const auto& function : functions_) {
      try {
        columns.push_back(function.evaluate(bindings).expand({rows}));
      } catch (const ballista::ExpressionError& error) {
        throw std::invalid_argument("basis function '" + function.text() + "': " + error.what());
      }
    }
    if (fit_intercept_) {
      columns.push_back(torch::ones({rows}, x.options()));
    }
    // Stacked as rows, each a contiguous copy, and returned transposed: the same [n, m]
    // matrix without the strided writes of stacking columns.
    return torch::stack(columns, 0).t();
  }

  std::string solver_;
  bool fit_intercept_;
  double learning_rate_;
  std::int64_t epochs_;
  double threshold_;
  bool auto_threshold_;
  std::int64_t folds_;
  std::int64_t resamples_;
  double share_;
  double ridge_;
  bool strict_units_;
  bool functions_empty_ = false;
  basis::LibrarySpec library_;
  std::vector<ballista::Expression> handed_;     // the `functions` parameter
  std::vector<ballista::Expression> functions_;  // the model's terms: handed_, or the library's that the fit kept
  ballista::Expression::TensorBindings bindings_;  // the pipeline's constants
  std::vector<std::string> input_names_;
  std::vector<std::string> target_names_;
  torch::Tensor weights_;  // [m (+1), d_out], float64
};

ballista::PluginDefinition define_basis() {
  using ballista::ParameterSpec;
  return {
      {
          ParameterSpec::string_list("functions", {},
                                     "basis functions: expressions over input names and constants "
                                     "(+ - * / ^, sin cos tan exp log sqrt abs, pi, e), e.g. [v, v^2*sin(2*theta)]; "
                                     "give these, a `library`, or both")
              .expressions(),
          ParameterSpec::string_list("library", {},
                                     "generate candidate terms from these primitives of the inputs: poly (monomials "
                                     "up to library_degree), sin cos exp (of k*x, k up to library_multiples), log "
                                     "sqrt abs; and their products up to library_products factors"),
          ParameterSpec::integer("library_degree", 2, "library: highest total degree of the monomials")
              .at_least(1)
              .at_most(6),
          ParameterSpec::integer("library_multiples", 2, "library: sin(k*x), cos(k*x), exp(k*x) for k = 1..this")
              .at_least(1)
              .at_most(6),
          ParameterSpec::integer("library_products", 2, "library: terms are products of up to this many factors")
              .at_least(1)
              .at_most(3),
          ParameterSpec::choice("units", "off", {"off", "strict"},
                                "strict: keep only library terms whose units, times powers of the pipeline's "
                                "constants, are the target's (needs data.units); off: every term"),
          ParameterSpec::boolean("auto_threshold", false,
                                 "stlsq: choose the threshold by cross-validation (relative: a term is dropped "
                                 "while |w|*rms(term) < threshold*rms(target); one-standard-error rule)"),
          ParameterSpec::real("ridge", 1e-3,
                              "auto_threshold: ridge penalty while STLSQ selects terms, on terms scaled to unit rms "
                              "(SINDy's alpha); the kept terms are refitted without it")
              .at_least(0),
          ParameterSpec::integer("cv_folds", 5, "auto_threshold: folds of the cross-validation").at_least(2).at_most(50),
          ParameterSpec::integer("ensemble", 0,
                                 "stlsq: bootstrap resamples (0: off); terms chosen in at least ensemble_share of "
                                 "them are kept and refitted on all rows; each term's frequency is reported")
              .at_least(0)
              .at_most(10000),
          ParameterSpec::real("ensemble_share", 0.5, "ensemble: the share of resamples a term must be chosen in")
              .greater_than(0)
              .at_most(1),
          ParameterSpec::choice("solver", "lstsq", {"lstsq", "stlsq", "adam", "sgd"},
                                "lstsq: closed-form least squares in float64; stlsq: least squares that drops "
                                "terms with |weight| < threshold and refits (SINDy); adam/sgd: full-batch "
                                "gradient descent"),
          ParameterSpec::real("threshold", 0.01, "stlsq: terms with |weight| below this are dropped (unless auto_threshold)")
              .at_least(0),
          ParameterSpec::boolean("fit_intercept", false, "add a constant term"),
          ParameterSpec::real("lr", 0.1, "learning rate of adam/sgd").greater_than(0),
          ParameterSpec::integer("epochs", 5000, "full-batch steps of adam/sgd").at_least(1),
      },
      [](const ballista::Parameters& parameters) { return std::make_unique<BasisModel>(parameters); },
  };
}

}  // namespace

BALLISTA_PLUGIN("basis", "0.1.0", "weighted sum of user-given basis functions (least squares or Adam)",
                define_basis)
