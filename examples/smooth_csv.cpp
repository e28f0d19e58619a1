// smooth_csv: kernel smoothing of your own CSV file from the command line.
//
// Reads a CSV file with a header row (examples/csv.hpp), learns the kernel widths by SGD on a
// leave-one-out criterion (fit_bandwidth), and writes the estimate on a regular grid (1-D or 2-D)
// or at the rows of a second CSV file. With --output it is Nadaraya–Watson regression of the
// output column(s) on the input columns (criterion: the leave-one-out squared error); without, a
// Parzen density of the input columns (criterion: the leave-one-out log-likelihood). The report
// (widths, leave-one-out error or log-likelihood, against Silverman's rule) goes to standard
// error, so that standard output can carry the CSV.
//
// Run: ./build/examples/example_smooth_csv --help
//      ./build/examples/example_smooth_csv examples/data/mcycle.csv --output accel -o fit.csv
//      ./build/examples/example_smooth_csv examples/data/faithful.csv --grid 40,40 > density.csv

#include <algorithm>  // std::find, std::max
#include <charconv>   // std::from_chars: option values
#include <cmath>      // std::exp, std::isfinite
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iomanip>  // std::setprecision
#include <iostream>
#include <stdexcept>
#include <string>
#include <system_error>  // std::errc
#include <utility>       // std::pair
#include <vector>

#include <nadaraya/nadaraya.hpp>

#include "csv.hpp"

namespace {

const char* const usage = R"(Usage: smooth_csv [options] INPUT.csv

Kernel smoothing of a CSV file (header row, numbers below it) with a Gaussian kernel whose
widths are learned by leave-one-out cross-validation (stochastic gradient descent).

  INPUT.csv             the data; - reads standard input
  -y, --output NAMES    output column(s), comma separated: Nadaraya-Watson regression of them
                        on the inputs. Without it: a Parzen density of the inputs.
  -x, --inputs NAMES    input column(s), comma separated (default: every column that is not
                        an output)
  -p, --predict FILE    estimate at the rows of FILE, a CSV with the same input column names
                        (- for standard input); when FILE also has the output column(s), the
                        held-out mean squared error is reported too
  -g, --grid N[,M]      estimate on a regular grid of N points (1 input) or N x M points
                        (2 inputs); the default without --predict (200, or 50,50)
  -r, --range LO:HI[,LO:HI]
                        the grid's range per input (default: the data's range, widened by
                        three widths for a density)
  -o, --out FILE        where to write the estimates (default: standard output)
      --shared-width    one width for all inputs (default: one per input)
      --seed N          seed of the SGD mini-batches (default 0)
  -d, --delimiter C     field separator: one character, or 'tab' (default ,)
  -h, --help            this text

The estimates are written as CSV: the input columns, then the output column(s) (regression) or
density,log_density (density). The report goes to standard error. Exit status: 0 on success, 1
for bad data (a missing file or column, a cell that is not a number, too few rows), 2 for bad
options.
)";

/// A mistake in the command line (exit status 2).
class UsageError : public std::runtime_error {
 public:
  explicit UsageError(const std::string& message) : std::runtime_error(message) {}
};

/// Bad data (exit status 1), beside example::CsvError and nadaraya::Error.
class DataError : public std::runtime_error {
 public:
  explicit DataError(const std::string& message) : std::runtime_error(message) {}
};

struct Settings {
  std::string input;                             // path or "-"
  std::vector<std::string> inputs;               // input column names (empty: all but the outputs)
  std::vector<std::string> outputs;              // output column names (empty: density)
  std::string predict;                           // path of the query file, "" for a grid
  std::vector<Eigen::Index> grid;                // points per input on the grid (empty: default)
  std::vector<std::pair<double, double>> range;  // grid range per input (empty: default)
  std::string out = "-";                         // where the estimates go
  bool shared_width = false;                     // one width for all inputs
  std::uint64_t seed = 0;                        // SGD seed
  char delimiter = ',';                          // field separator
  bool help = false;                             // print the usage and stop
};

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

template <class Number>
Number parse_number(const std::string& text, const std::string& option) {
  Number value{};
  const char* end = text.data() + text.size();
  const std::from_chars_result result = std::from_chars(text.data(), end, value);
  if (text.empty() || result.ec != std::errc() || result.ptr != end) {
    throw UsageError("option " + option + ": '" + text + "' is not a valid number");
  }
  return value;
}

std::vector<std::string> names(const std::string& text, const std::string& option) {
  std::vector<std::string> list = split(text, ',');
  for (const std::string& name : list) {
    if (name.empty())
      throw UsageError("option " + option + ": an empty column name in '" + text + "'");
  }
  return list;
}

