#ifndef NADARAYA_DETAIL_SORTED_LINE_HPP
#define NADARAYA_DETAIL_SORTED_LINE_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <algorithm>  // std::lower_bound, std::max, std::min
#include <cmath>      // std::exp
#include <limits>
#include <utility>  // std::pair

#include "../config.hpp"  // NADARAYA_ALWAYS_INLINE
#include "core_data.hpp"
#include "exp.hpp"
#include "lanes.hpp"
#include "simd.hpp"       // packets
#include "tile_rows.hpp"  // scale_partials, row_max

namespace nadaraya {
namespace detail {

/// \file sorted_line.hpp
/// The pooling core in one dimension with the Gaussian (CoreData::sorted_line): keys sorted once,
/// each query's largest log-weight found before any exponential, one loop per query and block,
/// and whole blocks beyond the exponential's range skipped.

/// The sorted-line path (CoreData::sorted_line): the log k = slope r2 of `query` and the key x,
/// with r2 rounded as line_accumulate rounds it.
template <class Score, class Scalar>
inline Scalar line_log_weight(Scalar query, Scalar key) {
  const Scalar difference = query - key;
  return static_cast<Scalar>(Score::slope) * (difference * difference);
}

/// (slope r2 - reference) + log w: log k relative to the query's largest, in one rounding (exact
/// for ties, small near the top), then the log weight.
template <class Score, class Scalar>
inline Scalar line_relative_log_weight(Scalar r2, Scalar reference, Scalar log_weight) {
  return multiply_add(static_cast<Scalar>(Score::slope), r2, -reference) + log_weight;
}

/// Where a query starts on the sorted line: `reference`, the largest log k over the keys (its
/// nearest key's; the nearest other key's with leave-one-out), and `max`, the largest log-weight
/// known before any block: with equal weights the largest over all keys (log k, reference 0);
/// with sample weights the larger of the two neighbours' (log k - reference) + log w, a lower
/// bound that blocks raise (-inf where both weigh zero). Both -inf when even the nearest key's r2
/// overflows (no key reaches the query, as on the tile's path). Rounding is monotone, so no key
/// farther away can round to a larger log k.
template <class Scalar>
struct LineStart {
  Scalar reference;
  Scalar max;
};

template <class Score, class Scalar>
inline LineStart<Scalar> line_start(const CoreData<Scalar>& data, Index query_index, Scalar query) {
  constexpr Scalar minus_infinity = -std::numeric_limits<Scalar>::infinity();
  const Scalar* keys = data.line_keys.data();
  Index below = 0, above = 0;
  if (data.leave_one_out) {  // the query is a key: its neighbours on the line
    const Index own = data.line_rank[static_cast<std::size_t>(query_index)];
    below = own - 1;
    above = own + 1;
  } else {
    above = std::lower_bound(keys, keys + data.n, query) - keys;
    below = above - 1;
  }
  Scalar reference = minus_infinity;
  if (above < data.n) reference = line_log_weight<Score>(query, keys[above]);
  if (below >= 0) reference = std::max(reference, line_log_weight<Score>(query, keys[below]));
  if (reference == minus_infinity) return {minus_infinity, minus_infinity};  // unreached
  if (data.line_log_weights.size() == 0) return {0, reference};
  Scalar max = minus_infinity;
  for (const Index neighbour : {below, above}) {
    if (neighbour < 0 || neighbour >= data.n) continue;
    const Scalar difference = query - keys[neighbour];
    max = std::max(max, line_relative_log_weight<Score>(difference * difference, reference,
                                                        data.line_log_weights(neighbour)));
  }
  return {reference, max};
}

/// Folds keys [key0, key0 + length) into one query's partial sums (the layout of CoreScratch), r2
/// formed in the same loop: w_i = exp(slope r2_i - max) with equal weights, exp((slope r2_i -
/// reference) + log w_i - max) with sample weights (log k and log w kept apart as in the tile,
/// see add_log_weights). `max` is at least every key's log-weight, so the weights are at most 1;
/// the padding's keys are +inf and give 0. With Exclude, key `own` (the query's own, for
/// leave-one-out) gives 0. Two levels of sums as in exp_accumulate_row.
/// One key's weight for line_accumulate; 0 when `excluded` (with Exclude).
template <class Score, bool Weighted, bool Exclude, class Scalar>
NADARAYA_ALWAYS_INLINE Scalar line_weight(Scalar difference, Scalar max, Scalar reference,
                                          Scalar log_weight, bool excluded) noexcept {
  const Scalar r2 = difference * difference;
  Scalar weight;
  if constexpr (Weighted) {
    weight = exp_neg(max - line_relative_log_weight<Score>(r2, reference, log_weight));
  } else {  // max - slope r2 = rise r2 + max
    weight = exp_neg(multiply_add(static_cast<Scalar>(-Score::slope), r2, max));
  }
  if constexpr (Exclude) weight = excluded ? Scalar(0) : weight;
  return weight;
}

template <class Score, bool Weighted, bool Exclude, class Scalar>
inline void line_accumulate(const CoreData<Scalar>& data, Scalar query, Index key0, Index length,
                            Scalar max, Scalar reference, Index own, Scalar* partials) {
  constexpr Index L = CoreScratch<Scalar>::lanes;
  const Scalar* keys = data.line_keys.data() + key0;
  const Scalar* log_w = Weighted ? data.line_log_weights.data() + key0 : keys;  // keys: unread
  const Index own_here = own - key0;
  Scalar sum[L] = {};
  if constexpr (!Exclude) {
    // Packets (accumulate_weights); the query's own block (Exclude) keeps the plain loop below.
    using Packet = simd::Packet<Scalar>;
    const Packet point = simd::broadcast<Scalar>(query);
    const Packet top = simd::broadcast<Scalar>(max);
    const Packet slope = simd::broadcast<Scalar>(static_cast<Scalar>(Score::slope));
    const Packet minus_top = simd::broadcast<Scalar>(-max);
    const Packet minus_reference = simd::broadcast<Scalar>(-reference);
    accumulate_weights(
        length, data.k == 1 ? data.line_values.data() + key0 : nullptr,
        [&](Index at) {
          const Packet difference = simd::subtract(point, simd::load(keys + at));
          const Packet r2 = simd::multiply(difference, difference);
          // line_weight's exponents, negated (exactly: exp_nonpositive_packet takes l - M)
          if constexpr (Weighted) {
            return exp_nonpositive_packet<Scalar>(simd::subtract(
                simd::add(simd::multiply_add(slope, r2, minus_reference), simd::load(log_w + at)),
                top));
          } else {
            return exp_nonpositive_packet<Scalar>(simd::multiply_add(slope, r2, minus_top));
          }
        },
        partials);
  } else if (data.k == 1) {
    const Scalar* y = data.line_values.data() + key0;
    Scalar value[L] = {};
    for (Index i = 0; i < length; i += L) {
      for (Index l = 0; l < L; ++l) {
        const Scalar weight = line_weight<Score, Weighted, Exclude>(
            query - keys[i + l], max, reference, log_w[i + l], i + l == own_here);
        sum[l] += weight;
        value[l] += weight * y[i + l];
      }
    }
    for (Index l = 0; l < L; ++l) partials[L + l] += value[l];
  } else {
    for (Index i = 0; i < length; i += L) {
      for (Index l = 0; l < L; ++l) {
        sum[l] += line_weight<Score, Weighted, Exclude>(query - keys[i + l], max, reference,
                                                        log_w[i + l], i + l == own_here);
      }
    }
  }
  for (Index l = 0; l < L; ++l) partials[l] += sum[l];
}

/// The largest (log k - reference) + log w over keys [key0, key0 + length) but `own` (-1: none),
/// through `row` (room for CoreShape::block_keys scalars).
template <class Score, class Scalar>
inline Scalar line_block_max(const CoreData<Scalar>& data, Scalar query, Index key0, Index length,
                             Scalar reference, Index own, Scalar* row) {
  const Scalar* keys = data.line_keys.data() + key0;
  const Scalar* log_w = data.line_log_weights.data() + key0;
  for (Index i = 0; i < length; ++i) {
    const Scalar difference = query - keys[i];
    row[i] = line_relative_log_weight<Score>(difference * difference, reference, log_w[i]);
  }
  if (own >= key0 && own < key0 + length)
    row[own - key0] = -std::numeric_limits<Scalar>::infinity();
  return row_max(row, length);
}

/// A bound on the log-weights of keys [key0, key0 + length): the block's largest log k (at its
/// first key when the query lies below it, at its last when above; the query's own largest when
/// inside), plus log max w with weights.
template <class Score, class Scalar>
inline Scalar line_block_bound(const CoreData<Scalar>& data, Scalar query, Scalar reference,
                               Scalar max, Index key0, Index length) {
  const bool weighted = data.line_log_weights.size() != 0;
  const Scalar first = data.line_keys(key0);
  const Scalar last = data.line_keys(std::min(key0 + length, data.n) - 1);
  const Scalar bound = query <= first  ? line_log_weight<Score>(query, first)
                       : query >= last ? line_log_weight<Score>(query, last)
                                       : (weighted ? reference : max);
  return weighted ? (bound - reference) + data.line_largest_log_weight : bound;
}

/// True when every weight under `bound` flushes to 0 against `max`.
template <class Scalar>
inline bool line_block_flushes(Scalar bound, Scalar max) {
  return !(bound > -std::numeric_limits<Scalar>::infinity()) || exp_neg_flushes_from(max - bound);
}

/// The blocks of [begin, end) that line_block_flushes does not rule out against `max`: one
/// range, since the bound only falls with the distance from the query, found by binary search
/// on each side of the query's block. A running maximum only grows, so a block outside the range
/// for the query's starting maximum flushes for good.
template <class Score, class Scalar>
inline std::pair<Index, Index> line_block_range(const CoreData<Scalar>& data, Scalar query,
                                                Scalar reference, Scalar max, Index begin,
                                                Index end) {
  constexpr Scalar minus_infinity = -std::numeric_limits<Scalar>::infinity();
  if (!(reference > minus_infinity)) return {begin, begin};  // no key reaches the query
  if (!(max > minus_infinity)) return {begin, end};          // zero-weight neighbours: no bound yet
  const Index keys = data.block_keys;
  auto flushes = [&](Index block) {
    const Index key0 = block * keys;
    return line_block_flushes(line_block_bound<Score>(data, query, reference, max, key0,
                                                      std::min(keys, data.n_padded - key0)),
                              max);
  };
  // The first block in [low, high) for which `test` holds (high if none); `test` is monotone.
  auto first_where = [](Index low, Index high, auto test) {
    while (low < high) {
      const Index middle = low + (high - low) / 2;
      if (test(middle)) {
        high = middle;
      } else {
        low = middle + 1;
      }
    }
    return low;
  };
  const Scalar* line = data.line_keys.data();
  const Index position = std::lower_bound(line, line + data.n, query) - line;
  const Index centre = std::min(std::max(std::min(position, data.n - 1) / keys, begin), end);
  const Index first = first_where(begin, centre, [&](Index block) { return !flushes(block); });
  const Index last = first_where(centre, end, flushes);
  return {first, last};
}

/// One query against keys [key0, key0 + length) on the sorted line. `max` is the query's running
/// maximum (CoreStates::max) and `reference` its largest log k (line_start). The block is skipped
/// when line_block_flushes says so; with weights, its exact maximum is taken (and the state
/// rescaled) only when the bound exceeds `max`. `row` is scratch for that maximum.
template <class Score, class Scalar>
inline void line_add_block(const CoreData<Scalar>& data, Index query_index, Scalar query,
                           Scalar reference, Index key0, Index length, Scalar& max,
                           Scalar* partials, Scalar* row) {
  constexpr Scalar minus_infinity = -std::numeric_limits<Scalar>::infinity();
  const bool weighted = data.line_log_weights.size() != 0;
  const Scalar bound = line_block_bound<Score>(data, query, reference, max, key0, length);
  if (line_block_flushes(bound, max)) return;
  const Index own =
      data.leave_one_out ? data.line_rank[static_cast<std::size_t>(query_index)] : Index(-1);
  const bool excludes = own >= key0 && own < key0 + length;
  if (!weighted) {
    if (excludes) {
      line_accumulate<Score, false, true>(data, query, key0, length, max, Scalar(0), own, partials);
    } else {
      line_accumulate<Score, false, false>(data, query, key0, length, max, Scalar(0), own,
                                           partials);
    }
    return;
  }
  if (bound > max) {
    const Scalar block_max = line_block_max<Score>(data, query, key0, length, reference, own, row);
    if (block_max == minus_infinity) return;
    if (block_max > max) {
      scale_partials(data, max == minus_infinity ? Scalar(0) : std::exp(max - block_max), partials);
      max = block_max;
    }
  }
  if (excludes) {
    line_accumulate<Score, true, true>(data, query, key0, length, max, reference, own, partials);
  } else {
    line_accumulate<Score, true, false>(data, query, key0, length, max, reference, own, partials);
  }
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_SORTED_LINE_HPP
