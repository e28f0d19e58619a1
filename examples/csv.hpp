// A small CSV reader for the examples: a header row of column names, then rows of numbers. Nothing
// here is part of the library. Every malformed input throws example::CsvError with a message that
// says where (data row and line, column number and name) and what (the offending text); the
// reader never returns a partial table. fuzz/fuzz_csv.cpp holds it to that.
//
// The format read (RFC 4180 with a few courtesies):
//   - fields are separated by `delimiter` (',' by default); records end at \n, \r\n or \r;
//   - a field may be quoted ("...", with "" for a quote inside), and may then hold delimiters and
//     line breaks; R's write.csv quotes its header this way;
//   - spaces and tabs around a field are ignored (unless one is the delimiter), as are blank lines
//     and a UTF-8 byte-order mark;
//   - every data cell must be a finite decimal number ("1", "-2.5", "3e-4", "+7"; not "", "NA",
//     "nan", "inf", nor a number that overflows a double);
//   - every row has as many fields as the header.

#ifndef NADARAYA_EXAMPLE_CSV_HPP
#define NADARAYA_EXAMPLE_CSV_HPP

#include <Eigen/Core>
#include <charconv>  // std::from_chars: locale-independent, exact number parsing
#include <cmath>     // std::isfinite
#include <cstddef>
#include <fstream>
#include <iostream>  // std::cin: "-" reads standard input
#include <istream>
#include <iterator>  // std::istreambuf_iterator: reading the whole stream
#include <stdexcept>
#include <string>
#include <system_error>  // std::errc: from_chars' result
#include <vector>

namespace example {

/// A malformed CSV file, a missing file, or a column that is not there.
class CsvError : public std::runtime_error {
 public:
  explicit CsvError(const std::string& message) : std::runtime_error(message) {}
};

/// A CSV file read: the column names and the numbers, one row per data row.
struct CsvTable {
  std::vector<std::string> header;  ///< column names, as written (quotes removed)
  Eigen::MatrixXd values;           ///< rows x header.size(), every entry finite

  /// The index (from 0) of the column called `name`.
  /// \throws CsvError when there is no such column (the message lists the columns there are) or
  ///         when several columns have that name.
  Eigen::Index column(const std::string& name, const std::string& source = "the input") const {
    Eigen::Index found = -1;
    for (std::size_t c = 0; c < header.size(); ++c) {
      if (header[c] != name) continue;
      if (found >= 0) {
        throw CsvError(source + ": column name '" + name + "' is ambiguous: columns " +
                       std::to_string(found + 1) + " and " + std::to_string(c + 1) +
                       " both have it");
      }
      found = static_cast<Eigen::Index>(c);
    }
    if (found < 0) {
      std::string available;
      for (std::size_t c = 0; c < header.size(); ++c) {
        available += (c ? ", '" : "'") + header[c] + "'";
      }
      throw CsvError(source + " has no column '" + name + "'; its columns are " + available);
    }
    return found;
  }
};

namespace csv_detail {

/// `text` quoted for a message: at most 40 characters, control and non-ASCII bytes as \xHH.
inline std::string quote(const std::string& text) {
  const std::size_t limit = 40;
  std::string out = "'";
  for (std::size_t i = 0; i < text.size() && i < limit; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20 && byte < 0x7f) {
      out += static_cast<char>(byte);
    } else {
      const char* digits = "0123456789abcdef";
      out += "\\x";
      out += digits[byte >> 4];
      out += digits[byte & 0xf];
    }
  }
  if (text.size() > limit) out += "...";
  return out + "'";
}

/// One field as read: its text and whether it was quoted (a quoted field keeps its spaces).
struct Field {
  std::string text;
  bool quoted = false;
};

/// One record: its fields and the line (from 1) it starts on.
struct Record {
  std::vector<Field> fields;
  std::size_t line = 0;
};

/// Splits `text` into records (blank lines dropped). Throws CsvError on an unclosed quote or text
/// after a closing quote.
inline std::vector<Record> split(const std::string& text, char delimiter,
                                 const std::string& source) {
  auto is_space = [delimiter](char c) { return (c == ' ' || c == '\t') && c != delimiter; };
  std::vector<Record> records;
  std::size_t i = 0, line = 1;
  // A UTF-8 byte-order mark (spreadsheets write one).
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;
  const std::size_t n = text.size();
  while (i < n) {
    Record record;
    record.line = line;
    bool end_of_record = false;
    while (!end_of_record) {
      Field field;
      while (i < n && is_space(text[i])) ++i;
      if (i < n && text[i] == '"') {
        field.quoted = true;
        const std::size_t opening_line = line;
        ++i;
        for (;;) {
          if (i >= n) {
            throw CsvError(source + ": line " + std::to_string(opening_line) +
                           ": a quoted field is not closed (missing '\"')");
          }
          const char c = text[i++];
          if (c == '"') {
            if (i < n && text[i] == '"') {  // "" is a quote inside a quoted field
              field.text += '"';
              ++i;
              continue;
            }
            break;
          }
          if (c == '\n' || (c == '\r' && (i >= n || text[i] != '\n'))) ++line;
          field.text += c;
        }
        while (i < n && is_space(text[i])) ++i;
        if (i < n && text[i] != delimiter && text[i] != '\n' && text[i] != '\r') {
          throw CsvError(source + ": line " + std::to_string(line) + ": unexpected " +
                         quote(std::string(1, text[i])) + " after the closing quote of field " +
                         std::to_string(record.fields.size() + 1));
        }
      } else {
        const std::size_t start = i;
        while (i < n && text[i] != delimiter && text[i] != '\n' && text[i] != '\r') ++i;
        std::size_t end = i;
        while (end > start && is_space(text[end - 1])) --end;
        field.text = text.substr(start, end - start);
      }
      record.fields.push_back(std::move(field));
      if (i < n && text[i] == delimiter) {
        ++i;
        continue;
      }
      // End of the record: a line break (\n, \r\n or \r) or the end of the text.
      if (i < n && text[i] == '\r') ++i;
      if (i < n && text[i] == '\n') ++i;  // \n alone or the \n of \r\n: one line either way
      ++line;
      end_of_record = true;
    }
    const bool blank =
        record.fields.size() == 1 && !record.fields[0].quoted && record.fields[0].text.empty();
    if (!blank) records.push_back(std::move(record));
  }
  return records;
}

/// The number in `field`, or a CsvError naming where it is.
inline double number(const Field& field, std::size_t data_row, std::size_t line, std::size_t column,
                     const std::string& name, const std::string& source) {
  const std::string where = source + ": data row " + std::to_string(data_row) + " (line " +
                            std::to_string(line) + "), column " + std::to_string(column) + " '" +
                            name + "': ";
  std::string text = field.text;
  if (field.quoted) {  // a quoted number may carry spaces inside the quotes
    const std::size_t first = text.find_first_not_of(" \t");
    const std::size_t last = text.find_last_not_of(" \t");
    text = first == std::string::npos ? std::string() : text.substr(first, last - first + 1);
  }
  if (text.empty()) throw CsvError(where + "the cell is empty (a number is needed)");
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (*begin == '+' && text.size() > 1 && text[1] != '-' && text[1] != '+') ++begin;
  double value = 0;
  const std::from_chars_result result = std::from_chars(begin, end, value);
  if (result.ec == std::errc::result_out_of_range) {
    throw CsvError(where + quote(field.text) + " is out of the range of a double");
  }
  if (result.ec != std::errc() || result.ptr != end) {
    throw CsvError(where + quote(field.text) + " is not a number");
  }
  if (!std::isfinite(value)) {
    throw CsvError(where + quote(field.text) + " is not a finite number");
  }
  return value;
}

}  // namespace csv_detail

