// The Ballista side of bench/bench.py: one case, timed in this process, printed as one
// JSON line. The data is the cannon's, drawn by the pipeline machinery from seed 0, so
// NumPy's np.random.seed(0) gives the peers the same rows.
//   ballista_bench CASE N [M]     CASE: mlp | basis | linear | knn | knn_brute | basis_adam | ode | ode_universal
// The ode cases time training epochs through the integrator: fit_seconds is per epoch
// (their fit runs kOdeEpochs Adam epochs after one forward and backward pass at the
// initial parameters, so it is divided by kOdeEpochs + 1).
#include "data_generator.hpp"
#include "pipeline_loader.hpp"
#include "plugin_catalog.hpp"

#include <ballista/blas.hpp>
#include <torch/torch.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

namespace {

using Clock = std::chrono::steady_clock;

class QuietContext final : public ballista::Context {
 public:
  void report_progress(std::int64_t /*step*/, std::int64_t /*total*/, double loss) override { last_loss = loss; }
  bool cancelled() const override { return false; }
  torch::Device device() const override { return torch::kCPU; }
  std::uint64_t seed() const override { return 0; }
  void log(ballista::LogLevel /*level*/, std::string_view /*message*/) override {}
  void report_value(std::string_view name, double value) override { values[std::string(name)] = value; }
  double last_loss = std::nan("");
  std::map<std::string, double> values;
};

constexpr int kOdeEpochs = 5;

double seconds(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: ballista_bench mlp|basis|linear|knn|knn_brute|basis_adam|ode|ode_universal N [QUERIES]\n";
    return 2;
  }
  const std::string name = argv[1];
  const std::int64_t rows = std::stoll(argv[2]);
  const std::int64_t queries = argc > 3 ? std::stoll(argv[3]) : 0;
  const auto work = std::filesystem::temp_directory_path() / ("ballista-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(work);
  const std::map<std::string, std::string> models{
      {"mlp", "{plugin: mlp, hidden: [256, 256], activation: sigmoid, optimizer: adam, lr: 0.01, epochs: 1000}"},
      {"basis", "{plugin: basis, functions: [v, v^2, v*sin(theta), v*sin(2*theta), v^2*sin(theta), v^2*sin(2*theta)]}"},
      {"basis_adam", "{plugin: basis, solver: adam, lr: 0.1, epochs: 5000, functions: [v, v^2, v*sin(theta), "
                     "v*sin(2*theta), v^2*sin(theta), v^2*sin(2*theta)]}"},
      {"linear", "{plugin: linear}"},
      {"knn", "{plugin: knn, k: 5}"},
      {"knn_brute", "{plugin: knn, k: 5, algorithm: brute}"},
      // The article's shell with quadratic drag, k from 0.01; RK4 at dt 0.01, float64.
      {"ode", "{plugin: ode, state: ['x = 0', 'y = 0', 'ux = v*cos(theta)', 'uy = v*sin(theta)'], "
              "define: ['speed = sqrt(ux^2 + uy^2)'], rhs: [\"x' = ux\", \"y' = uy\", \"ux' = -k*speed*ux\", "
              "\"uy' = -g - k*speed*uy\"], fit: ['k = 0.01'], until: ['y = 0 falling'], output: ['s = x'], "
              "dt: 0.01, lr: 0.001, epochs: " + std::to_string(kOdeEpochs) + ", lbfgs_steps: 0, validation: 0}"},
      {"ode_universal", "{plugin: ode, state: ['x = 0', 'y = 0', 'ux = v*cos(theta)', 'uy = v*sin(theta)'], "
                        "rhs: [\"x' = ux\", \"y' = uy\", \"ux' = net1\", \"uy' = -g + net2\"], net_inputs: [ux, uy], "
                        "net_outputs: 2, net_hidden: [32, 32], until: ['y = 0 falling'], output: ['s = x'], "
                        "dt: 0.01, lr: 0.001, epochs: " + std::to_string(kOdeEpochs) + ", lbfgs_steps: 0, validation: 0}"}};
  if (models.count(name) == 0) {
    std::cerr << "ballista_bench: unknown case '" << name << "'\n";
    return 2;
  }
  std::ofstream(work / "p.yaml") << "seed: 0\ndata:\n  constants: {g: 9.81}\n  inputs:\n    v: uniform(0, 10)\n"
                                    "    theta: uniform(0, pi/2)\n  targets:\n    s: {expression: v^2*sin(2*theta)/g, "
                                    "noise: 0.01, clip: [0, null]}\n  n: "
                                 << rows << "\nmodels:\n  m: " << models.at(name) << "\n";
  const ballista::host::PluginCatalog catalog(ballista::host::PluginCatalog::search_path({}));
  const auto pipeline = ballista::host::load_pipeline(work / "p.yaml", catalog);
  std::filesystem::remove_all(work);
  const auto sets = ballista::host::generate_sets(pipeline.data);
  const auto& train = sets.at("all");
  const auto& spec = pipeline.models.front();
  auto model = catalog.find(spec.plugin)->definition.create(spec.parameters);
  QuietContext context;
  const auto fit_start = Clock::now();
  model->fit(train, context);
  const bool per_epoch = name.rfind("ode", 0) == 0;
  const double fit = seconds(fit_start) / (per_epoch ? kOdeEpochs + 1 : 1);
  // The training error on (at most) the first 1000 rows: brute-force knn on all 10^6
  // training rows would be 10^12 distances.
  const auto rows_for_error = std::min<std::int64_t>(rows, 1000);
  const auto residual = model->predict(train.inputs.slice(0, 0, rows_for_error)) -
                        train.targets.slice(0, 0, rows_for_error);
  const double mse = residual.square().mean().item<double>();
  nlohmann::json result{{"case", name}, {"rows", rows}, {"fit_seconds", fit}, {"train_mse", mse},
                        {"threads", at::get_num_threads()}, {"blas_core", ballista::blas_core()}};
  if (queries > 0) {
    // Queries inside the data's range, drawn once (the peer draws its own the same way).
    auto generator = at::make_generator<at::CPUGeneratorImpl>(1);
    const auto points = torch::rand({queries, 2}, generator, torch::kFloat64) *
                        torch::tensor({10.0, M_PI / 2}, torch::kFloat64);
    const auto predict_start = Clock::now();
    const auto predictions = model->predict(points);
    result["predict_seconds"] = seconds(predict_start);
    result["queries"] = queries;
    result["prediction_sum"] = predictions.sum().item<double>();
  }
  if (per_epoch) {
    result["epochs"] = kOdeEpochs;
    result["loss"] = context.values.at("initial_loss");
  }
  if (!context.values.empty()) {
    result["fit_values"] = context.values;
  }
  std::cout << result.dump() << std::endl;
  return 0;
}
