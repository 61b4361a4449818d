// The input grids every model is evaluated on for the plots, laid over the training
// set's input ranges: run data, computed by the runner (pipeline_runner.cpp) with the
// models' predictions, drawn later by run_plots.
#pragma once

#include "pipeline.hpp"
#include "run_results.hpp"

#include <vector>

namespace ballista::host {

// The smallest and largest value of one input column of a set.
struct InputRange {
  double low;
  double high;
};

// Each input column's range in `set`, which must have rows.
std::vector<InputRange> input_ranges(const Dataset& set);

// The grids, from the training set's input ranges: "surface" (two-input problems: a
// 60×60 grid over both ranges) and "slice" (the first input from the bottom of its
// range to twice the range's width, the other inputs at the middle of theirs: s vs v at
// θ = π/4 for the cannon). Each carries the source's noise-free truth where there is one
// (not for CSV data, nor where the source cannot simulate). None when a range (or twice
// its width) overflows a double.
std::vector<PlotGrid> plot_grids(const Pipeline& pipeline, const Dataset& train);

}  // namespace ballista::host
