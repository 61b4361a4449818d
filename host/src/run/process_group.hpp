// The c10d process group a distributed run forms (Gloo on the CPU, through a TCPStore),
// offered to data-parallel models as the SDK's Collective. Every c10d call of the host
// is in process_group.cpp, the only file built with USE_C10D_GLOO.
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
  // agent store, serves) the TCPStore and forms the Gloo group. Every wait, the joining
  // included, ends after `timeout` with std::runtime_error naming what was awaited.
  ProcessGroup(const LaunchEnvironment& launch, std::chrono::milliseconds timeout);
  ~ProcessGroup() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void sum(std::vector<torch::Tensor>& tensors) override;
  std::vector<torch::Tensor> gather(const torch::Tensor& tensor) override;
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
  // "gloo" (the backend), for environment.json.
  static std::string backend() { return "gloo"; }

 private:
  struct Handles;
  void count_traffic(std::chrono::steady_clock::time_point start, const torch::Tensor& sent);
  int rank_;
  int size_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Handles> handles_;
  Traffic traffic_;
};

}  // namespace ballista::host
