// The run's Ctrl-C flag: set by the SIGINT handler, read by the runner, the Context a
// model or a source polls, the isolate executor and the plot writer.
#pragma once

#include <atomic>

namespace ballista::host {

// Set (from a signal handler) to stop the run: the model being trained stops at its
// next step and is marked interrupted, later models are skipped.
inline std::atomic<bool>& cancellation_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}

}  // namespace ballista::host
