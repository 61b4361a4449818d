// Polynomial ridge regression: y = Σ w_a·z^a over every monomial z^a = Π_j z_j^a_j of the
// inputs up to total degree `degree` (the constant included), solved in closed form with
// an optional ridge penalty that leaves the constant alone. z are the inputs scaled by
// the training mean and standard deviation (`standardize`, the default) or the inputs
// themselves. The same model as scikit-learn's
//   make_pipeline(StandardScaler(), PolynomialFeatures(degree), Ridge(alpha=l2))
// The example plugin of docs/writing-a-plugin.md.
#include <ballista/archive.hpp>
#include <ballista/linear_solvers.hpp>
#include <ballista/plugin.hpp>  // brings LibTorch's tensor API too (<torch/types.h>)

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

// The power each input is raised to in one monomial: {2, 1} is v^2*theta.
using Exponents = std::vector<std::int64_t>;

// More columns than this is almost certainly a mistake (degree 6 of 12 inputs makes
// 18564), and the feature matrix alone would take rows × 8 bytes per column.
constexpr std::int64_t kMaxFeatures = 5000;

// C(inputs + degree, degree), the number of monomials up to `degree`; stops counting
// once past kMaxFeatures. Each step is an exact division: C(d+k, k) = C(d+k−1, k−1)·(d+k)/k.
std::int64_t monomial_count(std::int64_t inputs, std::int64_t degree) {
  std::int64_t count = 1;
  for (std::int64_t k = 1; k <= degree && count <= kMaxFeatures; ++k) {
    count = count * (inputs + k) / k;
  }
  return count;
}

// Every monomial of `inputs` variables with total degree <= `degree`, in scikit-learn's
// PolynomialFeatures order: by degree, then lexicographically (1, a, b, a², a·b, b²).
// Degree k terms extend each degree k−1 term by an input no lower than its last one.
std::vector<Exponents> monomials(std::int64_t inputs, std::int64_t degree) {
  std::vector<Exponents> terms{Exponents(static_cast<std::size_t>(inputs), 0)};
  std::vector<std::pair<Exponents, std::int64_t>> previous{{terms.front(), 0}};  // (term, its last input)
  for (std::int64_t k = 1; k <= degree; ++k) {
    std::vector<std::pair<Exponents, std::int64_t>> current;
    for (const auto& [term, last] : previous) {
      for (std::int64_t j = last; j < inputs; ++j) {
        auto next = term;
        ++next[static_cast<std::size_t>(j)];
        terms.push_back(next);
        current.emplace_back(std::move(next), j);
      }
    }
    previous = std::move(current);
  }
  return terms;
}

// "v^2*theta" for {2, 1}; "" for the constant, which format_linear_model prints bare.
std::string label(const Exponents& term, const std::vector<std::string>& names) {
  std::string text;
  for (std::size_t j = 0; j < term.size(); ++j) {
    if (term[j] == 0) {
      continue;
    }
    if (!text.empty()) {
      text += '*';
    }
    text += names[j];
    if (term[j] > 1) {
      text += '^';
      text += std::to_string(term[j]);
    }
  }
  return text;
}

// The names to print: the data set's, or x1, x2, … when a caller gave none.
std::vector<std::string> column_names(const std::vector<std::string>& given, std::int64_t count,
                                      const std::string& prefix) {
  if (given.size() == static_cast<std::size_t>(count)) {
    return given;
  }
  std::vector<std::string> names;
  for (std::int64_t j = 1; j <= count; ++j) {
    names.push_back(prefix + std::to_string(j));
  }
  return names;
}

