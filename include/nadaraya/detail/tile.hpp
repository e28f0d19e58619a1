#ifndef NADARAYA_DETAIL_TILE_HPP
#define NADARAYA_DETAIL_TILE_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <algorithm>  // std::min, std::max, std::sort, std::lower_bound
#include <cmath>      // std::exp, std::log, std::sqrt
#include <limits>
#include <utility>  // std::pair
#include <vector>

#include "../config.hpp"  // NADARAYA_ASSERT
#include "driver.hpp"
#include "exp.hpp"
#include "lanes.hpp"
#include "simd.hpp"
#include "score.hpp"

namespace nadaraya {
namespace detail {

/// \file tile.hpp
/// The fast core behind `pool` and `attention`: flash-attention-style blocking over queries and
/// keys with a running maximum per query.
///
/// Work is cut into items of (up to) 32 queries x one shard of keys. An item walks its keys in
/// blocks of 256 (fewer for large d, see CoreShape); per block it takes the keys packed into
/// panels (pack_key_panels: once for all blocks when more than 32 queries read them, else per
/// item and block), forms the log-weights of each register tile of 4 queries x the block
/// (tile_scores, which for the Gaussian and the dot product also applies the kernel and finds
/// the row maxima; or one GEMM per 32 queries for the product form), then per query: one rescale
/// of the running state when the maximum grows, then exp(l - max) over the block (exp_neg,
/// vectorised) with, in the same loop, the sum and the dot product with the value column, into
/// lane partial sums that are reduced once per item (exp_accumulate_row); a row whose largest
/// log-weight lies so far below the maximum that all its weights flush to 0 skips that loop
/// (finish_tile). The packed block and the values are read from L1/L2 by the 8 tiles of an
/// item; a tile's scores (8 KiB in double) stay in L1.
///
/// Compact kernels that give their profile skip the exponential and the maximum: their weights
/// are k(r2) w_i / max_j w_j, all in [0, 1] (see CoreData::linear).
///
/// The sorted line: in one dimension, with the Gaussian and equal weights, the keys are sorted
/// once, each query's largest log-weight is its nearest key's (binary search), and one loop per
/// query and block forms r2, the weight and the sums with no score tile; on sorted keys whole
/// blocks beyond the exponential's range are far more common, and are skipped (see
/// CoreData::sorted_line).
///
/// Memory: a row-major copy of the queries (m d), the running states (m (k + 2), times the
/// number of key shards when there are few queries), per thread a 32 x 256 score tile and the
/// partial sums of 32 queries, and when the keys are not packed once, one packed block of them
/// (at most 64 KiB); the keys packed once (n d) when more than 32 queries read them, or for the
/// GEMM form a centred copy of them.
/// Never an m x n matrix.
///
/// Threads: items run in parallel (OpenMP, dynamic schedule). The cut into items depends only on
/// m and n, never on the number of threads, and each item's arithmetic is fixed, so results are
/// bit-identical for any number of threads. When there are few queries, the keys are split into
/// shards (items of the same queries) whose partial states are merged afterwards, in shard order,
/// with SoftmaxAccumulator::merge.

/// Sizes of the pooling core's register tile (the rest is the driver's, PassShape).
struct CoreShape {
  static constexpr Index block_keys = PassShape::block_keys;  ///< room of a score-tile row
  static constexpr Index tile_queries = 4;                    ///< queries per register tile
  static constexpr Index group_queries = PassShape::group_queries;
  static_assert(group_queries == gemm_max_queries, "a GEMM tile holds one item's queries");
};

/// When the core takes the sorted-line path (CoreData::sorted_line) where it applies.
enum class SortedLine {
  automatic,  ///< when enough queries share the sort (see CoreData::sorted_line)
  always,     ///< wherever it applies, however few the queries (tests)
  never,      ///< the register tile (tests, benchmarks)
};

/// Knobs of the core that tests and benchmarks set; `pool` uses the defaults.
struct CoreOptions {
  ScoreForm form = ScoreForm::automatic;  ///< direct or product form for distance scores
  bool guard_product_form = true;    ///< centre the data and check the error bound (false: neither)
  bool allow_linear_weights = true;  ///< compact kernels with a profile skip the exponential
  SortedLine sorted_line = SortedLine::automatic;  ///< d = 1 Gaussian: sorted keys, one loop
};

/// The operands of the core, laid out for it. Only what the layout needs is copied: the queries
/// (row-major), the keys (packed into panels for the register tile, or centred for the GEMM);
/// the values and the log weights are read where they are, except in the last key block, whose
/// keys are padded to the tile's width (up to 15 keys of weight zero) from small copies.
/// Fewer large temporaries matter when there are few queries: for one query against a million
/// keys, allocating and filling copies of the key data costs as much as the pooling itself.
template <class Scalar>
class CoreData {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  template <class Score, class QDerived, class KDerived, class VDerived, class WDerived>
  CoreData(Score, const Eigen::MatrixBase<QDerived>& query_points,
           const Eigen::MatrixBase<KDerived>& key_points,
           const Eigen::MatrixBase<VDerived>& value_rows,
           const Eigen::MatrixBase<WDerived>& log_weights, bool exclude_own_key,
           const CoreOptions& options);

