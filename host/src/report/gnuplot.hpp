// Running gnuplot: one process per plot, drawing a script into a PNG, stopped when it
// takes too long or the run is interrupted. What the scripts say is run_plots.cpp's.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>

namespace ballista::host {

// A gnuplot string literal: single quotes, a quote doubled; no line breaks.
std::string gnuplot_quoted(const std::string& text);

enum class RenderStatus { ok, failed, no_gnuplot };

// One gnuplot process (the program $GNUPLOT, else gnuplot on the PATH) drawing a
// script into PNG.partial, renamed to PNG when gnuplot succeeds and the PNG is whole;
// its messages go to a log beside the PNG, read back on failure. Drawn from one
// thread (the main thread, after training).
class GnuplotRendering {
 public:
  static constexpr auto kTimeout = std::chrono::seconds(120);

  explicit GnuplotRendering(std::filesystem::path png) : png_(std::move(png)) {}

  // Starts gnuplot on SCRIPT, which draws into the gnuplot variable `output`.
  RenderStatus start(const std::filesystem::path& script, std::string& message);
  // Whether gnuplot has ended (or was stopped for taking longer than kTimeout); does
  // not block.
  bool ended();
  // Stops gnuplot (Ctrl-C during the plots); finish() then says so.
  void stop();
  // After ended(): puts the PNG in place, or explains the failure in MESSAGE.
  RenderStatus finish(std::string& message) const;

 private:
  std::string partial() const { return png_.string() + ".partial"; }
  std::string log() const { return png_.string() + ".log"; }

  std::filesystem::path png_;
  pid_t pid_ = 0;
  int status_ = 0;
  bool done_ = false;
  bool timed_out_ = false;
  bool stopped_ = false;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace ballista::host
