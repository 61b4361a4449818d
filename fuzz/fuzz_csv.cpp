// Fuzz target: any bytes as a CSV file, through read_csv and numeric_columns over every
// header column, as the loader and `ballista predict --input` read them. Refusals are
// std::runtime_error; anything else is a finding. A table that reads as numbers must
// survive format_csv and reading back unchanged (csv_table.hpp promises the shortest
// text that reads back to the same double), when its column names can be written back:
// reading strips spaces and quotes around them, writing adds none.
#include "csv_table.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

std::filesystem::path write(const std::string& text) {
  static const auto file =
      std::filesystem::temp_directory_path() / ("ballista-fuzz-" + std::to_string(getpid()) + ".csv");
  std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
  return file;
}

bool writable(const std::vector<std::string>& header) {
  return std::all_of(header.begin(), header.end(), [](const std::string& name) {
    return !name.empty() && name.find_first_of("\"\r\n") == std::string::npos &&
           name.find_first_not_of(" \t") == 0 && name.find_last_not_of(" \t") == name.size() - 1 &&
           name.rfind("\xEF\xBB\xBF", 0) != 0;  // a leading byte order mark is read as one, not as the name
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ballista::host;
  torch::Tensor values;
  CsvTable table;
  try {
    table = read_csv(write(std::string(reinterpret_cast<const char*>(data), size)));
    values = numeric_columns(table, table.header);
  } catch (const std::runtime_error&) {
    return 0;
  }
  if (!writable(table.header)) {
    return 0;
  }
  const auto again = read_csv(write(format_csv(table.header, values)));
  if (again.header != table.header || !torch::equal(numeric_columns(again, again.header), values)) {
    std::cerr << "fuzz_csv: values changed through format_csv and read_csv\n";
    std::abort();
  }
  return 0;
}
