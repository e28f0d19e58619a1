// The engine alone: pool<Gaussian> (the fast core) in pairs per second, as a fraction of this
// machine's ceilings measured in the same process around each run (ceiling.hpp), with its accuracy
// against a long-double reference and its peak memory; side by side, the textbook Eigen
// formulation (naive.hpp).
//
//   ./bench_core                        short default set (a few minutes)
//   ./bench_core --full                 n = m = 2^10 .. 2^16, d = 1, 2, 8, 32, 128, 1 and 2 threads
//   add --benchmark_repetitions=5 --benchmark_report_aggregates_only=true for medians
//
// Names carry the shape: pool<double>/n:16384/d:1/threads:1. With one thread the rates use the
// benchmark thread's CPU time (robust on a shared machine); with two, wall-clock time, and again
// (".../process_cpu") the CPU time of all threads, i.e. pairs per CPU-second.

#include <benchmark/benchmark.h>

#include <nadaraya/nadaraya.hpp>
#include <string>

#include "ceiling.hpp"
#include "common.hpp"
#include "naive.hpp"

namespace {

using nadaraya_bench::Index;
using nadaraya_bench::Problem;

/// The ceilings at start-up (best of seven timings), printed as context; each benchmark of the
/// core measures its own bound around its run (nadaraya_bench::local_ceilings).
struct Ceilings {
  double exp_float = 0, exp_double = 0, fma_float = 0, fma_double = 0;
};
Ceilings ceilings;

template <class Scalar>
const char* scalar_name() {
  return sizeof(Scalar) == 4 ? "float" : "double";
}

/// Pairs per second, and the fraction of the bound (per core, times the threads); with a
/// serial bound and the rate of the core's parts run one after the other (see ceiling.hpp), the
/// fractions of those too.
void report_rate(benchmark::State& state, double pairs, double bound_per_s, int threads,
                 double serial_bound_per_s = 0, double parts_per_s = 0) {
  state.counters["pairs_per_s"] =
      benchmark::Counter(pairs, benchmark::Counter::kIsIterationInvariantRate);
  if (bound_per_s > 0) {
    state.counters["of_bound"] = benchmark::Counter(pairs / (bound_per_s * threads),
                                                    benchmark::Counter::kIsIterationInvariantRate);
  }
  if (serial_bound_per_s > 0) {
    state.counters["of_serial"] = benchmark::Counter(pairs / (serial_bound_per_s * threads),
                                                     benchmark::Counter::kIsIterationInvariantRate);
  }
  if (parts_per_s > 0) {
    state.counters["of_parts"] = benchmark::Counter(pairs / (parts_per_s * threads),
                                                    benchmark::Counter::kIsIterationInvariantRate);
  }
}

/// The fast core: pool<Gaussian>, one value column.
template <class Scalar>
void BM_pool(benchmark::State& state, Index n, Index d, int threads) {
  const bool per_cpu_second = threads < 0;  // -threads threads, rates per CPU-second
  if (per_cpu_second) threads = -threads;
  const Problem<Scalar> problem(n, n, d);
  nadaraya::PoolOptions options;
  options.threads = threads;
  nadaraya_bench::PeakMemory peak;
  nadaraya::PoolResult<Scalar> result = nadaraya::pool<nadaraya::Gaussian>(
      problem.queries, problem.keys, problem.values, problem.log_weights, options);
  state.counters["peak_MiB"] = peak.bytes() / (1 << 20);
  // The bound from ceilings measured right before and right after the timed loop (see
  // local_ceilings), the mean of the two; likewise the rate of the core's two halves alone.
  const nadaraya_bench::LocalCeilings before = nadaraya_bench::local_ceilings<Scalar>(0.05);
  const nadaraya_bench::PartsRates parts_before = nadaraya_bench::parts_rates<Scalar>(d, 0.02);
  for (auto _ : state) {
    result = nadaraya::pool<nadaraya::Gaussian>(problem.queries, problem.keys, problem.values,
                                                problem.log_weights, options);
    benchmark::DoNotOptimize(result.mean.data());
    benchmark::ClobberMemory();
  }
  const nadaraya_bench::LocalCeilings after = nadaraya_bench::local_ceilings<Scalar>(0.05);
  const nadaraya_bench::PartsRates parts_after = nadaraya_bench::parts_rates<Scalar>(d, 0.02);
  const double exp_per_s = 0.5 * (before.exp_per_s + after.exp_per_s);
  const double fma_per_s = 0.5 * (before.fma_per_s + after.fma_per_s);
  state.counters["exp_per_s"] = exp_per_s;
  report_rate(state, static_cast<double>(n) * static_cast<double>(n),
              nadaraya_bench::pair_bound<Scalar>(exp_per_s, fma_per_s, d),
              per_cpu_second ? 1 : threads,
              nadaraya_bench::serial_pair_bound(exp_per_s, fma_per_s, d),
              0.5 * (parts_before.serial_per_s() + parts_after.serial_per_s()));
  state.counters["max_rel_err"] = nadaraya_bench::max_relative_error(problem, result);
}

/// The fast core at widths `narrowing` times narrower than Scott's (the data scaled up): most
/// weights flush to exactly 0, and blocks of keys whose weights all do skip their exponentials
/// (tile_rows.hpp, finish_tile). Compare with pool/n/d/threads:1 of the same run.
template <class Scalar>
void BM_pool_narrow(benchmark::State& state, Index n, Index d, double narrowing) {
  Problem<Scalar> problem(n, n, d);
  problem.queries *= static_cast<Scalar>(narrowing);
  problem.keys *= static_cast<Scalar>(narrowing);
  nadaraya::PoolOptions options;
  options.threads = 1;
  nadaraya::PoolResult<Scalar> result;
  for (auto _ : state) {
    result = nadaraya::pool<nadaraya::Gaussian>(problem.queries, problem.keys, problem.values,
                                                problem.log_weights, options);
    benchmark::DoNotOptimize(result.mean.data());
    benchmark::ClobberMemory();
  }
  report_rate(state, static_cast<double>(n) * static_cast<double>(n), 0, 1);
  state.counters["max_rel_err"] = nadaraya_bench::max_relative_error(problem, result);
}

/// The textbook Eigen formulation (naive.hpp), on one thread (Eigen's own GEMM threads off).
template <class Scalar>
void BM_naive(benchmark::State& state, Index n, Index d) {
  Eigen::setNbThreads(1);
  const Problem<Scalar> problem(n, n, d);
  nadaraya::PoolResult<Scalar> result;
  nadaraya_bench::PeakMemory peak;
  result.mean = nadaraya_bench::naive_nadaraya_watson<Scalar>(problem.queries, problem.keys,
                                                              problem.values, Scalar(1));
  state.counters["peak_MiB"] = peak.bytes() / (1 << 20);
  for (auto _ : state) {
    result.mean = nadaraya_bench::naive_nadaraya_watson<Scalar>(problem.queries, problem.keys,
                                                                problem.values, Scalar(1));
    benchmark::DoNotOptimize(result.mean.data());
    benchmark::ClobberMemory();
  }
  report_rate(state, static_cast<double>(n) * static_cast<double>(n), 0, 1);
  // The naive code forms no log-sum; check its means only.
  result.log_sum = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>::Zero(n);
  double worst = 0;
  const double scale = static_cast<double>(problem.values.cwiseAbs().maxCoeff());
  for (Index q = 0; q < 16; ++q) {
    long double log_sum = 0, mean = 0;
    nadaraya_bench::reference_gaussian(problem, q, log_sum, mean);
    worst = std::max(worst, static_cast<double>(std::abs(result.mean(q, 0) - mean)) / scale);
  }
  state.counters["max_rel_err"] = worst;
}

/// Direct differences against the GEMM product form (forced; the guard still centres the data).
template <class Scalar>
void BM_form(benchmark::State& state, Index n, Index d, nadaraya::detail::ScoreForm form) {
  const Problem<Scalar> problem(n, n, d);
  nadaraya::PoolOptions options;
  options.threads = 1;
  nadaraya::detail::CoreOptions core;
  core.form = form;
  core.guard_product_form = form != nadaraya::detail::ScoreForm::product;  // force it
  nadaraya::PoolResult<Scalar> result;
  for (auto _ : state) {
    result = nadaraya::detail::pool_with<nadaraya::detail::DistanceScore<nadaraya::Gaussian>>(
        problem.queries, problem.keys, problem.values, problem.log_weights, options, core, "bench");
    benchmark::DoNotOptimize(result.mean.data());
    benchmark::ClobberMemory();
  }
  report_rate(state, static_cast<double>(n) * static_cast<double>(n), 0, 1);
  state.counters["max_rel_err"] = nadaraya_bench::max_relative_error(problem, result);
}

/// Scaled dot-product attention on the same core.
template <class Scalar>
void BM_attention(benchmark::State& state, Index n, Index d) {
  Problem<Scalar> problem(n, n, d);
  const Scalar scale = static_cast<Scalar>(std::pow(static_cast<double>(d), -0.25) * problem.width);
  problem.queries *= scale;  // softmax(q.x / sqrt(d)) on the unscaled normal data
  problem.keys *= scale;
  nadaraya::PoolOptions options;
  options.threads = 1;
  nadaraya::PoolResult<Scalar> result;
  for (auto _ : state) {
    result = nadaraya::attention(problem.queries, problem.keys, problem.values, problem.log_weights,
                                 options);
    benchmark::DoNotOptimize(result.mean.data());
    benchmark::ClobberMemory();
  }
  report_rate(state, static_cast<double>(n) * static_cast<double>(n), 0, 1);
}

std::string shape(const char* what, const char* scalar, Index n, Index d) {
  return std::string(what) + "<" + scalar + ">/n:" + std::to_string(n) + "/d:" + std::to_string(d);
}

template <class Scalar>
void register_pool(Index n, Index d, int threads) {
  const std::string name =
      shape("pool", scalar_name<Scalar>(), n, d) + "/threads:" + std::to_string(threads);
  auto* bench = benchmark::RegisterBenchmark(
      name.c_str(), [=](benchmark::State& state) { BM_pool<Scalar>(state, n, d, threads); });
  bench->Unit(benchmark::kMillisecond);
  if (threads > 1) {
    bench->UseRealTime();
    // The same run timed by the CPU time of all the process's threads: pairs per CPU-second, and
    // of_bound per core. On a machine that other work shares, wall-clock time says how many
    // cores we were given; this says how well the threads used the time they had.
    benchmark::RegisterBenchmark(
        (name + "/process_cpu").c_str(),
        [=](benchmark::State& state) { BM_pool<Scalar>(state, n, d, -threads); })
        ->Unit(benchmark::kMillisecond)
        ->MeasureProcessCPUTime();
  }
}

template <class Scalar>
void register_pool_narrow(Index n, Index d, double narrowing) {
  const std::string name = shape("pool_narrow", scalar_name<Scalar>(), n, d) +
                           "/narrowing:" + std::to_string(static_cast<int>(narrowing));
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    BM_pool_narrow<Scalar>(state, n, d, narrowing);
  })->Unit(benchmark::kMillisecond);
}

