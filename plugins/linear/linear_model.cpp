// Linear regression y = W·x + b: the closed-form least-squares optimum, or the
// article's full-batch SGD (lr 0.01, 500 epochs), to show what the iterative path costs.
#include <ballista/archive.hpp>
#include <ballista/linear_solvers.hpp>
#include <ballista/plugin.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace {

class LinearModel final : public ballista::Model {
 public:
  explicit LinearModel(const ballista::Parameters& parameters)
      : solver_(parameters.get<std::string>("solver")),
        fit_intercept_(parameters.get<bool>("fit_intercept")),
        learning_rate_(parameters.get<double>("lr")),
        epochs_(parameters.get<std::int64_t>("epochs")),
        l2_(parameters.get<double>("l2")) {
    if (l2_ > 0.0 && solver_ != "lstsq") {
      throw ballista::ParameterError("l2", "l2 (ridge) is solved in closed form: use it with solver: lstsq");
    }
  }

  void fit(const ballista::Dataset& train, ballista::Context& context) override {
    ballista::require_finite(train.inputs, "linear: fit() inputs");
    ballista::require_finite(train.targets, "linear: fit() targets");
    if (solver_ == "lstsq") {
      weights_ = closed_form(train.inputs.to(torch::kFloat64), train.targets.to(torch::kFloat64),
                             context.collective());
    } else {
      const auto features = design(train.inputs);
      // nn.Linear's initialisation: every weight and the bias ~ U(−1/√d_in, 1/√d_in).
      auto generator = at::make_generator<at::CPUGeneratorImpl>(context.seed());
      const double bound = 1.0 / std::sqrt(static_cast<double>(train.inputs.size(1)));
      auto initial = torch::empty({features.size(1), train.targets.size(1)}, torch::kFloat32);
      initial.uniform_(-bound, bound, generator);
      weights_ = ballista::gradient_descent(features, train.targets, initial,
                                            {solver_, learning_rate_, epochs_}, context);
    }
    labels_ = train.input_names;
    if (fit_intercept_) {
      labels_.emplace_back();
    }
    target_names_ = train.target_names;
  }

  // Every solver combines the ranks' shares: QR factors, or each step's gradients.
  bool data_parallel() const override { return true; }

  torch::Tensor predict(const torch::Tensor& inputs) const override {
    if (!weights_.defined()) {
      throw std::logic_error("linear: predict() called before fit()");
    }
    ballista::require_finite(inputs, "linear: predict() inputs");
    return design(inputs).mm(weights_);
  }

  std::string describe() const override {
    return ballista::format_linear_model(weights_, labels_, target_names_);
  }

  std::int64_t parameter_count() const override { return weights_.defined() ? weights_.numel() : 0; }

  void save(torch::serialize::OutputArchive& archive) const override {
    if (!weights_.defined()) {
      throw std::logic_error("linear: save() called before fit()");
    }
    archive.write("weights", weights_);
    ballista::write_strings(archive, "labels", labels_);
    ballista::write_strings(archive, "target_names", target_names_);
  }

  // A file may be damaged or forged: the weights must be what fit() makes of the
  // stored names and the fit_intercept parameter (the intercept's label is empty).
  void load(torch::serialize::InputArchive& archive) override {
    weights_ = ballista::read_tensor(archive, "weights");
    labels_ = ballista::read_strings(archive, "labels");
    target_names_ = ballista::read_strings(archive, "target_names");
    const auto intercepts = std::count(labels_.begin(), labels_.end(), std::string());
    if (intercepts != (fit_intercept_ ? 1 : 0) || (fit_intercept_ && !labels_.back().empty()) ||
        labels_.size() == (fit_intercept_ ? 1U : 0U)) {
      throw std::runtime_error(std::string("linear: the stored model is inconsistent: its terms do not match ") +
                               "parameter fit_intercept: " + (fit_intercept_ ? "true" : "false"));
    }
    const auto rows = static_cast<std::int64_t>(labels_.size());
    const auto columns = static_cast<std::int64_t>(target_names_.size());
    if (weights_.scalar_type() != torch::kFloat64 || weights_.dim() != 2 || weights_.size(0) != rows ||
        weights_.size(1) != columns || columns == 0) {
      throw std::runtime_error("linear: the stored model is inconsistent: the weights must be float64 [" +
                               std::to_string(rows) + ", " + std::to_string(columns) +
                               "] (a row per term, a column per target), found " + ballista::stored_shape(weights_));
    }
  }

 private:
  // Least squares (ridge when l2 > 0). The intercept is never penalised: fit on centred
  // data, then b = ȳ − x̄·W — the same objective as scikit-learn's Ridge.
  torch::Tensor closed_form(const torch::Tensor& x, const torch::Tensor& y, ballista::Collective& collective) const {
    if (!fit_intercept_) {
      return ballista::least_squares(x, y, l2_, collective);
    }
    torch::Tensor x_mean;
    torch::Tensor y_mean;
    if (collective.size() == 1) {
      x_mean = x.mean(0, /*keepdim=*/true);
      y_mean = y.mean(0, /*keepdim=*/true);
    } else {
      // The means of all the ranks' rows: their sums and counts, summed.
      std::vector<torch::Tensor> sums{x.sum(0, /*keepdim=*/true), y.sum(0, /*keepdim=*/true),
                                      torch::full({1}, static_cast<double>(x.size(0)), x.options())};
      collective.sum(sums);
      x_mean = sums[0] / sums[2];
      y_mean = sums[1] / sums[2];
    }
    // Centred a slice at a time, so no centred copy of the data is made.
    const auto weights = ballista::streamed_least_squares(
        x.size(0), x.size(1), y.size(1),
        [&](std::int64_t begin, std::int64_t end) {
          return std::make_pair(x.slice(0, begin, end) - x_mean, y.slice(0, begin, end) - y_mean);
        },
        l2_, collective);
    return torch::cat({weights, y_mean - x_mean.mm(weights)});
  }

  torch::Tensor design(const torch::Tensor& inputs) const {
    const auto x = inputs.to(torch::kFloat64);
    return fit_intercept_ ? torch::cat({x, torch::ones({x.size(0), 1}, x.options())}, 1) : x;
  }

  std::string solver_;
  bool fit_intercept_;
  double learning_rate_;
  std::int64_t epochs_;
  double l2_;
  torch::Tensor weights_;  // [d_in (+1), d_out], float64
  std::vector<std::string> labels_;
  std::vector<std::string> target_names_;
};

ballista::PluginDefinition define_linear() {
  using ballista::ParameterSpec;
  return {
      {
          ParameterSpec::choice("solver", "lstsq", {"lstsq", "sgd", "adam"},
                                "lstsq: closed-form least squares in float64; sgd/adam: full-batch gradient descent"),
          ParameterSpec::boolean("fit_intercept", true, "learn a constant term b"),
          ParameterSpec::real("lr", 0.01, "learning rate of sgd/adam").greater_than(0),
          ParameterSpec::integer("epochs", 500, "full-batch steps of sgd/adam").at_least(1),
          ParameterSpec::real("l2", 0.0, "ridge penalty l2·||W||² (intercept not penalised; lstsq only)")
              .at_least(0),
      },
      [](const ballista::Parameters& parameters) { return std::make_unique<LinearModel>(parameters); },
  };
}

}  // namespace

BALLISTA_PLUGIN("linear", "0.1.0", "linear regression y = W·x + b (least squares, SGD or Adam)", define_linear)
