// Training progress on stderr (see progress_display.hpp).
#include "progress_display.hpp"

#include <array>
#include <cstdio>
#include <ostream>

namespace ballista::host {

namespace {

std::string seconds_text(double seconds) {
  std::array<char, 32> buffer{};
  if (seconds < 60) {
    (void)std::snprintf(buffer.data(), buffer.size(), "%.1f s", seconds);
  } else {
    (void)std::snprintf(buffer.data(), buffer.size(), "%dm%02ds", static_cast<int>(seconds) / 60,
                        static_cast<int>(seconds) % 60);
  }
  return buffer.data();
}

}  // namespace

ProgressDisplay::ProgressDisplay(std::ostream& out, bool terminal, Verbosity verbosity)
    : out_(out), terminal_(terminal), verbosity_(verbosity) {}

ProgressDisplay::~ProgressDisplay() { clear(); }

std::string ProgressDisplay::line(std::int64_t step, std::int64_t total, double loss) const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - started_).count();
  std::array<char, 32> figures{};
  (void)std::snprintf(figures.data(), figures.size(), "%.4g", loss);
  std::string text = "  " + model_ + ": " + std::to_string(step) + "/" + std::to_string(total) + "  loss " +
                     figures.data() +
                     "  " + seconds_text(elapsed);
  if (step > 0 && step < total) {
    text += "  ETA " + seconds_text(elapsed / static_cast<double>(step) * static_cast<double>(total - step));
  }
  return text;
}

void ProgressDisplay::step(const std::string& model, std::int64_t step, std::int64_t total, double loss) {
  if (verbosity_ == Verbosity::quiet) {
    return;
  }
  const auto now = Clock::now();
  if (model != model_) {
    model_ = model;
    started_ = now;
    shown_ = now;
    next_tenth_ = 1;
  }
  const bool last = step >= total;
  if (terminal_) {
    if (now - shown_ >= std::chrono::milliseconds(100) || last) {
      out_ << "\r\033[K" << line(step, total, loss) << std::flush;
      shown_ = now;
      live_ = true;
    }
    return;
  }
  // Not a terminal: every 10 s, or with --verbose at each tenth of the steps.
  const bool tenth = verbosity_ == Verbosity::verbose && total > 0 && step * 10 >= next_tenth_ * total;
  if (tenth || now - shown_ >= std::chrono::seconds(10)) {
    while (total > 0 && step * 10 >= next_tenth_ * total) {
      ++next_tenth_;
    }
    out_ << line(step, total, loss) << '\n' << std::flush;
    shown_ = now;
  }
}

void ProgressDisplay::clear() {
  if (live_) {
    out_ << "\r\033[K" << std::flush;
    live_ = false;
  }
}

}  // namespace ballista::host
