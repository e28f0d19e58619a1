// On the unit sphere, Gaussian Nadaraya–Watson regression is softmax dot-product attention.
//
// For unit vectors q and x, ||q - x||^2 = 2 - 2 q.x, so the Gaussian kernel weight is
//     exp(-||q - x||^2 / (2 h^2)) = exp(q.x / h^2) * exp(-1 / h^2),
// and the constant factor cancels when the weights are normalised: the Nadaraya–Watson weights
// are softmax_i(q.x_i / h^2), the weights of scaled dot-product attention with temperature h^2
// (h = d^(1/4) gives the transformer's 1/sqrt(d)).
//
// We draw random unit vectors in d = 16 as keys, queries and values, pool the values three ways,
//   NadarayaWatson<Gaussian> with Bandwidth::scalar(h)            (the estimator)
//   pool<Gaussian>(Q / h, K / h, V)                               (its engine: distance score)
//   attention(Q / h, K / h, V)  = softmax(q.x / h^2) pooling       (the same core, dot-product
//   score)
// print the largest difference for several widths, and time the three on one thread.
// Writes unit_sphere_attention_{weights,timing}.csv and, with gnuplot, unit_sphere_attention.png.
//
// Run: ./build/examples/example_unit_sphere_attention [keys = queries, default 4096]

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <nadaraya/nadaraya.hpp>

#include "example_support.hpp"

using namespace nadaraya;

namespace {

// n points drawn uniformly on the unit sphere in d dimensions (normalised Gaussian vectors).
Eigen::MatrixXd unit_vectors(Eigen::Index n, Eigen::Index d, std::mt19937_64& generator) {
  std::normal_distribution<double> normal(0.0, 1.0);
  Eigen::MatrixXd points(n, d);
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < d; ++j) points(i, j) = normal(generator);
    points.row(i).normalize();
  }
  return points;
}