/// Reads a whole CSV table from `in`: the first non-blank record is the header, every other one a
/// row of numbers (see the top of this file for the format).
/// \param in        the stream, read to its end
/// \param source    how messages name the input (a file name, "standard input")
/// \param delimiter the field separator
/// \return the header and the values (0 rows when there is only a header)
/// \throws CsvError when the input is empty or malformed: the message names the data row (from 1)
///         and line, the column (from 1) and its name, and quotes the text
inline CsvTable read_csv(std::istream& in, const std::string& source = "the input",
                         char delimiter = ',') {
  if (delimiter == '"' || delimiter == '\n' || delimiter == '\r') {
    throw CsvError("the delimiter cannot be a quote or a line break");
  }
  std::string text;
  try {  // libstdc++ throws from a stream over a directory, for one
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::exception& error) {
    throw CsvError(source + ": cannot be read (" + error.what() + ")");
  }
  if (in.bad()) throw CsvError(source + ": cannot be read");
  const std::vector<csv_detail::Record> records = csv_detail::split(text, delimiter, source);
  if (records.empty()) throw CsvError(source + " is empty: a header row is needed");

  CsvTable table;
  for (const csv_detail::Field& field : records.front().fields) table.header.push_back(field.text);
  const std::size_t columns = table.header.size();
  const std::size_t rows = records.size() - 1;
  std::vector<double> values;  // row-major while reading
  values.reserve(rows * columns);
  for (std::size_t r = 1; r < records.size(); ++r) {
    const csv_detail::Record& record = records[r];
    if (record.fields.size() != columns) {
      throw CsvError(source + ": data row " + std::to_string(r) + " (line " +
                     std::to_string(record.line) + ") has " + std::to_string(record.fields.size()) +
                     " fields but the header has " + std::to_string(columns));
    }
    for (std::size_t c = 0; c < columns; ++c) {
      values.push_back(
          csv_detail::number(record.fields[c], r, record.line, c + 1, table.header[c], source));
    }
  }
  table.values =
      Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
          values.data(), static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(columns));
  return table;
}

/// Reads the CSV file at `path`, or standard input when `path` is "-".
/// \throws CsvError when the file cannot be opened, or as read_csv
inline CsvTable read_csv_file(const std::string& path, char delimiter = ',') {
  if (path == "-") return read_csv(std::cin, "standard input", delimiter);
  std::ifstream file(path, std::ios::binary);
  if (!file) throw CsvError("cannot open '" + path + "' for reading (no such file, or no access)");
  return read_csv(file, path, delimiter);
}

}  // namespace example

#endif  // NADARAYA_EXAMPLE_CSV_HPP