// Throws std::invalid_argument naming how many cells of `values` [n, d] are NaN or
// infinite and where the first one is, so the user can find it in their data.
void require_finite_columns(const torch::Tensor& values, const std::vector<std::string>& names, const std::string& what) {
  const auto bad = torch::isfinite(values).logical_not();
  const auto count = bad.sum().item<std::int64_t>();
  if (count == 0) {
    return;
  }
  const auto first = bad.nonzero()[0];
  const auto row = first[0].item<std::int64_t>();
  const auto column = first[1].item<std::int64_t>();
  std::ostringstream message;
  message << "poly_ridge: " << what << " hold " << count << " NaN or infinite value" << (count == 1 ? "" : "s")
          << ", the first at row " << row << " (counting from 0), column '"
          << names[static_cast<std::size_t>(column)] << "' = " << values[row][column].item<double>()
          << "; drop or fill those rows first";
  throw std::invalid_argument(message.str());
}

class PolyRidgeModel final : public ballista::Model {
 public:
  // Reads the validated parameters and nothing else: the host also builds models just to
  // check a pipeline (`ballista validate`), so construction must be cheap.
  explicit PolyRidgeModel(const ballista::Parameters& parameters)
      : degree_(parameters.get<std::int64_t>("degree")),
        l2_(parameters.get<double>("l2")),
        standardize_(parameters.get<bool>("standardize")) {}

  void fit(const ballista::Dataset& train, ballista::Context& context) override {
    const auto x = train.inputs.to(torch::kFloat64);
    const auto y = train.targets.to(torch::kFloat64);
    if (x.dim() != 2 || y.dim() != 2 || x.size(0) != y.size(0) || x.size(0) == 0) {
      throw std::invalid_argument("poly_ridge: fit() needs inputs [n, d] and targets [n, d_out] with the same n >= 1, "
                                  "got " + c10::str(x.sizes()) + " and " + c10::str(y.sizes()));
    }
    auto input_names = column_names(train.input_names, x.size(1), "x");
    auto target_names = column_names(train.target_names, y.size(1), "y");
    require_finite_columns(x, input_names, "the training inputs");
    require_finite_columns(y, target_names, "the training targets");
    const auto count = monomial_count(x.size(1), degree_);
    if (count > kMaxFeatures) {
      throw std::invalid_argument("poly_ridge: degree " + std::to_string(degree_) + " of " +
                                  std::to_string(x.size(1)) + " inputs makes more than " +
                                  std::to_string(kMaxFeatures) + " monomials; lower the degree");
    }
    terms_ = monomials(x.size(1), degree_);
    input_names_ = std::move(input_names);
    target_names_ = std::move(target_names);

    if (standardize_) {
      // Population standard deviation (ddof 0), as scikit-learn's StandardScaler; a
      // constant column (or a single row) keeps scale 1 instead of dividing by zero.
      mean_ = x.mean(0, /*keepdim=*/true);
      scale_ = x.std(0, /*unbiased=*/false, /*keepdim=*/true);
      scale_ = torch::where(scale_ > 0, scale_, torch::ones_like(scale_));
    } else {
      // (x − 0)/1 is x to the last bit, so one code path serves both settings.
      mean_ = torch::zeros({1, x.size(1)}, x.options());
      scale_ = torch::ones({1, x.size(1)}, x.options());
    }

    // Ridge with an unpenalised constant, as scikit-learn's Ridge: centre the other
    // columns and the targets, solve, then the constant is b = ȳ − f̄·W. least_squares
    // works on F itself (SVD), never on FᵀF, so high degrees lose little accuracy.
    const auto features = design(x);  // [n, m]; column 0 is the constant
    const auto others = features.slice(1, 1);
    const auto others_mean = others.mean(0, /*keepdim=*/true);
    const auto y_mean = y.mean(0, /*keepdim=*/true);
    const auto w = ballista::least_squares(others - others_mean, y - y_mean, l2_);
    weights_ = torch::cat({y_mean - others_mean.mm(w), w});

    if (l2_ == 0.0 && count > x.size(0)) {
      context.log(ballista::LogLevel::warning,
                  std::to_string(count) + " monomials from " + std::to_string(x.size(0)) + " training row" +
                      (x.size(0) == 1 ? "" : "s") + ": the fit is underdetermined and least squares returns the "
                      "minimum-norm solution; use more rows, a lower degree or l2 > 0");
    }
    // Lands in metrics.json as fit_values.train_mse.
    context.report_value("train_mse", ballista::mean_squared_error(features, weights_, y));
    describe_in_user_terms();
  }

