// Time to a converged bandwidth: NadarayaWatson<Gaussian>::fit_bandwidth() with its defaults
// (leave-one-out squared error, Silverman start, per-dimension widths, Adam mini-batch SGD) for
// n = 1e3, 1e4, 1e5 and d = 1, 3, 4. Each iteration fits from scratch; the counters report the
// steps and epochs it took, the learned first width, the final epoch's objective, and the
// (query, key) pairs streamed per second.
//
// Data: y = 2 sin(x_0) + x_0 + 0.5 x_1^2 + 0.1 N(0, 1) with x ~ N(0, I_d): in d = 1 the textbook
// example; in d >= 3 the columns from 2 on are irrelevant, so their widths grow.
//
// Reference (from the issue): statsmodels' KernelReg(bw='cv_ls') needs 19 s at n = 5000, d = 1,
// and 113 s at n = 1000, d = 3. Targets: n = 1e4, d = 1 under 1 s; n = 1000, d = 3 under 0.1 s.
//
// Build by hand (bench/CMakeLists.txt builds it as well):
//   g++ -std=c++17 -O3 -march=native -fopenmp -isystem /usr/include/eigen3 -Iinclude
//   bench/bench_fit.cpp -lbenchmark -lpthread -o /tmp/bench_fit
// n = 1e5 runs once per case (each SGD step streams 128 x 1e5 pairs); filter it out with
//   /tmp/bench_fit --benchmark_filter='n:1000/|n:10000/'

#include <benchmark/benchmark.h>

#include <cmath>
#include <random>

#include <nadaraya/nadaraya.hpp>

namespace {

void make_data(Eigen::Index n, Eigen::Index d, Eigen::MatrixXd& X, Eigen::VectorXd& y) {
  std::mt19937_64 generator(20240 + static_cast<unsigned>(n + d));
  std::normal_distribution<double> normal;
  X.resize(n, d);
  y.resize(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < d; ++j) X(i, j) = normal(generator);
    const double x1 = d > 1 ? X(i, 1) : 0.0;
    y(i) = 2 * std::sin(X(i, 0)) + X(i, 0) + 0.5 * x1 * x1 + 0.1 * normal(generator);
  }
}

void BM_fit_bandwidth_nw_gaussian(benchmark::State& state) {
  const Eigen::Index n = state.range(0), d = state.range(1);
  Eigen::MatrixXd X;
  Eigen::VectorXd y;
  make_data(n, d, X, y);
  nadaraya::FitReport report;
  double steps = 0;
  for (auto _ : state) {
    nadaraya::NadarayaWatson<nadaraya::Gaussian> model;
    model.fit(X, y);
    report = model.fit_bandwidth();
    benchmark::DoNotOptimize(report.widths.data());
    steps += static_cast<double>(report.steps);
  }
  const double batch =
      static_cast<double>(std::min<Eigen::Index>(nadaraya::SgdOptions().batch_size, n));
  state.counters["steps"] = static_cast<double>(report.steps);
  state.counters["epochs"] = static_cast<double>(report.epochs);
  state.counters["h0"] = report.widths(0);
  if (d > 2) state.counters["h_last"] = report.widths(d - 1);
  state.counters["objective"] = report.final_objective();
  state.counters["converged"] = report.reason == nadaraya::StopReason::converged ? 1 : 0;
  state.counters["pairs_per_s"] =
      benchmark::Counter(steps * batch * static_cast<double>(n), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_fit_bandwidth_nw_gaussian)
    ->ArgNames({"n", "d"})
    ->Args({1000, 1})
    ->Args({1000, 3})
    ->Args({1000, 4})
    ->Args({10000, 1})
    ->Args({10000, 4})
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

// Slow with the current simple engine (tens of seconds a fit): one iteration each.
BENCHMARK(BM_fit_bandwidth_nw_gaussian)
    ->ArgNames({"n", "d"})
    ->Args({100000, 1})
    ->Args({100000, 4})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

BENCHMARK_MAIN();
