// libFuzzer target: the examples' CSV reader (examples/csv.hpp, used by example_smooth_csv and
// example_real_data) on arbitrary bytes, read with ',' and with one other delimiter.
//
// The contract checked: read_csv either throws example::CsvError with a message, or returns a
// table whose header has one name per column and whose values are all finite; looking up each
// column name finds it (or throws CsvError when the name is there twice), a name that is not there
// throws CsvError; and writing the table back as CSV (quoted names, shortest round-trip numbers)
// and reading it again gives the same names and the same bits. Anything else (another exception,
// a crash, a sanitizer report) aborts.

#include <charconv>  // std::to_chars: shortest round-trip numbers
#include <cstdint>
#include <cstdio>   // std::fprintf: the reason for an abort
#include <cstdlib>  // std::abort
#include <cstring>  // std::memcmp: bit patterns
#include <sstream>
#include <string>

#include "csv.hpp"

namespace {

[[noreturn]] void violation(int line, const char* condition, const std::string& input) {
  std::fprintf(stderr, "\nfuzz_csv.cpp:%d: contract violated: %s\n  input (%zu bytes): %s\n", line,
               condition, input.size(), example::csv_detail::quote(input).c_str());
  std::abort();
}

#define CSV_FUZZ_CHECK(condition)                            \
  do {                                                       \
    if (!(condition)) violation(__LINE__, #condition, text); \
  } while (false)

/// `table` written back in the reader's format, every name quoted.
std::string write(const example::CsvTable& table, char delimiter) {
  std::string out;
  for (std::size_t c = 0; c < table.header.size(); ++c) {
    if (c) out += delimiter;
    out += '"';
    for (char ch : table.header[c]) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    out += '"';
  }
  out += '\n';
  char buffer[64];
  for (Eigen::Index i = 0; i < table.values.rows(); ++i) {
    for (Eigen::Index j = 0; j < table.values.cols(); ++j) {
      if (j) out += delimiter;
      const std::to_chars_result result =
          std::to_chars(buffer, buffer + sizeof buffer, table.values(i, j));
      out.append(buffer, result.ptr);
    }
    out += '\n';
  }
  return out;
}

void check(const std::string& text, char delimiter) {
  example::CsvTable table;
  try {
    std::istringstream in(text);
    table = example::read_csv(in, "fuzz input", delimiter);
  } catch (const example::CsvError& error) {
    CSV_FUZZ_CHECK(error.what()[0] != '\0');
    return;
  }
  const Eigen::Index columns = static_cast<Eigen::Index>(table.header.size());
  CSV_FUZZ_CHECK(columns >= 1);
  CSV_FUZZ_CHECK(table.values.cols() == columns);
  CSV_FUZZ_CHECK(table.values.allFinite());

  std::string absent = "absent";
  for (const std::string& name : table.header) {
    std::size_t copies = 0;
    for (const std::string& other : table.header) copies += other == name ? 1 : 0;
    try {
      const Eigen::Index c = table.column(name);
      CSV_FUZZ_CHECK(copies == 1 && c >= 0 && c < columns &&
                     table.header[static_cast<std::size_t>(c)] == name);
    } catch (const example::CsvError&) {
      CSV_FUZZ_CHECK(copies > 1);
    }
    absent += name;  // longer than every name: not among them
  }
  bool refused = false;
  try {
    (void)table.column(absent);
  } catch (const example::CsvError&) {
    refused = true;
  }
  CSV_FUZZ_CHECK(refused);

  const std::string written = write(table, delimiter);
  std::istringstream again_in(written);
  example::CsvTable again;
  try {
    again = example::read_csv(again_in, "written back", delimiter);
  } catch (const example::CsvError& error) {
    std::fprintf(stderr, "  written back: %s\n  error: %s\n",
                 example::csv_detail::quote(written).c_str(), error.what());
    violation(__LINE__, "the table written back is refused", text);
  }
  CSV_FUZZ_CHECK(again.header == table.header);
  CSV_FUZZ_CHECK(again.values.rows() == table.values.rows() &&
                 again.values.cols() == table.values.cols());
  CSV_FUZZ_CHECK(table.values.size() == 0 ||
                 std::memcmp(again.values.data(), table.values.data(),
                             static_cast<std::size_t>(table.values.size()) * sizeof(double)) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  check(text, ',');
  const char others[] = {';', '\t', ' ', '|'};
  check(text, others[size % sizeof others]);
  return 0;
}
