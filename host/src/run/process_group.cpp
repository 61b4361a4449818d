// The c10d process group: Gloo, and NCCL for CUDA tensors in a build against a CUDA
// LibTorch (BALLISTA_NCCL, see CMakeLists.txt). See process_group.hpp.
#include "process_group.hpp"

#include "diagnostics.hpp"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/cuda.h>
#include <torch/torch.h>
#ifdef BALLISTA_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>
#include <map>
#include <stdexcept>
#include <utility>

namespace ballista::host {

struct ProcessGroup::Handles {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
#ifdef BALLISTA_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;  // null where no GPU is usable
#endif
};

namespace {

std::string seconds_text(std::chrono::milliseconds timeout) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) + " s";
}

// A c10d failure as a message for the user: which rank, what it waited for, why it
// stops (another rank died, or none answered within the timeout), and c10d's first line.
[[noreturn]] void fail(int rank, int size, const std::string& what, std::chrono::milliseconds timeout,
                       const std::exception& error) {
  throw std::runtime_error("rank " + std::to_string(rank) + " of " + std::to_string(size) + ": " + what +
                           " failed (another rank stopped, or none answered within --timeout " +
                           seconds_text(timeout) + "): " + first_line(error.what()));
}

bool loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

// This rank's GPU where LibTorch has usable ones (LOCAL_RANK modulo their count, as
// torch.cuda.set_device(local_rank) picks), else the CPU.
torch::Device rank_device(const LaunchEnvironment& launch) {
  if (!torch::cuda::is_available()) {
    return torch::kCPU;
  }
  const auto gpus = static_cast<int>(torch::cuda::device_count());
  return {torch::kCUDA, static_cast<c10::DeviceIndex>(launch.local_rank % gpus)};
}

}  // namespace

ProcessGroup::ProcessGroup(const LaunchEnvironment& launch, std::chrono::milliseconds timeout)
    : rank_(launch.rank),
      size_(launch.size),
      timeout_(timeout),
      device_(rank_device(launch)),
      handles_(std::make_unique<Handles>()) {
  const auto where = launch.store_host + ":" + std::to_string(launch.store_port);
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(launch.store_port);
    options.isServer = !launch.agent_store && launch.rank == 0;
    options.numWorkers = static_cast<std::size_t>(launch.size);
    options.waitWorkers = false;  // the group's own rendezvous waits for them
    options.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(launch.store_host, options);
    if (launch.agent_store) {
      handles_->store = c10::make_intrusive<c10d::PrefixStore>(launch.store_prefix, store);
    } else {
      handles_->store = store;
    }
  } catch (const std::exception& error) {
    fail(rank_, size_, std::string(launch.rank == 0 && !launch.agent_store ? "serving" : "reaching") +
                           " the c10d store at " + where,
         timeout, error);
  }
  try {
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    // GLOO_SOCKET_IFNAME names the interface, as for PyTorch; else loopback when the
    // whole job is on this machine, else the address this host's name resolves to.
    if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface != nullptr && *interface != '\0') {  // NOLINT(concurrency-mt-unsafe)
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
    } else if (loopback(launch.store_host) && launch.local_size == launch.size) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    options->threads = 1;
    handles_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(handles_->store, rank_, size_, options);
  } catch (const std::exception& error) {
    fail(rank_, size_, "forming the Gloo group of " + std::to_string(size_) + " ranks through the store at " + where,
         timeout, error);
  }
#ifdef BALLISTA_NCCL
  if (device_.is_cuda()) {
    try {
      // Blocking waits, so a collective that outlives --timeout throws here (as Gloo's
      // do) instead of leaving the GPU's stream waiting. Names of PyTorch ≥ 2.2 and before.
      setenv("TORCH_NCCL_BLOCKING_WAIT", "1", 0);  // NOLINT(concurrency-mt-unsafe): before any thread of ours
      setenv("NCCL_BLOCKING_WAIT", "1", 0);        // NOLINT(concurrency-mt-unsafe)
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      handles_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          c10::make_intrusive<c10d::PrefixStore>("nccl", handles_->store), rank_, size_, options);
    } catch (const std::exception& error) {
      fail(rank_, size_, "forming the NCCL group of " + std::to_string(size_) + " ranks on " + device_.str(), timeout,
           error);
    }
  }
