// This machine's ceilings, measured in the process that reports against them: the exponential
// alone (exp_neg over an L1-resident array: one load and one store per exponential, nothing
// else) and the FMA peak (independent multiply-add chains in registers). Per core: the loops run
// on the calling thread and are timed with its CPU clock, so a shared, busy machine lowers them
// less than it lowers wall-clock figures.
#ifndef NADARAYA_BENCH_CEILING_HPP
#define NADARAYA_BENCH_CEILING_HPP

#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <algorithm>
#include <ctime>  // clock_gettime, CLOCK_THREAD_CPUTIME_ID
#include <limits>
#include <nadaraya/nadaraya.hpp>
#include <vector>

namespace nadaraya_bench {

/// Elements of the array that the exponential ceiling runs over: 4 KiB in float, 8 KiB in
/// double, in L1 with its output.
constexpr long ceiling_array = 1024;

/// Independent accumulators of the FMA peak loop: more than (FMA pipes x latency) = 2 x 4 on
/// Zen 3, so that the pipes never wait.
constexpr int fma_chains = 12;

/// Arguments in [0, 30]: weights exp(-y) down to 1e-13, what the engine mostly sees.
template <class Scalar>
std::vector<Scalar> exp_arguments() {
  std::vector<Scalar> y(static_cast<std::size_t>(ceiling_array));
  for (std::size_t i = 0; i < y.size(); ++i)
    y[i] = static_cast<Scalar>(30.0 * static_cast<double>(i) / ceiling_array);
  return y;
}

/// One pass of the exponential ceiling: ceiling_array exponentials.
template <class Scalar>
inline void exp_pass(const std::vector<Scalar>& y, std::vector<Scalar>& out) {
  nadaraya::detail::exp_neg(y.data(), out.data(), static_cast<std::ptrdiff_t>(y.size()));
  benchmark::DoNotOptimize(out.data());
  benchmark::ClobberMemory();
}

/// `passes` rounds of fma_chains independent packet multiply-adds; returns the lane-FMAs done.
template <class Scalar>
double fma_passes(long passes) {
  using Packet = typename Eigen::internal::packet_traits<Scalar>::type;
  constexpr int lanes = Eigen::internal::packet_traits<Scalar>::size;
  Packet chain[fma_chains];
  for (int c = 0; c < fma_chains; ++c) chain[c] = Eigen::internal::pset1<Packet>(Scalar(c));
  const Packet a = Eigen::internal::pset1<Packet>(Scalar(0.999999)),
               b = Eigen::internal::pset1<Packet>(Scalar(1e-6));
  for (long pass = 0; pass < passes; ++pass) {
    for (int c = 0; c < fma_chains; ++c) chain[c] = Eigen::internal::pmadd(chain[c], a, b);
  }
  Scalar total = 0;
  for (int c = 0; c < fma_chains; ++c) total += Eigen::internal::predux(chain[c]);
  benchmark::DoNotOptimize(total);
  return static_cast<double>(passes) * fma_chains * lanes;
}

inline double thread_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

/// Best of 7 timings of about 0.05 s: exponentials per second on one core.
template <class Scalar>
double exp_ceiling() {
  const std::vector<Scalar> y = exp_arguments<Scalar>();
  std::vector<Scalar> out(y.size());
  double best = 0;
  for (int trial = 0; trial < 7; ++trial) {
    const double start = thread_seconds();
    long passes = 0;
    while (thread_seconds() - start < 0.05) {
      for (int i = 0; i < 64; ++i) exp_pass(y, out);
      passes += 64;
    }
    best = std::max(best, static_cast<double>(passes * ceiling_array) / (thread_seconds() - start));
  }
  return best;
}

/// Best of 7 timings: lane multiply-adds per second on one core.
template <class Scalar>
double fma_peak() {
  double best = 0;
  for (int trial = 0; trial < 7; ++trial) {
    const double start = thread_seconds();
    const double fmas = fma_passes<Scalar>(20000000);
    best = std::max(best, fmas / (thread_seconds() - start));
  }
  return best;
}

/// The bound on pairs per second per core for a Gaussian pooling in d dimensions with one value
/// column: the exponential's ceiling, or the FMA peak divided by the multiply-adds of a pair
/// (d for r2, the polynomial's degree, one for the sum and one for the value), whichever is lower.
template <class Scalar>
double pair_bound(double exp_per_s, double fma_per_s, Eigen::Index d) {
  const double fmas_per_pair =
      static_cast<double>(d) + nadaraya::detail::ExpConstants<Scalar>::degree + 2.0;
  return std::min(exp_per_s, fma_per_s / fmas_per_pair);
}

/// The exponential's and the FMA's rates as the mean over `seconds` each (not the best of
/// several timings): what bench_core measures just before and just after each timed run of the
/// core, so that the core and its bound are measured over the same stretch of time. On a shared
/// machine whose speed drifts by 20% over minutes, a ceiling taken once at start-up (and as the
/// best of seven) made the fraction of the bound wander by as much.
struct LocalCeilings {
  double exp_per_s = 0;
  double fma_per_s = 0;
};

template <class Scalar>
LocalCeilings local_ceilings(double seconds) {
  const std::vector<Scalar> y = exp_arguments<Scalar>();
  std::vector<Scalar> out(y.size());
  LocalCeilings rates;
  double start = thread_seconds();
  long passes = 0;
  while (thread_seconds() - start < seconds) {
    for (int i = 0; i < 64; ++i) exp_pass(y, out);
    passes += 64;
  }
  rates.exp_per_s = static_cast<double>(passes * ceiling_array) / (thread_seconds() - start);
  start = thread_seconds();
  double fmas = 0;
  while (thread_seconds() - start < seconds) fmas += fma_passes<Scalar>(200000);
  rates.fma_per_s = fmas / (thread_seconds() - start);
  return rates;
}

/// A stricter bound for d > 1: pairs per second if the exponential and the d multiply-adds of r2
/// could not overlap at all, 1 / (1 / exp_per_s + d / fma_per_s). pair_bound assumes they overlap
/// perfectly; on a core where the exponential itself keeps the FMA pipes busy (the polynomial and
/// the range reduction are FMAs), the truth lies between the two.
inline double serial_pair_bound(double exp_per_s, double fma_per_s, Eigen::Index d) {
  return 1.0 / (1.0 / exp_per_s + static_cast<double>(d) / fma_per_s);
}

/// The core's two halves, each alone on one block of keys that stays in L1/L2, at the sizes the
/// core uses (pooling_pass.hpp): the register tile (CoreShape::tile_queries queries against the
/// block: r2, the Gaussian's log-weight and the row maxima, as the core calls it with equal
/// weights), and the exponential with the sums (one row of log-weights in [-30, 0], exp(l - max)
/// added to the sum and, times a value, to the value's sum, detail::exp_accumulate_row). The core
/// runs the two one after the other on each tile, so unless they overlap it cannot pool faster than
/// 1 / (1 / tile + 1 / exp_sums) pairs per second (`parts_bound`).
template <class Scalar>
class CoreParts {
 public:
  using Index = Eigen::Index;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  static constexpr Index tile_queries = nadaraya::detail::CoreShape::tile_queries;

