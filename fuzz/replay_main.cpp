// Runs a fuzz target's LLVMFuzzerTestOneInput once on each file given (or each file in
// a directory given), without libFuzzer: the sanitizer tests in CTest replay the
// malformed pipelines and seed corpora this way, and a crash file found by scripts/fuzz
// replays the same way under a debugger.
//   replay_TARGET FILE|DIR...
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path argument(argv[i]);
    if (!std::filesystem::is_directory(argument)) {
      files.push_back(argument);
      continue;
    }
    std::vector<std::filesystem::path> entries;
    for (const auto& entry : std::filesystem::directory_iterator(argument)) {
      if (entry.is_regular_file()) {
        entries.push_back(entry.path());
      }
    }
    std::sort(entries.begin(), entries.end());
    files.insert(files.end(), entries.begin(), entries.end());
  }
  if (files.empty()) {
    std::cerr << "usage: " << argv[0] << " FILE|DIR...\n";
    return 2;
  }
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "replay: cannot read " << file.string() << '\n';
      return 2;
    }
    const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::cerr << "replay: " << file.string() << '\n';
    (void)LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
  std::cerr << "replay: " << files.size() << " inputs, no finding\n";
  return 0;
}
