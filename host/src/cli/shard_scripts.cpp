// `ballista run PIPELINE --shards N --emit slurm|parallel` (see sweep_shards.hpp): a
// script, printed, that runs every shard and then merges them. Every path in it is
// absolute and quoted for /bin/sh, so it runs from any directory, on any node that sees
// the same files.
#include "sweep_shards.hpp"

#include "csv_table.hpp"
#include "diagnostics.hpp"
#include "pipeline_loader.hpp"
#include "plugin_discovery.hpp"
#include "resolved_yaml.hpp"

#include <boost/dll/runtime_symbol_info.hpp>

#include <algorithm>
#include <cctype>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace ballista::host {

namespace {

// `text` as one word for /bin/sh: bare when the shell takes every character of it
// literally, else in single quotes (a quote inside as '\'').
std::string shell_word(const std::string& text) {
  static const std::string kLiteral =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-";
  if (!text.empty() && text.find_first_not_of(kLiteral) == std::string::npos) {
    return text;
  }
  std::string quoted = "'";
  for (const char c : text) {
    quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return quoted + "'";
}

std::string shell_words(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& word : words) {
    text += (text.empty() ? "" : " ") + shell_word(word);
  }
  return text;
}

// Text for a comment line of the script: one line, control characters escaped.
std::string comment_text(const std::string& text) { return printable(text, 4096); }

// The program the script runs: the `ballista` launcher of this installation (or build
// tree), else this program itself, which takes the same command lines.
std::filesystem::path ballista_program() {
  auto launcher = (installation_prefix() / BALLISTA_LAUNCHER_RELATIVE_PATH).lexically_normal();
  std::error_code error;
  if (std::filesystem::is_regular_file(launcher, error)) {
    return launcher;
  }
  return std::filesystem::path(boost::dll::program_location());
}

// What every command of the script has in common, and what differs per shard.
struct ShardCommands {
  std::string program;                  // quoted
  std::vector<std::string> options;     // before the command: --plugin-path, --threads, ...
  std::vector<std::string> run_words;   // `run PIPELINE --set ...` and run's own options
  std::filesystem::path base;           // BASE: shard-I and merged go under it
  std::size_t count = 1;