#endif
}

std::string ProcessGroup::backend() const {
#ifdef BALLISTA_NCCL
  if (handles_->nccl) {
    return "cpu:gloo,cuda:nccl";
  }
#endif
  return "gloo";
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::count_traffic(std::chrono::steady_clock::time_point start, const torch::Tensor& sent) {
  ++traffic_.calls;
  traffic_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  traffic_.bytes += static_cast<double>(sent.numel() * static_cast<std::int64_t>(sent.element_size()));
}

template <class Operation>
torch::Tensor ProcessGroup::communicate(const torch::Tensor& tensor, const std::string& what, Operation operation) {
#ifdef BALLISTA_NCCL
  const bool nccl = tensor.is_cuda() && handles_->nccl;
#else
  const bool nccl = false;
#endif
  auto sent = tensor.is_cuda() && !nccl ? tensor.cpu() : tensor.contiguous();
  const auto start = std::chrono::steady_clock::now();
  try {
#ifdef BALLISTA_NCCL
    (nccl ? operation(*handles_->nccl, sent) : operation(*handles_->group, sent))->wait(timeout_);
#else
    operation(*handles_->group, sent)->wait(timeout_);
#endif
    count_traffic(start, sent);
  } catch (const std::exception& error) {
    fail(rank_, size_, what, timeout_, error);
  }
  return sent;
}

void ProcessGroup::all_reduce(torch::Tensor& buffer) {
  const auto sent = communicate(buffer, "an all-reduce of " + std::to_string(buffer.numel()) + " numbers",
                                [](auto& backend, const torch::Tensor& wire) {
                                  std::vector<torch::Tensor> tensors{wire};
                                  return backend.allreduce(tensors);
                                });
  if (!sent.is_same(buffer)) {
    buffer.copy_(sent);
  }
}

void ProcessGroup::sum(std::vector<torch::Tensor>& tensors) {
  // One flat buffer per device kind and dtype: one all-reduce each (CPU tensors through
  // Gloo, CUDA tensors through NCCL), then the sums copied back in place.
  std::map<std::pair<bool, c10::ScalarType>, std::vector<torch::Tensor*>> by_kind;
  for (auto& tensor : tensors) {
    if (!(tensor.device().is_cpu() || tensor.device().is_cuda()) || !tensor.is_floating_point()) {
      throw std::invalid_argument("Collective::sum: tensors must be floating-point CPU or CUDA tensors, got " +
                                  std::string(c10::toString(tensor.scalar_type())) + " on " + tensor.device().str());
    }
    by_kind[{tensor.is_cuda(), tensor.scalar_type()}].push_back(&tensor);
  }
  for (auto& [kind, members] : by_kind) {
    std::vector<torch::Tensor> flat;
    flat.reserve(members.size());
    for (const auto* member : members) {
      flat.push_back(member->reshape({-1}));
    }
    auto buffer = torch::cat(flat);
    all_reduce(buffer);
    std::int64_t offset = 0;
    for (auto* member : members) {
      const auto count = member->numel();
      member->copy_(buffer.slice(0, offset, offset + count).view(member->sizes()));
      offset += count;
    }
  }
}

std::vector<torch::Tensor> ProcessGroup::gather(const torch::Tensor& tensor) {
  std::vector<std::vector<torch::Tensor>> output(1);
  communicate(tensor, "an all-gather of " + std::to_string(tensor.numel()) + " numbers",
              [&](auto& backend, const torch::Tensor& wire) {
                for (int r = 0; r < size_; ++r) {
                  output[0].push_back(torch::empty_like(wire));
                }
                std::vector<torch::Tensor> input{wire};
                return backend.allgather(output, input);
              });
  for (auto& part : output[0]) {
    part = part.to(tensor.device());  // a no-op unless staged through the host's memory
  }
  return output[0];
}

void ProcessGroup::barrier() {
  try {
    handles_->group->barrier()->wait(timeout_);
  } catch (const std::exception& error) {
    fail(rank_, size_, "waiting for every rank", timeout_, error);
  }
}

}  // namespace ballista::host