// The median of `repetitions` timings of `run`, in seconds; every timing is kept in `seconds`.
template <class Run>
double median_seconds(int repetitions, Run run, std::vector<double>& seconds) {
  seconds.clear();
  for (int r = 0; r < repetitions; ++r) {
    const auto start = std::chrono::steady_clock::now();
    run();
    seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::vector<double> sorted = seconds;
  std::sort(sorted.begin(), sorted.end());
  return sorted[sorted.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const Eigen::Index n = argc > 1 ? std::stol(argv[1]) : 4096;  // keys, and as many queries
  const Eigen::Index d = 16;
  std::mt19937_64 generator(16);
  const Eigen::MatrixXd keys = unit_vectors(n, d, generator);
  const Eigen::MatrixXd queries = unit_vectors(n, d, generator);
  const Eigen::MatrixXd values = unit_vectors(n, d, generator);
  const Eigen::VectorXd equal_weights;  // empty: every key has weight 1

  // Largest difference of the pooled values, relative to the largest pooled value, and the check
  // on the log-sums: attention's is log sum exp(q.x / h^2), the Gaussian's that minus 1 / h^2.
  std::printf("%d keys, %d queries, %d values on the unit sphere in d = %d\n\n",
              static_cast<int>(n), static_cast<int>(n), static_cast<int>(n), static_cast<int>(d));
  std::printf("%6s %8s %22s %22s %24s\n", "h", "1/h^2", "NW vs attention", "pool vs attention",
              "|log-sum gap - 1/h^2|");
  const std::vector<double> widths = {0.25, 0.5, 1.0, std::pow(static_cast<double>(d), 0.25)};
  double largest = 0;
  for (double h : widths) {
    NadarayaWatson<Gaussian> nw(Bandwidth::scalar(h));
    nw.fit(keys, values);
    const Eigen::MatrixXd nw_mean = nw.predict(queries);
    const Eigen::MatrixXd scaled_queries = queries / h, scaled_keys = keys / h;
    const PoolResult<double> gaussian =
        pool<Gaussian>(scaled_queries, scaled_keys, values, equal_weights);
    const PoolResult<double> softmax =
        attention(scaled_queries, scaled_keys, values, equal_weights);

    const double scale = softmax.mean.cwiseAbs().maxCoeff();
    const double nw_difference = (nw_mean - softmax.mean).cwiseAbs().maxCoeff() / scale;
    const double pool_difference = (gaussian.mean - softmax.mean).cwiseAbs().maxCoeff() / scale;
    const double log_sum_gap =
        ((softmax.log_sum - gaussian.log_sum).array() - 1.0 / (h * h)).abs().maxCoeff();
    largest = std::max({largest, nw_difference, pool_difference});
    std::printf("%6.3f %8.3f %22.3e %22.3e %24.3e\n", h, 1.0 / (h * h), nw_difference,
                pool_difference, log_sum_gap);
  }
  std::printf("(the last width is d^(1/4): softmax(q.x / sqrt(d)), the transformer's scaling)\n\n");

  // The attention weights of one query against q.x: a straight line of slope 1/h^2 in log scale.
  const Eigen::VectorXd dots = keys * queries.row(0).transpose();
  std::vector<Eigen::VectorXd> columns = {dots};
  std::vector<std::string> header = {"q_dot_x"};
  std::string titles;  // for the plot's key
  for (double h : widths) {
    NadarayaWatson<Gaussian> nw(Bandwidth::scalar(h));
    nw.fit(keys, values);
    columns.push_back(nw.attention_weights(queries.topRows(1)).row(0).transpose());
    header.push_back("weight_h" + std::to_string(h).substr(0, 4));
    titles += " h=" + std::to_string(h).substr(0, 4);
  }
  example::write_csv("unit_sphere_attention_weights.csv", header, columns);

  // Speed on one thread, so that the numbers compare the two scores on the same core rather than
  // the scheduling: the Gaussian scores by differences ||q - x||^2, attention by products q.x.
  const double h = 0.5;
  const int repetitions = 7;
  const Eigen::MatrixXd scaled_queries = queries / h, scaled_keys = keys / h;
  PoolOptions one_thread;
  one_thread.threads = 1;
  Options estimator_one_thread;
  estimator_one_thread.threads = 1;
  NadarayaWatson<Gaussian> nw(Bandwidth::scalar(h), estimator_one_thread);
  nw.fit(keys, values);
  double sink = 0;  // uses every result, so that no run can be optimised away
  std::vector<double> nw_seconds, pool_seconds, attention_seconds;
  const double nw_median = median_seconds(
      repetitions, [&] { sink += nw.predict(queries)(0, 0); }, nw_seconds);
  const double pool_median = median_seconds(
      repetitions,
      [&] {
        sink += pool<Gaussian>(scaled_queries, scaled_keys, values, equal_weights, one_thread)
                    .mean(0, 0);
      },
      pool_seconds);
  const double attention_median = median_seconds(
      repetitions,
      [&] {
        sink +=
            attention(scaled_queries, scaled_keys, values, equal_weights, one_thread).mean(0, 0);
      },
      attention_seconds);
  const double pairs = static_cast<double>(n) * static_cast<double>(n);
  std::printf(
      "speed, h = %.1f, one thread, median of %d runs of %d x %d pairs (d = %d, %d values)\n", h,
      repetitions, static_cast<int>(n), static_cast<int>(n), static_cast<int>(d),
      static_cast<int>(d));
  std::printf("%-40s %12s %16s\n", "", "median ms", "pairs / second");
  std::printf("%-40s %12.3f %16.3e\n", "NadarayaWatson<Gaussian>::predict", 1e3 * nw_median,
              pairs / nw_median);
  std::printf("%-40s %12.3f %16.3e\n", "pool<Gaussian> (distance score)", 1e3 * pool_median,
              pairs / pool_median);
  std::printf("%-40s %12.3f %16.3e\n", "attention (dot-product score)", 1e3 * attention_median,
              pairs / attention_median);
  std::printf("(attention / pool time: %.2f; checksum %.6f)\n", attention_median / pool_median,
              sink);

  Eigen::VectorXd repetition(repetitions);
  for (int r = 0; r < repetitions; ++r) repetition(r) = r + 1;
  example::write_csv("unit_sphere_attention_timing.csv",
                     {"repetition", "nadaraya_watson_s", "pool_gaussian_s", "attention_s"},
                     {repetition, Eigen::Map<const Eigen::VectorXd>(nw_seconds.data(), repetitions),
                      Eigen::Map<const Eigen::VectorXd>(pool_seconds.data(), repetitions),
                      Eigen::Map<const Eigen::VectorXd>(attention_seconds.data(), repetitions)});
  const bool drawn = example::plot("unit_sphere_attention.gp", "titles = '" + titles + "'" + R"gp(
set terminal pngcairo size 800,600
set output 'unit_sphere_attention.png'
set datafile separator ','
set title "Gaussian Nadaraya-Watson weights of one query = softmax(q.x / h^2)"
set xlabel 'q . x_i'
set ylabel 'attention weight'
set logscale y
set format y '10^{%L}'
set key top left
plot for [c=2:5] 'unit_sphere_attention_weights.csv' skip 1 using 1:c with points pt 7 ps 0.4 \
     title word(titles, c - 1)
)gp");
  std::printf("wrote unit_sphere_attention_{weights,timing}.csv%s\n",
              drawn ? " and unit_sphere_attention.png" : " (install gnuplot for the picture)");

  std::printf("largest relative difference, Gaussian Nadaraya-Watson vs softmax attention: %.3e\n",
              largest);
  if (!(largest <= 1e-12)) {
    std::fprintf(stderr, "check failed: the relative difference exceeds 1e-12\n");
    return 1;
  }
  return 0;
}
