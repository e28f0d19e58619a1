// Two classic real data sets (examples/data/README.md gives their provenance):
//
// 1. Old Faithful eruption durations (faithful.csv, 272 eruptions): a bimodal density. Parzen
//    estimates with Silverman's and Scott's rules of thumb and with the width learned by SGD on the
//    leave-one-out log-likelihood (fit_bandwidth), side by side: the widths, the leave-one-out
//    log-likelihood sum_i log p_{-i}(x_i) of each, and the three curves written to
//    faithful_density.csv and drawn over a histogram and a rug of the data (faithful_density.png).
//    The rules assume a roughly normal density and oversmooth the two modes.
//
// 2. Motorcycle crash helmet (mcycle.csv, 133 measurements): Nadaraya–Watson regression of head
//    acceleration on time since impact, with the width learned by SGD on the leave-one-out squared
//    error, against Silverman's rule. Writes mcycle_fit.csv and draws mcycle_fit.png.
//
// The last line holds the key numbers; the exit code checks that the learned widths beat the rules
// on their own criterion (a higher leave-one-out log-likelihood on faithful than both rules, a
// leave-one-out MSE on mcycle no larger than Silverman's) and that each density integrates to 1.
//
// Run: ./build/examples/example_real_data [data directory]
// (default: examples/data of the source tree this was built from, then ./examples/data, ./data)

#include <algorithm>  // std::max
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nadaraya/nadaraya.hpp>

#include "csv.hpp"
#include "example_support.hpp"

using namespace nadaraya;

