// GPU check for the plugins that take `device: cuda` (knn, mlp, ode): each is trained
// and queried on the CPU and on the GPU, and the answers are compared. Then the
// distributed path on the GPU: the host's c10d group of one rank (NCCL for CUDA
// tensors), and mlp's shared full-batch fit on CUDA split over ranks. Built and run by
// tests/device/run_cuda_check.sh on a machine with a CUDA build of LibTorch; not part
// of the CTest suite (CI has no GPU).
#include "process_group.hpp"

#include <ballista/plugin.hpp>

#include <dlfcn.h>
#include <torch/torch.h>

#include <barrier>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <thread>

namespace {

class QuietContext final : public ballista::Context {
 public:
  explicit QuietContext(std::uint64_t seed = 7, ballista::Collective* ranks = nullptr,
                        torch::Device device = torch::kCPU)
      : seed_(seed), ranks_(ranks), device_(device) {}
  ballista::Collective& collective() override { return ranks_ != nullptr ? *ranks_ : ballista::single_process(); }
  void report_progress(std::int64_t /*step*/, std::int64_t /*total*/, double loss) override { losses.push_back(loss); }
  bool cancelled() const override { return false; }
  torch::Device device() const override { return device_; }
  std::uint64_t seed() const override { return seed_; }
  void log(ballista::LogLevel /*level*/, std::string_view /*message*/) override {}
  std::vector<double> losses;

 private:
  std::uint64_t seed_;
  ballista::Collective* ranks_;
  torch::Device device_;
};

// Ranks as threads on one GPU (NCCL allows one rank per GPU, and this machine may have
// one): sums of CUDA tensors over a std::barrier, in rank order, on every rank alike.
class ThreadCollective final : public ballista::Collective {
 public:
  ThreadCollective(int rank, int size, std::barrier<>& meeting, std::vector<std::vector<torch::Tensor>>& deposits)
      : rank_(rank), size_(size), meeting_(meeting), deposits_(deposits) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void sum(std::vector<torch::Tensor>& tensors) override {
    deposits_[static_cast<std::size_t>(rank_)] = tensors;
    meeting_.arrive_and_wait();
    std::vector<torch::Tensor> sums;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      auto total = deposits_[0][i].clone();
      for (int r = 1; r < size_; ++r) {
        total += deposits_[static_cast<std::size_t>(r)][i];
      }
      sums.push_back(total);
    }
    meeting_.arrive_and_wait();
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      tensors[i].copy_(sums[i]);
    }
  }
  std::vector<torch::Tensor> gather(const torch::Tensor& tensor) override {
    deposits_[static_cast<std::size_t>(rank_)] = {tensor.contiguous().clone()};
    meeting_.arrive_and_wait();
    std::vector<torch::Tensor> parts;
    for (int r = 0; r < size_; ++r) {
      parts.push_back(deposits_[static_cast<std::size_t>(r)][0].clone());
    }
    meeting_.arrive_and_wait();
    return parts;
  }

 private:
  int rank_;
  int size_;
  std::barrier<>& meeting_;
  std::vector<std::vector<torch::Tensor>>& deposits_;
};

