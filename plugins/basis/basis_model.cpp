// A weighted sum of basis functions written as expressions over the input names,
// y = Σ wᵢ·fᵢ(x). With the article's six functions it discovers s ≈ 0.1019·v²·sin(2θ),
// i.e. v²·sin(2θ)/g: the model with the right structure, which extrapolates.
#include <ballista/archive.hpp>
#include <ballista/expression.hpp>
#include <ballista/linear_solvers.hpp>
#include <ballista/plugin.hpp>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
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
        threshold_(parameters.get<double>("threshold")) {
    const auto& texts = parameters.get<std::vector<std::string>>("functions");
    for (std::size_t i = 0; i < texts.size(); ++i) {
      try {
        functions_.push_back(ballista::Expression::parse(texts[i]));
      } catch (const ballista::ExpressionError& error) {
        throw ballista::ParameterError(
            "functions", "functions[" + std::to_string(i) + "] '" + texts[i] + "': " + error.what());
      }
    }
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
    if (solver_ == "lstsq") {
      // Features a slice at a time, folded into a QR factor: the [n, m] matrix of
      // features is never formed, and each slice's columns stay in cache.
      const auto targets = train.targets.to(torch::kFloat64);
      weights_ = ballista::streamed_least_squares(
          inputs.size(0), feature_count(), targets.size(1),
          [&](std::int64_t begin, std::int64_t end) {
            return std::make_pair(design(inputs.slice(0, begin, end)), targets.slice(0, begin, end));
          });
      return;
    }
    const auto features = design(inputs);
    if (solver_ == "stlsq") {
      weights_ = ballista::thresholded_least_squares(features, train.targets, threshold_);
    } else {
      // Start from zero: every term "off", the fit decides which to turn on.
      const auto initial = torch::zeros({features.size(1), train.targets.size(1)}, torch::kFloat32);
      weights_ = ballista::gradient_descent(features, train.targets, initial,
                                            {solver_, learning_rate_, epochs_}, context);
    }
  }

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
  std::vector<ballista::Expression> functions_;
  ballista::Expression::TensorBindings bindings_;  // the pipeline's constants
  std::vector<std::string> input_names_;
  std::vector<std::string> target_names_;
  torch::Tensor weights_;  // [m (+1), d_out], float64
};

ballista::PluginDefinition define_basis() {
  using ballista::ParameterSpec;
  return {
      {
          ParameterSpec::string_list("functions", {"v", "v^2*sin(2*theta)"},
                                     "basis functions: expressions over input names and constants "
                                     "(+ - * / ^, sin cos tan exp log sqrt abs, pi, e)")
              .expressions()
              .non_empty()
              .required(),
          ParameterSpec::choice("solver", "lstsq", {"lstsq", "stlsq", "adam", "sgd"},
                                "lstsq: closed-form least squares in float64; stlsq: least squares that drops "
                                "terms with |weight| < threshold and refits (SINDy); adam/sgd: full-batch "
                                "gradient descent"),
          ParameterSpec::real("threshold", 0.01, "stlsq: terms with |weight| below this are dropped").at_least(0),
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
