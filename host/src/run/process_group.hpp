// The c10d process group a distributed run forms (Gloo, through a TCPStore; and NCCL
// for CUDA tensors where the host is built against a CUDA LibTorch and a GPU is
// usable), offered to data-parallel models as the SDK's Collective. Every c10d call of
// the host is in process_group.cpp.
#pragma once

#include "launch_environment.hpp"

#include <ballista/collective.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace ballista::host {

class ProcessGroup final : public Collective {
 public:
  // Joins the group `launch` describes: connects to (or, on rank 0 without torchrun's
  // agent store, serves) the TCPStore and forms the Gloo group (and the NCCL group, in a
  // CUDA build on a machine with a GPU). Every wait, the joining included, ends after
  // `timeout` with std::runtime_error naming what was awaited.
  ProcessGroup(const LaunchEnvironment& launch, std::chrono::milliseconds timeout);
  ~ProcessGroup() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  // CPU tensors go through Gloo, CUDA tensors through NCCL (or, in a build without it,
  // through the host's memory and Gloo).
  void sum(std::vector<torch::Tensor>& tensors) override;
  std::vector<torch::Tensor> gather(const torch::Tensor& tensor) override;
  // This rank's GPU where LibTorch has a usable one, cuda:(LOCAL_RANK mod the GPUs),
  // else the CPU: what the run's Context::device() answers.
  torch::Device device() const { return device_; }
  // Waits for every rank to arrive here.
  void barrier();
  // What the collectives of this process have cost so far: calls, seconds spent in
  // them (waiting for the other ranks included) and the bytes this rank sent in.
  struct Traffic {
    std::int64_t calls = 0;
    double seconds = 0.0;
    double bytes = 0.0;
  };
  Traffic traffic() const { return traffic_; }
  // The backends, for environment.json: "gloo", or "cpu:gloo,cuda:nccl" (PyTorch's
  // notation) where CUDA tensors go through NCCL.
  std::string backend() const;

 private:
  struct Handles;
  void count_traffic(std::chrono::steady_clock::time_point start, const torch::Tensor& sent);
  // Sends `tensor` by `operation` (a c10d all-reduce or all-gather, called with the
  // backend and the tensor as sent) and waits for it, timed and counted: through NCCL
  // for a CUDA tensor where the group has it, else through Gloo, a CUDA tensor then
  // staged through the host's memory. Returns the tensor as sent; a failure names `what`.
  template <class Operation>
  torch::Tensor communicate(const torch::Tensor& tensor, const std::string& what, Operation operation);
  void all_reduce(torch::Tensor& buffer);
  int rank_;
  int size_;
  std::chrono::milliseconds timeout_;
  torch::Device device_;
  std::unique_ptr<Handles> handles_;
  Traffic traffic_;
};

}  // namespace ballista::host
