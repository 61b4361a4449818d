// CSV reading and writing (see csv_table.hpp).
#include "csv_table.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ballista::host {

namespace {

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream stream(line);
  std::string field;
  while (std::getline(stream, field, ',')) {
    const auto first = field.find_first_not_of(" \t\r");
    const auto last = field.find_last_not_of(" \t\r");
    field = first == std::string::npos ? std::string() : field.substr(first, last - first + 1);
    if (field.size() >= 2 && field.front() == '"' && field.back() == '"') {
      field = field.substr(1, field.size() - 2);
    }
    fields.push_back(field);
  }
  if (!line.empty() && line.back() == ',') {
    fields.emplace_back();
  }
  return fields;
}

}  // namespace

CsvTable read_csv(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) {
    throw std::runtime_error(file.string() + ": cannot read the file");
  }
  CsvTable table;
  table.file = file;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      continue;
    }
    auto fields = split_fields(line);
    if (table.header.empty()) {
      table.header = std::move(fields);
      continue;
    }
    if (fields.size() != table.header.size()) {
      throw std::runtime_error(file.string() + ":" + std::to_string(number) + ": " + std::to_string(fields.size()) +
                               " fields, the header has " + std::to_string(table.header.size()));
    }
    table.rows.push_back(std::move(fields));
    table.lines.push_back(number);
  }
  if (table.header.empty()) {
    throw std::runtime_error(file.string() + ": empty file, expected a header line with column names");
  }
  return table;
}

torch::Tensor numeric_columns(const CsvTable& table, const std::vector<std::string>& names) {
  std::vector<std::size_t> indices;
  for (const auto& name : names) {
    const auto found = std::find(table.header.begin(), table.header.end(), name);
    if (found == table.header.end()) {
      std::string columns;
      for (const auto& column : table.header) {
        columns += (columns.empty() ? "" : ", ") + column;
      }
      throw std::runtime_error(table.file.string() + ": no column '" + name + "' (columns: " + columns + ")");
    }
    indices.push_back(static_cast<std::size_t>(found - table.header.begin()));
  }
  auto values = torch::empty({static_cast<std::int64_t>(table.rows.size()), static_cast<std::int64_t>(names.size())},
                             torch::kFloat64);
  auto access = values.accessor<double, 2>();
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    for (std::size_t c = 0; c < indices.size(); ++c) {
      const auto& cell = table.rows[r][indices[c]];
      char* end = nullptr;
      const double value = std::strtod(cell.c_str(), &end);
      if (cell.empty() || end != cell.c_str() + cell.size() || !std::isfinite(value)) {
        throw std::runtime_error(table.file.string() + ":" + std::to_string(table.lines[r]) + ": column '" +
                                 names[c] + "': '" + cell + "' is not a finite number");
      }
      access[static_cast<std::int64_t>(r)][static_cast<std::int64_t>(c)] = value;
    }
  }
  return values;
}

std::string format_csv(const std::vector<std::string>& header, const torch::Tensor& values) {
  std::ostringstream out;
  // Shortest text that reads back to the same double: 0.85, not 0.84999999999999998.
  const auto shortest = [](double value) {
    std::array<char, 32> buffer{};
    const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
    return std::string(buffer.data(), result.ptr);
  };
  for (std::size_t c = 0; c < header.size(); ++c) {
    out << (c == 0 ? "" : ",") << header[c];
  }
  out << '\n';
  const auto table = values.to(torch::kFloat64).contiguous();
  const auto access = table.accessor<double, 2>();
  for (std::int64_t r = 0; r < table.size(0); ++r) {
    for (std::int64_t c = 0; c < table.size(1); ++c) {
      out << (c == 0 ? "" : ",") << shortest(access[r][c]);
    }
    out << '\n';
  }
  return out.str();
}

}  // namespace ballista::host
