// Shared by the benchmarks: seeded data, the peak-memory probe, the accuracy check against a
// long-double reference, and the switch between the short default set and the full set.
#ifndef NADARAYA_BENCH_COMMON_HPP
#define NADARAYA_BENCH_COMMON_HPP

#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdlib>  // std::getenv
#include <cstring>  // std::strcmp
#include <fstream>  // /proc/self/status, /proc/self/clear_refs
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace nadaraya_bench {

using Index = Eigen::Index;
template <class Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
template <class Scalar>
using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

/// Seeded standard normal n x d matrix.
template <class Scalar>
Matrix<Scalar> normal(Index rows, Index cols, unsigned seed) {
  std::mt19937_64 generator(seed);
  std::normal_distribution<double> draw(0.0, 1.0);
  Matrix<Scalar> result(rows, cols);
  for (Index i = 0; i < result.size(); ++i) result.data()[i] = static_cast<Scalar>(draw(generator));
  return result;
}

/// Scott's width for standard normal data: n^(-1 / (d + 4)).
inline double scott_width(Index n, Index d) {
  return std::pow(static_cast<double>(n), -1.0 / (static_cast<double>(d) + 4.0));
}

/// One benchmark problem: m queries and n keys (standard normal, divided by Scott's width, as the
/// estimators hand them to the engine) and one column of values.
template <class Scalar>
struct Problem {
  Matrix<Scalar> queries, keys, values;
  Vector<Scalar> log_weights;  // empty: equal weights
  double width = 1;

  Problem(Index m, Index n, Index d, Index k = 1) : width(scott_width(n, d)) {
    const Scalar inverse = static_cast<Scalar>(1.0 / width);
    queries = normal<Scalar>(m, d, 1) * inverse;
    keys = normal<Scalar>(n, d, 2) * inverse;
    values = normal<Scalar>(n, k, 3);
  }
};

/// Peak resident memory of this process during a call, above what it held before: Linux resets
/// the high-water mark (VmHWM) when "5" is written to /proc/self/clear_refs. 0 where unsupported.
class PeakMemory {
 public:
  PeakMemory() {
    std::ofstream("/proc/self/clear_refs") << "5";
    m_before = read_kib("VmRSS:");
  }
  /// Bytes above the resident size at construction, at the highest point since.
  double bytes() const {
    const double peak = read_kib("VmHWM:");
    return peak > m_before ? (peak - m_before) * 1024.0 : 0.0;
  }

 private:
  static double read_kib(const char* field) {
    std::ifstream status("/proc/self/status");
    std::string name;
    double value = 0;
    while (status >> name) {
      if (name == field) {
        status >> value;
        return value;
      }
    }
    return 0;
  }
  double m_before = 0;
};

/// log sum_i exp(-r2_i / 2) and the pooled mean of the first value column for one query, in
/// long double over every key: the reference for the accuracy counters.
template <class Scalar>
void reference_gaussian(const Problem<Scalar>& problem, Index query, long double& log_sum,
                        long double& mean) {
  const Index n = problem.keys.rows(), d = problem.keys.cols();
  std::vector<long double> log_weights(static_cast<std::size_t>(n));
  long double max = -std::numeric_limits<long double>::infinity();
  for (Index i = 0; i < n; ++i) {
    long double r2 = 0;
    for (Index j = 0; j < d; ++j) {
      const long double difference = static_cast<long double>(problem.queries(query, j)) -
                                     static_cast<long double>(problem.keys(i, j));
      r2 += difference * difference;
    }
    log_weights[static_cast<std::size_t>(i)] = -r2 / 2;
    max = std::max(max, -r2 / 2);
  }
  long double sum = 0, weighted = 0;
  for (Index i = 0; i < n; ++i) {
    const long double a = std::exp(log_weights[static_cast<std::size_t>(i)] - max);
    sum += a;
    weighted += a * static_cast<long double>(problem.values(i, 0));
  }
  log_sum = max + std::log(sum);
  mean = weighted / sum;
}

/// Largest relative error of the log-sums and means of the first `queries` queries against the
/// long-double reference (means relative to the largest |value|, so that a mean near 0 does not
/// inflate it).
template <class Scalar, class Result>
double max_relative_error(const Problem<Scalar>& problem, const Result& result,
                          Index queries = 16) {
  double worst = 0;
  const double scale = static_cast<double>(problem.values.cwiseAbs().maxCoeff());
  for (Index q = 0; q < std::min(queries, problem.queries.rows()); ++q) {
    long double log_sum = 0, mean = 0;
    reference_gaussian(problem, q, log_sum, mean);
    worst = std::max(worst, static_cast<double>(std::abs(result.log_sum(q) - log_sum) /
                                                std::max(1.0L, std::abs(log_sum))));
    worst = std::max(worst, static_cast<double>(std::abs(result.mean(q, 0) - mean)) / scale);
  }
  return worst;
}

/// True when the full set was asked for: `--full` on the command line (removed from argv before
/// Google Benchmark sees it) or NADARAYA_BENCH_FULL=1 in the environment.
inline bool full_set_requested(int& argc, char** argv) {
  bool full = false;
  if (const char* environment = std::getenv("NADARAYA_BENCH_FULL"))
    full = std::strcmp(environment, "0") != 0;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--full") == 0) {
      full = true;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  return full;
}

}  // namespace nadaraya_bench

#endif  // NADARAYA_BENCH_COMMON_HPP