template <class Scalar>
void register_naive(Index n, Index d) {
  // Two m x n matrices: skip what this machine cannot hold (say so in the output instead).
  const double bytes = 2.0 * static_cast<double>(n) * static_cast<double>(n) * sizeof(Scalar);
  if (bytes > 5.0 * (1 << 30)) {
    benchmark::AddCustomContext(shape("naive", scalar_name<Scalar>(), n, d),
                                "skipped: needs " + std::to_string(bytes / (1 << 30)) + " GiB");
    return;
  }
  benchmark::RegisterBenchmark(shape("naive", scalar_name<Scalar>(), n, d).c_str(),
                               [=](benchmark::State& state) { BM_naive<Scalar>(state, n, d); })
      ->Unit(benchmark::kMillisecond);
}

template <class Scalar>
void register_form(Index n, Index d, nadaraya::detail::ScoreForm form) {
  const char* name = form == nadaraya::detail::ScoreForm::product ? "form_product" : "form_direct";
  benchmark::RegisterBenchmark(shape(name, scalar_name<Scalar>(), n, d).c_str(),
                               [=](benchmark::State& state) { BM_form<Scalar>(state, n, d, form); })
      ->Unit(benchmark::kMillisecond);
}

template <class Scalar>
void register_attention(Index n, Index d) {
  benchmark::RegisterBenchmark(shape("attention", scalar_name<Scalar>(), n, d).c_str(),
                               [=](benchmark::State& state) { BM_attention<Scalar>(state, n, d); })
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  using nadaraya::detail::ScoreForm;
  const bool full = nadaraya_bench::full_set_requested(argc, argv);

  ceilings.exp_float = nadaraya_bench::exp_ceiling<float>();
  ceilings.exp_double = nadaraya_bench::exp_ceiling<double>();
  ceilings.fma_float = nadaraya_bench::fma_peak<float>();
  ceilings.fma_double = nadaraya_bench::fma_peak<double>();
  benchmark::AddCustomContext("ceiling exp float (exps/s/core)",
                              std::to_string(ceilings.exp_float));
  benchmark::AddCustomContext("ceiling exp double (exps/s/core)",
                              std::to_string(ceilings.exp_double));
  benchmark::AddCustomContext("ceiling fma float (lane-FMAs/s/core)",
                              std::to_string(ceilings.fma_float));
  benchmark::AddCustomContext("ceiling fma double (lane-FMAs/s/core)",
                              std::to_string(ceilings.fma_double));
  benchmark::AddCustomContext("set", full ? "full" : "default (pass --full for all sizes)");

  if (full) {
    for (Index n : {Index(16), Index(1) << 10, Index(1) << 12, Index(1) << 14, Index(1) << 16}) {
      for (Index d : {1, 2, 8, 32, 128}) {
        for (int threads : {1, 2}) {
          register_pool<float>(n, d, threads);
          register_pool<double>(n, d, threads);
        }
      }
    }
    for (Index d : {1, 8, 32}) {
      for (double narrowing : {3.0, 10.0}) {
        register_pool_narrow<float>(16384, d, narrowing);
        register_pool_narrow<double>(16384, d, narrowing);
      }
    }
    for (Index n : {Index(1) << 10, Index(1) << 12, Index(1) << 14, Index(1) << 16}) {
      register_naive<double>(n, 1);
      register_naive<float>(n, 1);
    }
    for (Index d : {8, 16, 32, 64, 128, 256, 512, 1024, 2048}) {
      register_form<double>(4096, d, ScoreForm::direct);
      register_form<double>(4096, d, ScoreForm::product);
      register_form<float>(4096, d, ScoreForm::direct);
      register_form<float>(4096, d, ScoreForm::product);
    }
    for (Index d : {16, 64, 128, 512}) {
      register_attention<float>(4096, d);
      register_attention<double>(4096, d);
    }
  } else {
    for (Index n : {Index(16), Index(256), Index(4096), Index(16384)}) {
      for (Index d : {1, 8, 32}) {
        register_pool<float>(n, d, 1);
        register_pool<double>(n, d, 1);
      }
    }
    register_pool<float>(16384, 1, 2);
    register_pool<double>(16384, 1, 2);
    register_pool_narrow<float>(16384, 8, 10.0);
    register_pool_narrow<double>(16384, 8, 10.0);
    register_naive<double>(4096, 1);
    register_naive<double>(16384, 1);
    for (Index d : {32, 64, 128}) {
      register_form<double>(2048, d, ScoreForm::direct);
      register_form<double>(2048, d, ScoreForm::product);
    }
    register_attention<double>(4096, 64);
  }

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