Settings parse_arguments(int argc, char** argv) {
  Settings settings;
  bool have_input = false;
  for (int a = 1; a < argc; ++a) {
    const std::string argument = argv[a];
    auto value = [&]() -> std::string {
      if (a + 1 >= argc) throw UsageError("option " + argument + " needs a value");
      return argv[++a];
    };
    if (argument == "-h" || argument == "--help") {
      settings.help = true;
    } else if (argument == "-y" || argument == "--output") {
      settings.outputs = names(value(), argument);
    } else if (argument == "-x" || argument == "--inputs") {
      settings.inputs = names(value(), argument);
    } else if (argument == "-p" || argument == "--predict") {
      settings.predict = value();
    } else if (argument == "-g" || argument == "--grid") {
      settings.grid.clear();
      for (const std::string& part : split(value(), ',')) {
        const long points = parse_number<long>(part, argument);
        if (points < 2 || points > 100000) {
          throw UsageError("option " + argument + ": " + part + " points; give 2 to 100000");
        }
        settings.grid.push_back(static_cast<Eigen::Index>(points));
      }
      double total = 1;
      for (Eigen::Index count : settings.grid) total *= static_cast<double>(count);
      if (total > 1e7) {
        throw UsageError("option " + argument + ": " +
                         std::to_string(static_cast<long long>(total)) +
                         " grid points; at most 10000000");
      }
    } else if (argument == "-r" || argument == "--range") {
      settings.range.clear();
      for (const std::string& part : split(value(), ',')) {
        const std::vector<std::string> ends = split(part, ':');
        if (ends.size() != 2)
          throw UsageError("option " + argument + ": '" + part + "' is not LO:HI");
        const double low = parse_number<double>(ends[0], argument);
        const double high = parse_number<double>(ends[1], argument);
        if (!(low < high) || !std::isfinite(low) || !std::isfinite(high)) {
          throw UsageError("option " + argument + ": '" + part + "' needs finite LO < HI");
        }
        settings.range.emplace_back(low, high);
      }
    } else if (argument == "-o" || argument == "--out") {
      settings.out = value();
    } else if (argument == "--shared-width") {
      settings.shared_width = true;
    } else if (argument == "--seed") {
      settings.seed = parse_number<std::uint64_t>(value(), argument);
    } else if (argument == "-d" || argument == "--delimiter") {
      const std::string text = value();
      if (text == "tab" || text == "\\t") {
        settings.delimiter = '\t';
      } else if (text.size() == 1 && text != "\"" && text != "\n" && text != "\r") {
        settings.delimiter = text[0];
      } else {
        throw UsageError("option " + argument + ": '" + text +
                         "' is not one character (nor 'tab'), or is a quote");
      }
    } else if (argument.size() > 1 && argument[0] == '-') {
      throw UsageError("unknown option '" + argument + "'");
    } else if (have_input) {
      throw UsageError("more than one input file ('" + settings.input + "' and '" + argument +
                       "')");
    } else {
      settings.input = argument;
      have_input = true;
    }
  }
  if (settings.help) return settings;
  if (!have_input) throw UsageError("no input file (give a CSV file, or - for standard input)");
  if (settings.input == "-" && settings.predict == "-") {
    throw UsageError("the input and --predict cannot both read standard input");
  }
  if (!settings.predict.empty() && (!settings.grid.empty() || !settings.range.empty())) {
    throw UsageError("give either --predict or --grid/--range, not both");
  }
  return settings;
}

std::string source_name(const std::string& path) { return path == "-" ? "standard input" : path; }

std::string join(const std::vector<std::string>& list) {
  std::string text;
  for (std::size_t i = 0; i < list.size(); ++i) text += (i ? ", " : "") + list[i];
  return text;
}

/// The columns of `table` called `wanted`, in that order.
Eigen::MatrixXd columns(const example::CsvTable& table, const std::vector<std::string>& wanted,
                        const std::string& source) {
  Eigen::MatrixXd selected(table.values.rows(), static_cast<Eigen::Index>(wanted.size()));
  for (std::size_t c = 0; c < wanted.size(); ++c) {
    selected.col(static_cast<Eigen::Index>(c)) = table.values.col(table.column(wanted[c], source));
  }
  return selected;
}

/// The regular grid over `range` with `points` per input (the first input varies slowest).
Eigen::MatrixXd make_grid(const std::vector<std::pair<double, double>>& range,
                          const std::vector<Eigen::Index>& points) {
  Eigen::Index total = 1;
  for (Eigen::Index count : points) total *= count;
  const Eigen::Index d = static_cast<Eigen::Index>(points.size());
  Eigen::MatrixXd grid(total, d);
  for (Eigen::Index row = 0; row < total; ++row) {
    Eigen::Index rest = row;
    for (Eigen::Index j = d - 1; j >= 0; --j) {
      const auto u = static_cast<std::size_t>(j);
      const Eigen::Index index = rest % points[u];
      rest /= points[u];
      grid(row, j) = range[u].first + (range[u].second - range[u].first) *
                                          static_cast<double>(index) /
                                          static_cast<double>(points[u] - 1);
    }
  }
  return grid;
}

