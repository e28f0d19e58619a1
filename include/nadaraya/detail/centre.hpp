#ifndef NADARAYA_DETAIL_CENTRE_HPP
#define NADARAYA_DETAIL_CENTRE_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <cmath>
#include <type_traits>  // std::common_type

namespace nadaraya {
namespace detail {

/// \file centre.hpp
/// Translation invariance. Divided by the width before they are differenced, data at an offset s
/// lose digits in proportion to s / h (timestamps in seconds, projected coordinates in metres).
/// Every estimator and objective therefore subtracts the training data's weighted mean first
/// (per column, where that loses no digit: weighted_centre), in a type at least as wide as double,
/// and rounds each centred value once to Scalar; queries are shifted by the same vector. What
/// remains is the inputs' own rounding at their magnitude.

/// The weighted mean of X's rows, column by column (`weights` empty: equal weights; otherwise
/// non-negative and not all zero), in long double sums (values near the largest double do not
/// overflow). A column is shifted only where that moves no value further from zero,
/// |x - mean| <= |x| for every row: then no value loses a digit it had. Otherwise its centre is 0:
/// data that straddle zero need no shift, and a bulk near zero with one far outlier (found by
/// fuzz_parzen_density) would lose its digits to the outlier's pull on the mean.
template <class Derived>
Eigen::VectorXd weighted_centre(const Eigen::MatrixBase<Derived>& X,
                                const Eigen::VectorXd& weights) {
  using Wide = long double;
  const Eigen::Index n = X.rows(), d = X.cols();
  Eigen::VectorXd centre = Eigen::VectorXd::Zero(d);
  for (Eigen::Index j = 0; j < d; ++j) {
    Wide sum = 0, total = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
      const Wide w = weights.size() == 0 ? Wide(1) : static_cast<Wide>(weights(i));
      if (!(w > 0)) continue;
      sum += w * static_cast<Wide>(X(i, j));
      total += w;
    }
    if (!(total > 0)) continue;
    const double mean = static_cast<double>(sum / total);
    bool no_value_moves_out = std::isfinite(mean);
    for (Eigen::Index i = 0; no_value_moves_out && i < n; ++i) {
      const Wide x = static_cast<Wide>(X(i, j));
      no_value_moves_out = std::abs(x - static_cast<Wide>(mean)) <= std::abs(x);
    }
    if (no_value_moves_out) centre(j) = mean;
  }
  return centre;
}

/// x - centre_j, formed in the wider of Scalar and double and rounded once to Scalar (a query
/// far enough away can overflow: TrainingSet::scale_queries checks).
template <class Scalar>
inline Scalar centred(Scalar x, double centre_j) {
  using Wide = typename std::common_type<Scalar, double>::type;
  return static_cast<Scalar>(static_cast<Wide>(x) - static_cast<Wide>(centre_j));
}

/// X with `centre` subtracted from each row, as Scalar.
template <class Scalar, class Derived>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> centre_rows(
    const Eigen::MatrixBase<Derived>& X, const Eigen::VectorXd& centre) {
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> result(X.rows(), X.cols());
  for (Eigen::Index j = 0; j < X.cols(); ++j) {
    for (Eigen::Index i = 0; i < X.rows(); ++i) {
      result(i, j) = centred(static_cast<Scalar>(X(i, j)), centre(j));
    }
  }
  return result;
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_CENTRE_HPP
