#ifndef NADARAYA_POOL_HPP
#define NADARAYA_POOL_HPP

#include <Eigen/Core>
#include <algorithm>  // std::max
#include <cmath>
#include <limits>
#include <type_traits>

#include "accumulator.hpp"
#include "detail/check.hpp"
#include "detail/parallel.hpp"
#include "detail/score.hpp"
#include "detail/pooling_pass.hpp"
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

template <class QDerived, class KDerived, class WDerived>
void check_key_arguments(const Eigen::MatrixBase<QDerived>& queries,
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

namespace detail {

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
  check_key_arguments(queries, keys, key_log_weights, options, where);
}

/// Each query's log-sum and mean from its states over `shards` key shards (state column
/// shard m + q): one shard directly, several merged in shard order with the exact log-sum-exp
/// merge, their maxima first taken relative to the largest of their references.
template <class Scalar>
void finish_pool(const CoreStates<Scalar>& states, Index shards, PoolResult<Scalar>& result) {
  constexpr Scalar minus_infinity = -std::numeric_limits<Scalar>::infinity();
  const Index m = states.sum.size() / shards, k = states.values.rows();
  result.log_sum.resize(m);
  result.mean.resize(m, k);
  if (shards == 1) {  // nothing to merge: the loop below's arithmetic, without its accumulators
    for (Index q = 0; q < m; ++q) {
      const Scalar sum = states.sum(q);
      if (!(sum > 0)) {  // no key reaches the query
        result.log_sum(q) = minus_infinity;
        if (k > 0) result.mean.row(q).setConstant(std::numeric_limits<Scalar>::quiet_NaN());
        continue;
      }
      result.log_sum(q) = states.reference(q) + (states.max(q) + std::log(sum));
      if (k > 0) result.mean.row(q) = (states.values.col(q) / sum).transpose();
    }
    return;
  }
  for (Index q = 0; q < m; ++q) {
    Scalar reference = minus_infinity;
    for (Index shard = 0; shard < shards; ++shard) {
      const Index column = shard * m + q;
      if (states.sum(column) > 0) reference = std::max(reference, states.reference(column));
    }
    if (reference == minus_infinity) reference = 0;  // no shard reaches the query
    SoftmaxAccumulator<Scalar> state(k);
    for (Index shard = 0; shard < shards; ++shard) {
      const Index column = shard * m + q;
      if (!(states.sum(column) > 0)) continue;
      state.merge(
          SoftmaxAccumulator<Scalar>(states.max(column) + (states.reference(column) - reference),
                                     states.sum(column), states.values.col(column)));
    }
    result.log_sum(q) = reference + state.log_sum();
    // No value columns (densities): an m x 0 matrix has no rows to address.
    if (k > 0) result.mean.row(q) = state.mean().transpose();
  }
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
  CoreStates<typename QDerived::Scalar> states;
  const Index shards = run_core<Score>(queries, keys, values, key_log_weights,
                                       options.leave_one_out, threads, core, states);
  PoolResult<typename QDerived::Scalar> result;
  finish_pool(states, shards, result);
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
/// How it runs: on the engine's driver (detail/driver.hpp) with the pooling block accumulator
/// (detail/pooling_pass.hpp): blocks of 256 keys against tiles of 4 queries, r2 by direct
/// differences in registers (or, from d = 256 on in double, ||q||^2 + ||x||^2 - 2 q.x by Eigen's
/// GEMM on centred data when its error bound allows), the kernel's log-profile, one rescale of
/// the running state per block, and a vectorised exponential (detail/exp.hpp). Compact kernels
/// with a `profile` (all built-in ones) skip the exponential. No m x n matrix is formed.
///
/// Accuracy: exact up to rounding. Against a long-double evaluation of the same sums, the
/// log-sums and means agree to a few ulps per key (tests/numerics/test_fast_core.cpp states and
/// checks the bound). Scalar: float or double.
///
/// Threading: parallel over groups of queries, and over shards of the keys when there are few
/// queries (their partial states merged with SoftmaxAccumulator::merge), one thread per 2^14
/// pairs at most. The cut depends on the sizes only, so results are bit-identical for any
/// `options.threads`.
template <class Kernel, class QDerived, class KDerived, class VDerived, class WDerived>
PoolResult<typename QDerived::Scalar> pool(const Eigen::MatrixBase<QDerived>& queries,
                                           const Eigen::MatrixBase<KDerived>& keys,
                                           const Eigen::MatrixBase<VDerived>& values,
                                           const Eigen::MatrixBase<WDerived>& key_log_weights,
                                           const PoolOptions& options = {}) {
  using Scalar = typename QDerived::Scalar;
  static_assert(std::is_same<Scalar, float>::value || std::is_same<Scalar, double>::value,
                "pool: Scalar must be float or double");
  return detail::pool_with<detail::DistanceScore<Kernel>>(queries, keys, values, key_log_weights,
                                                          options, detail::CoreOptions{}, "pool");
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