/// The grid of --grid and --range, by default 200 points (or 50 x 50) over the data's range
/// widened by `margin` widths on each side.
Eigen::MatrixXd grid_over(const Settings& settings, const Eigen::MatrixXd& X,
                          const Eigen::VectorXd& widths, double margin) {
  std::vector<std::pair<double, double>> range = settings.range;
  if (range.empty()) {
    for (Eigen::Index j = 0; j < X.cols(); ++j) {
      range.emplace_back(X.col(j).minCoeff() - margin * widths(j),
                         X.col(j).maxCoeff() + margin * widths(j));
    }
  }
  std::vector<Eigen::Index> points = settings.grid;
  if (points.empty()) points.assign(range.size(), range.size() == 1 ? 200 : 50);
  return make_grid(range, points);
}

double mean_squared_error(const Eigen::MatrixXd& predicted, const Eigen::MatrixXd& truth) {
  return (predicted - truth).squaredNorm() / static_cast<double>(truth.size());
}

void print_widths(const char* label, const std::vector<std::string>& inputs,
                  const Eigen::VectorXd& widths) {
  std::fprintf(stderr, "  %-28s", label);
  for (std::size_t j = 0; j < inputs.size(); ++j) {
    std::fprintf(stderr, " %s %.6g", inputs[j].c_str(), widths(static_cast<Eigen::Index>(j)));
  }
  std::fprintf(stderr, "\n");
}

