// The estimators end to end — ParzenDensity::log_density, NadarayaWatson::predict and
// NadarayaWatson::predict_leave_one_out — with the textbook Eigen formulation (naive.hpp) run
// side by side on the same data and width, and the peak memory of each.
//
//   ./bench_estimators                  short default set
//   ./bench_estimators --full           n = m = 2^10 .. 2^16, d = 1 and 8, 1 and 2 threads
//   add --benchmark_repetitions=5 --benchmark_report_aggregates_only=true for medians
//
// With one thread the rates use the benchmark thread's CPU time; with two, wall-clock time.
//
// `engine/pool<Scalar>/n:32768/d:1/h:0.05` is the engine's own call on the data the estimators
// see (pool<Gaussian>(Q / h, X / h, Y) with equal weights), next to NadarayaWatson::predict and
// ParzenDensity::log_density on the same data: what the public API costs over the engine; the
// same calls with sample weights end in `/weighted`.

#include <benchmark/benchmark.h>

#include <nadaraya/nadaraya.hpp>
#include <string>

#include "common.hpp"
#include "naive.hpp"

namespace {

using nadaraya_bench::Index;
using nadaraya_bench::Matrix;
using nadaraya_bench::Vector;

enum class Task { density, predict, leave_one_out, engine };

const char* task_name(Task task) {
  switch (task) {
    case Task::density:
      return "parzen_log_density";
    case Task::predict:
      return "nadaraya_watson_predict";
    case Task::engine:
      return "pool";
    default:
      return "nadaraya_watson_leave_one_out";
  }
}

/// Unscaled standard normal data: the estimators divide by the width themselves.
template <class Scalar>
struct Data {
  Matrix<Scalar> X, Y, Q;
  Scalar h;
  Data(Index n, Index d)
      : X(nadaraya_bench::normal<Scalar>(n, d, 11)),
        Y(nadaraya_bench::normal<Scalar>(n, 1, 12)),
        Q(nadaraya_bench::normal<Scalar>(n, d, 13)),
        h(static_cast<Scalar>(nadaraya_bench::scott_width(n, d))) {}
};

/// `h` = 0: Scott's width of the data. `weighted`: the estimators are fitted with sample weights
/// (uniform in [0.5, 2]).
template <class Scalar>
void BM_library(benchmark::State& state, Task task, Index n, Index d, int threads, double h = 0,
                bool weighted = false) {
  const Data<Scalar> data(n, d);
  const Eigen::VectorXd weights =
      (Eigen::VectorXd::Random(n).array() * 0.75 + 1.25).matrix();  // in [0.5, 2]
  nadaraya::Options options;
  options.threads = threads;
  const double h_used = h > 0 ? h : static_cast<double>(data.h);
  const nadaraya::Bandwidth width = nadaraya::Bandwidth::scalar(h_used);
  const Matrix<Scalar> scaled_queries = data.Q / static_cast<Scalar>(h_used);
  const Matrix<Scalar> scaled_keys = data.X / static_cast<Scalar>(h_used);
  nadaraya::PoolOptions pool_options;
  pool_options.threads = threads;
  nadaraya::ParzenDensity<nadaraya::Gaussian, Scalar> density(width, options);
  nadaraya::NadarayaWatson<nadaraya::Gaussian, Scalar> regression(width, options);
  if (weighted) {
    density.fit(data.X, weights);
    regression.fit(data.X, data.Y, weights);
  } else {
    density.fit(data.X);
    regression.fit(data.X, data.Y);
  }
  auto run = [&]() -> Matrix<Scalar> {
    switch (task) {
      case Task::density:
        return density.log_density(data.Q);
      case Task::predict:
        return regression.predict(data.Q);
      case Task::engine:
        return nadaraya::pool<nadaraya::Gaussian>(scaled_queries, scaled_keys, data.Y,
                                                  Vector<Scalar>(), pool_options)
            .mean;
      default:
        return regression.predict_leave_one_out();
    }
  };
  nadaraya_bench::PeakMemory peak;
  Matrix<Scalar> result = run();
  state.counters["peak_MiB"] = peak.bytes() / (1 << 20);
  for (auto _ : state) {
    result = run();
    benchmark::DoNotOptimize(result.data());
    benchmark::ClobberMemory();
  }
  state.counters["pairs_per_s"] =
      benchmark::Counter(static_cast<double>(n) * static_cast<double>(n),
                         benchmark::Counter::kIsIterationInvariantRate);
}

template <class Scalar>
void BM_naive(benchmark::State& state, Task task, Index n, Index d) {
  Eigen::setNbThreads(1);
  const Data<Scalar> data(n, d);
  auto run = [&]() -> Matrix<Scalar> {
    switch (task) {
      case Task::density:
        return nadaraya_bench::naive_log_density<Scalar>(data.Q, data.X, data.h);
      case Task::predict:
        return nadaraya_bench::naive_nadaraya_watson<Scalar>(data.Q, data.X, data.Y, data.h);
      default:
        return nadaraya_bench::naive_nadaraya_watson<Scalar>(data.X, data.X, data.Y, data.h, true);
    }
  };
  nadaraya_bench::PeakMemory peak;
  Matrix<Scalar> result = run();
  state.counters["peak_MiB"] = peak.bytes() / (1 << 20);
  for (auto _ : state) {
    result = run();
    benchmark::DoNotOptimize(result.data());
    benchmark::ClobberMemory();
  }
  state.counters["pairs_per_s"] =
      benchmark::Counter(static_cast<double>(n) * static_cast<double>(n),
                         benchmark::Counter::kIsIterationInvariantRate);
}

template <class Scalar>
std::string shape(const char* who, Task task, Index n, Index d) {
  return std::string(who) + "/" + task_name(task) + "<" +
         (sizeof(Scalar) == 4 ? "float" : "double") + ">/n:" + std::to_string(n) +
         "/d:" + std::to_string(d);
}

template <class Scalar>
void register_pair(Task task, Index n, Index d, int threads) {
  auto* bench = benchmark::RegisterBenchmark(
      (shape<Scalar>("library", task, n, d) + "/threads:" + std::to_string(threads)).c_str(),
      [=](benchmark::State& state) { BM_library<Scalar>(state, task, n, d, threads); });
  bench->Unit(benchmark::kMillisecond);
  if (threads > 1) bench->UseRealTime();
  if (threads > 1) return;  // the naive side runs on one thread only
  const double bytes = 2.0 * static_cast<double>(n) * static_cast<double>(n) * sizeof(Scalar);
  if (bytes > 5.0 * (1 << 30)) {
    benchmark::AddCustomContext(shape<Scalar>("naive", task, n, d),
                                "skipped: needs " + std::to_string(bytes / (1 << 30)) + " GiB");
    return;
  }
  benchmark::RegisterBenchmark(
      shape<Scalar>("naive", task, n, d).c_str(),
      [=](benchmark::State& state) { BM_naive<Scalar>(state, task, n, d); })
      ->Unit(benchmark::kMillisecond);
}

/// The public API against the engine's own call, one thread, h = 0.05 on unit-scale data; the
/// estimators also with sample weights (`/weighted`).
template <class Scalar>
void register_api(Index n) {
  for (Task task : {Task::engine, Task::predict, Task::density, Task::leave_one_out}) {
    for (bool weighted : {false, true}) {
      if (task == Task::engine && weighted) continue;
      const std::string who = task == Task::engine ? "engine" : "library";
      benchmark::RegisterBenchmark(
          (shape<Scalar>(who.c_str(), task, n, 1) + "/h:0.05" + (weighted ? "/weighted" : ""))
              .c_str(),
          [=](benchmark::State& state) {
            BM_library<Scalar>(state, task, n, 1, 1, 0.05, weighted);
          })
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool full = nadaraya_bench::full_set_requested(argc, argv);
  benchmark::AddCustomContext("set", full ? "full" : "default (pass --full for all sizes)");
  const Task tasks[] = {Task::density, Task::predict, Task::leave_one_out};
  if (full) {
    for (Index n : {Index(1) << 10, Index(1) << 12, Index(1) << 14, Index(1) << 16}) {
      for (Index d : {1, 8}) {
        for (Task task : tasks) {
          for (int threads : {1, 2}) {
            register_pair<double>(task, n, d, threads);
            register_pair<float>(task, n, d, threads);
          }
        }
      }
    }
  } else {
    for (Index n : {Index(1024), Index(4096)}) {
      for (Task task : tasks) register_pair<double>(task, n, 1, 1);
    }
    register_pair<float>(Task::predict, 4096, 1, 1);
    register_pair<double>(Task::predict, 4096, 8, 1);
  }
  register_api<float>(Index(1) << 15);
  register_api<double>(Index(1) << 15);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
