#ifndef NADARAYA_DETAIL_NEAREST_HPP
#define NADARAYA_DETAIL_NEAREST_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <algorithm>  // std::max
#include <cmath>      // std::exp
#include <cstddef>    // std::size_t
#include <limits>
#include <vector>

namespace nadaraya {
namespace detail {

/// \file nearest.hpp
/// What a query that no key of a compact kernel reaches is predicted from, by the estimators
/// (Unreached::nearest_neighbour) and the objectives alike: the keys nearest to it in scaled
/// distance, ties sharing by weight. That is the limit of the prediction as the last key leaves
/// the support, so an objective stays continuous there.

/// Keys of positive weight (finite `log_weights`) at the smallest squared scaled distance from
/// `query` (all ties), skipping key `excluded` (-1: none), with r2 formed in `Wide`.
template <class Wide, class Row, class Keys, class LogWeights>
std::vector<Eigen::Index> nearest_keys_in(const Eigen::MatrixBase<Row>& query,
                                          const Eigen::MatrixBase<Keys>& keys,
                                          const Eigen::MatrixBase<LogWeights>& log_weights,
                                          Eigen::Index excluded, Wide& best) {
  using Scalar = typename LogWeights::Scalar;
  std::vector<Eigen::Index> nearest;
  best = 0;
  for (Eigen::Index i = 0; i < keys.rows(); ++i) {
    if (i == excluded || log_weights(i) == -std::numeric_limits<Scalar>::infinity()) continue;
    const Wide r2 = (query.template cast<Wide>() - keys.row(i).template cast<Wide>()).squaredNorm();
    if (nearest.empty() || r2 < best) {
      best = r2;
      nearest.assign(1, i);
    } else if (r2 == best) {
      nearest.push_back(i);
    }
  }
  return nearest;
}

/// nearest_keys_in with r2 in double (in float, keys whose distances differ by less than float's
/// rounding would tie); in long double where double's r2 overflows (widths far below the data's
/// spacing, scaled keys near the largest double), which would make every key a tie.
template <class Row, class Keys, class LogWeights>
std::vector<Eigen::Index> nearest_keys(const Eigen::MatrixBase<Row>& query,
                                       const Eigen::MatrixBase<Keys>& keys,
                                       const Eigen::MatrixBase<LogWeights>& log_weights,
                                       Eigen::Index excluded) {
  double best = 0;
  std::vector<Eigen::Index> nearest = nearest_keys_in(query, keys, log_weights, excluded, best);
  if (!(best < std::numeric_limits<double>::infinity())) {
    long double wide_best = 0;
    nearest = nearest_keys_in(query, keys, log_weights, excluded, wide_best);
  }
  return nearest;
}

/// The shares of the weight of keys `nearest` (positive, summing to 1): from the relative sample
/// weights `weights` (exact ratios; empty: equal weights), or from `log_weights` where a relative
/// weight has underflowed (1e-330 of the largest).
template <class LogWeights>
std::vector<double> nearest_shares(const std::vector<Eigen::Index>& nearest,
                                   const Eigen::VectorXd& weights,
                                   const Eigen::MatrixBase<LogWeights>& log_weights) {
  auto weight = [&](Eigen::Index i) { return weights.size() == 0 ? 1.0 : weights(i); };
  std::vector<double> shares;
  bool underflow = false;
  for (Eigen::Index i : nearest) underflow = underflow || !(weight(i) > 0);
  double largest = -std::numeric_limits<double>::infinity();
  for (Eigen::Index i : nearest) largest = std::max(largest, static_cast<double>(log_weights(i)));
  double total = 0;
  for (Eigen::Index i : nearest) {
    shares.push_back(underflow ? std::exp(static_cast<double>(log_weights(i)) - largest)
                               : weight(i));
    total += shares.back();
  }
  for (double& share : shares) share /= total;
  return shares;
}

/// sum_j shares_j values.row(nearest_j), in double: the nearest keys' mean value.
template <class Values>
Eigen::RowVectorXd nearest_mean(const std::vector<Eigen::Index>& nearest,
                                const std::vector<double>& shares,
                                const Eigen::MatrixBase<Values>& values) {
  Eigen::RowVectorXd sum = Eigen::RowVectorXd::Zero(values.cols());
  for (std::size_t j = 0; j < nearest.size(); ++j)
    sum += shares[j] * values.row(nearest[j]).template cast<double>();
  return sum;
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_NEAREST_HPP
