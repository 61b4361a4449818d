// report.md and report.html: what a person opens first in a run directory. The same
// content twice: Markdown that links the PNGs in plots/, and one self-contained HTML
// file with the tables and every plot embedded (base64 data URIs), so it can be mailed
// or archived alone.
#pragma once

#include "pipeline.hpp"
#include "run_results.hpp"
#include "run_plots.hpp"

#include <filesystem>
#include <string>

namespace ballista::host {

struct ReportPages {
  std::string markdown;
  std::string html;
};

// The report of `run` in `directory` (paths in it are relative to that directory).
// `state` is "complete" or "interrupted". Reads the rendered PNGs to embed them.
ReportPages report_pages(const Pipeline& pipeline, const RunResult& run, const std::string& state,
                         const PlotOutcome& plots, const std::filesystem::path& directory);

// RFC 4648 base64 of `bytes`, with padding.
std::string base64(const std::string& bytes);

}  // namespace ballista::host
