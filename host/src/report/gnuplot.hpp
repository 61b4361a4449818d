// Running gnuplot: one process drawing one plot or several in turn, each script into
// its PNG, stopped when it takes too long or the run is interrupted. What the scripts
// say is run_plots.cpp's.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace ballista::host {

// A gnuplot string literal: single quotes, a quote doubled; no line breaks.
std::string gnuplot_quoted(const std::string& text);

enum class RenderStatus { ok, failed, no_gnuplot };

// One gnuplot process (the program $GNUPLOT, else gnuplot on the PATH) drawing each
// script into its PNG.partial, renamed to the PNG when gnuplot succeeds and the PNG is
// whole; its messages go to a log beside the first PNG, read back on failure. Several
// scripts run in one process one after the other, with `reset session` between them, so
// each draws exactly what it draws alone (a process costs about 50 ms of gnuplot's
// start). Drawn from one thread (the main thread, after training).
class GnuplotRendering {
 public:
  static constexpr auto kTimeout = std::chrono::seconds(120);

  // The PNGs, one per script given to start(); at least one.
  explicit GnuplotRendering(std::vector<std::filesystem::path> pngs) : pngs_(std::move(pngs)) {}

  // Starts gnuplot on SCRIPTS (as many as the PNGs), each drawing into the gnuplot
  // variable `output`.
  RenderStatus start(const std::vector<std::filesystem::path>& scripts, std::string& message);
  // Whether gnuplot has ended (or was stopped for taking longer than kTimeout); does
  // not block.
  bool ended();
  // Stops gnuplot (Ctrl-C during the plots); finish() then says so.
  void stop();
  // After ended(): puts each whole PNG in place (ok) or explains in MESSAGES why not
  // (failed). When gnuplot itself failed every plot fails with its message: it stops at
  // the first script in error, and which one that was is not known.
  std::vector<RenderStatus> finish(std::vector<std::string>& messages) const;
  // Whether stop() stopped it.
  bool stopped() const { return stopped_; }

 private:
  std::string partial(std::size_t plot) const { return pngs_[plot].string() + ".partial"; }
  std::string log() const { return pngs_.front().string() + ".log"; }

  std::vector<std::filesystem::path> pngs_;
  pid_t pid_ = 0;
  int status_ = 0;
  bool done_ = false;
  bool timed_out_ = false;
  bool stopped_ = false;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace ballista::host
