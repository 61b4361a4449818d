// The `ballista` command line: its usage text and the parsing and checking of its
// arguments, shared by the launcher (`ballista`, without LibTorch) and the engine
// that runs the commands needing LibTorch. No LibTorch here.
#pragma once

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ballista::host {

extern const char* const kUsage;

struct PredictRequest {
  std::optional<std::string> at;                // "v=20,theta=0.85"
  std::optional<std::filesystem::path> input;   // CSV with a header naming the inputs
  std::optional<std::filesystem::path> output;  // CSV to write; stdout when absent
};

// `run --shard I/N`: run the I-th of N shares of the pipeline's models.
struct ShardOption {
  std::size_t index = 0;
  std::size_t count = 1;
};

struct CommandLine {
  // What to do before any command: print the usage (exit 0) or the version.
  bool help = false;
  bool version = false;
  std::string command;                   // "run", "plugins", ... (or __run-model)
  std::vector<std::string> operands;     // after the command
  std::vector<std::filesystem::path> plugin_paths;
  std::optional<std::filesystem::path> out_dir;
  std::optional<std::filesystem::path> scaffold_dir;
  PredictRequest predict;
  std::vector<std::string> overrides;    // --set
  std::vector<std::string> ranges;       // --range NAME=LOW,HIGH (check-plugin, a source's inputs)
  std::vector<std::string> compare_columns;
  std::optional<std::string> compare_baseline;
  std::optional<std::string> compare_sort;
  std::optional<std::string> compare_format;
  std::optional<int> threads;            // --threads
  bool verbose = false;
  bool quiet = false;
  bool isolate = false;
  std::optional<double> model_timeout;   // --model-timeout SECONDS (implies --isolate)
  std::optional<int> nproc;              // run --nproc N: N local ranks of one distributed run
  std::optional<double> timeout;         // run --timeout SECONDS: the ranks' wait for each other
  std::optional<ShardOption> shard;      // run --shard I/N
  std::optional<std::size_t> shards;     // run --shards N --emit FORMAT: print a script, run nothing
  std::optional<std::string> emit;       // "slurm" or "parallel"
  bool allow_insecure_plugins = false;
};

// A command-line mistake: the message, and then "Run `ballista help` for usage."
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses and checks the arguments (without argv[0]): options, the command name (with
// a did-you-mean), options that do not apply to the command, operand counts. Throws
// UsageError. No arguments at all is a UsageError whose message is empty (print the
// usage, exit 2).
CommandLine parse_command_line(const std::vector<std::string>& arguments);

// Parses argv and answers what needs neither plugin code nor LibTorch: a usage error
// (exit 2, with the message or the usage), help and --version (exit 0), and `plugins`
// without --verbose (listed from the manifests). Returns the exit status when it has
// answered; otherwise fills `line` and returns nullopt. The launcher and the engine
// both start with it, so they answer alike.
std::optional<int> answer_without_libtorch(int argc, char** argv, CommandLine& line);

// The thread count to use: --threads, else $OMP_NUM_THREADS when it is a positive
// integer, else the number of cores this process may run on (sched_getaffinity).
int thread_count(const CommandLine& command_line);

// Makes OpenMP, OpenBLAS (and MKL, if that is the BLAS) use `threads` threads in this
// process's children and in this process where the library has not started yet: sets
// OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS, and OMP_WAIT_POLICY to
// PASSIVE unless it is set.
void export_thread_count(int threads);

}  // namespace ballista::host