  torch::Tensor predict(const torch::Tensor& inputs) const override {
    if (!weights_.defined()) {
      throw std::logic_error("poly_ridge: predict() called before fit()");
    }
    const auto x = inputs.to(torch::kFloat64);
    if (x.dim() != 2 || x.size(1) != mean_.size(1)) {
      throw std::invalid_argument("poly_ridge: predict() expects inputs [n, " + std::to_string(mean_.size(1)) +
                                  "], got " + c10::str(x.sizes()));
    }
    require_finite_columns(x, input_names_, "the inputs to predict");
    return design(x).mm(weights_);
  }

  std::string describe() const override {
    return ballista::format_linear_model(formula_weights_, labels_, target_names_);
  }

  std::int64_t parameter_count() const override { return weights_.defined() ? weights_.numel() : 0; }

  void save(torch::serialize::OutputArchive& archive) const override {
    if (!weights_.defined()) {
      throw std::logic_error("poly_ridge: save() called before fit()");
    }
    std::vector<std::int64_t> flat;
    for (const auto& term : terms_) {
      flat.insert(flat.end(), term.begin(), term.end());
    }
    archive.write("exponents", torch::tensor(flat, torch::kInt64).reshape({weights_.size(0), mean_.size(1)}));
    archive.write("mean", mean_);
    archive.write("scale", scale_);
    archive.write("weights", weights_);
    ballista::write_strings(archive, "input_names", input_names_);
    ballista::write_strings(archive, "target_names", target_names_);
  }

  // Restores the exact tensors predict() uses, so predictions after a reload are the
  // same bits; the formula is recomputed from them by the same code as after fit().
  void load(torch::serialize::InputArchive& archive) override {
    const auto exponents = ballista::read_tensor(archive, "exponents");
    auto mean = ballista::read_tensor(archive, "mean");
    auto scale = ballista::read_tensor(archive, "scale");
    auto weights = ballista::read_tensor(archive, "weights");
    auto input_names = ballista::read_strings(archive, "input_names");
    auto target_names = ballista::read_strings(archive, "target_names");
    const auto d = static_cast<std::int64_t>(input_names.size());
    if (exponents.dim() != 2 || exponents.scalar_type() != torch::kInt64 || exponents.size(1) != d ||
        mean.sizes() != torch::IntArrayRef{1, d} || scale.sizes() != torch::IntArrayRef{1, d} ||
        weights.dim() != 2 || weights.size(0) != exponents.size(0) ||
        weights.size(1) != static_cast<std::int64_t>(target_names.size())) {
      throw std::runtime_error("poly_ridge: the saved model's entries have inconsistent shapes");
    }
    const auto rows = exponents.contiguous();
    std::vector<Exponents> terms;
    for (std::int64_t i = 0; i < rows.size(0); ++i) {
      const auto* row = rows[i].data_ptr<std::int64_t>();
      terms.emplace_back(row, row + d);
    }
    if (terms != monomials(d, degree_)) {
      throw std::runtime_error("poly_ridge: the saved terms are not those of degree " + std::to_string(degree_));
    }
    terms_ = std::move(terms);
    mean_ = mean.to(torch::kFloat64);
    scale_ = scale.to(torch::kFloat64);
    weights_ = weights.to(torch::kFloat64);
    input_names_ = std::move(input_names);
    target_names_ = std::move(target_names);
    describe_in_user_terms();
  }

 private:
  // The feature matrix [n, m]: column i is Π_j z_j^a_j for the i-th term, z = (x − μ)/σ.
  torch::Tensor design(const torch::Tensor& x) const {
    const auto z = (x - mean_) / scale_;
    std::vector<torch::Tensor> columns;
    columns.reserve(terms_.size());
    for (const auto& term : terms_) {
      auto column = torch::ones({z.size(0)}, z.options());
      for (std::size_t j = 0; j < term.size(); ++j) {
        if (term[j] > 0) {
          column = column * z.select(1, static_cast<std::int64_t>(j)).pow(term[j]);
        }
      }
      columns.push_back(column);
    }
    return torch::stack(columns, 1);
  }