  CoreData(const CoreData&) = delete;  // holds references into the caller's matrices
  CoreData& operator=(const CoreData&) = delete;

  /// Log weights of keys [key0, key0 + block length): -inf for zero weights and the padding.
  const Scalar* log_weights_at(Index key0) const {
    if (key0 >= last_block) return m_tail_log_weights.data();
    return m_has_weights ? m_log_weight_data + key0 : m_zeros.data();
  }
  /// For `separate_log_weights`: 0 for keys of positive weight, -inf for zero weights and the
  /// padding (what the tile adds to log k, so that its row maxima skip those keys).
  const Scalar* reach_at(Index key0) const {
    return key0 >= last_block ? m_tail_reach.data() : m_reach.data() + key0;
  }
  /// Linear weights w_i / max w of the same keys: 0 for zero weights and the padding.
  const Scalar* key_weights_at(Index key0) const {
    if (key0 >= last_block) return m_tail_key_weights.data();
    return m_has_weights ? m_key_weights.data() + key0 : m_ones.data();
  }
  /// The caller's keys (n x d), packed block by block for the register tile.
  const Eigen::Ref<const Matrix, 0, Eigen::OuterStride<>>& key_points() const { return m_keys; }
  /// With `keys_packed`: the panels of the block that starts at key0 (a multiple of the tile's
  /// row of keys), as pack_key_panels lays them out.
  const Scalar* packed_panels(Index key0) const { return m_packed_keys.data() + key0 * d; }

  /// Value column c of the same keys: 0 in the padding.
  const Scalar* values_at(Index c, Index key0) const {
    return key0 >= last_block ? m_tail_values.col(c).data() : m_values.col(c).data() + key0;
  }

  Index m = 0;           // queries
  Index n = 0;           // keys
  Index d = 0;           // dimensions
  Index k = 0;           // value columns
  Index n_padded = 0;    // keys rounded up to a multiple of TileShape::key_granule
  Index block_keys = 0;  // keys per block: block_keys_for(d) (driver.hpp)
  Index last_block = 0;  // first key of the last block, the only one with padding
  RowMatrix queries;     // m x d, row-major: one query's coordinates are contiguous (broadcasts)
  Matrix keys;           // GEMM only: n_padded x d, centred, column-major
  Vector query_norms;    // product form: squared norms of the centred queries
  Vector key_norms;      // product form: squared norms of the centred keys (0 in the padding)
  Scalar weight_offset = 0;  // linear weights: log max w, so that the log-sum is offset + log(sum)
  bool use_gemm = false;     // scores by GEMM (product form of r2, or dot products for large d)
  bool linear = false;       // weights k(r2) w_i / max w, no exponential, no maximum
  /// Log space with unequal sample weights: log k and log w are kept apart (see finish_tile).
  bool separate_log_weights = false;
  bool leave_one_out = false;
  /// The register tile's keys are packed once for all blocks (packed_panels), not per item.
  bool keys_packed = false;
  /// The sorted-line path: d = 1, a Gaussian (affine) distance score, equal weights, no
  /// leave-one-out, at most one value column. The keys are sorted (line_keys, the values in the
  /// same order in line_values), so each query's largest log-weight is its nearest key's, found
  /// by binary search before any exponential, and a block's is at one of its ends. Then one loop
  /// per query and block forms r2, the weight exp(slope r2 - max) and the sums, with no score
  /// tile in between (line_accumulate_block): at d = 1 the tile's stores and the second pass over
  /// its scores took a fifth of the time. With the maximum known from the start, the running
  /// state is never rescaled. Taken automatically when the queries are many enough to repay the
  /// sort (at least 64 log2 n).
  bool sorted_line = false;
  Vector line_keys;    // sorted_line: the keys ascending, padded to n_padded with +inf
  Vector line_values;  // sorted_line with a value column: the values in the keys' order, 0 padded

