#ifndef NADARAYA_POOL_HPP
#define NADARAYA_POOL_HPP

#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <type_traits>

#include "accumulator.hpp"
#include "detail/check.hpp"
#include "detail/parallel.hpp"
#include "detail/score.hpp"
#include "detail/tile.hpp"
#include "kernel.hpp"

namespace nadaraya {

/// How `pool` runs.
struct PoolOptions {
  bool leave_one_out = false;  ///< query i skips key i (the queries are the keys themselves)
  int threads = 0;             ///< 0: OpenMP's default; 1: serial. Results do not depend on it.
};

/// Per query: the log of the kernel sum and the kernel-weighted mean of the values.
template <class Scalar>
struct PoolResult {
  /// log sum_i w_i k(r2_i) over the keys; -inf for a query that no key reaches.
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> log_sum;
  /// m x k: sum_i w_i k(r2_i) y_i / sum_i w_i k(r2_i); a NaN row for a query no key reaches.
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> mean;
};

namespace detail {

/// ||q - x||^2 for two points given as d contiguous coordinates.
template <class Scalar>
Scalar squared_distance(const Scalar* query, const Scalar* key, Eigen::Index d) {
  Scalar r2 = 0;
  for (Eigen::Index j = 0; j < d; ++j) {
    const Scalar difference = query[j] - key[j];
    r2 += difference * difference;
  }
  return r2;
}

/// log w + log k(||q - x||^2) for one (query, key) pair given as contiguous coordinates.
template <class Kernel, class Scalar>
Scalar pair_log_weight(const Scalar* query, const Scalar* key, Eigen::Index d, Scalar log_weight) {
  return kernel_traits<Kernel>::log_profile(squared_distance(query, key, d)) + log_weight;
}

template <class QDerived, class KDerived, class WDerived>
void check_stream_arguments(const Eigen::MatrixBase<QDerived>& queries,
                            const Eigen::MatrixBase<KDerived>& keys,
                            const Eigen::MatrixBase<WDerived>& key_log_weights,
                            const PoolOptions& options, const char* where) {
  check_not_empty(keys, "keys", where);
  check_finite(keys, "keys", where);
  check_finite(queries, "queries", where);
  check_cols(queries, keys.cols(), "queries", where, "'keys'");
  if (key_log_weights.size() != 0) {
    if (key_log_weights.cols() != 1) fail(where, "argument 'key_log_weights' must be a vector");
    check_rows(key_log_weights, keys.rows(), "key_log_weights", where, "'keys'");
    for (Eigen::Index i = 0; i < key_log_weights.rows(); ++i) {
      const auto value = key_log_weights(i, 0);
      if (std::isnan(value) || value == std::numeric_limits<decltype(value)>::infinity()) {
        fail(where, "argument 'key_log_weights' must be below +infinity and not NaN, got ", value,
             " at row ", i);
      }
    }
  }
  if (options.leave_one_out && queries.rows() != keys.rows()) {
    fail(where, "leave_one_out needs the queries to be the keys, but there are ", queries.rows(),
         " queries and ", keys.rows(), " keys");
  }
}

}  // namespace detail

/// The engine's generic loop over (query, key) pairs, with what is summed per pair left to a
/// policy: leave-one-out passes, objective gradients and any other O(n m) sum are this loop with a
/// different accumulator. The softmax pooling itself (`pool`, `attention`: densities and
/// predictions) runs on the blocked, vectorised core of detail/tile.hpp, which computes the same
/// sums; this loop stays the plain per-pair form (detail::pool_per_pair is pool on it).
///
/// \tparam Kernel      a kernel (see kernel.hpp)
/// \tparam Accumulator a policy with
/// \code
///   using State = ...;                                   // per-query running state
///   State start() const;                                 // a fresh state (one per thread, reused)
///   void reset(State&) const;                            // make it fresh again for the next query
///   void add(State&, Index query, Index key, Scalar log_weight, Scalar r2,
///            const Scalar* query_point, const Scalar* key_point) const;
///   void finish(Index query, const State&);              // store the query's result
/// \endcode
/// `log_weight` is log w_key + log k(r2) (may be -inf: the key does not reach the query); the
/// points are the d scaled coordinates. `finish` is called once per query, possibly from several
/// threads at once for different queries.
///
/// Queries and keys are already divided by the bandwidth. Keys whose weight is zero and, with
/// `options.leave_one_out`, key i for query i are skipped. Threading: parallel over queries; each
/// query runs over the keys in the same order whatever the number of threads, so results are
/// bit-identical for any `options.threads`.
template <class Kernel, class QDerived, class KDerived, class WDerived, class Accumulator>
void stream(const Eigen::MatrixBase<QDerived>& queries, const Eigen::MatrixBase<KDerived>& keys,
            const Eigen::MatrixBase<WDerived>& key_log_weights, const PoolOptions& options,
            Accumulator& accumulator) {
  using Scalar = typename QDerived::Scalar;
  static_assert(std::is_same<Scalar, typename KDerived::Scalar>::value &&
                    std::is_same<Scalar, typename WDerived::Scalar>::value,
                "stream: queries, keys and key_log_weights must share one Scalar type");
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  detail::check_stream_arguments(queries, keys, key_log_weights, options, "stream");
  const int threads = detail::resolve_threads(options.threads, "stream");

  const Eigen::Index m = queries.rows(), n = keys.rows(), d = keys.cols();
  // One column per point: each pair reads two contiguous runs of d coordinates.
  const Matrix query_columns = queries.transpose();
  const Matrix key_columns = keys.transpose();
  const Vector log_weights =
      key_log_weights.size() == 0 ? Vector::Zero(n) : Vector(key_log_weights.col(0));
  const bool leave_one_out = options.leave_one_out;
#if NADARAYA_HAS_OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1 && m > 1)
#endif
  {
    typename Accumulator::State state = accumulator.start();
#if NADARAYA_HAS_OPENMP
#pragma omp for schedule(static)
#endif
    for (Eigen::Index q = 0; q < m; ++q) {
      accumulator.reset(state);
      const Scalar* query = query_columns.data() + q * d;
      for (Eigen::Index i = 0; i < n; ++i) {
        if ((leave_one_out && i == q) ||
            log_weights(i) == -std::numeric_limits<Scalar>::infinity()) {
          continue;
        }
        const Scalar* key = key_columns.data() + i * d;
        const Scalar r2 = detail::squared_distance(query, key, d);
        accumulator.add(state, q, i, kernel_traits<Kernel>::log_profile(r2) + log_weights(i), r2,
                        query, key);
      }
      accumulator.finish(q, state);
    }
  }
  (void)threads;
}

namespace detail {

/// A SoftmaxAccumulator per query over the value rows: with `stream`, the plain per-pair form of
/// `pool` (see pool_per_pair).
template <class Scalar>
class PoolingAccumulator {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using State = SoftmaxAccumulator<Scalar>;