  // Labels and weights for describe(), in the raw inputs: each standardised term
  // Π_j ((x_j − μ_j)/σ_j)^a_j is expanded by the binomial theorem into monomials of x of
  // the same or lower degree. For display only: predict() keeps the standardised form,
  // whose weights are better conditioned (the expansion can cancel digits at high
  // degree or far from the origin).
  void describe_in_user_terms() {
    labels_.clear();
    for (const auto& term : terms_) {
      labels_.push_back(label(term, input_names_));
    }
    if (!standardize_) {
      formula_weights_ = weights_;
      return;
    }
    std::map<Exponents, std::size_t> index;
    for (std::size_t i = 0; i < terms_.size(); ++i) {
      index[terms_[i]] = i;
    }
    const auto weights = weights_.accessor<double, 2>();
    const auto mean = mean_.accessor<double, 2>();
    const auto scale = scale_.accessor<double, 2>();
    auto expanded = torch::zeros_like(weights_);
    auto result = expanded.accessor<double, 2>();
    for (std::size_t t = 0; t < terms_.size(); ++t) {
      const auto& a = terms_[t];
      Exponents k(a.size(), 0);  // runs over every k <= a, componentwise
      while (true) {
        // Π_j C(a_j, k_j)·(−μ_j)^(a_j−k_j) / σ_j^a_j: the weight of x^k in z^a.
        double factor = 1.0;
        for (std::size_t j = 0; j < a.size(); ++j) {
          const auto jj = static_cast<std::int64_t>(j);
          factor *= binomial(a[j], k[j]) * std::pow(-mean[0][jj], static_cast<double>(a[j] - k[j])) /
                    std::pow(scale[0][jj], static_cast<double>(a[j]));
        }
        const auto target = static_cast<std::int64_t>(index.at(k));
        const auto source = static_cast<std::int64_t>(t);
        for (std::int64_t output = 0; output < weights_.size(1); ++output) {
          result[target][output] += factor * weights[source][output];
        }
        std::size_t j = 0;
        while (j < k.size() && k[j] == a[j]) {
          k[j] = 0;
          ++j;
        }
        if (j == k.size()) {
          break;
        }
        ++k[j];
      }
    }
    formula_weights_ = expanded;
  }

  static double binomial(std::int64_t n, std::int64_t k) {
    double value = 1.0;
    for (std::int64_t i = 1; i <= k; ++i) {
      value = value * static_cast<double>(n - k + i) / static_cast<double>(i);
    }
    return value;
  }

  std::int64_t degree_;
  double l2_;
  bool standardize_;
  std::vector<Exponents> terms_;  // one per feature column, constant first
  torch::Tensor mean_;            // [1, d], float64
  torch::Tensor scale_;           // [1, d], float64
  torch::Tensor weights_;         // [m, d_out], float64, on the standardised terms
  torch::Tensor formula_weights_;  // [m, d_out], the same polynomial in the raw inputs
  std::vector<std::string> labels_;
  std::vector<std::string> input_names_;
  std::vector<std::string> target_names_;
};

ballista::PluginDefinition define_poly_ridge() {
  using ballista::ParameterSpec;
  return {
      {
          ParameterSpec::integer("degree", 2, "highest total degree of the monomials of the inputs (constant included)")
              .at_least(1),
          ParameterSpec::real("l2", 0.0, "ridge penalty l2·||W||² (the constant is not penalised)").at_least(0),
          ParameterSpec::boolean("standardize", true,
                                 "scale inputs by the training mean and standard deviation before the monomials"),
      },
      [](const ballista::Parameters& parameters) { return std::make_unique<PolyRidgeModel>(parameters); },
  };
}

}  // namespace

BALLISTA_PLUGIN("poly_ridge", "1.0.0", "polynomial features up to a total degree + ridge regression (closed form)",
                define_poly_ridge)
