// The plots' input grids (see plot_grids.hpp).
#include "plot_grids.hpp"

#include "data_generator.hpp"

#include <torch/torch.h>

#include <cmath>
#include <optional>
#include <string>
#include <utility>

namespace ballista::host {

namespace {

constexpr std::int64_t kSurfaceSide = 60;
constexpr std::int64_t kSlicePoints = 201;

}  // namespace

std::vector<InputRange> input_ranges(const Dataset& set) {
  std::vector<InputRange> ranges;
  for (std::int64_t column = 0; column < set.inputs.size(1); ++column) {
    const auto values = set.inputs.select(1, column);
    ranges.push_back({values.min().item<double>(), values.max().item<double>()});
  }
  return ranges;
}

std::vector<PlotGrid> plot_grids(const Pipeline& pipeline, const Dataset& train) {
  const auto ranges = input_ranges(train);
  const auto dimensions = static_cast<std::int64_t>(ranges.size());
  std::vector<PlotGrid> grids;
  if (dimensions == 0 || train.inputs.size(0) == 0) {
    return grids;
  }
  // Inputs of ±1e308 make a range (or twice its width) overflow: no grid can be laid
  // over it, and the models are not asked to predict there (which would fail them all
  // after their metrics were computed); the surface and slice plots are left out.
  for (const auto& range : ranges) {
    if (!std::isfinite(range.low) || !std::isfinite(range.high) || !std::isfinite(3 * (range.high - range.low))) {
      return grids;
    }
  }
  const auto with_truth = [&](const std::string& name, torch::Tensor inputs) {
    std::optional<torch::Tensor> truth;
    try {
      truth = true_targets(pipeline.data.source, inputs);
    } catch (const std::exception&) {
      truth.reset();  // a source that cannot simulate there: the plots show the models only
    }
    grids.push_back({name, std::move(inputs), truth});
  };
  if (dimensions == 2) {
    const auto x = torch::linspace(ranges[0].low, ranges[0].high, kSurfaceSide, torch::kFloat64);
    const auto y = torch::linspace(ranges[1].low, ranges[1].high, kSurfaceSide, torch::kFloat64);
    // y varies fastest: each run of kSurfaceSide rows is one column of the image.
    const auto mesh = torch::meshgrid({x, y}, "ij");
    with_truth("surface", torch::stack({mesh[0].reshape(-1), mesh[1].reshape(-1)}, 1));
  }
  const double width = ranges[0].high - ranges[0].low;
  auto slice = torch::empty({kSlicePoints, dimensions}, torch::kFloat64);
  slice.select(1, 0).copy_(
      torch::linspace(ranges[0].low, ranges[0].low + 2 * (width > 0 ? width : 1.0), kSlicePoints, torch::kFloat64));
  for (std::int64_t i = 1; i < dimensions; ++i) {
    const auto& range = ranges[static_cast<std::size_t>(i)];
    slice.select(1, i).fill_(range.low + (range.high - range.low) / 2);
  }
  with_truth("slice", slice);
  return grids;
}

}  // namespace ballista::host
