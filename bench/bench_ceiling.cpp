// This machine's ceilings, as benchmarks: the engine's exponential alone (exps/s per core),
// against Eigen's vectorised exp and the C library's, and the FMA peak (lane multiply-adds/s per
// core). bench_core reports its pairs/s as a fraction of the bound that these give.
//
// Then the core's two halves, each alone on one block of keys in L1 (core_tile, core_exp_sums):
// the core runs them one after the other on every tile, so 1 / (1 / tile + 1 / exp_sums) pairs/s
// is what it reaches unless the two overlap (see bench/README.md, *Targets of issue 4*).
//
//   ./bench_ceiling --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <cmath>
#include <vector>

#include "ceiling.hpp"

namespace {

using Index = Eigen::Index;
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

/// The core's register tile alone (nadaraya_bench::CoreParts): pairs/s, and `r2_fmas_per_s`, the
/// d multiply-adds of each pair's r2, to compare with the FMA peak.
template <class Scalar>
void BM_core_tile(benchmark::State& state) {
  const Index d = state.range(0);
  nadaraya_bench::CoreParts<Scalar> parts(d);
  for (auto _ : state) parts.tile();
  state.counters["pairs_per_s"] =
      benchmark::Counter(parts.tile_pairs(), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["r2_fmas_per_s"] = benchmark::Counter(
      parts.tile_pairs() * static_cast<double>(d), benchmark::Counter::kIsIterationInvariantRate);
}

/// The core's exponential with its sums alone (nadaraya_bench::CoreParts), in pairs/s.
template <class Scalar>
void BM_core_exp_sums(benchmark::State& state) {
  nadaraya_bench::CoreParts<Scalar> parts(1);
  for (auto _ : state) parts.exp_sums();
  state.counters["pairs_per_s"] =
      benchmark::Counter(parts.exp_pairs(), benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK_TEMPLATE(BM_exp_neg, float);
BENCHMARK_TEMPLATE(BM_exp_neg, double);
BENCHMARK_TEMPLATE(BM_eigen_exp, float);
BENCHMARK_TEMPLATE(BM_eigen_exp, double);
BENCHMARK_TEMPLATE(BM_std_exp, float);
BENCHMARK_TEMPLATE(BM_std_exp, double);
BENCHMARK_TEMPLATE(BM_fma_peak, float);
BENCHMARK_TEMPLATE(BM_fma_peak, double);
BENCHMARK_TEMPLATE(BM_core_tile, float)->ArgName("d")->Arg(1)->Arg(8)->Arg(32);
BENCHMARK_TEMPLATE(BM_core_tile, double)->ArgName("d")->Arg(1)->Arg(8)->Arg(32);
BENCHMARK_TEMPLATE(BM_core_exp_sums, float);
BENCHMARK_TEMPLATE(BM_core_exp_sums, double);

}  // namespace

BENCHMARK_MAIN();
