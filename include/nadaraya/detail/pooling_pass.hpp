#ifndef NADARAYA_DETAIL_POOLING_PASS_HPP
#define NADARAYA_DETAIL_POOLING_PASS_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <algorithm>  // std::min
#include <limits>
#include <utility>  // std::pair

#include "../config.hpp"  // NADARAYA_ASSERT
#include "core_data.hpp"
#include "driver.hpp"
#include "score.hpp"
#include "sorted_line.hpp"
#include "tile_rows.hpp"

namespace nadaraya {
namespace detail {

/// \file pooling_pass.hpp
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
    // The sorted line knows each query's largest log k (and with equal weights its largest
    // log-weight) before any exponential.
    Scalar* max = m_states.max.data() + state0(item);
    Scalar* reference = m_states.reference.data() + state0(item);
    for (Index t = 0; t < item.count; ++t) {
      const Scalar query = m_data.queries(item.query0 + t, 0);
      const LineStart<Scalar> start = line_start<Score>(m_data, item.query0 + t, query);
      max[t] = start.max;
      reference[t] = start.reference;
      // The blocks that can matter, once: most of a narrow width's blocks cost nothing then.
      const std::pair<Index, Index> range = line_block_range<Score>(
          m_data, query, start.reference, start.max, item.block_begin, item.block_end);
      scratch.line_blocks(2 * t) = range.first;
      scratch.line_blocks(2 * t + 1) = range.second;
    }
  }

  void add_block(Scratch& scratch, const PassCut::Item& item, Index key0, Index length) {
    const CoreData<Scalar>& data = m_data;
    const Index query0 = item.query0, count = item.count;
    Scalar* max = m_states.max.data() + state0(item);
    if (data.sorted_line) {
      const Scalar* reference = m_states.reference.data() + state0(item);
      const Index block = key0 / data.block_keys;
      for (Index t = 0; t < count; ++t) {
        if (block < scratch.line_blocks(2 * t) || block >= scratch.line_blocks(2 * t + 1)) continue;
        line_add_block<Score>(data, query0 + t, data.queries(query0 + t, 0), reference[t], key0,
                              length, max[t], scratch.partials.col(t).data(),
                              scratch.scores.data());
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

#endif  // NADARAYA_DETAIL_POOLING_PASS_HPP