  PoolingAccumulator(const Matrix& value_columns, PoolResult<Scalar>& result)
      : m_value_columns(value_columns), m_result(result) {}

  State start() const { return State(m_value_columns.rows()); }
  void reset(State& state) const { state.reset(); }
  void add(State& state, Eigen::Index /*query*/, Eigen::Index key, Scalar log_weight, Scalar /*r2*/,
           const Scalar* /*query_point*/, const Scalar* /*key_point*/) const {
    state.add(log_weight, m_value_columns.col(key).transpose());
  }
  void finish(Eigen::Index query, const State& state) {
    m_result.log_sum(query) = state.log_sum();
    m_result.mean.row(query) = state.mean().transpose();
  }

 private:
  const Matrix& m_value_columns;  // k x n: one column per key
  PoolResult<Scalar>& m_result;   // written row by row
};

/// `pool` as one `stream` over the pairs with a PoolingAccumulator: what `pool` was before the
/// fast core, kept as the per-pair reference that the core is tested and benchmarked against.
template <class Kernel, class QDerived, class KDerived, class VDerived, class WDerived>
PoolResult<typename QDerived::Scalar> pool_per_pair(
    const Eigen::MatrixBase<QDerived>& queries, const Eigen::MatrixBase<KDerived>& keys,
    const Eigen::MatrixBase<VDerived>& values, const Eigen::MatrixBase<WDerived>& key_log_weights,
    const PoolOptions& options = {}) {
  using Scalar = typename QDerived::Scalar;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  if (values.cols() > 0) check_rows(values, keys.rows(), "values", "pool", "'keys'");
  check_finite(values, "values", "pool");
  const Matrix value_columns = values.transpose();
  PoolResult<Scalar> result;
  result.log_sum.resize(queries.rows());
  result.mean.resize(queries.rows(), values.cols());
  PoolingAccumulator<Scalar> accumulator(value_columns, result);
  stream<Kernel>(queries, keys, key_log_weights, options, accumulator);
  return result;
}

/// The checks shared by `pool` and `attention`.
template <class QDerived, class KDerived, class VDerived, class WDerived>
void check_pool_arguments(const Eigen::MatrixBase<QDerived>& queries,
                          const Eigen::MatrixBase<KDerived>& keys,
                          const Eigen::MatrixBase<VDerived>& values,
                          const Eigen::MatrixBase<WDerived>& key_log_weights,
                          const PoolOptions& options, const char* where) {
  using Scalar = typename QDerived::Scalar;
  static_assert(std::is_same<Scalar, typename KDerived::Scalar>::value &&
                    std::is_same<Scalar, typename VDerived::Scalar>::value &&
                    std::is_same<Scalar, typename WDerived::Scalar>::value,
                "pool: queries, keys, values and key_log_weights must share one Scalar type");
  if (values.cols() > 0) check_rows(values, keys.rows(), "values", where, "'keys'");
  check_finite(values, "values", where);
  check_stream_arguments(queries, keys, key_log_weights, options, where);
}

/// `pool` and `attention` on the fast core, with its knobs exposed (tests, benchmarks).
template <class Score, class QDerived, class KDerived, class VDerived, class WDerived>
PoolResult<typename QDerived::Scalar> pool_with(const Eigen::MatrixBase<QDerived>& queries,
                                                const Eigen::MatrixBase<KDerived>& keys,
                                                const Eigen::MatrixBase<VDerived>& values,
                                                const Eigen::MatrixBase<WDerived>& key_log_weights,
                                                const PoolOptions& options, const CoreOptions& core,
                                                const char* where) {
  check_pool_arguments(queries, keys, values, key_log_weights, options, where);
  const int threads = resolve_threads(options.threads, where);
  PoolResult<typename QDerived::Scalar> result;
  run_core<Score>(queries, keys, values, key_log_weights, options.leave_one_out, threads, core,
                  result.log_sum, result.mean);
  return result;
}

}  // namespace detail

/// The engine: attention pooling of `values` over `keys` for every row of `queries`, streaming
/// over the keys with a running maximum (online softmax, as in flash attention), in
/// O((m + n) d + (m + n) k) memory.
///
/// Queries and keys are already divided by the bandwidth: the pair (q, x) has log-weight
/// \f$ \log w_x + \log k(\|q - x\|^2) \f$. Every estimator calls this one function.
///
/// \tparam Kernel           a kernel (see kernel.hpp)
/// \param queries           m x d, scaled
/// \param keys              n x d, scaled
/// \param values            n x k (k = 0 for weights only, e.g. densities)
/// \param key_log_weights   n log sample weights (-inf: weight zero), or empty for equal weights
/// \param options           leave-one-out exclusion, threads
/// \return log kernel sums (m) and pooled means (m x k)
/// \throws InvalidArgument on mismatched shapes or non-finite input.
///
/// How it runs (detail/tile.hpp): blocks of 256 keys against tiles of 4 queries, r2 by direct
/// differences in registers (or, from d = 256 on in double, ||q||^2 + ||x||^2 - 2 q.x by Eigen's
/// GEMM on centred data when its error bound allows), the kernel's log-profile, one rescale of
/// the running state per block, and a vectorised exponential (detail/exp.hpp). Compact kernels
/// with a `profile` (all built-in ones) skip the exponential. No m x n matrix is formed.
///
/// Accuracy: exact up to rounding. Against a long-double evaluation of the same sums, the
/// log-sums and means agree to a few ulps per key (tests/numerics/test_fast_core.cpp states and
/// checks the bound), the same as the per-pair `stream` loop.
///
/// Threading: parallel over groups of queries, and over shards of the keys when there are few
/// queries (their partial states merged with SoftmaxAccumulator::merge). The cut depends on the
/// sizes only, so results are bit-identical for any `options.threads`.
template <class Kernel, class QDerived, class KDerived, class VDerived, class WDerived>
PoolResult<typename QDerived::Scalar> pool(const Eigen::MatrixBase<QDerived>& queries,
                                           const Eigen::MatrixBase<KDerived>& keys,
                                           const Eigen::MatrixBase<VDerived>& values,
                                           const Eigen::MatrixBase<WDerived>& key_log_weights,
                                           const PoolOptions& options = {}) {
  using Scalar = typename QDerived::Scalar;
  if constexpr (std::is_same<Scalar, float>::value || std::is_same<Scalar, double>::value) {
    return detail::pool_with<detail::DistanceScore<Kernel>>(queries, keys, values, key_log_weights,
                                                            options, detail::CoreOptions{}, "pool");
  } else {  // other scalar types (long double, ...): the plain per-pair loop
    return detail::pool_per_pair<Kernel>(queries, keys, values, key_log_weights, options);
  }
}

/// Scaled dot-product attention pooling on the same core as `pool`: the weights of the keys for
/// a query q are \f$ \mathrm{softmax}_i(q \cdot x_i + \log w_i) \f$.
///
/// The scaling is the caller's, as for `pool`: pass q / h and x / h for softmax(q.x / h^2), so
/// h = d^(1/4) gives the transformer's softmax(q.x / sqrt(d)). On unit-norm rows,
/// ||q - x||^2 = 2 - 2 q.x, so this equals Gaussian pooling (`pool<Gaussian>`) of the same
/// scaled rows: the same means, and log-sums larger by 1 / h^2 (tested).
///
/// \param queries           m x d, scaled
/// \param keys              n x d, scaled
/// \param values            n x k (k = 0 for weights only)
/// \param key_log_weights   n log weights (-inf: weight zero), or empty for equal weights
/// \param options           leave-one-out exclusion (query i skips key i), threads
/// \return log sum_i w_i exp(q.x_i) (m) and the attention-weighted means of the values (m x k)
/// \throws InvalidArgument on mismatched shapes or non-finite input.
///
/// Scores come from register tiles, or from Eigen's GEMM from d = 256 on. Threading as `pool`.
/// Scalar: float or double.
template <class QDerived, class KDerived, class VDerived, class WDerived,
          class = std::enable_if_t<std::is_same<typename QDerived::Scalar, float>::value ||
                                   std::is_same<typename QDerived::Scalar, double>::value>>
PoolResult<typename QDerived::Scalar> attention(const Eigen::MatrixBase<QDerived>& queries,
                                                const Eigen::MatrixBase<KDerived>& keys,
                                                const Eigen::MatrixBase<VDerived>& values,
                                                const Eigen::MatrixBase<WDerived>& key_log_weights,
                                                const PoolOptions& options = {}) {
  return detail::pool_with<detail::DotProductScore>(queries, keys, values, key_log_weights, options,
                                                    detail::CoreOptions{}, "attention");
}

/// `pool` without values: the log kernel sums alone (what densities need).
template <class Kernel, class QDerived, class KDerived, class WDerived>
Eigen::Matrix<typename QDerived::Scalar, Eigen::Dynamic, 1> pool_log_sum(
    const Eigen::MatrixBase<QDerived>& queries, const Eigen::MatrixBase<KDerived>& keys,
    const Eigen::MatrixBase<WDerived>& key_log_weights, const PoolOptions& options = {}) {
  using Matrix = Eigen::Matrix<typename QDerived::Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  return pool<Kernel>(queries, keys, Matrix(keys.rows(), 0), key_log_weights, options).log_sum;
}

}  // namespace nadaraya

#endif  // NADARAYA_POOL_HPP
