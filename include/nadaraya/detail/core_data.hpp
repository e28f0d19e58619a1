#ifndef NADARAYA_DETAIL_CORE_DATA_HPP
#define NADARAYA_DETAIL_CORE_DATA_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <algorithm>  // std::sort
#include <cmath>      // std::exp, std::sqrt
#include <limits>
#include <utility>  // std::pair
#include <vector>

#include "driver.hpp"  // block_keys_for, padded_key_count
#include "lanes.hpp"
#include "score.hpp"
#include "simd.hpp"  // has_direct_access

namespace nadaraya {
namespace detail {

/// \file core_data.hpp
/// The pooling core's operands laid out for it (CoreData), its per-query states (CoreStates) and
/// per-thread scratch (CoreScratch); pooling_pass.hpp describes the core.

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
  /// The sorted-line path: d = 1, a Gaussian (affine) distance score, at most one value column.
  /// The keys are sorted (line_keys, the values and log weights in the same order), so each
  /// query's largest log k is its nearest key's (the other one's with leave-one-out), found by
  /// binary search (or from the key's own rank) before any exponential, and a block's is at one
  /// of its ends. Then one loop per query and block forms r2, the weight and the sums, with no
  /// score tile in between (sorted_line.hpp): at d = 1 the tile's stores and the second pass
  /// over its scores took a fifth of the time. With equal weights the maximum is known from the
  /// start; with sample weights, log max w bounds each block. Taken automatically when the
  /// queries are many enough to repay the sort (at least 64 log2 n).
  bool sorted_line = false;
  Vector line_keys;    // sorted_line: the keys ascending, padded to n_padded with +inf
  Vector line_values;  // sorted_line with a value column: the values in the keys' order, 0 padded
  Vector line_log_weights;  // sorted_line with weights: log w in the keys' order, -inf padded
  Scalar line_largest_log_weight = 0;  // sorted_line with weights: log max w
  std::vector<Index> line_rank;        // sorted_line with leave-one-out: each key's sorted position

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
    const bool applies = d == 1 && k <= 1 && !use_gemm;
    Index log2_n = 1;
    while ((Index{1} << log2_n) < n) ++log2_n;
    const bool worth_it = m >= 64 * log2_n;
    sorted_line = applies && options.sorted_line != SortedLine::never &&
                  (options.sorted_line == SortedLine::always || worth_it);
  }
  if (sorted_line) {
    // Keys sorted with their positions: ties keep no particular order, which changes nothing
    // but the order of the sums.
    std::vector<std::pair<Scalar, Index>> line(static_cast<std::size_t>(n));
    for (Index i = 0; i < n; ++i) line[static_cast<std::size_t>(i)] = {m_keys(i, 0), i};
    std::sort(line.begin(), line.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    line_keys.setConstant(n_padded, std::numeric_limits<Scalar>::infinity());
    if (k == 1) line_values.setZero(n_padded);
    if (m_has_weights) {
      line_log_weights.setConstant(n_padded, minus_infinity);
      line_largest_log_weight = key_log_weights.maxCoeff();
    }
    if (exclude_own_key) line_rank.resize(static_cast<std::size_t>(n));
    for (Index i = 0; i < n; ++i) {
      const Index key = line[static_cast<std::size_t>(i)].second;
      line_keys(i) = line[static_cast<std::size_t>(i)].first;
      if (k == 1) line_values(i) = m_values(key, 0);
      if (m_has_weights) line_log_weights(i) = key_log_weights(key);
      if (exclude_own_key) line_rank[static_cast<std::size_t>(key)] = i;
    }
  }
  // Pack the keys once when more than one group of queries reads every block: packing per item
  // reads each block's d columns n apart, d pages per block. One group reads each block once
  // anyway, and then no n x d copy is made.
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
/// item: reducing them per block would take 16 dependent scalar additions per sum and block in
/// float. Per query (column of
/// `partials`): lanes [0, L) the sum of exp(l - max), then [(1 + c) L, (2 + c) L) the sum of
/// exp(l - max) y_c.
template <class Scalar>
struct CoreScratch {
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  static constexpr Index lanes = lane_count<Scalar>();
  // Eigen vectors, not std::vector: left uninitialised (zeroing 64 KiB is a visible part of a
  // call with 16 queries and 16 keys).
  // The panel block only where it is used, and only as large as the data's blocks (fewer keys
  // for large d).
  // Both sized for the call, and the thread's from its last call reused when large enough (see
  // kept()): glibc returns freed memory at the top of the heap to the system past 128 KiB, and
  // a call at n = m = 256, d = 32 then faulted its tiles back in each time (20% of the call).
  explicit CoreScratch(const CoreData<Scalar>& data)
      : partials((data.k + 1) * lanes, CoreShape::group_queries),
        line_blocks(data.sorted_line ? 2 * CoreShape::group_queries : 0) {
    take(kept().scores, scores,
         std::min<Index>(CoreShape::group_queries, std::max<Index>(data.m, 1)) *
             CoreShape::block_keys);
    take(kept().panels, panels,
         data.keys_packed || data.use_gemm || data.sorted_line
             ? 0
             : std::min(data.block_keys, data.n_padded) * data.d);
  }
  ~CoreScratch() {
    give_back(scores, kept().scores);
    give_back(panels, kept().panels);
  }
  CoreScratch(const CoreScratch&) = delete;
  CoreScratch& operator=(const CoreScratch&) = delete;
  CoreScratch(CoreScratch&&) noexcept = default;
  CoreScratch& operator=(CoreScratch&&) = delete;

  Vector scores;  // at least the call's size: a 32 x 256 score tile at most
  Vector panels;  // at least one packed block of keys, at most PassShape::max_block_bytes
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> partials;  // (k + 1) L x 32
  /// The sorted line: per query of the item, the range of blocks it reads (first, end).
  Eigen::Matrix<Index, Eigen::Dynamic, 1> line_blocks;

 private:
  // The calling thread's buffers from its last scratch: both bounded (a score tile, one block).
  struct Kept {
    Vector scores, panels;
  };
  static Kept& kept() {
    thread_local Kept buffers;
    return buffers;
  }
  static void take(Vector& from, Vector& to, Index size) {
    if (from.size() >= size && size > 0) {
      to.swap(from);
    } else {
      to.resize(size);
    }
  }
  static void give_back(Vector& from, Vector& to) {
    if (from.size() > to.size()) to.swap(from);
  }
};

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_CORE_DATA_HPP