int run(const Settings& settings) {
  using namespace nadaraya;
  const std::string source = source_name(settings.input);
  const example::CsvTable table = example::read_csv_file(settings.input, settings.delimiter);

  // Which columns: the outputs as named, the inputs as named or all the others.
  for (const std::string& name : settings.outputs) (void)table.column(name, source);
  std::vector<std::string> inputs = settings.inputs;
  if (inputs.empty()) {
    for (const std::string& name : table.header) {
      if (std::find(settings.outputs.begin(), settings.outputs.end(), name) ==
          settings.outputs.end()) {
        inputs.push_back(name);
      }
    }
    if (inputs.empty()) {
      throw DataError(source + ": every column is an output; no input column is left");
    }
  }
  for (const std::string& name : inputs) {
    if (std::find(settings.outputs.begin(), settings.outputs.end(), name) !=
        settings.outputs.end()) {
      throw DataError("column '" + name + "' is both an input and an output");
    }
  }
  const Eigen::MatrixXd X = columns(table, inputs, source);
  const Eigen::Index n = X.rows(), d = X.cols();
  if (n < 2) {
    throw DataError(source + " has " + std::to_string(n) + (n == 1 ? " data row" : " data rows") +
                    "; leave-one-out fitting needs at least 2");
  }
  const bool regression = !settings.outputs.empty();

  // The queries: the rows of --predict, or a grid.
  Eigen::MatrixXd queries;
  example::CsvTable query_table;
  std::string query_source;
  if (!settings.predict.empty()) {
    query_source = source_name(settings.predict);
    query_table = example::read_csv_file(settings.predict, settings.delimiter);
    queries = columns(query_table, inputs, query_source);
  } else if (d > 2) {
    throw DataError("a grid needs 1 or 2 input columns, not " + std::to_string(d) + " (" +
                    join(inputs) + "): choose them with --inputs, or give --predict FILE");
  } else if (!settings.grid.empty() && static_cast<Eigen::Index>(settings.grid.size()) != d) {
    throw UsageError("--grid gives " + std::to_string(settings.grid.size()) + " sizes for " +
                     std::to_string(d) + " input column(s)");
  } else if (!settings.range.empty() && static_cast<Eigen::Index>(settings.range.size()) != d) {
    throw UsageError("--range gives " + std::to_string(settings.range.size()) + " ranges for " +
                     std::to_string(d) + " input column(s)");
  }

  FitOptions options;
  options.per_dimension = !settings.shared_width;
  options.sgd.seed = settings.seed;
  Eigen::VectorXd widths;
  Eigen::MatrixXd estimates;
  std::vector<std::string> estimate_names;
  std::fprintf(stderr, "smooth_csv: %s: %ld rows; ", source.c_str(), static_cast<long>(n));
  if (regression) {
    const Eigen::MatrixXd Y = columns(table, settings.outputs, source);
    std::fprintf(stderr, "regression of %s on %s (Gaussian kernel)\n",
                 join(settings.outputs).c_str(), join(inputs).c_str());
    NadarayaWatson<Gaussian> rule(Bandwidth::silverman()), model;
    rule.fit(X, Y);
    model.fit(X, Y);
    const FitReport report = model.fit_bandwidth(options);
    widths = model.bandwidth();
    print_widths("widths, Silverman's rule:", inputs, rule.bandwidth());
    print_widths("widths, leave-one-out SGD:", inputs, widths);
    std::fprintf(stderr, "  %-28s %.6g (Silverman's rule: %.6g)\n",
                 "leave-one-out MSE:", mean_squared_error(model.predict_leave_one_out(), Y),
                 mean_squared_error(rule.predict_leave_one_out(), Y));
    std::fprintf(stderr, "  %-28s %ld SGD steps over %ld epochs, %s\n",
                 "fit:", static_cast<long>(report.steps), static_cast<long>(report.epochs),
                 to_string(report.reason));
    estimate_names = settings.outputs;
    if (settings.predict.empty()) queries = grid_over(settings, X, widths, 0);
    estimates = model.predict(queries);
    bool has_truth = !settings.predict.empty();
    for (const std::string& name : settings.outputs) {
      has_truth = has_truth && std::find(query_table.header.begin(), query_table.header.end(),
                                         name) != query_table.header.end();
    }
    if (has_truth) {
      std::fprintf(
          stderr, "  %-28s %.6g\n", ("held-out MSE on " + query_source + ":").c_str(),
          mean_squared_error(estimates, columns(query_table, settings.outputs, query_source)));
    }
  } else {
    std::fprintf(stderr, "density of %s (Gaussian kernel)\n", join(inputs).c_str());
    ParzenDensity<Gaussian> rule(Bandwidth::silverman()), model;
    rule.fit(X);
    model.fit(X);
    const FitReport report = model.fit_bandwidth(options);
    widths = model.bandwidth();
    print_widths("widths, Silverman's rule:", inputs, rule.bandwidth());
    print_widths("widths, leave-one-out SGD:", inputs, widths);
    const double loo = model.leave_one_out_log_density().sum();
    const double loo_rule = rule.leave_one_out_log_density().sum();
    std::fprintf(stderr, "  %-28s %.6g, %.6g per row (Silverman's rule: %.6g, %.6g per row)\n",
                 "leave-one-out log-lik.:", loo, loo / static_cast<double>(n), loo_rule,
                 loo_rule / static_cast<double>(n));
    std::fprintf(stderr, "  %-28s %ld SGD steps over %ld epochs, %s\n",
                 "fit:", static_cast<long>(report.steps), static_cast<long>(report.epochs),
                 to_string(report.reason));
    if (settings.predict.empty()) queries = grid_over(settings, X, widths, 3);
    const Eigen::VectorXd log_density = model.log_density(queries);
    estimates.resize(queries.rows(), 2);
    estimates.col(0) = log_density.unaryExpr([](double l) { return std::exp(l); });
    estimates.col(1) = log_density;
    estimate_names = {"density", "log_density"};
  }

  // The estimates, as CSV.
  std::ofstream file;
  if (settings.out != "-") {
    file.open(settings.out);
    if (!file) throw DataError("cannot write '" + settings.out + "'");
  }
  std::ostream& out = settings.out == "-" ? std::cout : file;
  out << std::setprecision(10);
  const char delimiter = settings.delimiter;
  for (std::size_t j = 0; j < inputs.size(); ++j)
    out << (j ? std::string(1, delimiter) : "") << inputs[j];
  for (const std::string& name : estimate_names) out << delimiter << name;
  out << "\n";
  for (Eigen::Index i = 0; i < queries.rows(); ++i) {
    for (Eigen::Index j = 0; j < d; ++j)
      out << (j ? std::string(1, delimiter) : "") << queries(i, j);
    for (Eigen::Index k = 0; k < estimates.cols(); ++k) out << delimiter << estimates(i, k);
    out << "\n";
  }
  out.flush();
  if (!out) throw DataError("writing '" + source_name(settings.out) + "' failed");
  std::fprintf(stderr, "  %-28s %ld rows to %s\n", "wrote:", static_cast<long>(queries.rows()),
               settings.out == "-" ? "standard output" : settings.out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Settings settings = parse_arguments(argc, argv);
    if (settings.help) {
      std::fputs(usage, stdout);
      return 0;
    }
    return run(settings);
  } catch (const UsageError& error) {
    std::fprintf(stderr, "smooth_csv: %s\nTry 'smooth_csv --help'.\n", error.what());
    return 2;
  } catch (const std::exception& error) {  // example::CsvError, DataError, nadaraya::Error
    std::fprintf(stderr, "smooth_csv: error: %s\n", error.what());
    return 1;
  }
}
