#ifndef NADARAYA_DETAIL_KEY_ORDER_HPP
#define NADARAYA_DETAIL_KEY_ORDER_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <algorithm>  // std::stable_sort, std::max
#include <cstddef>    // std::size_t
#include <limits>
#include <numeric>  // std::iota
#include <vector>

#include "lanes.hpp"  // multiply_add

namespace nadaraya {
namespace detail {

/// \file key_order.hpp
/// The order in which the objectives' pass takes its keys. In one dimension, ascending along the
/// line (sorted once, when the objective is built: dividing by a width keeps the order), so that
/// a block of keys is an interval and its nearest key to a query is one of its ends: the pass
/// then skips the blocks that lie beyond the exponential's range (see ObjectivePass). In more
/// dimensions, the rows' own order.
struct KeyOrder {
  std::vector<Eigen::Index> order;  ///< position in the pass -> row; empty: the identity
  std::vector<Eigen::Index> rank;   ///< row -> position in the pass

  bool sorted() const { return !order.empty(); }
  Eigen::Index position(Eigen::Index row) const {
    return sorted() ? rank[static_cast<std::size_t>(row)] : row;
  }
  Eigen::Index row(Eigen::Index position) const {
    return sorted() ? order[static_cast<std::size_t>(position)] : position;
  }
};

/// The pass's key order for data X: sorted (ties in row order) when X has one column.
template <class Derived>
KeyOrder pass_key_order(const Eigen::MatrixBase<Derived>& X) {
  KeyOrder keys;
  if (X.cols() != 1) return keys;
  const auto n = static_cast<std::size_t>(X.rows());
  keys.order.resize(n);
  keys.rank.resize(n);
  std::iota(keys.order.begin(), keys.order.end(), Eigen::Index{0});
  std::stable_sort(keys.order.begin(), keys.order.end(),
                   [&](Eigen::Index a, Eigen::Index b) { return X(a, 0) < X(b, 0); });
  for (std::size_t p = 0; p < n; ++p)
    keys.rank[static_cast<std::size_t>(keys.order[p])] = static_cast<Eigen::Index>(p);
  return keys;
}

/// For the query at `position` on the sorted line of n keys (one column, ascending), with log
/// weights slope r2 + log p_k (the Gaussian's): the largest log-weight of its neighbours on the
/// line, and of its own key unless `leave_one_out`; a lower bound of its largest log-weight over
/// all keys (exact with equal weights), -inf when those keys weigh nothing. Formed as the pass
/// forms log-weights, so with equal weights it rounds to the same value.
template <class Scalar>
Scalar line_seed(const Scalar* line, const Scalar* log_weights, Eigen::Index n,
                 Eigen::Index position, bool leave_one_out, Scalar slope) {
  Scalar seed = -std::numeric_limits<Scalar>::infinity();
  const Scalar query = line[position];
  for (Eigen::Index key = position - 1; key <= position + 1; ++key) {
    if (key < 0 || key >= n || (key == position && leave_one_out)) continue;
    const Scalar difference = query - line[key];
    seed = std::max(seed, multiply_add(slope, difference * difference, log_weights[key]));
  }
  return seed;
}

/// The largest log-weight slope r2 + `log_weight` that any key of the interval [first, last] of
/// the line can have for `query`: at its end nearest the query (r2 = 0 inside it).
template <class Scalar>
Scalar line_interval_bound(Scalar query, Scalar first, Scalar last, Scalar slope,
                           Scalar log_weight) {
  const Scalar difference = query < first ? query - first : query > last ? query - last : Scalar(0);
  return multiply_add(slope, difference * difference, log_weight);
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_KEY_ORDER_HPP