  // The run of one shard; `index` and `directory` are shell text (a variable, or {}).
  std::string run(const std::string& index, const std::string& directory) const {
    return program + " " + shell_words(options) + (options.empty() ? "" : " ") + shell_words(run_words) +
           " --shard " + index + "/" + std::to_string(count) + " --out " + directory;
  }
  std::string merge() const {
    return program + " " + shell_words(options) + (options.empty() ? "" : " ") + "merge " +
           shell_word(base.string()) + "/shard-* --out " + shell_word((base / "merged").string());
  }
};

// "#   shard 0: a, b (2 models)" for each shard, at most a few names each.
std::string shard_comments(const Pipeline& pipeline, std::size_t count) {
  constexpr std::size_t kShown = 20;
  constexpr std::size_t kNamed = 4;
  std::string text;
  for (std::size_t index = 0; index < count && index < kShown; ++index) {
    const PipelineShard shard{index, count};
    std::vector<std::string> names;
    std::size_t models = 0;
    for (std::size_t i = 0; i < pipeline.models.size(); ++i) {
      if (shard.holds(i) && ++models <= kNamed) {
        names.push_back(pipeline.models[i].name);
      }
    }
    if (models > kNamed) {
      names.emplace_back("...");
    }
    text += "#   shard " + std::to_string(index) + ": " + (models == 0 ? "no models" : comment_text(join(names))) +
            (models > 1 ? " (" + std::to_string(models) + " models)" : "") + "\n";
  }
  if (count > kShown) {
    text += "#   ... (" + std::to_string(count) + " shards in all)\n";
  }
  return text;
}

// A Slurm job name: the pipeline's name, in characters no #SBATCH line misreads.
std::string job_name(const std::string& pipeline_name) {
  std::string name = "ballista-" + pipeline_name;
  std::replace_if(
      name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-' && c != '_' && c != '.'; },
      '_');
  return name;
}

std::string slurm_script(const Pipeline& pipeline, const ShardCommands& commands, std::optional<int> threads) {
  const auto count = std::to_string(commands.count);
  const auto base = shell_word(commands.base.string());
  const auto name = job_name(pipeline.name);
  // Exit status 1 is a shard whose models did not all succeed: complete, and merged like
  // the others (the merge then exits 1, as the unsharded run would). A shard run again
  // (a failed task resubmitted) starts from an empty directory.
  const std::string task = "rm -rf " + base + "/shard-\"$SLURM_ARRAY_TASK_ID\"\n" +
                           commands.run("\"$SLURM_ARRAY_TASK_ID\"", base + "/shard-\"$SLURM_ARRAY_TASK_ID\"") +
                           " || [ $? -eq 1 ]\n";
  std::string script = "#!/bin/sh\n";
  script += "# Ballista: pipeline " + comment_text(pipeline.name) + " (" + comment_text(pipeline.file.string()) + "), " +
            std::to_string(pipeline.models.size()) + " models in " + count + " shards, merged into " +
            comment_text((commands.base / "merged").string()) + ".\n";
  script += "#   sh THIS_FILE      submits the shards as one Slurm job array (task I runs shard I/" + count +
            " into\n"
            "#                     " +
            comment_text((commands.base / "shard-I").string()) +
            ") and the merge, which starts once every task\n"
            "#                     has succeeded (sbatch --dependency=afterok)\n"
            "#   sbatch THIS_FILE  submits the shards alone; merge them afterwards with\n"
            "#                     " +
            comment_text(commands.merge()) + "\n";
  script += "# Shard I runs the models at positions I, I+" + count + ", I+2*" + count +
            ", ... of the pipeline (from 0):\n" + shard_comments(pipeline, commands.count);
  script += "#SBATCH --job-name=" + name + "\n";
  script += "#SBATCH --array=0-" + std::to_string(commands.count - 1) + "\n";
  if (threads) {
    script += "#SBATCH --cpus-per-task=" + std::to_string(*threads) + "\n";
  }
  script += "set -eu\n";
  script += "if [ -z \"${SLURM_ARRAY_TASK_ID:-}\" ]; then\n";
  script += "  if [ ! -f \"$0\" ]; then\n"
            "    echo \"save this script to a file and run: sh FILE\" >&2\n"
            "    exit 2\n"
            "  fi\n";
  script += "  job=$(sbatch --parsable \"$0\")\n";
  script += "  echo \"shards: job ${job%%;*}\"\n";
  script += "  sbatch --dependency=\"afterok:${job%%;*}\" --job-name=" + name + "-merge --wrap=" +
            shell_word(commands.merge()) + "\n";
  script += "  exit 0\n";
  script += "fi\n";
  script += task;
  return script;
}

std::string parallel_script(const Pipeline& pipeline, const ShardCommands& commands, std::optional<int> threads) {
  const auto count = std::to_string(commands.count);
  const auto base = shell_word(commands.base.string());
  std::string script = "# Ballista: pipeline " + comment_text(pipeline.name) + " (" +
                       comment_text(pipeline.file.string()) + "), " + std::to_string(pipeline.models.size()) +
                       " models in " + count + " shards run by GNU parallel, then merged into " +
                       comment_text((commands.base / "merged").string()) + ".\n";
  script += "# Shard I runs the models at positions I, I+" + count + ", I+2*" + count +
            ", ... of the pipeline (from 0):\n" + shard_comments(pipeline, commands.count);
  script += "# Run again after a failure: --resume-failed runs only the shards that failed (each\n"
            "# from an empty directory), as " +
            comment_text((commands.base / "joblog").string()) + " records them.\n";
  // {} is the shard's index, put in by parallel; the template is one word for parallel,
  // which hands it to the shell.
  const std::string shard_directory = base + "/shard-{}";
  const auto task = "rm -rf " + shard_directory + " && " + commands.run("{}", shard_directory) + " || [ $? -eq 1 ]";
  std::string jobs;
  if (threads) {
    // Each shard on `threads` cores: as many at once as the machine's cores allow.
    jobs = " --jobs " + (*threads > 100 ? std::string("1") : std::to_string(100 / *threads) + "%");
  }
  std::string indices;
  for (std::size_t index = 0; index < commands.count; ++index) {
    indices += " " + std::to_string(index);
  }
  script += "mkdir -p " + base + " && parallel --joblog " + shell_word((commands.base / "joblog").string()) +
            " --resume-failed" + jobs + " " + shell_word(task) + " :::" + indices + " && " + commands.merge() + "\n";
  return script;
}

}  // namespace

int emit_shard_script(const PluginCatalog& catalog, const CommandLine& line, std::ostream& out) {
  const auto file = std::filesystem::absolute(line.operands.at(0)).lexically_normal();
  Pipeline pipeline;
  try {
    pipeline = load_pipeline(file, catalog, line.overrides);
  } catch (const InputError& error) {
    std::cerr << error.what() << '\n';
    return 2;
  }
  ShardCommands commands;
  commands.count = *line.shards;
  commands.program = shell_word(ballista_program().string());
  commands.base = std::filesystem::absolute(
                      line.out_dir ? *line.out_dir
                                   : RunDirectory::fresh(pipeline.name, resolved_yaml(pipeline, catalog)).root())
                      .lexically_normal();
  for (const auto& directory : line.plugin_paths) {
    commands.options.insert(commands.options.end(),
                            {"--plugin-path", std::filesystem::absolute(directory).lexically_normal().string()});
  }
  if (line.allow_insecure_plugins) {
    commands.options.emplace_back("--allow-insecure-plugins");
  }
  // Under GNU parallel, without --threads, each shard gets one thread and parallel runs
  // one shard per core (the thread count never changes a result).
  auto threads = line.threads;
  if (!threads && *line.emit == "parallel") {
    threads = 1;
  }
  if (threads) {
    commands.options.insert(commands.options.end(), {"--threads", std::to_string(*threads)});
  }
  commands.run_words = {"run", file.string()};
  for (const auto& override_text : line.overrides) {
    commands.run_words.insert(commands.run_words.end(), {"--set", override_text});
  }
  if (line.isolate) {
    commands.run_words.emplace_back("--isolate");
  }
  if (line.model_timeout) {
    commands.run_words.insert(commands.run_words.end(), {"--model-timeout", shortest_text(*line.model_timeout)});
  }
  if (line.quiet || line.verbose) {
    commands.run_words.emplace_back(line.quiet ? "--quiet" : "--verbose");
  }
  out << (*line.emit == "slurm" ? slurm_script(pipeline, commands, line.threads)
                                : parallel_script(pipeline, commands, threads));
  return 0;
}

}  // namespace ballista::host
