// How fast the width should shrink: the leave-one-out width against the sample size.
//
// For a twice-differentiable regression function, Nadaraya–Watson's squared bias grows like h^4 and
// its variance like 1 / (n h^d), so the error is smallest for h ~ n^(-1/(d+4)), where it falls like
// n^(-4/(d+4)). Leave-one-out cross-validation estimates that error without knowing the function,
// so the width it learns should follow the same law (Härdle, Hall & Marron 1988) — noisily: its
// relative scatter only shrinks like n^(-1/10), so we fit several data sets per size.
//
// For d = 1, 2 and 4: x uniform on [0, 1]^d, y = sum_j cos(2 pi x_j) + 0.5 N(0, 1). The function's
// derivative vanishes on the faces of the cube. That matters: where it does not, Nadaraya–Watson's
// bias near the boundary is of order h (not h^2), which changes the law above.
// For n = 250, 500, ... up to the largest size we learn one shared width (per_dimension = false)
// by SGD on the leave-one-out loss from Silverman's rule (the library's defaults otherwise), and
// measure the error against the noiseless function on 2000 held-out points. Least squares over all
// fits gives the slopes of log h and log error against log n, with their standard errors.
// Writes width_consistency{,_fits}.csv and, with gnuplot, width_consistency.png.
//
// Cost: a fit is about 200 SGD steps of 128 points, each against all n points, so a data set costs
// in proportion to n. The default, n = 250 ... 8000 with 3 data sets per size, takes about 80 s of
// CPU time (one thread, Release): under a minute on two idle cores. n up to 16000 (the next
// doubling) costs twice as much, and a fourth data set a third more.
//
// Run: ./build/examples/example_width_consistency [largest n, default 8000] [data sets per n, 3]

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>  // std::uint64_t: seeds
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <nadaraya/nadaraya.hpp>

#include "example_support.hpp"

using namespace nadaraya;

namespace {

const double pi = 3.14159265358979323846;
const double noise_sd = 0.5;

double regression_function(const Eigen::Ref<const Eigen::RowVectorXd>& x) {
  return (2 * pi * x.array()).cos().sum();
}

// n points uniform on [0, 1]^d, with y = f(x) + noise (or f(x) alone for held-out points).
void make_data(Eigen::Index n, Eigen::Index d, bool noisy, std::mt19937_64& generator,
               Eigen::MatrixXd& x, Eigen::VectorXd& y) {
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::normal_distribution<double> normal(0.0, 1.0);
  x.resize(n, d);
  y.resize(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < d; ++j) x(i, j) = uniform(generator);
    y(i) = regression_function(x.row(i)) + (noisy ? noise_sd * normal(generator) : 0.0);
  }
}

// The least-squares line y = a + b x: the slope b, its standard error, and a.
struct Line {
  double slope = 0, standard_error = 0, intercept = 0;
};

Line fit_line(const std::vector<double>& x, const std::vector<double>& y) {
  const auto count = static_cast<Eigen::Index>(x.size());
  const Eigen::Map<const Eigen::ArrayXd> xs(x.data(), count), ys(y.data(), count);
  const Eigen::ArrayXd dx = xs - xs.mean(), dy = ys - ys.mean();
  const double sxx = dx.square().sum();
  Line line;
  line.slope = (dx * dy).sum() / sxx;
  const double residual = (dy - line.slope * dx).square().sum();
  line.standard_error = std::sqrt(residual / static_cast<double>(count - 2) / sxx);
  line.intercept = ys.mean() - line.slope * xs.mean();
  return line;
}