  explicit CoreParts(Index d)
      : m_d(d),
        m_keys(block_keys(d)),
        m_query_rows(Matrix::Random(d, tile_queries)),
        m_panels(static_cast<std::size_t>(m_keys * d)),
        m_scores(static_cast<std::size_t>(tile_queries * m_keys)),
        m_zeros(static_cast<std::size_t>(m_keys), Scalar(0)),
        m_one_query(Matrix::Zero(1, 1)),
        m_exp_keys(Matrix::Zero(m_keys, 1)),
        m_values(Matrix::Random(m_keys, 1)),
        m_exp_data(nadaraya::detail::DistanceScore<nadaraya::Gaussian>{}, m_one_query, m_exp_keys,
                   m_values, m_no_weights, false, nadaraya::detail::CoreOptions{}),
        m_row(static_cast<std::size_t>(m_keys)),
        m_partials(static_cast<std::size_t>(2 * nadaraya::detail::lane_count<Scalar>()),
                   Scalar(0)) {
    const Matrix keys = Matrix::Random(m_keys, d);
    nadaraya::detail::pack_key_panels(keys, m_keys, m_panels.data());
    for (Index i = 0; i < m_keys; ++i)
      m_row[static_cast<std::size_t>(i)] =
          static_cast<Scalar>(-30.0 * static_cast<double>(i) / static_cast<double>(m_keys));
  }

