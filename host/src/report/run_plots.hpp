// The run's plots: gnuplot scripts (data inline, so each re-renders on its own) and the
// PNGs gnuplot draws from them, in RUN/plots/.
#pragma once

#include "pipeline.hpp"
#include "run_results.hpp"

#include <ballista/model.hpp>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

namespace ballista::host {

struct Plot {
  std::string kind;         // surface | slice | loss | parity | residuals
  std::filesystem::path png;     // RUN/plots/NAME.png (exists only if `rendered`)
  std::filesystem::path script;  // RUN/plots/NAME.gp
  std::string title;
  std::string caption;      // one sentence: what the picture shows
  bool rendered = false;
};

struct PlotOutcome {
  std::vector<Plot> plots;
  std::vector<std::string> warnings;  // gnuplot missing or failing, a plot left out
  bool interrupted = false;           // `cancelled` was set while drawing: the rest left out
};

// Writes each plot's script to `directory` and renders it with `gnuplot` (found on the
// PATH, or the GNUPLOT environment variable) into NAME.png, written aside and renamed.
// Never throws for a plot that cannot be drawn: it is reported in `warnings` and the
// others are still drawn. A PNG is put in place only when gnuplot exits 0 and the file
// is a whole PNG. Once `cancelled` is set (Ctrl-C), running gnuplots are stopped and
// no more are started.
PlotOutcome write_plots(const Pipeline& pipeline, const RunResult& run, const std::filesystem::path& directory,
                        const std::atomic<bool>& cancelled);

}  // namespace ballista::host