Eigen::VectorXd column(const std::vector<double>& values) {
  return Eigen::Map<const Eigen::VectorXd>(values.data(), static_cast<Eigen::Index>(values.size()));
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const Eigen::Index largest_n = argc > 1 ? std::stol(argv[1]) : 8000;
  const int data_sets = argc > 2 ? std::stoi(argv[2]) : 3;
  const Eigen::Index test_size = 2000;
  const std::vector<Eigen::Index> dimensions = {1, 2, 4};
  std::vector<Eigen::Index> sizes;
  for (Eigen::Index n = 250; n <= largest_n; n *= 2) sizes.push_back(n);
  if (sizes.size() < 2 || data_sets < 1) {
    std::fprintf(stderr, "usage: %s [largest n >= 500] [data sets per n >= 1]\n", argv[0]);
    return 2;
  }

  std::vector<double> all_d, all_n, all_set, all_width, all_error, all_seconds;  // one per fit
  std::vector<double> line_d, line_n, line_width, line_error;                    // fitted lines
  std::vector<Line> width_lines, error_lines;
  bool widths_fall = true;
  const auto start = std::chrono::steady_clock::now();
  for (Eigen::Index d : dimensions) {
    const auto d_start = std::chrono::steady_clock::now();
    const double dd = static_cast<double>(d);
    std::mt19937_64 generator(static_cast<std::uint64_t>(1000 + d));
    Eigen::MatrixXd x_test;
    Eigen::VectorXd f_test;
    make_data(test_size, d, false, generator, x_test, f_test);

    std::printf("d = %d: y = sum_j cos(2 pi x_j) + %.1f N(0,1), %d data sets per n\n",
                static_cast<int>(d), noise_sd, data_sets);
    std::printf("%7s %12s %12s %16s %12s\n", "n", "mean width", "sd width", "held-out error",
                "fit seconds");
    std::vector<double> log_n, log_width, log_error, mean_width;
    for (Eigen::Index n : sizes) {
      std::vector<double> widths;
      double error_sum = 0, seconds = 0;
      for (int set = 0; set < data_sets; ++set) {
        Eigen::MatrixXd x;
        Eigen::VectorXd y;
        make_data(n, d, true, generator, x, y);
        const auto fit_start = std::chrono::steady_clock::now();
        NadarayaWatson<Gaussian> nw;  // starts from Silverman's rule
        nw.fit(x, y);
        FitOptions options;
        options.per_dimension = false;  // one width: the law is about a scalar h
        options.sgd.seed = static_cast<std::uint64_t>(set);
        nw.fit_bandwidth(options);
        const double width = nw.bandwidth()(0);
        // Error against the noiseless function: the noise would add a constant and hide the rate.
        const double error =
            (nw.predict(x_test).col(0) - f_test).squaredNorm() / static_cast<double>(test_size);
        const double fit_seconds = seconds_since(fit_start);

        widths.push_back(width);
        error_sum += error;
        seconds += fit_seconds;
        log_n.push_back(std::log(static_cast<double>(n)));
        log_width.push_back(std::log(width));
        log_error.push_back(std::log(error));
        all_d.push_back(dd);
        all_n.push_back(static_cast<double>(n));
        all_set.push_back(set);
        all_width.push_back(width);
        all_error.push_back(error);
        all_seconds.push_back(fit_seconds);
      }
      const Eigen::ArrayXd w = column(widths).array();
      const double mean = w.mean();
      const double sd =
          data_sets > 1 ? std::sqrt((w - mean).square().sum() / static_cast<double>(w.size() - 1))
                        : 0.0;
      mean_width.push_back(mean);
      std::printf("%7ld %12.5f %12.5f %16.3e %12.2f\n", static_cast<long>(n), mean, sd,
                  error_sum / data_sets, seconds);
    }
    const Line width_line = fit_line(log_n, log_width);
    const Line error_line = fit_line(log_n, log_error);
    width_lines.push_back(width_line);
    error_lines.push_back(error_line);
    std::printf("slope of log width on log n: %7.3f +- %.3f   (theory -1/(d+4) = %7.3f)\n",
                width_line.slope, width_line.standard_error, -1.0 / (dd + 4));
    std::printf("slope of log error on log n: %7.3f +- %.3f   (theory -4/(d+4) = %7.3f)\n",
                error_line.slope, error_line.standard_error, -4.0 / (dd + 4));
    std::printf("(%.1f s for d = %d)\n\n", seconds_since(d_start), static_cast<int>(d));
    if (!(mean_width.back() < mean_width.front())) widths_fall = false;
    for (Eigen::Index n : sizes) {
      const double log_size = std::log(static_cast<double>(n));
      line_d.push_back(dd);
      line_n.push_back(static_cast<double>(n));
      line_width.push_back(std::exp(width_line.intercept + width_line.slope * log_size));
      line_error.push_back(std::exp(error_line.intercept + error_line.slope * log_size));
    }
  }

  std::printf("%3s %26s %8s %26s %8s\n", "d", "slope of log h", "theory", "slope of log error",
              "theory");
  for (std::size_t k = 0; k < dimensions.size(); ++k) {
    const double dd = static_cast<double>(dimensions[k]);
    std::printf("%3d %16.3f +- %6.3f %8.3f %16.3f +- %6.3f %8.3f\n",
                static_cast<int>(dimensions[k]), width_lines[k].slope,
                width_lines[k].standard_error, -1 / (dd + 4), error_lines[k].slope,
                error_lines[k].standard_error, -4 / (dd + 4));
  }
  std::printf("(n = %ld to %ld, %d data sets per n; total %.1f s)\n",
              static_cast<long>(sizes.front()), static_cast<long>(sizes.back()), data_sets,
              seconds_since(start));

  example::write_csv("width_consistency.csv", {"d", "n", "data_set", "width", "error", "seconds"},
                     {column(all_d), column(all_n), column(all_set), column(all_width),
                      column(all_error), column(all_seconds)});
  example::write_csv("width_consistency_fits.csv", {"d", "n", "fitted_width", "fitted_error"},
                     {column(line_d), column(line_n), column(line_width), column(line_error)});
  const bool drawn = example::plot("width_consistency.gp", R"(
set terminal pngcairo size 1100,450
set output 'width_consistency.png'
set datafile separator ','
set multiplot layout 1,2
set logscale xy
set xlabel 'n'
set key bottom left
dims = "1 2 4"
set title 'leave-one-out width h (theory: slope -1/(d+4))'
plot for [k=1:3] 'width_consistency.csv' skip 1 using ($1 == word(dims, k) + 0 ? $2 : 1/0):4 \
       with points pt 7 ps 0.5 lc k title 'd = '.word(dims, k), \
     for [k=1:3] 'width_consistency_fits.csv' skip 1 using ($1 == word(dims, k) + 0 ? $2 : 1/0):3 \
       with lines lc k notitle
set title 'held-out error against f (theory: slope -4/(d+4))'
plot for [k=1:3] 'width_consistency.csv' skip 1 using ($1 == word(dims, k) + 0 ? $2 : 1/0):5 \
       with points pt 7 ps 0.5 lc k title 'd = '.word(dims, k), \
     for [k=1:3] 'width_consistency_fits.csv' skip 1 using ($1 == word(dims, k) + 0 ? $2 : 1/0):4 \
       with lines lc k notitle
unset multiplot
)");
  std::printf("wrote width_consistency.csv, width_consistency_fits.csv%s\n",
              drawn ? " and width_consistency.png" : " (install gnuplot for the picture)");

  std::printf("slope of log h on log n (+- standard error; theory -1/(d+4)):");
  for (std::size_t k = 0; k < dimensions.size(); ++k) {
    const double dd = static_cast<double>(dimensions[k]);
    std::printf("%s d=%d %.3f +- %.3f (%.3f)", k ? "," : "", static_cast<int>(dimensions[k]),
                width_lines[k].slope, width_lines[k].standard_error, -1 / (dd + 4));
  }
  std::printf("\n");
  if (!widths_fall) {
    std::fprintf(stderr,
                 "check failed: the mean width at the largest n is not below the mean width at "
                 "the smallest n for every d\n");
    return 1;
  }
  return 0;
}
