// Live training progress on stderr, fed by the SDK Context's report_progress() so every
// plugin gets it without doing anything. On a terminal: one line per model, redrawn in
// place (step/total, loss, elapsed, ETA). Otherwise (a log file, CI): a plain line now
// and then, so logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace ballista::host {

enum class Verbosity { quiet, normal, verbose };

class ProgressDisplay {
 public:
  // `terminal`: whether `out` is a terminal (redraw in place) or not (periodic lines:
  // every 10 s, or with `verbose` at every tenth of the steps). `quiet` shows nothing.
  ProgressDisplay(std::ostream& out, bool terminal, Verbosity verbosity);
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;
  ~ProgressDisplay();

  void step(const std::string& model, std::int64_t step, std::int64_t total, double loss);
  // Erases the live line, so a message can be printed in its place.
  void clear();

 private:
  using Clock = std::chrono::steady_clock;
  std::string line(std::int64_t step, std::int64_t total, double loss) const;

  std::ostream& out_;
  bool terminal_;
  Verbosity verbosity_;
  std::string model_;
  Clock::time_point started_;
  Clock::time_point shown_;
  std::int64_t next_tenth_ = 0;
  bool live_ = false;  // a live line is on screen
};

}  // namespace ballista::host
