// Test-only helpers: read the reference fixtures in tests/fixtures (see tests/fixtures/README.md).
//
//   #include "support/fixture.hpp"
//   using nadaraya_test::fixture_path;
//   const Eigen::MatrixXd X = nadaraya_test::read_csv(fixture_path("scipy_kde_scott_X.csv"));
//
// A fixture is a CSV file: one header row (skipped), then rows of comma-separated numbers, all rows
// with as many cells as the header.  Cells may be surrounded by blanks; "inf", "-inf", "+inf",
// "infinity" and "nan" (any letter case, optional sign) are accepted.  Lines that are empty or
// blank are ignored; a trailing '\r' (CRLF files) is stripped.
#ifndef NADARAYA_TESTS_SUPPORT_FIXTURE_HPP
#define NADARAYA_TESTS_SUPPORT_FIXTURE_HPP

#include <Eigen/Core>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef NADARAYA_TEST_FIXTURES
#error "NADARAYA_TEST_FIXTURES (absolute path of tests/fixtures, a string literal) must be defined"
#endif

namespace nadaraya_test {
namespace detail {

inline bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

inline std::string trim(const std::string& s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && is_blank(s[b])) ++b;
  while (e > b && is_blank(s[e - 1])) --e;
  return s.substr(b, e - b);
}

inline std::string to_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

inline std::vector<std::string> split_commas(const std::string& line) {
  std::vector<std::string> cells;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = line.find(',', start);
    if (comma == std::string::npos) {
      cells.push_back(line.substr(start));
      return cells;
    }
    cells.push_back(line.substr(start, comma - start));
    start = comma + 1;
  }
}

[[noreturn]] inline void fail(const std::string& path, std::size_t line, std::size_t column,
                              const std::string& what) {
  std::string msg = "read_csv: " + path;
  if (line > 0) msg += ", line " + std::to_string(line);
  if (column > 0) msg += ", column " + std::to_string(column);
  throw std::runtime_error(msg + ": " + what);
}

// Parses one cell; `line` and `column` are 1-based and only used for the error message.
inline double parse_cell(const std::string& raw, const std::string& path, std::size_t line,
                         std::size_t column) {
  const std::string cell = trim(raw);
  if (cell.empty()) fail(path, line, column, "empty cell");

  std::string body = to_lower(cell);
  bool negative = false;
  if (body[0] == '+' || body[0] == '-') {
    negative = body[0] == '-';
    body.erase(0, 1);
  }
  if (body == "inf" || body == "infinity") {
    const double inf = std::numeric_limits<double>::infinity();
    return negative ? -inf : inf;
  }
  if (body == "nan") return std::numeric_limits<double>::quiet_NaN();

  // strtod only sees plain decimal numbers: no hex floats, no "nan(...)" forms.
  if (body.empty() || body.find_first_not_of("0123456789.e+-") != std::string::npos) {
    fail(path, line, column, "not a number: '" + cell + "'");
  }
  const char* begin = cell.c_str();
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(begin, &end);
  if (end == begin || *end != '\0') fail(path, line, column, "not a number: '" + cell + "'");
  if (errno == ERANGE && std::isinf(value))
    fail(path, line, column, "out of range: '" + cell + "'");
  return value;  // underflow to a subnormal or zero is accepted
}

}  // namespace detail

// Reads a fixture: skips the header row and returns the numeric rows as a matrix with as many
// columns as the header has cells (0 rows if the file holds only the header).  Throws
// std::runtime_error naming the file, line and column on an unreadable file, a missing header,
// a bad cell or a row whose cell count differs from the header's.
inline Eigen::MatrixXd read_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) detail::fail(path, 0, 0, "cannot open file");

  std::string text;
  std::size_t line_no = 0;
  std::size_t cols = 0;
  bool have_header = false;
  std::vector<double> values;  // row-major
  std::size_t rows = 0;
  while (std::getline(in, text)) {
    ++line_no;
    if (detail::trim(text).empty()) continue;
    const std::vector<std::string> cells = detail::split_commas(text);
    if (!have_header) {
      have_header = true;
      cols = cells.size();
      continue;
    }
    if (cells.size() != cols) {
      detail::fail(path, line_no, (cells.size() < cols ? cells.size() : cols) + 1,
                   "ragged row: " + std::to_string(cells.size()) + " cells, header has " +
                       std::to_string(cols));
    }
    for (std::size_t j = 0; j < cols; ++j) {
      values.push_back(detail::parse_cell(cells[j], path, line_no, j + 1));
    }
    ++rows;
  }
  if (in.bad()) detail::fail(path, line_no, 0, "read error");
  if (!have_header) detail::fail(path, 0, 0, "empty file (no header row)");

  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  return Eigen::Map<const RowMajor>(values.data(), static_cast<Eigen::Index>(rows),
                                    static_cast<Eigen::Index>(cols));
}

// Absolute path of a file in tests/fixtures: NADARAYA_TEST_FIXTURES + "/" + name.
inline std::string fixture_path(const std::string& name) {
  std::string dir = NADARAYA_TEST_FIXTURES;
  if (!dir.empty() && dir.back() != '/' && dir.back() != '\\') dir += '/';
  return dir + name;
}

}  // namespace nadaraya_test

#endif  // NADARAYA_TESTS_SUPPORT_FIXTURE_HPP
