// CSV reading and writing (see csv_table.hpp).
#include "csv_table.hpp"

#include "diagnostics.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ballista::host {

namespace {

// The fields of a line and the 1-based column where each starts.
std::pair<std::vector<std::string>, std::vector<int>> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::vector<int> columns;
  std::size_t start = 0;
  while (true) {
    const auto comma = line.find(',', start);
    std::string field = line.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto first = field.find_first_not_of(" \t\r");
    const auto last = field.find_last_not_of(" \t\r");
    columns.push_back(static_cast<int>(start + (first == std::string::npos ? 0 : first)) + 1);
    field = first == std::string::npos ? std::string() : field.substr(first, last - first + 1);
    if (field.size() >= 2 && field.front() == '"' && field.back() == '"') {
      field = field.substr(1, field.size() - 2);
    }
    fields.push_back(field);
    if (comma == std::string::npos) {
      break;
    }
    start = comma + 1;
  }
  return {fields, columns};
}

std::vector<std::size_t> column_indices(const CsvTable& table, const std::vector<std::string>& names) {
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
  return indices;
}

}  // namespace

CsvTable read_csv(const std::filesystem::path& file) {
  std::error_code status_error;
  if (std::filesystem::exists(file, status_error) && !std::filesystem::is_regular_file(file, status_error)) {
    throw std::runtime_error(file.string() + ": not a regular file (a device or a pipe would never end)");
  }
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
    // A UTF-8 byte order mark (spreadsheets write one) is not part of the first name;
    // every leading one goes, so a header reads the same after being written again.
    while (table.header.empty() && line.rfind("\xEF\xBB\xBF", 0) == 0) {
      line.erase(0, 3);
    }
    auto [fields, columns] = split_fields(line);
    if (table.header.empty()) {
      for (std::size_t i = 0; i < fields.size(); ++i) {
        const auto first = std::find(fields.begin(), fields.begin() + static_cast<std::ptrdiff_t>(i), fields[i]);
        if (first != fields.begin() + static_cast<std::ptrdiff_t>(i)) {
          throw std::runtime_error(file.string() + ":" + std::to_string(number) + ": the header names column '" +
                                   printable(fields[i]) + "' twice (columns " +
                                   std::to_string(first - fields.begin() + 1) + " and " + std::to_string(i + 1) +
                                   "); columns are found by name");
        }
      }
      table.header = std::move(fields);
      continue;
    }
    if (fields.size() != table.header.size()) {
      throw std::runtime_error(file.string() + ":" + std::to_string(number) + ": " + std::to_string(fields.size()) +
                               " fields, the header has " + std::to_string(table.header.size()));
    }
    table.rows.push_back(std::move(fields));
    table.lines.push_back(number);
    table.columns.push_back(std::move(columns));
  }
  if (table.header.empty()) {
    throw std::runtime_error(file.string() + ": empty file, expected a header line with column names");
  }
  return table;
}

CheckedColumns checked_numeric_columns(const CsvTable& table, const std::vector<std::string>& names) {
  const auto indices = column_indices(table, names);
  std::vector<double> values;
  values.reserve(table.rows.size() * names.size());
  CheckedColumns result;
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    bool valid = true;
    for (std::size_t c = 0; c < indices.size(); ++c) {
      const auto& cell = table.rows[r][indices[c]];
      char* end = nullptr;
      const double value = std::strtod(cell.c_str(), &end);
      // strtod also reads C's hexadecimal numbers ("0x10"), which NumPy and pandas refuse.
      const bool consumed = !cell.empty() && end == cell.c_str() + cell.size();
      const bool hexadecimal = consumed && cell.find_first_of("xX") != std::string::npos;
      const bool parsed = consumed && !hexadecimal;
      if (!parsed || !std::isfinite(value)) {
        result.problems.push_back({table.lines[r], table.columns[r][indices[c]],
                                   "column '" + names[c] + "': " +
                                       (cell.empty() ? std::string("the cell is empty")
                                                     : "'" + printable(cell) + "' is " +
                                                           (parsed        ? "not finite"
                                                            : hexadecimal ? "not a decimal number"
                                                                          : "not a number"))});
        valid = false;
      }
      values.push_back(value);
    }
    if (!valid) {
      values.resize(values.size() - names.size());
      ++result.dropped_rows;
    }
  }
  const auto rows = static_cast<std::int64_t>(values.size() / std::max<std::size_t>(names.size(), 1));
  result.values = torch::tensor(values, torch::kFloat64).reshape({rows, static_cast<std::int64_t>(names.size())});
  return result;
}

torch::Tensor numeric_columns(const CsvTable& table, const std::vector<std::string>& names) {
  auto checked = checked_numeric_columns(table, names);
  if (!checked.problems.empty()) {
    const auto& first = checked.problems.front();
    throw std::runtime_error(table.file.string() + ":" + std::to_string(first.line) + ":" +
                             std::to_string(first.column) + ": " + first.message);
  }
  return checked.values;
}

std::string shortest_text(double value) {
  std::array<char, 32> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return {buffer.data(), result.ptr};
}

std::string rounded_text(double value, int digits) {
  std::array<char, 40> buffer{};
  (void)std::snprintf(buffer.data(), buffer.size(), "%.*g", digits, value);
  return buffer.data();
}

std::string format_csv(const std::vector<std::string>& header, const torch::Tensor& values) {
  std::ostringstream out;
  for (std::size_t c = 0; c < header.size(); ++c) {
    out << (c == 0 ? "" : ",") << header[c];
  }
  out << '\n';
  const auto table = values.to(torch::kFloat64).contiguous();
  const auto access = table.accessor<double, 2>();
  for (std::int64_t r = 0; r < table.size(0); ++r) {
    for (std::int64_t c = 0; c < table.size(1); ++c) {
      out << (c == 0 ? "" : ",") << shortest_text(access[r][c]);
    }
    out << '\n';
  }
  return out.str();
}

}  // namespace ballista::host
