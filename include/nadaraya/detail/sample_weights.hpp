#ifndef NADARAYA_DETAIL_SAMPLE_WEIGHTS_HPP
#define NADARAYA_DETAIL_SAMPLE_WEIGHTS_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <cmath>  // std::ilogb, std::ldexp, std::log

namespace nadaraya {
namespace detail {

/// Sample weights reduced to their ratios, as the estimators (training_set.hpp) and the objectives
/// (objective_data.hpp) use them.
struct SampleWeights {
  Eigen::VectorXd relative;  ///< w_i scaled so that the largest is in [1, 2); empty: equal weights
  Eigen::VectorXd shares;    ///< p_i = w_i / sum w (1 / n for equal weights)
  Eigen::VectorXd log_shares;  ///< log p_i: finite for every positive weight, -inf for a zero one
};

/// Normalises checked sample weights (check_weights; empty: n equal weights). Only the ratios
/// matter: scaled by the power of two that brings the largest into [1, 2) (exact, unlike a
/// division), they cannot overflow when summed (weights of 1e308 act as their ratios).
inline SampleWeights sample_weights(const Eigen::VectorXd& weights, Eigen::Index n) {
  SampleWeights result;
  result.relative = weights;
  int exponent = 0;
  if (weights.size() != 0) {
    exponent = std::ilogb(weights.maxCoeff());
    for (Eigen::Index i = 0; i < weights.size(); ++i)
      result.relative(i) = std::ldexp(weights(i), -exponent);
  }
  const bool equal = weights.size() == 0;
  const double total = equal ? static_cast<double>(n) : result.relative.sum();
  result.shares.resize(n);
  result.log_shares.resize(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double w = equal ? 1.0 : result.relative(i);
    result.shares(i) = w / total;
    // log w - log total, not log(w / total): w / total may underflow where the log does not.
    // A weight 1e-330 of the largest underflows when scaled: its log comes from the original.
    const double log_w = w > 0 || equal || !(weights(i) > 0)
                             ? std::log(w)
                             : std::log(weights(i)) - exponent * 0.693147180559945309417232121458;
    result.log_shares(i) = log_w - std::log(total);  // -inf for a zero weight
  }
  return result;
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_SAMPLE_WEIGHTS_HPP
