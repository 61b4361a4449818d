// What every host-side Context has in common: the CPU device, a fixed seed, no progress
// reporting, messages dropped, and cancellation read from a flag (the run's Ctrl-C flag
// by default, or none). The run, the data drawing and check-plugin override what they
// record.
#pragma once

#include "cancellation.hpp"

#include <ballista/context.hpp>

#include <atomic>
#include <cstdint>
#include <string_view>

namespace ballista::host {

class HostContext : public Context {
 public:
  // CANCEL: polled by cancelled(); nullptr for never (check-plugin).
  explicit HostContext(std::uint64_t seed, const std::atomic<bool>* cancel = &cancellation_flag())
      : seed_(seed), cancel_(cancel) {}

  void report_progress(std::int64_t /*step*/, std::int64_t /*total*/, double /*loss*/) override {}
  bool cancelled() const override { return cancel_ != nullptr && cancel_->load(std::memory_order_relaxed); }
  torch::Device device() const override { return torch::kCPU; }
  std::uint64_t seed() const override { return seed_; }
  void log(LogLevel /*level*/, std::string_view /*message*/) override {}

 private:
  std::uint64_t seed_;
  const std::atomic<bool>* cancel_;
};

}  // namespace ballista::host