// `body` on `size` threads, each a rank with its ThreadCollective.
void on_thread_ranks(int size, const std::function<void(int, ballista::Collective&)>& body) {
  std::barrier<> meeting(size);
  std::vector<std::vector<torch::Tensor>> deposits(static_cast<std::size_t>(size));
  std::vector<std::thread> threads;
  for (int rank = 0; rank < size; ++rank) {
    threads.emplace_back([&, rank] {
      ThreadCollective collective(rank, size, meeting, deposits);
      body(rank, collective);
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
}

ballista::PluginDefinition load_definition(const char* file) {
  void* handle = dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    throw std::runtime_error(std::string("dlopen: ") + dlerror());
  }
#define CUDA_CHECK_STRINGIFY_(x) #x
#define CUDA_CHECK_STRINGIFY(x) CUDA_CHECK_STRINGIFY_(x)
  const auto* alias = static_cast<const void* const*>(dlsym(handle, CUDA_CHECK_STRINGIFY(BALLISTA_DEFINITION_SYMBOL)));
  if (alias == nullptr) {
    throw std::runtime_error(std::string(file) + ": no definition symbol");
  }
  return reinterpret_cast<ballista::PluginDefinition (*)()>(const_cast<void*>(*alias))();
}

std::unique_ptr<ballista::Model> make(const ballista::PluginDefinition& definition,
                                      const std::map<std::string, ballista::ParameterValue>& overrides) {
  std::map<std::string, ballista::ParameterValue> values;
  for (const auto& spec : definition.parameters) {
    values[spec.name()] = spec.default_value();
  }
  for (const auto& [name, value] : overrides) {
    values[name] = value;
  }
  return definition.create(ballista::Parameters(values));
}

struct Outcome {
  torch::Tensor predictions;
  double fit_seconds;
  double predict_seconds;
};

Outcome run(const ballista::PluginDefinition& definition, std::map<std::string, ballista::ParameterValue> overrides,
            const std::string& device, const ballista::Dataset& data, const torch::Tensor& queries,
            std::uint64_t seed = 7) {
  overrides["device"] = device;
  auto model = make(definition, overrides);
  QuietContext context(seed);
  const auto t0 = std::chrono::steady_clock::now();
  model->fit(data, context);
  if (device == "cuda") {
    torch::cuda::synchronize();
  }
  const auto t1 = std::chrono::steady_clock::now();
  auto predictions = model->predict(queries).to(torch::kCPU).to(torch::kFloat64);
  const auto t2 = std::chrono::steady_clock::now();
  return {predictions, std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: cuda_check KNN_PLUGIN.so MLP_PLUGIN.so ODE_PLUGIN.so\n";
    return 2;
  }
  std::cout << "CUDA available: " << torch::cuda::is_available() << ", devices: " << torch::cuda::device_count()
            << ", LibTorch " << TORCH_VERSION << "\n";
  if (!torch::cuda::is_available()) {
    return 2;
  }
  bool ok = true;
  torch::manual_seed(0);
  // Full float32 matrix products (no TF32), as on the CPU.
  at::globalContext().setAllowTF32CuBLAS(false);
  {
    const auto knn = load_definition(argv[1]);
    const auto x = torch::rand({200000, 3}, torch::kFloat64);
    const auto y = torch::rand({200000, 2}, torch::kFloat64);
    const auto queries = torch::rand({20000, 3}, torch::kFloat64);
    const ballista::Dataset data{x, y, {"a", "b", "c"}, {"p", "q"}, {}};
    const std::map<std::string, ballista::ParameterValue> options{
        {"k", std::int64_t{5}}, {"weights", std::string("distance")}, {"algorithm", std::string("brute")}};
    const auto cpu = run(knn, options, "cpu", data, queries);
    const auto gpu = run(knn, options, "cuda", data, queries);
    auto tree_options = options;
    tree_options["algorithm"] = std::string("kd_tree");
    const auto tree = run(knn, tree_options, "cpu", data, queries);
    const bool same = torch::equal(cpu.predictions, gpu.predictions) && torch::equal(cpu.predictions, tree.predictions);
    std::printf("knn brute 200000x3, 20000 queries, k=5: cpu %.3f s, cuda %.3f s, kd_tree %.3f s; identical: %s\n",
                cpu.predict_seconds, gpu.predict_seconds, tree.predict_seconds, same ? "yes" : "NO");
    ok = ok && same;
  }
  {
    const auto mlp = load_definition(argv[2]);
    const auto v = torch::rand({1000, 1}, torch::kFloat64) * 10;
    const auto theta = torch::rand({1000, 1}, torch::kFloat64) * 1.5707963267948966;
    const auto s = v.square() * torch::sin(2 * theta) / 9.81;
    const ballista::Dataset data{torch::cat({v, theta}, 1), s, {"v", "theta"}, {"s"}, {}};
    const std::map<std::string, ballista::ParameterValue> options{{"epochs", std::int64_t{1000}}};
    // Same initial weights and algorithm on both devices: over a few epochs the float32
    // kernels agree closely, which checks the CUDA path itself. Over the article's 1000
    // epochs they drift apart, and the error reached depends on the seed on either
    // device (Adam at lr 0.01 on raw inputs): reported, not compared.
    const std::map<std::string, ballista::ParameterValue> short_run{{"epochs", std::int64_t{20}}};
    const auto cpu_short = run(mlp, short_run, "cpu", data, data.inputs);
    const auto gpu_short = run(mlp, short_run, "cuda", data, data.inputs);
    const double gap = (cpu_short.predictions - gpu_short.predictions).abs().max().item<double>();
    const double scale = s.abs().max().item<double>();
    std::printf("mlp 20 epochs: max |cpu - cuda| prediction %.3g (targets up to %.3g)\n", gap, scale);
    ok = ok && gap < 1e-3 * scale;
    for (const std::uint64_t seed : {7U, 8U, 9U}) {
      const auto cpu = run(mlp, options, "cpu", data, data.inputs, seed);
      const auto gpu = run(mlp, options, "cuda", data, data.inputs, seed);
      const double mse_cpu = (cpu.predictions - s).square().mean().item<double>();
      const double mse_gpu = (gpu.predictions - s).square().mean().item<double>();
      std::printf("mlp 2-256-256-1, 1000 epochs, seed %llu: cpu fit %.2f s (MSE %.3g), cuda fit %.2f s (MSE %.3g)\n",
                  static_cast<unsigned long long>(seed), cpu.fit_seconds, mse_cpu, gpu.fit_seconds, mse_gpu);
    }
  }
  {
    // The ode plugin in float64: the grey box (k fitted) and a small universal network,
    // trained through the integrator on each device. The CPU runs the fused kernels,
    // the GPU LibTorch's operations: the same arithmetic to rounding, so the fitted
    // models agree closely.
    const auto ode = load_definition(argv[3]);
    const auto v = 1 + torch::rand({300, 1}, torch::kFloat64) * 9;
    const auto theta = 0.1 + torch::rand({300, 1}, torch::kFloat64) * 1.4;
    const auto inputs = torch::cat({v, theta}, 1);
    auto simulator = make(ode, {{"define", std::vector<std::string>{"speed = sqrt(ux^2 + uy^2)"}},
                                {"rhs", std::vector<std::string>{"x' = ux", "y' = uy", "ux' = -0.02*speed*ux",
                                                                 "uy' = -9.81 - 0.02*speed*uy"}},
                                {"dt", 0.001}});
    QuietContext quiet;
    simulator->fit({inputs, torch::zeros({300, 1}, torch::kFloat64), {"v", "theta"}, {"s"}, {}}, quiet);
    const auto ranges = simulator->predict(inputs);
    const ballista::Dataset data{inputs, ranges, {"v", "theta"}, {"s"}, {}};
    const std::map<std::string, ballista::ParameterValue> grey{
        {"define", std::vector<std::string>{"speed = sqrt(ux^2 + uy^2)"}},
        {"rhs", std::vector<std::string>{"x' = ux", "y' = uy", "ux' = -k*speed*ux", "uy' = -9.81 - k*speed*uy"}},
        {"fit", std::vector<std::string>{"k = 0.01 in [0, inf]"}},
        {"epochs", std::int64_t{10}},
        {"lbfgs_steps", std::int64_t{10}}};
    const std::map<std::string, ballista::ParameterValue> universal{
        {"rhs", std::vector<std::string>{"x' = ux", "y' = uy", "ux' = net1", "uy' = -9.81 + net2"}},
        {"net_inputs", std::vector<std::string>{"ux", "uy"}},
        {"net_outputs", std::int64_t{2}},
        {"net_hidden", std::vector<std::int64_t>{16, 16}},
        {"epochs", std::int64_t{20}},
        {"lbfgs_steps", std::int64_t{0}}};
    for (const auto& [name, options] : {std::pair{"grey box", grey}, std::pair{"universal", universal}}) {
      const auto cpu = run(ode, options, "cpu", data, inputs);
      const auto gpu = run(ode, options, "cuda", data, inputs);
      const double gap = (cpu.predictions - gpu.predictions).abs().max().item<double>();
      std::printf("ode %s, 300 shots: cpu fit %.2f s, cuda fit %.2f s; max |cpu - cuda| range %.3g m\n", name,
                  cpu.fit_seconds, gpu.fit_seconds, gap);
      ok = ok && gap < 1e-6;
    }
  }
  {
    // One rank of a distributed run on the GPU: the host's c10d group forms NCCL for CUDA
    // tensors, names this rank's GPU, sums and gathers CUDA tensors exactly, and an mlp
    // fitted through it is the plain CUDA fit, bit for bit.
    ballista::host::LaunchEnvironment launch;
    launch.launcher = "cuda check";
    launch.store_host = "127.0.0.1";
    launch.store_port = 29731;
    ballista::host::ProcessGroup group(launch, std::chrono::seconds(60));
    const bool nccl = group.backend() == "cpu:gloo,cuda:nccl" && group.device() == torch::Device(torch::kCUDA, 0);
    const auto a = torch::rand({1000}, torch::kFloat32).cuda();
    const auto b = torch::rand({3, 7}, torch::kFloat64).cuda();
    const auto c = torch::rand({5}, torch::kFloat64);
    std::vector<torch::Tensor> sums{a.clone(), b.clone(), c.clone()};
    group.sum(sums);
    const auto parts = group.gather(b);
    const bool exact = torch::equal(sums[0], a) && torch::equal(sums[1], b) && torch::equal(sums[2], c) &&
                       sums[0].is_cuda() && sums[2].is_cpu() && parts.size() == 1 && torch::equal(parts[0], b) &&
                       parts[0].is_cuda();
    const auto mlp = load_definition(argv[2]);
    const auto x = torch::rand({500, 2}, torch::kFloat64) * torch::tensor({10.0, 1.5}, torch::kFloat64);
    const auto y = (x.select(1, 0).square() * torch::sin(2 * x.select(1, 1)) / 9.81).unsqueeze(1);
    const ballista::Dataset data{x, y, {"v", "theta"}, {"s"}, {}};
    const std::map<std::string, ballista::ParameterValue> adam{
        {"device", std::string("cuda")}, {"epochs", std::int64_t{50}}, {"hidden", std::vector<std::int64_t>{64, 64}}};
    auto alone = make(mlp, adam);
    QuietContext alone_context(7);
    alone->fit(data, alone_context);
    auto ranked = make(mlp, adam);
    QuietContext rank_context(7, &group, group.device());
    ranked->fit(data, rank_context);
    const bool same = torch::equal(alone->predict(x), ranked->predict(x)) && ranked->data_parallel();
    std::printf("one rank on the GPU: backend %s on %s; sums and gathers exact: %s; mlp fit bit for bit: %s; "
                "%lld collective calls\n",
                group.backend().c_str(), group.device().str().c_str(), exact ? "yes" : "NO", same ? "yes" : "NO",
                static_cast<long long>(group.traffic().calls));
    ok = ok && nccl && exact && same;
    // mlp's shared full batch on the GPU (Adam 50 epochs, L-BFGS one step), its rows split
    // over 2 and 3 ranks: every rank the same bits, the one-process fit to 1e-5 of the
    // target scale (float32 sums in another order).
    const auto scale = y.abs().max().item<double>();
    for (const auto& [name, options] :
         {std::pair{"adam", adam},
          std::pair{"lbfgs", std::map<std::string, ballista::ParameterValue>{
                                 {"device", std::string("cuda")}, {"optimizer", std::string("lbfgs")},
                                 {"lr", 0.5}, {"epochs", std::int64_t{1}}, {"weight_decay", 1e-3},
                                 {"hidden", std::vector<std::int64_t>{64, 64}}}}}) {
      auto one = make(mlp, options);
      QuietContext one_context(7);
      one->fit(data, one_context);
      const auto expected = one->predict(x);
      for (const int size : {2, 3}) {
        std::vector<torch::Tensor> predictions(static_cast<std::size_t>(size));
        on_thread_ranks(size, [&](int rank, ballista::Collective& ranks) {
          auto model = make(mlp, options);
          QuietContext context(7, &ranks, torch::Device(torch::kCUDA, 0));
          const auto begin = x.size(0) * rank / size;
          const auto end = x.size(0) * (rank + 1) / size;
          model->fit({x.slice(0, begin, end), y.slice(0, begin, end), data.input_names, data.target_names, {}},
                     context);
          predictions[static_cast<std::size_t>(rank)] = model->predict(x);
        });
        const double gap = (predictions[0] - expected).abs().max().item<double>();
        bool alike = true;
        for (const auto& p : predictions) {
          alike = alike && torch::equal(p, predictions[0]);
        }
        std::printf("mlp %s shared by %d ranks on the GPU: max |shared - one process| %.3g (targets up to %.3g); "
                    "ranks alike: %s\n",
                    name, size, gap, scale, alike ? "yes" : "NO");
        ok = ok && alike && gap <= 1e-5 * scale;
      }
    }
  }
  std::cout << (ok ? "cuda check: ok\n" : "cuda check: FAILED\n");
  return ok ? 0 : 1;
}
