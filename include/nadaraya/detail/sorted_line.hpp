#ifndef NADARAYA_DETAIL_SORTED_LINE_HPP
#define NADARAYA_DETAIL_SORTED_LINE_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <algorithm>  // std::lower_bound, std::max, std::min
#include <limits>

#include "core_data.hpp"
#include "exp.hpp"
#include "lanes.hpp"
#include "tile_rows.hpp"  // scale_partials

namespace nadaraya {
namespace detail {

/// \file sorted_line.hpp
/// The pooling core in one dimension with the Gaussian (CoreData::sorted_line): keys sorted once,
/// each query's largest log-weight found before any exponential, one loop per query and block,
/// and whole blocks beyond the exponential's range skipped.

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

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_SORTED_LINE_HPP
