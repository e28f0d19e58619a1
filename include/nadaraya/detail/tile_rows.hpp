#ifndef NADARAYA_DETAIL_TILE_ROWS_HPP
#define NADARAYA_DETAIL_TILE_ROWS_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <cmath>  // std::exp, std::ilogb, std::ldexp
#include <limits>
#include <type_traits>  // std::true_type

#include "../config.hpp"  // NADARAYA_ALWAYS_INLINE
#include "core_data.hpp"
#include "exp.hpp"
#include "lanes.hpp"
#include "simd.hpp"  // packets

namespace nadaraya {
namespace detail {

/// \file tile_rows.hpp
/// What the pooling core does with a register tile's rows of scores: the rescale of each query's
/// running state, the exponential and the sums (log space), or the linear weights of compact
/// kernels, with the leave-one-out exclusion (finish_tile).

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

/// Adds sum_i w_i, and sum_i w_i y_i where `y` is not null, over i in [0, length) (a multiple of
/// the lane count) to a query's partial sums (the layout of CoreScratch), with `weight(at)` the
/// packet of weights w_at, w_at+1, ...: in packets of the target's widest width (GCC vectorises
/// plain loops at its preferred width, 256 bits on Intel's AVX-512 chips), lane l of the sums
/// taking element l of each lane array. The block's sums start from 0 and are added to the partial
/// sums at the end: two levels, a block's few terms per lane and then one term per block, rather
/// than all of a lane's n / L terms in one running sum (at n = 2^16 that was 6e-15 relative error
/// in double against 1e-15, and 1e-6 against 4e-7 in float).
template <class Scalar, class Weight>
NADARAYA_ALWAYS_INLINE void accumulate_weights(Index length, const Scalar* y, Weight&& weight,
                                               Scalar* partials) {
  constexpr Index L = CoreScratch<Scalar>::lanes;
  using Packet = simd::Packet<Scalar>;
  constexpr Index P = simd::size<Scalar>(), V = L / P;
  static_assert(L % P == 0, "accumulate_weights: whole packets per lane array");
  auto run = [&](auto with_values) {
    constexpr bool values = decltype(with_values)::value;
    Packet sums[V], weighted[V];
    for (Index v = 0; v < V; ++v) sums[v] = weighted[v] = simd::broadcast<Scalar>(Scalar(0));
    for (Index i = 0; i < length; i += L) {
      for (Index v = 0; v < V; ++v) {
        const Index at = i + v * P;
        const Packet w = weight(at);
        sums[v] = simd::add(sums[v], w);
        if constexpr (values) weighted[v] = simd::multiply_add(w, simd::load(y + at), weighted[v]);
      }
    }
    Scalar sum[L], value[L];
    for (Index v = 0; v < V; ++v) {
      simd::store(sum + v * P, sums[v]);
      simd::store(value + v * P, weighted[v]);
    }
    for (Index l = 0; l < L; ++l) partials[l] += sum[l];
    if constexpr (values)
      for (Index l = 0; l < L; ++l) partials[L + l] += value[l];
  };
  if (y != nullptr) {
    run(std::true_type{});
  } else {
    run(std::false_type{});
  }
}

/// Folds a row of log-weights into a query's partial sums: w_i = exp(row[i] - offset), written
/// as exp_neg(offset - l) (offset - l >= 0; +inf for keys that do not reach the query, which
/// give 0), added lane by lane to the sum and, times y_i, to each value column's sum.
///
/// With at most one value column the exponential and the sums run in one loop
/// (accumulate_weights, exp_nonpositive_packet); the weights never go back to memory. With more
/// columns the weights are written back to the row first and each column is a second pass over
/// them, which keeps the loop's registers bounded.
template <class Scalar>
inline void exp_accumulate_row(const CoreData<Scalar>& data, Index key0, Index length, Scalar* row,
                               Scalar offset, Scalar* partials) {
  constexpr Index L = CoreScratch<Scalar>::lanes;
  constexpr Index P = simd::size<Scalar>();
  const auto top = simd::broadcast<Scalar>(offset);
  if (data.k <= 1) {
    accumulate_weights(
        length, data.k == 1 ? data.values_at(0, key0) : nullptr,
        [&](Index at) {
          return exp_nonpositive_packet<Scalar>(simd::subtract(simd::load(row + at), top));
        },
        partials);
    return;
  }
  for (Index i = 0; i < length; i += P)
    simd::store(row + i, exp_nonpositive_packet<Scalar>(simd::subtract(simd::load(row + i), top)));
  Scalar sum[L] = {};
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

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_TILE_ROWS_HPP