  /// Pairs that one call of tile() or exp_sums() forms.
  double tile_pairs() const { return static_cast<double>(tile_queries * m_keys); }
  double exp_pairs() const { return static_cast<double>(m_keys); }

  void tile() {
    Scalar row_max[tile_queries];
    for (Scalar& largest : row_max) largest = -std::numeric_limits<Scalar>::infinity();
    nadaraya::detail::tile_scores<true, tile_queries>(m_query_rows.data(), m_d, m_panels.data(),
                                                      m_keys, m_scores.data(), m_keys,
                                                      m_zeros.data(), Scalar(-0.5), row_max);
    benchmark::DoNotOptimize(m_scores.data());
    benchmark::DoNotOptimize(row_max);
    benchmark::ClobberMemory();
  }

  void exp_sums() {
    nadaraya::detail::exp_accumulate_row(m_exp_data, 0, m_keys, m_row.data(), Scalar(0),
                                         m_partials.data());
    benchmark::DoNotOptimize(m_partials.data());
    benchmark::ClobberMemory();
  }

 private:
  /// The core's block size at dimension d (the driver's rule).
  static Index block_keys(Index d) { return nadaraya::detail::block_keys_for<Scalar>(d); }

  Index m_d, m_keys;
  Matrix m_query_rows;  // column t: query t's coordinates (row-major queries, as the tile reads)
  std::vector<Scalar> m_panels, m_scores, m_zeros;
  // The operands of exp_accumulate_row, of which it reads only the values (CoreData keeps
  // references to them, so they live here).
  Matrix m_one_query, m_exp_keys, m_values, m_no_weights;
  nadaraya::detail::CoreData<Scalar> m_exp_data;
  std::vector<Scalar> m_row, m_partials;
};

/// Pairs per second of the core's two halves at dimension d, each timed for `seconds` on the
/// calling thread, and the rate of running them one after the other.
struct PartsRates {
  double tile_per_s = 0;
  double exp_sums_per_s = 0;
  double serial_per_s() const { return 1.0 / (1.0 / tile_per_s + 1.0 / exp_sums_per_s); }
};

template <class Scalar>
PartsRates parts_rates(Eigen::Index d, double seconds) {
  CoreParts<Scalar> parts(d);
  PartsRates rates;
  double start = thread_seconds();
  long calls = 0;
  while (thread_seconds() - start < seconds) {
    for (int i = 0; i < 64; ++i) parts.tile();
    calls += 64;
  }
  rates.tile_per_s = static_cast<double>(calls) * parts.tile_pairs() / (thread_seconds() - start);
  start = thread_seconds();
  calls = 0;
  while (thread_seconds() - start < seconds) {
    for (int i = 0; i < 64; ++i) parts.exp_sums();
    calls += 64;
  }
  rates.exp_sums_per_s =
      static_cast<double>(calls) * parts.exp_pairs() / (thread_seconds() - start);
  return rates;
}

}  // namespace nadaraya_bench

#endif  // NADARAYA_BENCH_CEILING_HPP
