// Learning the kernel width by SGD, and why the loss must leave each point out.
//
// Data: y = 2 sin(x) + x + noise, x ~ N(0, 1), noise 0.5 N(0, 1), as in the quick start (the
// d2l.ai chapter "Attention Pooling by Similarity"), with n training and n held-out points.
// We learn the Gaussian width h of Nadaraya–Watson regression by SGD twice:
//   (a) on the naive in-sample loss (FitOptions::leave_one_out = false), where each point (x_i,
//   y_i)
//       takes part in its own estimate. The smaller h, the more each estimate is just y_i itself,
//       so the loss falls to 0 as h -> 0: the width collapses, the training error vanishes, and the
//       held-out error grows towards that of the nearest neighbour (about twice the noise
//       variance);
//   (b) on the leave-one-out loss (the default), where point i is predicted from the others only:
//       it has a minimum at a useful width, and the fit settles there.
// A per-epoch callback (FitOptions::on_epoch) records the width, training and held-out errors.
// Writes sgd_width_*.csv and, with gnuplot, sgd_width_fits.png and sgd_width_loss.png.
//
// Run: ./build/examples/example_sgd_width [training points, default 1000]

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <nadaraya/nadaraya.hpp>

#include "example_support.hpp"

using namespace nadaraya;

namespace {

const double noise_sd = 0.5;  // the best possible mean squared error is noise_sd^2 = 0.25

double truth(double x) { return 2 * std::sin(x) + x; }

void make_data(Eigen::Index n, std::mt19937_64& generator, Eigen::MatrixXd& x, Eigen::VectorXd& y) {
  std::normal_distribution<double> normal(0.0, 1.0);
  x.resize(n, 1);
  y.resize(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    x(i, 0) = normal(generator);
    y(i) = truth(x(i, 0)) + noise_sd * normal(generator);
  }
}

double mean_squared_error(const Eigen::MatrixXd& predicted, const Eigen::VectorXd& y) {
  return (predicted.col(0) - y).squaredNorm() / static_cast<double>(y.size());
}

// One fit's path: epoch 0 is the start (Silverman's rule).
struct Trajectory {
  std::vector<double> epoch, width, objective, train_error, held_out_error;
};

Eigen::VectorXd column(const std::vector<double>& values) {
  return Eigen::Map<const Eigen::VectorXd>(values.data(), static_cast<Eigen::Index>(values.size()));
}

}  // namespace