namespace {

// The directory holding faithful.csv and mcycle.csv: the argument if given, else the first of the
// source tree's examples/data (a compile definition from CMake), ./examples/data and ./data.
std::string data_directory(int argc, char** argv) {
  std::vector<std::string> candidates;
  if (argc > 1) {
    candidates.push_back(argv[1]);
  } else {
#ifdef NADARAYA_EXAMPLE_DATA_DIR
    candidates.push_back(NADARAYA_EXAMPLE_DATA_DIR);
#endif
    candidates.push_back("examples/data");
    candidates.push_back("data");
  }
  std::string tried;
  for (const std::string& directory : candidates) {
    if (std::ifstream(directory + "/faithful.csv") && std::ifstream(directory + "/mcycle.csv")) {
      return directory;
    }
    tried += "\n  " + directory;
  }
  throw example::CsvError("faithful.csv and mcycle.csv not found in:" + tried +
                          "\n(give the data directory as the argument)");
}

// n points evenly spaced over [low, high].
Eigen::VectorXd grid(double low, double high, Eigen::Index n) {
  return Eigen::VectorXd::LinSpaced(n, low, high);
}

// The trapezoid rule over an even grid.
double integral(const Eigen::VectorXd& x, const Eigen::VectorXd& f) {
  const double step = x(1) - x(0);
  return step * (f.sum() - 0.5 * (f(0) + f(f.size() - 1)));
}

double mean_squared_error(const Eigen::MatrixXd& predicted, const Eigen::MatrixXd& truth) {
  return (predicted - truth).squaredNorm() / static_cast<double>(truth.rows());
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string directory = data_directory(argc, argv);

  // ---- 1. Old Faithful: Parzen densities of the eruption durations ------------------------------
  const example::CsvTable faithful = example::read_csv_file(directory + "/faithful.csv");
  const Eigen::MatrixXd eruptions = faithful.values.col(faithful.column("eruptions", "faithful"));
  std::printf("Old Faithful: %ld eruption durations (min), %.2f to %.2f\n",
              static_cast<long>(eruptions.rows()), eruptions.minCoeff(), eruptions.maxCoeff());

  ParzenDensity<Gaussian> silverman(Bandwidth::silverman()), scott(Bandwidth::scott()),
      cross_validated;
  silverman.fit(eruptions);
  scott.fit(eruptions);
  cross_validated.fit(eruptions);
  FitOptions density_options;
  density_options.density_criterion = DensityCriterion::likelihood;  // the default, said aloud
  const FitReport density_report = cross_validated.fit_bandwidth(density_options);

  // The grid reaches 4 of the widest kernel's widths past the data: all but 3e-5 of each density's
  // mass lies on it.
  const double margin = 4 * std::max({silverman.bandwidth()(0), scott.bandwidth()(0),
                                      cross_validated.bandwidth()(0)});
  const Eigen::VectorXd x = grid(eruptions.minCoeff() - margin, eruptions.maxCoeff() + margin, 501);
  struct Row {
    const char* name;
    const ParzenDensity<Gaussian>* model;
    double width, loo, mass;
    Eigen::VectorXd curve;
  };
  std::vector<Row> rows = {{"Silverman's rule", &silverman, 0, 0, 0, {}},
                           {"Scott's rule", &scott, 0, 0, 0, {}},
                           {"leave-one-out SGD", &cross_validated, 0, 0, 0, {}}};
  std::printf("%-20s %10s %26s %18s\n", "bandwidth", "width h", "leave-one-out log-lik.",
              "integral on grid");
  for (Row& row : rows) {
    row.width = row.model->bandwidth()(0);
    row.loo = row.model->leave_one_out_log_density().sum();
    row.curve = row.model->density(x);
    row.mass = integral(x, row.curve);
    std::printf("%-20s %10.4f %26.3f %18.6f\n", row.name, row.width, row.loo, row.mass);
  }
  std::printf("(fit: %ld SGD steps over %ld epochs, %s; from h = %.4f)\n",
              static_cast<long>(density_report.steps), static_cast<long>(density_report.epochs),
              to_string(density_report.reason), density_report.start_widths(0));

  example::write_csv("faithful_density.csv", {"eruptions", "silverman", "scott", "cross_validated"},
                     {x, rows[0].curve, rows[1].curve, rows[2].curve});
  example::write_csv("faithful_eruptions.csv", {"eruptions"}, {eruptions.col(0)});
  const bool faithful_drawn =
      example::plot("faithful_density.gp", "n = " + std::to_string(eruptions.rows()) + R"(
set terminal pngcairo size 900,600
set output 'faithful_density.png'
set datafile separator ','
set title 'Old Faithful eruption durations: Parzen densities (Gaussian kernel)'
set xlabel 'eruption duration (min)'
set ylabel 'density'
set style fill transparent solid 0.25 noborder
width = 0.2
bin(v) = width * (floor(v / width) + 0.5)
plot 'faithful_eruptions.csv' skip 1 using (bin($1)):(1.0 / (n * width)) smooth frequency with boxes lc rgb 'gray' title 'histogram', \
     '' skip 1 using 1:(-0.015) with points pt '|' lc rgb 'black' title 'eruptions', \
     'faithful_density.csv' skip 1 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'Silverman', \
     '' skip 1 using 1:3 with lines lw 2 lc rgb '#ff7f0e' title 'Scott', \
     '' skip 1 using 1:4 with lines lw 2 lc rgb '#d62728' title 'leave-one-out SGD'
)");
  std::printf("wrote faithful_density.csv%s\n",
              faithful_drawn ? " and faithful_density.png" : " (install gnuplot for the picture)");

  // ---- 2. Motorcycle helmet: Nadaraya–Watson regression of acceleration on time ---------------
  const example::CsvTable mcycle = example::read_csv_file(directory + "/mcycle.csv");
  const Eigen::MatrixXd times = mcycle.values.col(mcycle.column("times", "mcycle"));
  const Eigen::MatrixXd accel = mcycle.values.col(mcycle.column("accel", "mcycle"));
  std::printf("\nMotorcycle helmet: %ld accelerations (g) from %.1f to %.1f ms after impact\n",
              static_cast<long>(times.rows()), times.minCoeff(), times.maxCoeff());

  NadarayaWatson<Gaussian> nw_silverman(Bandwidth::silverman()), nw_cross_validated;
  nw_silverman.fit(times, accel);
  nw_cross_validated.fit(times, accel);
  const FitReport regression_report = nw_cross_validated.fit_bandwidth();
  const double mse_silverman = mean_squared_error(nw_silverman.predict_leave_one_out(), accel);
  const double mse_cross_validated =
      mean_squared_error(nw_cross_validated.predict_leave_one_out(), accel);
  const double h_silverman = nw_silverman.bandwidth()(0);
  const double h_cross_validated = nw_cross_validated.bandwidth()(0);
  std::printf("%-20s %10s %26s\n", "bandwidth", "width h", "leave-one-out MSE (g^2)");
  std::printf("%-20s %10.4f %26.2f\n", "Silverman's rule", h_silverman, mse_silverman);
  std::printf("%-20s %10.4f %26.2f\n", "leave-one-out SGD", h_cross_validated, mse_cross_validated);
  std::printf("(fit: %ld SGD steps over %ld epochs, %s; from h = %.4f)\n",
              static_cast<long>(regression_report.steps),
              static_cast<long>(regression_report.epochs), to_string(regression_report.reason),
              regression_report.start_widths(0));

  const Eigen::VectorXd t = grid(times.minCoeff(), times.maxCoeff(), 501);
  const Eigen::VectorXd fit_silverman = nw_silverman.predict(t).col(0);
  const Eigen::VectorXd fit_cross_validated = nw_cross_validated.predict(t).col(0);
  example::write_csv("mcycle_fit.csv", {"times", "silverman", "cross_validated"},
                     {t, fit_silverman, fit_cross_validated});
  example::write_csv("mcycle_points.csv", {"times", "accel"}, {times.col(0), accel.col(0)});
  const bool mcycle_drawn = example::plot("mcycle_fit.gp", R"(
set terminal pngcairo size 900,600
set output 'mcycle_fit.png'
set datafile separator ','
set title 'Motorcycle helmet: Nadaraya-Watson regression (Gaussian kernel)'
set xlabel 'time after impact (ms)'
set ylabel 'head acceleration (g)'
set key bottom right
plot 'mcycle_points.csv' skip 1 using 1:2 with points pt 7 ps 0.6 lc rgb 'gray40' title 'data', \
     'mcycle_fit.csv' skip 1 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'Silverman', \
     '' skip 1 using 1:3 with lines lw 2 lc rgb '#d62728' title 'leave-one-out SGD'
)");
  std::printf("wrote mcycle_fit.csv%s\n",
              mcycle_drawn ? " and mcycle_fit.png" : " (install gnuplot for the picture)");

  // ---- The key numbers, and the checks on them --------------------------------------------------
  const bool density_wins = rows[2].loo > rows[0].loo && rows[2].loo > rows[1].loo;
  bool masses_ok = true;
  for (const Row& row : rows) masses_ok = masses_ok && std::abs(row.mass - 1) < 1e-3;
  const bool regression_wins = mse_cross_validated <= mse_silverman;
  std::printf(
      "\nfaithful h: silverman %.4f scott %.4f cv %.4f, LOO log-lik %.3f %.3f %.3f; "
      "mcycle h: silverman %.4f cv %.4f, LOO MSE %.2f %.2f\n",
      rows[0].width, rows[1].width, rows[2].width, rows[0].loo, rows[1].loo, rows[2].loo,
      h_silverman, h_cross_validated, mse_silverman, mse_cross_validated);
  if (!density_wins) std::printf("FAILED: the learned width does not beat both rules\n");
  if (!masses_ok) std::printf("FAILED: a density does not integrate to 1 on the grid\n");
  if (!regression_wins) std::printf("FAILED: the learned width has a larger LOO MSE\n");
  return density_wins && masses_ok && regression_wins ? 0 : 1;
} catch (const std::exception& error) {
  std::fprintf(stderr, "example_real_data: %s\n", error.what());
  return 2;
}
