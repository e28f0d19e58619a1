// This machine's ceilings, as benchmarks: the engine's exponential alone (exps/s per core),
// against Eigen's vectorised exp and the C library's, and the FMA peak (lane multiply-adds/s per
// core). bench_core reports its pairs/s as a fraction of the bound that these give.
//
//   ./bench_ceiling --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <cmath>

#include "ceiling.hpp"

namespace {

using nadaraya_bench::ceiling_array;

template <class Scalar>
void BM_exp_neg(benchmark::State& state) {
  const std::vector<Scalar> y = nadaraya_bench::exp_arguments<Scalar>();
  std::vector<Scalar> out(y.size());
  for (auto _ : state) nadaraya_bench::exp_pass(y, out);
  state.counters["exps_per_s"] = benchmark::Counter(static_cast<double>(ceiling_array),
                                                    benchmark::Counter::kIsIterationInvariantRate);
}

template <class Scalar>
void BM_eigen_exp(benchmark::State& state) {
  using Array = Eigen::Array<Scalar, Eigen::Dynamic, 1>;
  const std::vector<Scalar> y = nadaraya_bench::exp_arguments<Scalar>();
  const Array x = -Eigen::Map<const Array>(y.data(), ceiling_array);
  Array out(ceiling_array);
  for (auto _ : state) {
    out = x.exp();
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.counters["exps_per_s"] = benchmark::Counter(static_cast<double>(ceiling_array),
                                                    benchmark::Counter::kIsIterationInvariantRate);
}

template <class Scalar>
void BM_std_exp(benchmark::State& state) {
  const std::vector<Scalar> y = nadaraya_bench::exp_arguments<Scalar>();
  std::vector<Scalar> out(y.size());
  for (auto _ : state) {
    for (std::size_t i = 0; i < y.size(); ++i) out[i] = std::exp(-y[i]);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.counters["exps_per_s"] = benchmark::Counter(static_cast<double>(ceiling_array),
                                                    benchmark::Counter::kIsIterationInvariantRate);
}

template <class Scalar>
void BM_fma_peak(benchmark::State& state) {
  constexpr long passes = 100000;
  double fmas = 0;
  for (auto _ : state) fmas = nadaraya_bench::fma_passes<Scalar>(passes);
  state.counters["fmas_per_s"] =
      benchmark::Counter(fmas, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK_TEMPLATE(BM_exp_neg, float);
BENCHMARK_TEMPLATE(BM_exp_neg, double);
BENCHMARK_TEMPLATE(BM_eigen_exp, float);
BENCHMARK_TEMPLATE(BM_eigen_exp, double);
BENCHMARK_TEMPLATE(BM_std_exp, float);
BENCHMARK_TEMPLATE(BM_std_exp, double);
BENCHMARK_TEMPLATE(BM_fma_peak, float);
BENCHMARK_TEMPLATE(BM_fma_peak, double);

}  // namespace

BENCHMARK_MAIN();