int main(int argc, char** argv) {
  const Eigen::Index n = argc > 1 ? std::stol(argv[1]) : 1000;
  std::mt19937_64 generator(42);
  Eigen::MatrixXd x_train, x_test;
  Eigen::VectorXd y_train, y_test;
  make_data(n, generator, x_train, y_train);
  make_data(n, generator, x_test, y_test);

  // A second model only for measuring: it predicts with whatever width the fit has reached.
  NadarayaWatson<Gaussian> probe;
  probe.fit(x_train, y_train);
  auto record = [&](Trajectory& path, double epoch, double width, double objective) {
    probe.set_bandwidth(Bandwidth::scalar(width));
    path.epoch.push_back(epoch);
    path.width.push_back(width);
    path.objective.push_back(objective);
    path.train_error.push_back(mean_squared_error(probe.predict(x_train), y_train));
    path.held_out_error.push_back(mean_squared_error(probe.predict(x_test), y_test));
  };

  // Both fits start from Silverman's rule and use the same SGD settings; only the objective
  // differs. They are the defaults (Adam, batches of 128, rate 0.1 in log h) except that the rate
  // halves every 120 steps rather than 40: with the default decay a width can travel at most a
  // factor of about 330 from its start, which would stop the naive fit on its way down.
  const double half_life = 120;
  Trajectory naive_path, loo_path;
  NadarayaWatson<Gaussian> naive, loo;
  naive.fit(x_train, y_train);
  loo.fit(x_train, y_train);
  const double start_width = naive.bandwidth()(0);

  FitOptions naive_options;
  naive_options.leave_one_out = false;
  naive_options.sgd.half_life = half_life;
  record(naive_path, 0, start_width, std::nan(""));
  naive_options.on_epoch = [&](const FitProgress& progress) {
    record(naive_path, static_cast<double>(progress.epoch), progress.widths(0), progress.objective);
    return true;  // keep going
  };
  const FitReport naive_report = naive.fit_bandwidth(naive_options);

  FitOptions loo_options;  // leave_one_out = true is the default
  loo_options.sgd.half_life = half_life;
  record(loo_path, 0, start_width, std::nan(""));
  loo_options.on_epoch = [&](const FitProgress& progress) {
    record(loo_path, static_cast<double>(progress.epoch), progress.widths(0), progress.objective);
    return true;
  };
  const FitReport loo_report = loo.fit_bandwidth(loo_options);

  // The two trajectories side by side: epochs 0-5, then every 5th, then each fit's last.
  std::printf("%d training and %d held-out points, y = 2 sin(x) + x + %.1f N(0,1)\n\n",
              static_cast<int>(n), static_cast<int>(n), noise_sd);
  std::printf("%5s | %-36s | %-36s\n", "", "(a) naive in-sample loss", "(b) leave-one-out loss");
  std::printf("%5s | %10s %12s %12s | %10s %12s %12s\n", "epoch", "width", "train MSE",
              "held-out MSE", "width", "train MSE", "held-out MSE");
  const std::size_t rows = std::max(naive_path.epoch.size(), loo_path.epoch.size());
  auto print_side = [](const Trajectory& path, std::size_t row) {
    if (row < path.epoch.size()) {
      std::printf(" %10.3e %12.5f %12.5f", path.width[row], path.train_error[row],
                  path.held_out_error[row]);
    } else {
      std::printf(" %10s %12s %12s", "", "", "");
    }
  };
  for (std::size_t row = 0; row < rows; ++row) {
    const bool last = row + 1 == naive_path.epoch.size() || row + 1 == loo_path.epoch.size();
    if (!(row <= 5 || (row <= 20 && row % 5 == 0) || row % 10 == 0 || last)) continue;
    std::printf("%5d |", static_cast<int>(row));
    print_side(naive_path, row);
    std::printf(" |");
    print_side(loo_path, row);
    std::printf("\n");
  }

  const double naive_width = naive.bandwidth()(0), loo_width = loo.bandwidth()(0);
  const double naive_train = mean_squared_error(naive.predict(x_train), y_train);
  const double loo_train = mean_squared_error(loo.predict(x_train), y_train);
  const double naive_held_out = mean_squared_error(naive.predict(x_test), y_test);
  const double loo_held_out = mean_squared_error(loo.predict(x_test), y_test);
  std::printf("\n%-22s %10s %12s %12s %8s %7s  %s\n", "final", "width", "train MSE", "held-out MSE",
              "epochs", "steps", "stopped");
  std::printf("%-22s %10.3e %12.5f %12.5f %8ld %7ld  %s\n", "(a) naive", naive_width, naive_train,
              naive_held_out, static_cast<long>(naive_report.epochs),
              static_cast<long>(naive_report.steps), to_string(naive_report.reason));
  std::printf("%-22s %10.3e %12.5f %12.5f %8ld %7ld  %s\n", "(b) leave-one-out", loo_width,
              loo_train, loo_held_out, static_cast<long>(loo_report.epochs),
              static_cast<long>(loo_report.steps), to_string(loo_report.reason));
  std::printf(
      "(noise variance %.2f: a perfect estimator's expected held-out MSE; the nearest\n"
      " neighbour, where the naive width leads, expects twice that)\n",
      noise_sd * noise_sd);

  // Data, the two fitted curves on a fine grid (the naive one interpolates the noise), and paths.
  const Eigen::Index grid_size = 2001;
  const Eigen::VectorXd grid = Eigen::VectorXd::LinSpaced(grid_size, -3.0, 3.0);
  const Eigen::VectorXd true_curve = grid.unaryExpr([](double x) { return truth(x); });
  const Eigen::VectorXd naive_curve = naive.predict(grid).col(0);
  const Eigen::VectorXd loo_curve = loo.predict(grid).col(0);
  example::write_csv("sgd_width_data.csv", {"x", "y"}, {x_train.col(0), y_train});
  example::write_csv("sgd_width_curves.csv", {"x", "truth", "naive", "leave_one_out"},
                     {grid, true_curve, naive_curve, loo_curve});
  const std::vector<std::string> header = {"epoch", "width", "objective", "train_mse",
                                           "held_out_mse"};
  example::write_csv(
      "sgd_width_naive.csv", header,
      {column(naive_path.epoch), column(naive_path.width), column(naive_path.objective),
       column(naive_path.train_error), column(naive_path.held_out_error)});
  example::write_csv("sgd_width_leave_one_out.csv", header,
                     {column(loo_path.epoch), column(loo_path.width), column(loo_path.objective),
                      column(loo_path.train_error), column(loo_path.held_out_error)});

  const bool drawn_fits = example::plot("sgd_width_fits.gp", R"(
set terminal pngcairo size 900,600
set output 'sgd_width_fits.png'
set datafile separator ','
set title 'Nadaraya-Watson with the width learned on the naive and on the leave-one-out loss'
set xlabel 'x'
set ylabel 'y'
set xrange [-3:3]
set key top left
plot 'sgd_width_data.csv' skip 1 using 1:2 with points pt 7 ps 0.3 lc rgb '#bbbbbb' title 'training data', \
     'sgd_width_curves.csv' skip 1 using 1:2 with lines lw 2 lc rgb 'black' dt 2 title '2 sin(x) + x', \
     '' skip 1 using 1:3 with lines lw 1 lc rgb '#d62728' title 'naive width (collapsed)', \
     '' skip 1 using 1:4 with lines lw 2 lc rgb '#1f77b4' title 'leave-one-out width'
)");
  const bool drawn_loss = example::plot("sgd_width_loss.gp", R"(
set terminal pngcairo size 1100,450
set output 'sgd_width_loss.png'
set datafile separator ','
set multiplot layout 1,2
set xlabel 'epoch'
set logscale y
set format y '10^{%L}'
set key top right
set title 'learned width h'
plot 'sgd_width_naive.csv' skip 1 using 1:2 with linespoints pt 7 ps 0.4 lc rgb '#d62728' title 'naive', \
     'sgd_width_leave_one_out.csv' skip 1 using 1:2 with linespoints pt 7 ps 0.4 lc rgb '#1f77b4' title 'leave-one-out'
set title 'mean squared error'
set key bottom left
plot 'sgd_width_naive.csv' skip 1 using 1:4 with lines lc rgb '#d62728' dt 2 title 'naive, training', \
     '' skip 1 using 1:5 with lines lw 2 lc rgb '#d62728' title 'naive, held-out', \
     'sgd_width_leave_one_out.csv' skip 1 using 1:4 with lines lc rgb '#1f77b4' dt 2 title 'leave-one-out, training', \
     '' skip 1 using 1:5 with lines lw 2 lc rgb '#1f77b4' title 'leave-one-out, held-out'
unset multiplot
)");
  std::printf("wrote sgd_width_{data,curves,naive,leave_one_out}.csv%s\n",
              drawn_fits && drawn_loss ? " and sgd_width_fits.png, sgd_width_loss.png"
                                       : " (install gnuplot for the pictures)");

  // The key result: the naive width collapses (below a tenth of the leave-one-out one) and
  // generalises worse.
  const double ratio = naive_width / loo_width;
  const bool ok = ratio < 0.1 && naive_held_out > loo_held_out;
  std::printf(
      "naive width %.3e = %.2e x leave-one-out width %.4f; held-out MSE %.4f (naive) vs %.4f "
      "(leave-one-out)\n",
      naive_width, ratio, loo_width, naive_held_out, loo_held_out);
  if (!ok) {
    std::fprintf(stderr,
                 "check failed: expected the naive width below 0.1 x the leave-one-out width and "
                 "a larger naive held-out error\n");
    return 1;
  }
  return 0;
}