 private:
  Eigen::Ref<const Matrix, 0, Eigen::OuterStride<>> m_keys;    // n x d, the caller's (or a copy)
  Eigen::Ref<const Matrix, 0, Eigen::OuterStride<>> m_values;  // n x k, the caller's (or a copy)
  bool m_has_weights = false;                                  // false: equal weights
  const Scalar* m_log_weight_data = nullptr;  // n log weights, the caller's or m_log_weight_copy
  Vector m_log_weight_copy;                   // when the caller's are not contiguous
  Vector m_key_weights;                       // linear weights with unequal sample weights: n
  Vector m_zeros, m_ones;     // a block of equal log weights (0) and linear weights (1)
  Vector m_tail_log_weights;  // the last block, padded with -inf
  Vector m_tail_key_weights;  // the last block, padded with 0
  Vector m_reach;             // separate_log_weights: 0 or -inf per key (see reach_at)
  Vector m_tail_reach;        // the last block's, padded with -inf
  Matrix m_tail_values;       // the last block, padded with 0
  Vector m_packed_keys;       // keys_packed: n_padded x d in panels
};

template <class Scalar>
template <class Score, class QDerived, class KDerived, class VDerived, class WDerived>
CoreData<Scalar>::CoreData(Score, const Eigen::MatrixBase<QDerived>& query_points,
                           const Eigen::MatrixBase<KDerived>& key_points,
                           const Eigen::MatrixBase<VDerived>& value_rows,
                           const Eigen::MatrixBase<WDerived>& log_weights, bool exclude_own_key,
                           const CoreOptions& options)
    : m(query_points.rows()),
      n(key_points.rows()),
      d(key_points.cols()),
      k(value_rows.cols()),
      leave_one_out(exclude_own_key),
      m_keys(key_points),
      m_values(value_rows),
      m_has_weights(log_weights.size() != 0) {
  constexpr Scalar minus_infinity = -std::numeric_limits<Scalar>::infinity();
  block_keys = block_keys_for<Scalar>(d);
  n_padded = padded_key_count<Scalar>(n);
  last_block = (n_padded - 1) / block_keys * block_keys;
  const Index tail = n_padded - last_block, tail_keys = n - last_block;
  queries = query_points;
  if (m_has_weights) {
    const auto column = log_weights.col(0);
    if constexpr (has_direct_access<WDerived>()) {
      if (column.innerStride() == 1) m_log_weight_data = column.data();
    }
    if (m_log_weight_data == nullptr) {
      m_log_weight_copy = column;
      m_log_weight_data = m_log_weight_copy.data();
    }
  }
  const Eigen::Map<const Vector> key_log_weights(m_log_weight_data, m_has_weights ? n : 0);

  // Equal weights: one block of zeros (log) and ones (linear) serves every full block.
  m_zeros.setZero(CoreShape::block_keys);
  m_ones.setOnes(CoreShape::block_keys);
  m_tail_log_weights.setConstant(tail, minus_infinity);
  m_tail_log_weights.head(tail_keys) = m_has_weights
                                           ? Vector(key_log_weights.segment(last_block, tail_keys))
                                           : Vector::Zero(tail_keys);
  m_tail_values.setZero(tail, k);
  // No value columns (densities): the caller's n x 0 matrix may have no data to offset into.
  if (k > 0) m_tail_values.topRows(tail_keys) = m_values.middleRows(last_block, tail_keys);

  // Linear weights: w_i / max w must stay far from underflow once multiplied by a profile value
  // (down to (eps / 2)^3 for the triweight near its edge), so that no weight that the log-space
  // path would keep is lost: sample weights within e^30 (float) or e^500 (double) of the largest.
  if constexpr (Score::can_use_linear_weights) {
    const Scalar largest = m_has_weights ? key_log_weights.maxCoeff() : Scalar(0);
    const Scalar floor = sizeof(Scalar) == 4 ? Scalar(-30) : Scalar(-500);
    bool moderate = options.allow_linear_weights && largest > minus_infinity;
    for (Index i = 0; m_has_weights && moderate && i < n; ++i) {
      const Scalar relative = key_log_weights(i) - largest;
      moderate = relative == minus_infinity || relative >= floor;
    }
    if (moderate) {
      linear = true;
      weight_offset = largest;
      // std::exp, not Eigen's array exp: in float, Eigen clamps its argument at -88.4, so
      // exp(-inf) comes out as 1e-38 rather than 0, and zero-weight keys would count.
      auto relative_weights = [largest](const auto& log_w, Vector& w) {
        w.resize(log_w.size());
        for (Index i = 0; i < log_w.size(); ++i) w(i) = std::exp(log_w(i) - largest);
      };
      if (m_has_weights) relative_weights(key_log_weights, m_key_weights);
      relative_weights(m_tail_log_weights, m_tail_key_weights);
    }
  }

  if (m_has_weights && !linear) {
    separate_log_weights = true;
    auto reach_of = [](const auto& log_w, Vector& reach) {
      reach.resize(log_w.size());
      for (Index i = 0; i < log_w.size(); ++i)
        reach(i) = log_w(i) == minus_infinity ? minus_infinity : Scalar(0);
    };
    reach_of(key_log_weights, m_reach);
    reach_of(m_tail_log_weights, m_tail_reach);
  }

  const bool large_dimension = d >= ProductForm<Scalar>::min_dimension;
  const bool gemm_wanted = options.form == ScoreForm::product ||
                           (options.form == ScoreForm::automatic && large_dimension);
  if constexpr (!Score::is_distance) {
    // Dot products: the GEMM computes the score itself, with no cancellation to guard against.
    if (gemm_wanted) {
      use_gemm = true;
      keys.resize(n_padded, d);
      keys.topRows(n) = key_points;
      keys.bottomRows(n_padded - n).setZero();
    }
  } else {
    if (gemm_wanted && m > 0) {
      // Centre on the keys' mean: r2 does not change, but ||q||^2 + ||x||^2 - 2 q.x no longer
      // cancels the distance of the data from the origin (at 1e6 from it, in d = 8, the
      // uncentred form loses about 1e-3 of r2 ~ 1).
      RowMatrix centred_queries = queries;
      Matrix centred_keys(n_padded, d);
      centred_keys.topRows(n) = key_points;
      centred_keys.bottomRows(n_padded - n).setZero();
      if (options.guard_product_form) {
        const Eigen::Matrix<Scalar, 1, Eigen::Dynamic> mean =
            centred_keys.topRows(n).colwise().mean();
        centred_queries.rowwise() -= mean;
        centred_keys.topRows(n).rowwise() -= mean;
      }
      Vector centred_query_norms = centred_queries.rowwise().squaredNorm();
      Vector centred_key_norms = centred_keys.rowwise().squaredNorm();
      const double bound = std::numeric_limits<Scalar>::epsilon() *
                           std::sqrt(static_cast<double>(d) + 2) *
                           (static_cast<double>(centred_query_norms.maxCoeff()) +
                            static_cast<double>(centred_key_norms.maxCoeff()));
      if (!options.guard_product_form || bound <= ProductForm<Scalar>::max_r2_error) {
        use_gemm = true;
        queries = std::move(centred_queries);
        keys = std::move(centred_keys);
        query_norms = std::move(centred_query_norms);
        key_norms = std::move(centred_key_norms);
      }
    }
  }
  // A falling log-profile (slope < 0) is what makes the nearest key the heaviest.
  if constexpr (Score::is_distance && Score::is_affine && Score::slope < 0) {
    const bool applies = d == 1 && !m_has_weights && !exclude_own_key && k <= 1 && !use_gemm;
    Index log2_n = 1;
    while ((Index{1} << log2_n) < n) ++log2_n;
    const bool worth_it = m >= 64 * log2_n;
    sorted_line = applies && options.sorted_line != SortedLine::never &&
                  (options.sorted_line == SortedLine::always || worth_it);
  }
  if (sorted_line) {
    // (key, value) pairs sorted by key: ties keep no particular order, which changes nothing
    // but the order of the sums.
    std::vector<std::pair<Scalar, Scalar>> line(static_cast<std::size_t>(n));
    for (Index i = 0; i < n; ++i)
      line[static_cast<std::size_t>(i)] = {m_keys(i, 0), k == 1 ? m_values(i, 0) : Scalar(0)};
    std::sort(line.begin(), line.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    line_keys.setConstant(n_padded, std::numeric_limits<Scalar>::infinity());
    for (Index i = 0; i < n; ++i) line_keys(i) = line[static_cast<std::size_t>(i)].first;
    if (k == 1) {
      line_values.setZero(n_padded);
      for (Index i = 0; i < n; ++i) line_values(i) = line[static_cast<std::size_t>(i)].second;
    }
  }
  // Pack the keys once when more than one group of queries reads every block: packing per item
  // read each block's d columns n apart, d pages per block, and at n = 2^16, d = 32 (8 to 16 MiB
  // of keys) the tile ran 25% slower than at n = 4096. One group reads each block once anyway,
  // and then no n x d copy is made.
  if (!use_gemm && !sorted_line && m > CoreShape::group_queries) {
    m_packed_keys.resize(n_padded * d);
    pack_key_panels(m_keys, n_padded, m_packed_keys.data());
    keys_packed = true;
  }
}

/// Per-query running states of all shards: state column s m + q is query q over shard s.
template <class Scalar>
struct CoreStates {
  /// separate_log_weights: the largest log k seen (-inf before any), which `max` is relative to;
  /// 0 otherwise.
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> reference;
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> max;  // running maximum log-weight
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> sum;  // sum of exp(l - max)
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>
      values;  // k x (shards m): sum of exp(l - max) y
};

/// Scratch of one thread: a score tile of 32 queries x 256 keys, one block of keys packed for
/// the register tile when the keys are not packed once (CoreData::keys_packed: with at most 32
/// queries an n x d copy would cost more than the pooling), and the item's partial sums.
///
/// The partial sums: while an item walks its keys, each query's sums are kept as lane_count()
/// partial sums each, added to lane by lane, and reduced into CoreStates once at the end of the
/// item. Reducing them per block of keys took 16 dependent scalar additions per sum and block in
/// float (measured with perf: about a seventh of the time at d = 1). Per query (column of
/// `partials`): lanes [0, L) the sum of exp(l - max), then [(1 + c) L, (2 + c) L) the sum of
/// exp(l - max) y_c.
template <class Scalar>
struct CoreScratch {
  static constexpr Index lanes = lane_count<Scalar>();
  // Eigen vectors, not std::vector: left uninitialised (zeroing 64 KiB is a visible part of a
  // call with 16 queries and 16 keys).
  // The panel block only where it is used, and only as large as the data's blocks (fewer keys
  // for large d).
  explicit CoreScratch(const CoreData<Scalar>& data)
      : scores(CoreShape::group_queries * CoreShape::block_keys),
        panels(data.keys_packed || data.use_gemm || data.sorted_line ? 0
                                                                     : data.block_keys * data.d),
        partials((data.k + 1) * lanes, CoreShape::group_queries) {}
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> scores;
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> panels;
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> partials;  // (k + 1) L x 32
};

/// The largest of row[0..length) (no NaN). `row` has room for CoreShape::block_keys scalars; the
/// halving tree needs a power-of-two count, so the tail up to it is filled with -inf.
template <class Scalar>
inline Scalar row_max(Scalar* row, Index length) {
  Index count = 2 * lane_count<Scalar>();
  while (count < length) count *= 2;
  for (Index i = length; i < count; ++i) row[i] = -std::numeric_limits<Scalar>::infinity();
  alignas(64) Scalar halves[CoreShape::block_keys / 2];
  return lane_max(row, count, halves);
}

/// Multiplies a query's partial sums ((k + 1) lane arrays, see CoreScratch) by `scale`.
template <class Scalar>
inline void scale_partials(const CoreData<Scalar>& data, Scalar scale, Scalar* partials) {
  const Index count = (data.k + 1) * CoreScratch<Scalar>::lanes;
  for (Index i = 0; i < count; ++i) partials[i] *= scale;
}

/// Prepares one query's row of log-weights for keys [key0, key0 + length), whose largest is
/// `block_max`, for the exponential: rescales the query's running state when the maximum grows
/// (once per block at most, not once per key). Returns the offset to exponentiate against:
/// the state's maximum, or 0 when no key of the block reaches the query (the row is all -inf,
/// so its weights come out 0).
template <class Scalar>
inline Scalar rescale_to_block(const CoreData<Scalar>& data, Scalar block_max, Scalar& max,
                               Scalar* partials) {
  if (block_max == -std::numeric_limits<Scalar>::infinity()) return Scalar(0);
  if (block_max > max) {
    scale_partials(data, std::exp(max - block_max), partials);  // 0 for the first reached block
    max = block_max;
  }
  return max;
}

/// Folds a row of log-weights into a query's partial sums: w_i = exp(row[i] - offset), written
/// as exp_neg(offset - l) (offset - l >= 0; +inf for keys that do not reach the query, which
/// give 0), added lane by lane to the sum and, times y_i, to each value column's sum.
///
/// With at most one value column the exponential and the sums run in one loop over lane arrays,
/// which GCC and Clang vectorise across the lanes (measured: no permutes; the weights never go
/// back to memory). With more columns the weights are written back to the row first and each
/// column is a second pass over them, which keeps the loop's registers bounded.
template <class Scalar>
inline void exp_accumulate_row(const CoreData<Scalar>& data, Index key0, Index length, Scalar* row,
                               Scalar offset, Scalar* partials) {
  constexpr Index L = CoreScratch<Scalar>::lanes;
  // The row's own sums start from 0 and are added to the partial sums at the end: two levels,
  // a block's few terms per lane and then one term per block, rather than all of a lane's
  // n / L terms in one running sum (at n = 2^16 that was 6e-15 relative error in double
  // against 1e-15, and 1e-6 against 4e-7 in float).
  Scalar sum[L] = {};
  if (data.k == 1) {
    const Scalar* y = data.values_at(0, key0);
    Scalar value[L] = {};
    for (Index i = 0; i < length; i += L) {
      for (Index l = 0; l < L; ++l) {
        const Scalar weight = exp_neg(offset - row[i + l]);
        sum[l] += weight;
        value[l] += weight * y[i + l];
      }
    }
    for (Index l = 0; l < L; ++l) partials[L + l] += value[l];
  } else if (data.k == 0) {
    for (Index i = 0; i < length; i += L) {
      for (Index l = 0; l < L; ++l) sum[l] += exp_neg(offset - row[i + l]);
    }
  } else {
    for (Index i = 0; i < length; ++i) row[i] = exp_neg(offset - row[i]);
    for (Index i = 0; i < length; i += L) {
      for (Index l = 0; l < L; ++l) sum[l] += row[i + l];
    }
    for (Index c = 0; c < data.k; ++c) {
      const Scalar* y = data.values_at(c, key0);
      Scalar value[L] = {};
      for (Index i = 0; i < length; i += L) {
        for (Index l = 0; l < L; ++l) value[l] += row[i + l] * y[i + l];
      }
      for (Index l = 0; l < L; ++l) partials[(1 + c) * L + l] += value[l];
    }
  }
  for (Index l = 0; l < L; ++l) partials[l] += sum[l];
}

/// Folds a row of linear weights k(r2) w_i / max w (relative to exp(data.weight_offset)) into a
/// query's state. A row whose weights are all tiny (the edge of a compact support: the triweight
/// gives 1e-21 in float at r2 = 1 - eps) is first scaled by a power of two to bring its sum into
/// [1, 2), its offset lowered to match, as the log-space path measures weights from their
/// maximum: otherwise a weight times a small value falls into the subnormals and loses its digits
/// (found by fuzz_nadaraya_watson). Rows of ordinary weights cost two comparisons more.
template <class Scalar>
inline void accumulate_linear_row(const CoreData<Scalar>& data, Index key0, Index length,
                                  Scalar* row, Scalar& max, Scalar* partials) {
  constexpr Scalar tiny_row_sum = Scalar(1.0 / 65536);  // 2^-16
  Scalar row_sum = lane_sum(row, length);
  if (!(row_sum > 0)) return;  // no key of this block reaches the query
  Scalar offset = data.weight_offset;
  if (row_sum < tiny_row_sum) {
    const int exponent = std::ilogb(row_sum);
    const Scalar factor = std::ldexp(Scalar(1), -exponent);  // exact: a power of two
    for (Index i = 0; i < length; ++i) row[i] *= factor;
    row_sum *= factor;
    offset += static_cast<Scalar>(exponent) * Scalar(0.693147180559945309417232121458176568);
  }
  Scalar factor = 1;  // of this row's weights, relative to the state's offset
  if (offset > max) {
    scale_partials(data, std::exp(max - offset), partials);  // 0 for the first reached block
    max = offset;
  } else if (offset < max) {
    factor = std::exp(offset - max);
  }
  // Into the first lane of each partial sum (the row's own sums are reduced here anyway).
  constexpr Index L = CoreScratch<Scalar>::lanes;
  partials[0] += factor * row_sum;
  for (Index c = 0; c < data.k; ++c) {
    partials[(1 + c) * L] += factor * lane_dot(row, data.values_at(c, key0), length);
  }
}

/// Sample weights in log space, kept apart from log k (CoreData::separate_log_weights): a row of
/// log k (its largest `largest`) becomes (log k - reference) + log w, where `reference` is the
/// largest log k that the query has seen (raised here, the state's `max` moved with it). Adding
/// log w to log k directly rounds it away once |log k| is large (a tiny bandwidth: log k ~ -5e15
/// at h = 1e-8), and tied neighbours lose their weights; log k - reference is exact for ties and
/// small near the top. Returns the row's largest log-weight, relative to the reference.
template <class Scalar>
inline Scalar add_log_weights(const CoreData<Scalar>& data, Index key0, Index length, Scalar* row,
                              Scalar largest, Scalar& reference, Scalar& max) {
  constexpr Scalar minus_infinity = -std::numeric_limits<Scalar>::infinity();
  if (largest == minus_infinity) return minus_infinity;  // no key of the block reaches the query
  if (largest > reference) {
    if (reference > minus_infinity) max += reference - largest;
    reference = largest;
  }
  const Scalar* log_weights = data.log_weights_at(key0);
  for (Index i = 0; i < length; ++i) row[i] = (row[i] - reference) + log_weights[i];
  return row_max(row, length);
}

/// Turns the rows of a tile of `Rows` queries (scores r2 or q.x, or log-weights already when
/// `log_weights_done`, with `tile_max` their row maxima) into weights, with the leave-one-out
/// exclusion, and folds them into the queries' states.
template <class Score, Index Rows, class Scalar>
inline void finish_tile(const CoreData<Scalar>& data, Index query0, Index key0, Index length,
                        Scalar* rows, Index stride, bool log_weights_done, const Scalar* tile_max,
                        Scalar* reference, Scalar* max, Scalar* partials) {
  constexpr Scalar minus_infinity = -std::numeric_limits<Scalar>::infinity();
  const Index state_size = (data.k + 1) * CoreScratch<Scalar>::lanes;
  if (data.linear) {
    const Scalar* key_weights = data.key_weights_at(key0);
    for (Index r = 0; r < Rows; ++r) {
      Scalar* row = rows + r * stride;
      for (Index i = 0; i < length; ++i) row[i] = Score::weight(row[i], key_weights[i]);
      const Index query = query0 + r;
      if (data.leave_one_out && query >= key0 && query < key0 + length)
        row[query - key0] = Scalar(0);
      accumulate_linear_row(data, key0, length, row, max[r], partials + r * state_size);
    }
    return;
  }
  // Per row: the offset to exponentiate against, and whether any weight of the row can be
  // nonzero. Every y of the row is at least offset - block_max, so when exp_neg flushes from
  // there all the row's weights are 0 and its exponentials are skipped (bit for bit the same
  // sums): with small widths, whole blocks of keys far from a query cost only their scores.
  Scalar offsets[Rows];
  bool reaches[Rows];
  for (Index r = 0; r < Rows; ++r) {
    Scalar* row = rows + r * stride;
    if (!log_weights_done) {
      const Scalar* log_weights =
          data.separate_log_weights ? data.reach_at(key0) : data.log_weights_at(key0);
      for (Index i = 0; i < length; ++i) row[i] = Score::log_weight(row[i], log_weights[i]);
    }
    const Index query = query0 + r;
    const bool own_key_here = data.leave_one_out && query >= key0 && query < key0 + length;
    if (own_key_here) row[query - key0] = minus_infinity;
    // The tile's maximum included the own key: recompute it without (one block per query).
    Scalar block_max = !log_weights_done || own_key_here ? row_max(row, length) : tile_max[r];
    if (data.separate_log_weights) {
      block_max = add_log_weights(data, key0, length, row, block_max, reference[r], max[r]);
    }
    offsets[r] = rescale_to_block(data, block_max, max[r], partials + r * state_size);
    reaches[r] = !exp_neg_flushes_from(offsets[r] - block_max);  // false if all -inf
  }
  for (Index r = 0; r < Rows; ++r) {
    if (!reaches[r]) continue;
    exp_accumulate_row(data, key0, length, rows + r * stride, offsets[r],
                       partials + r * state_size);
  }
}

/// The sorted-line path (CoreData::sorted_line): the log-weight slope r2 of `query` and the key
/// x, with r2 rounded as line_accumulate_block rounds it.
template <class Score, class Scalar>
inline Scalar line_log_weight(Scalar query, Scalar key) {
  const Scalar difference = query - key;
  return static_cast<Scalar>(Score::slope) * (difference * difference);
}

/// The sorted-line path: the query's largest log-weight, its nearest key's. Rounding is monotone,
/// so no key farther away can round to a larger one; -inf when even the nearest key's r2
/// overflows (no key reaches the query, as on the tile's path).
template <class Score, class Scalar>
inline Scalar line_max_log_weight(const CoreData<Scalar>& data, Scalar query) {
  const Scalar* keys = data.line_keys.data();
  const Index above = std::lower_bound(keys, keys + data.n, query) - keys;
  Scalar largest = -std::numeric_limits<Scalar>::infinity();
  if (above < data.n) largest = line_log_weight<Score>(query, keys[above]);
  if (above > 0) largest = std::max(largest, line_log_weight<Score>(query, keys[above - 1]));
  return largest;
}

/// The sorted-line path: folds keys [key0, key0 + length) into one query's partial sums (the
/// layout of CoreScratch), w_i = exp(slope r2_i - max) = exp_neg(max - slope r2_i), r2 formed in
/// the same loop. `max` is the query's largest log-weight over all keys, so every argument is
/// >= 0; the padding's keys are +inf and give 0. Two levels of sums as in exp_accumulate_row.
template <class Score, class Scalar>
inline void line_accumulate_block(const CoreData<Scalar>& data, Scalar query, Index key0,
                                  Index length, Scalar max, Scalar* partials) {
  constexpr Index L = CoreScratch<Scalar>::lanes;
  const Scalar rise = static_cast<Scalar>(-Score::slope);  // max - slope r2 = rise r2 + max
  const Scalar* keys = data.line_keys.data() + key0;
  Scalar sum[L] = {};
  if (data.k == 1) {
    const Scalar* y = data.line_values.data() + key0;
    Scalar value[L] = {};
    for (Index i = 0; i < length; i += L) {
      for (Index l = 0; l < L; ++l) {
        const Scalar difference = query - keys[i + l];
        const Scalar weight = exp_neg(multiply_add(rise, difference * difference, max));
        sum[l] += weight;
        value[l] += weight * y[i + l];
      }
    }
    for (Index l = 0; l < L; ++l) partials[L + l] += value[l];
  } else {
    for (Index i = 0; i < length; i += L) {
      for (Index l = 0; l < L; ++l) {
        const Scalar difference = query - keys[i + l];
        sum[l] += exp_neg(multiply_add(rise, difference * difference, max));
      }
    }
  }
  for (Index l = 0; l < L; ++l) partials[l] += sum[l];
}

/// The sorted-line path: one query against keys [key0, key0 + length), whose largest
/// log-weight over all keys is `largest`; skips the block when its nearest end is so far that all
/// its weights flush to 0.
template <class Score, class Scalar>
inline void line_add_block(const CoreData<Scalar>& data, Scalar query, Scalar largest, Index key0,
                           Index length, Scalar* partials) {
  // The block's largest log-weight: at its first key when the query lies below it, at its last
  // when above, the query's own largest when inside.
  const Scalar first = data.line_keys(key0);
  const Scalar last = data.line_keys(std::min(key0 + length, data.n) - 1);
  const Scalar block_max = query <= first  ? line_log_weight<Score>(query, first)
                           : query >= last ? line_log_weight<Score>(query, last)
                                           : largest;
  if (exp_neg_flushes_from(largest - block_max)) return;
  line_accumulate_block<Score>(data, query, key0, length, largest, partials);
}

/// The pooling block accumulator (the driver's policy for `pool` and `attention`): per item, the
/// partial sums of its queries (CoreScratch), folded per block by the register tile
/// (finish_tile) or the sorted line, and stored into the item's state columns at its end.
template <class Score, class Scalar>
class PoolingPass {
 public:
  using Scratch = CoreScratch<Scalar>;
  PoolingPass(const CoreData<Scalar>& data, CoreStates<Scalar>& states)
      : m_data(data), m_states(states) {}

  Scratch scratch() const { return Scratch(m_data); }

  void begin_item(Scratch& scratch, const PassCut::Item& item) {
    scratch.partials.leftCols(item.count).setZero();
    if (!m_data.sorted_line) return;
    // The sorted line knows each query's largest log-weight before any exponential.
    Scalar* max = m_states.max.data() + state0(item);
    for (Index t = 0; t < item.count; ++t)
      max[t] = line_max_log_weight<Score>(m_data, m_data.queries(item.query0 + t, 0));
  }

  void add_block(Scratch& scratch, const PassCut::Item& item, Index key0, Index length) {
    const CoreData<Scalar>& data = m_data;
    const Index query0 = item.query0, count = item.count;
    Scalar* max = m_states.max.data() + state0(item);
    if (data.sorted_line) {
      for (Index t = 0; t < count; ++t) {
        if (max[t] == -std::numeric_limits<Scalar>::infinity()) continue;  // no key reaches it
        line_add_block<Score>(data, data.queries(query0 + t, 0), max[t], key0, length,
                              scratch.partials.col(t).data());
      }
      return;
    }
    // Rows of the score tile are CoreShape::block_keys apart; blocks have data.block_keys keys.
    constexpr Index block_keys = CoreShape::block_keys, tile_queries = CoreShape::tile_queries;
    constexpr bool difference = Score::is_distance;
    constexpr Scalar minus_infinity = -std::numeric_limits<Scalar>::infinity();
    const Index d = data.d;
    // The tile writes log-weights and their maxima itself (Gaussian, dot product, log space).
    const bool affine_tile = Score::is_affine && !data.use_gemm && !data.linear;
    const Scalar slope = static_cast<Scalar>(Score::slope);
    Scalar* scores = scratch.scores.data();
    Scalar* reference = m_states.reference.data() + state0(item);
    if (!data.use_gemm && !data.keys_packed) {
      pack_key_panels(data.key_points().middleRows(key0, std::min(length, data.n - key0)), length,
                      scratch.panels.data());
    }
    if (data.use_gemm) {
      gemm_scores(data.queries.data() + query0 * d, count, d, data.keys.data() + key0,
                  data.n_padded, length, scores, block_keys);
      if constexpr (difference) {
        // r2 = ||q||^2 + ||x||^2 - 2 q.x on centred data; rounding may take it below 0.
        for (Index t = 0; t < count; ++t) {
          Scalar* row = scores + t * block_keys;
          const Scalar query_norm = data.query_norms(query0 + t);
          const Scalar* key_norms = data.key_norms.data() + key0;
          for (Index i = 0; i < length; ++i) {
            const Scalar r2 = query_norm + key_norms[i] - Scalar(2) * row[i];
            row[i] = r2 > Scalar(0) ? r2 : Scalar(0);
          }
        }
      }
    }
    Index t = 0;
    while (t < count) {
      // Register tiles of 4 queries, then single queries for the remainder (not padding: one
      // query against a million keys should not pay for four).
      const Index tile = count - t >= tile_queries ? tile_queries : 1;
      Scalar* tile_rows = scores + t * block_keys;
      Scalar tile_max[tile_queries] = {minus_infinity, minus_infinity, minus_infinity,
                                       minus_infinity};
      if (!data.use_gemm) {
        const Scalar* tile_queries_data = data.queries.data() + (query0 + t) * d;
        const Scalar* panels = data.keys_packed ? data.packed_panels(key0) : scratch.panels.data();
        const Scalar* log_weights = !affine_tile                ? nullptr
                                    : data.separate_log_weights ? data.reach_at(key0)
                                                                : data.log_weights_at(key0);
        if (tile == tile_queries) {
          tile_scores<difference, tile_queries>(tile_queries_data, d, panels, length, tile_rows,
                                                block_keys, log_weights, slope, tile_max);
        } else {
          tile_scores<difference, 1>(tile_queries_data, d, panels, length, tile_rows, block_keys,
                                     log_weights, slope, tile_max);
        }
      }
      Scalar* tile_partials = scratch.partials.col(t).data();
      if (tile == tile_queries) {
        finish_tile<Score, tile_queries>(data, query0 + t, key0, length, tile_rows, block_keys,
                                         affine_tile, tile_max, reference + t, max + t,
                                         tile_partials);
      } else {
        finish_tile<Score, 1>(data, query0 + t, key0, length, tile_rows, block_keys, affine_tile,
                              tile_max, reference + t, max + t, tile_partials);
      }
      t += tile;
    }
  }

  /// The item's partial sums into its state columns, lanes in a fixed order.
  void end_item(Scratch& scratch, const PassCut::Item& item) {
    constexpr Index lanes = CoreScratch<Scalar>::lanes;
    const Index first = state0(item);
    for (Index t = 0; t < item.count; ++t) {
      const Scalar* lane = scratch.partials.col(t).data();
      for (Index c = 0; c <= m_data.k; ++c, lane += lanes) {
        Scalar total = 0;
        for (Index l = 0; l < lanes; ++l) total += lane[l];
        if (c == 0) {
          m_states.sum(first + t) = total;
        } else {
          m_states.values(c - 1, first + t) = total;
        }
      }
    }
  }

 private:
  Index state0(const PassCut::Item& item) const { return item.shard * m_data.m + item.query0; }

  const CoreData<Scalar>& m_data;
  CoreStates<Scalar>& m_states;  // state column shard m + query
};

/// The fast core: every query's running state over every key shard (state column shard m + q),
/// for the caller to merge and finish (pool.hpp). Returns the number of shards. Arguments are
/// checked by the caller.
template <class Score, class QDerived, class KDerived, class VDerived, class WDerived>
Index run_core(const Eigen::MatrixBase<QDerived>& queries, const Eigen::MatrixBase<KDerived>& keys,
               const Eigen::MatrixBase<VDerived>& values,
               const Eigen::MatrixBase<WDerived>& key_log_weights, bool leave_one_out, int threads,
               const CoreOptions& options, CoreStates<typename QDerived::Scalar>& states) {
  using Scalar = typename QDerived::Scalar;
  constexpr Scalar minus_infinity = -std::numeric_limits<Scalar>::infinity();
  const CoreData<Scalar> data(Score{}, queries, keys, values, key_log_weights, leave_one_out,
                              options);
  const Index m = data.m, k = data.k;
  const PassCut cut = PassCut::of<Scalar>(m, data.n, data.d);
  NADARAYA_ASSERT(cut.padded_keys() == data.n_padded);
  const Index shards = cut.shards();
  states.reference.setConstant(shards * m, data.separate_log_weights ? minus_infinity : Scalar(0));
  states.max.setConstant(shards * m, minus_infinity);
  states.sum.setZero(shards * m);
  states.values.setZero(k, shards * m);
  if (m == 0) return shards;
  PoolingPass<Score, Scalar> pass(data, states);
  drive(cut, threads, pass);
  return shards;
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_TILE_HPP
