// Reading numeric CSV files with a header, by column name, with errors that name the
// file, line and column; and writing tables back.
#pragma once

#include <torch/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace ballista::host {

// A CSV file as text cells. Fields are separated by commas; surrounding spaces and a
// pair of double quotes around a field are removed. Blank lines are skipped.
struct CsvTable {
  std::filesystem::path file;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<int> lines;  // 1-based line number of each row in the file
  std::vector<std::vector<int>> columns;  // 1-based character column where each field starts
};

// A cell that is not a finite number: where, and a sentence saying what is wrong.
struct CellProblem {
  int line = 0;
  int column = 0;
  std::string message;  // "column 'v': 'abc' is not a number"
};

struct CheckedColumns {
  torch::Tensor values;               // [valid rows, names.size()] float64
  std::vector<CellProblem> problems;  // every bad cell, in file order
  std::int64_t dropped_rows = 0;      // rows left out of `values` for a bad cell
};

// Throws std::runtime_error: unreadable file, no header, a row with another number of
// fields than the header (file:line).
CsvTable read_csv(const std::filesystem::path& file);

// The named columns as a float64 tensor [rows, names.size()]. Throws std::runtime_error
// for a missing column (listing the columns there are) or a cell that is not a finite
// number (file:line, column name, the cell).
torch::Tensor numeric_columns(const CsvTable& table, const std::vector<std::string>& names);

// The named columns (which must exist), keeping only rows whose cells are all finite
// numbers and listing the others' bad cells: missing, not a number, NaN or infinite.
CheckedColumns checked_numeric_columns(const CsvTable& table, const std::vector<std::string>& names);

// The shortest text that reads back to the same double: 0.85, not 0.84999999999999998.
std::string shortest_text(double value);

// `value` rounded to `digits` significant digits for people to read: 0.1019, 1.5e-05.
std::string rounded_text(double value, int digits = 4);

// A header line and one line per row, each number in the shortest form that reads back
// to the same double.
std::string format_csv(const std::vector<std::string>& header, const torch::Tensor& values);

}  // namespace ballista::host
