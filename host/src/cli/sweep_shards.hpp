// Sweeps over many processes and machines: a run of one share of a pipeline's models
// (`run --shard I/N`), the script that runs every share (`run --shards N --emit
// slurm|parallel`), and `merge`, which makes of the shards' run directories the one run
// directory the unsharded run writes.
#pragma once

#include "command_line.hpp"
#include "pipeline.hpp"
#include "plugin_catalog.hpp"
#include "run_directory.hpp"
#include "run_results.hpp"

#include <nlohmann/json.hpp>

#include <iosfwd>
#include <optional>

namespace ballista::host {

// Keeps only the models `shard` holds (PipelineShard::holds), in their order, and
// records the shard in the pipeline (metrics.json and the report then say which).
void keep_shard(Pipeline& pipeline, const PipelineShard& shard);

// The shard a run's metrics.json records ("shard": {"index", "count"}), or nothing when
// it records none or a malformed one.
std::optional<PipelineShard> recorded_shard(const nlohmann::json& metrics);

// Writes every model's result, tensors included, to directory.shard_results(), one
// MODEL.result each (isolated_model.hpp's format): what merge rebuilds the run from.
void write_shard_results(const RunDirectory& directory, const RunResult& run);

// `ballista merge RUN_DIR... --out DIR`: checks that the directories are the N shards of
// one run (the same pipeline.resolved.yaml, so the same seed; one of each index, all of
// one N, each complete, each drawing the same data) and writes DIR as `run` writes an
// unsharded run, with the models in the pipeline's order. Exit 0; 1 when a model failed
// in its shard (as `run` would); 2, naming the offending directory, when refused.
int merge_command(const PluginCatalog& catalog, const CommandLine& line, std::ostream& out);

// `ballista run PIPELINE --shards N --emit slurm|parallel [--out BASE]`: checks the
// pipeline and prints a script that runs the N shards into BASE/shard-I and merges them
// into BASE/merged; runs nothing. Exit 0, or 2 for a pipeline that does not load.
int emit_shard_script(const PluginCatalog& catalog, const CommandLine& line, std::ostream& out);

}  // namespace ballista::host
