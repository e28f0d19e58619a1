#ifndef NADARAYA_DETAIL_PAIR_BLOCKS_HPP
#define NADARAYA_DETAIL_PAIR_BLOCKS_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <limits>
#include <type_traits>

#include "../config.hpp"  // NADARAYA_HAS_OPENMP
#include "../kernel.hpp"  // kernel_traits
#include "exp.hpp"        // exp_neg: the block's weights, vectorised
#include "lanes.hpp"      // lane_count, lane_max, lane_sum, lane_dot

namespace nadaraya {
namespace detail {

/// \file pair_blocks.hpp
/// The blocked form of the engine's generic pair loop (`stream`, pool.hpp), for accumulators that
/// take a whole block of keys at once: what the bandwidth objectives (objectives.hpp) run on.
///
/// Per query and block of B keys (B a power of two up to 256), the driver computes the squared
/// scaled distances and the log-weights log w_k + log k(r2_k) into small buffers, and the block's
/// largest log-weight once (for the Gaussian and d <= 4 all three in one pass,
/// linear_block_log_weights); the accumulator then rescales its running state once per block
/// (online softmax, as the prediction core of tile.hpp does), exponentiates the whole block with
/// the vectorised exp_neg, and sums weights and gradient terms over the block (for the common
/// shapes in one pass, detail::block_moments in objectives.hpp). `stream` calls its accumulator
/// once per pair, with a scalar log-weight, and its accumulators call std::exp per pair: that was
/// most of a bandwidth fit's time.
///
/// The sums are the per-pair loop's up to rounding (the order of the additions differs: lane
/// partial sums per block); tests/fitting/test_pair_blocks.cpp checks values and gradients against
/// the per-pair loop.
///
/// Threading: parallel over queries; each query runs over the blocks in the same order whatever
/// the number of threads, so results are bit-identical for any thread count.

/// Keys per block for n keys: a power of two from two lane arrays (what lane_max needs) up to 256,
/// the smallest that holds n (small problems do not pay for 256 keys of padding).
template <class Scalar>
inline Index pair_block_size(Index n) {
  Index block = 2 * lane_count<Scalar>();
  while (block < n && block < 256) block *= 2;
  return block;
}

/// n rounded up to whole blocks: the key arrays of `stream_blocks` have this many rows.
template <class Scalar>
inline Index padded_key_count(Index n) {
  const Index block = pair_block_size<Scalar>(n);
  return (n + block - 1) / block * block;
}

/// The threads worth starting for a pass of `queries` x `keys` pairs: at most `threads`, and at
/// least 2^18 pairs (about a millisecond) per thread. A parallel region costs microseconds on an
/// idle machine but, on a busy one, up to a descheduled thread's time slice at its closing barrier
/// (measured on a loaded 2-core machine: an SGD step of 128 x 1000 pairs ran 36 times slower on
/// two threads than on one). Results do not depend on the number of threads.
inline int pass_threads(int threads, Index queries, Index keys) {
  constexpr double pairs_per_thread = 262144;
  const double useful = static_cast<double>(queries) * static_cast<double>(keys) / pairs_per_thread;
  if (useful < 2) return 1;
  return useful < static_cast<double>(threads) ? static_cast<int>(useful) : threads;
}

/// The squared distances r2 and log-weights slope r2 + log w of a block for a linear
/// log-profile (the Gaussian), over all Dims coordinates in one pass, and their maximum: the
/// general loop makes one pass per coordinate and one more (lane_max) for the maximum. Eigen's
/// packet primitives, as in score.hpp, so that the running maximum stays in a register.
template <int Dims, class Scalar>
inline Scalar linear_block_log_weights(const Scalar* columns, Index stride, const Scalar* point,
                                       const Scalar* key_log_weights, Scalar slope, Index count,
                                       Scalar* r2, Scalar* log_weights) noexcept {
  using Packet = typename Eigen::internal::packet_traits<Scalar>::type;
  constexpr Index size = Eigen::internal::packet_traits<Scalar>::size;
  using Eigen::internal::ploadu;
  using Eigen::internal::pset1;
  Packet coordinates[Dims];
  for (int j = 0; j < Dims; ++j) coordinates[j] = pset1<Packet>(point[j]);
  const Packet slopes = pset1<Packet>(slope);
  Packet largest = pset1<Packet>(-std::numeric_limits<Scalar>::infinity());
  for (Index k = 0; k < count; k += size) {
    const Packet first = Eigen::internal::psub(coordinates[0], ploadu<Packet>(columns + k));
    Packet square = Eigen::internal::pmul(first, first);
    for (int j = 1; j < Dims; ++j) {
      const Packet difference =
          Eigen::internal::psub(coordinates[j], ploadu<Packet>(columns + j * stride + k));
      square = Eigen::internal::pmadd(difference, difference, square);
    }
    const Packet log_weight =
        Eigen::internal::pmadd(slopes, square, ploadu<Packet>(key_log_weights + k));
    Eigen::internal::pstoreu(r2 + k, square);
    Eigen::internal::pstoreu(log_weights + k, log_weight);
    largest = Eigen::internal::pmax(largest, log_weight);
  }
  return Eigen::internal::predux_max(largest);
}

/// linear_block_log_weights for d = 1 to 4 (`fused_dimensions`); the maximum log-weight.
template <class Scalar>
inline Scalar linear_block_log_weights(Index d, const Scalar* columns, Index stride,
                                       const Scalar* point, const Scalar* key_log_weights,
                                       Scalar slope, Index count, Scalar* r2,
                                       Scalar* log_weights) noexcept {
  switch (d) {
    case 1:
      return linear_block_log_weights<1>(columns, stride, point, key_log_weights, slope, count, r2,
                                         log_weights);
    case 2:
      return linear_block_log_weights<2>(columns, stride, point, key_log_weights, slope, count, r2,
                                         log_weights);
    case 3:
      return linear_block_log_weights<3>(columns, stride, point, key_log_weights, slope, count, r2,
                                         log_weights);
    default:
      return linear_block_log_weights<4>(columns, stride, point, key_log_weights, slope, count, r2,
                                         log_weights);
  }
}

/// The most coordinates linear_block_log_weights takes: one register per coordinate.
constexpr Index fused_dimensions = 4;

/// One query against one block of keys, as `stream_blocks` hands it to the accumulator.
template <class Scalar>
struct PairBlock {
  Index query;                   ///< the query's position in the pass
  Index begin;                   ///< the block's first key
  Index count;                   ///< keys in the block: a power of two, at least two lane arrays
  const Scalar* log_weight;      ///< count: log w_k + log k(r2_k); -inf for keys that do not
                                 ///< count (weight zero, padding, the excluded key, outside a
                                 ///< compact support)
  Scalar max;                    ///< the largest of log_weight (finite: blocks where no key
                                 ///< counts are not handed over)
  const Scalar* r2;              ///< count: squared scaled distances
  const Scalar* key_log_weight;  ///< count: log w_k alone (-inf on the padding)
  const Scalar* query_point;     ///< d scaled coordinates of the query
  const Scalar* key_columns;     ///< coordinate j of key begin + k at key_columns[j * stride + k]
  Index stride;                  ///< rows of the key matrix (the padded key count)
  Index dimensions;              ///< d
};

/// The derivative of the log-weights with respect to the log-widths theta over a block, in the
/// form the gradient accumulators use: g_kj = f_k * b_j(k), with the basis b_j(k) = u_kj^2 (one
/// entry per dimension) or r2_k (one shared width), and f_k = -2 dlog_profile(r2_k), 0 for keys
/// that do not count and at r2 = 0 (see objectives.hpp).
template <class Scalar>
struct BlockGradient {
  const Scalar* factors;  ///< count: f_k; null when every key has `factor`
  Scalar factor;          ///< f_k for every key when `factors` is null (linear log-profiles)
  bool per_dimension;     ///< basis u_kj^2 per dimension, or r2_k for one shared width
};

/// The blocked pair loop. `keys` has padded_key_count(n) rows (the padding rows any finite
/// coordinates), `key_log_weights` as many entries (-inf on the padding); query q skips key
/// `excluded[q]` (none where it is negative, or everywhere when `excluded` is null).
///
/// \tparam Accumulator a policy with
/// \code
///   using State = ...;                                  // per-query state, scratch included
///   State start() const;                                // one per thread, reused
///   void reset(State&) const;                           // fresh again for the next query
///   void add_block(State&, const PairBlock<Scalar>&) const;
///   void finish(Index query, State&);                   // store the query's result
/// \endcode
/// Blocks in which no key counts are not handed over. `finish` may run on several threads at once
/// for different queries.
template <class Kernel, class Scalar, class Accumulator>
void stream_blocks(const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& queries,
                   const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& keys,
                   const Eigen::Matrix<Scalar, Eigen::Dynamic, 1>& key_log_weights,
                   const Index* excluded, int threads, Accumulator& accumulator) {
  static_assert(std::is_same<Scalar, float>::value || std::is_same<Scalar, double>::value,
                "stream_blocks: float or double");
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  constexpr Scalar minus_infinity = -std::numeric_limits<Scalar>::infinity();
  const Index m = queries.rows(), padded = keys.rows(), d = keys.cols();
  const Index block = pair_block_size<Scalar>(padded);
  NADARAYA_ASSERT(padded % block == 0 && key_log_weights.size() == padded && queries.cols() == d);
#if NADARAYA_HAS_OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1 && m > 1)
#endif
  {
    typename Accumulator::State state = accumulator.start();
    Vector query_point(d), r2(block), log_weight(block), scratch(block / 2);
#if NADARAYA_HAS_OPENMP
#pragma omp for schedule(static)
#endif
    for (Index q = 0; q < m; ++q) {
      accumulator.reset(state);
      for (Index j = 0; j < d; ++j) query_point(j) = queries(q, j);
      const Index skip = excluded != nullptr ? excluded[q] : Index(-1);
      for (Index begin = 0; begin < padded; begin += block) {
        Scalar* distance = r2.data();
        Scalar* logs = log_weight.data();
        const Scalar* weights = key_log_weights.data() + begin;
        constexpr bool linear = kernel_traits<Kernel>::has_linear_log_profile;
        const auto slope = static_cast<Scalar>(kernel_traits<Kernel>::log_profile_slope());
        const bool fused = linear && d <= fused_dimensions;
        Scalar max = minus_infinity;
        if (fused) {
          max = linear_block_log_weights(d, keys.data() + begin, padded, query_point.data(),
                                         weights, slope, block, distance, logs);
        }
        // Otherwise dimension by dimension over the block: each pass reads one contiguous key
        // column; the last one also forms the log-weights where the log-profile is linear.
        for (Index j = 0; j < d && !fused; ++j) {
          const Scalar* column = keys.data() + j * padded + begin;
          const Scalar coordinate = query_point(j);
          if (j == 0) {
            for (Index k = 0; k < block; ++k) {
              const Scalar difference = coordinate - column[k];
              distance[k] = difference * difference;
            }
          } else if (j == d - 1 && linear) {
            for (Index k = 0; k < block; ++k) {
              const Scalar difference = coordinate - column[k];
              const Scalar square = distance[k] + difference * difference;
              distance[k] = square;
              logs[k] = slope * square + weights[k];
            }
          } else {
            for (Index k = 0; k < block; ++k) {
              const Scalar difference = coordinate - column[k];
              distance[k] += difference * difference;
            }
          }
        }
        if constexpr (!linear) {
          for (Index k = 0; k < block; ++k) {
            logs[k] = kernel_traits<Kernel>::log_profile(distance[k]) + weights[k];
          }
        }
        // The excluded key (leave-one-out: usually the block's maximum) is in one block per
        // query; that block's maximum is taken again without it.
        const bool excludes = skip >= begin && skip < begin + block;
        if (excludes) logs[skip - begin] = minus_infinity;
        if (!fused || excludes) max = lane_max(logs, block, scratch.data());
        if (!(max > minus_infinity)) continue;
        const PairBlock<Scalar> pairs{q,
                                      begin,
                                      block,
                                      logs,
                                      max,
                                      distance,
                                      weights,
                                      query_point.data(),
                                      keys.data() + begin,
                                      padded,
                                      d};
        accumulator.add_block(state, pairs);
      }
      accumulator.finish(q, state);
    }
  }
  (void)threads;
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_PAIR_BLOCKS_HPP
