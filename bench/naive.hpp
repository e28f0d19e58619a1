// The textbook formulation that a user would write by hand with Eigen, run side by side with the
// library so that every speed-up is a ratio measured in the same process: materialise the m x n
// matrix of squared distances, exponentiate it, normalise the rows, multiply by the values.
//
// It holds two m x n matrices (the distances, then the weights): 2 m n sizeof(Scalar) bytes,
// 32 GiB at m = n = 2^16 in double, and it underflows to 0/0 when the bandwidth is small (its
// weights are formed outside log space). The library's core never forms either matrix.
#ifndef NADARAYA_BENCH_NAIVE_HPP
#define NADARAYA_BENCH_NAIVE_HPP

#include <Eigen/Core>
#include <cmath>

namespace nadaraya_bench {

/// The m x n matrix of the Gaussian kernel weights exp(-||q - x||^2 / (2 h^2)).
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> naive_gaussian_weights(
    const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& Q,
    const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& X, Scalar h) {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  Matrix distances(Q.rows(), X.rows());
  for (Eigen::Index j = 0; j < X.rows(); ++j) {
    for (Eigen::Index i = 0; i < Q.rows(); ++i)
      distances(i, j) = (Q.row(i) - X.row(j)).squaredNorm();
  }
  const Matrix weights = (distances.array() * (Scalar(-0.5) / (h * h))).exp().matrix();
  return weights;
}

/// Nadaraya–Watson regression with a Gaussian kernel of width h; `leave_one_out` (Q == X) zeroes
/// each query's own weight.
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> naive_nadaraya_watson(
    const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& Q,
    const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& X,
    const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& Y, Scalar h,
    bool leave_one_out = false) {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  Matrix weights = naive_gaussian_weights(Q, X, h);
  if (leave_one_out) weights.diagonal().setZero();
  const Vector sums = weights.rowwise().sum();
  const Matrix pooled = weights * Y;
  return pooled.array().colwise() / sums.array();
}

/// Log density of a Gaussian Parzen estimate of width h at each row of Q.
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, 1> naive_log_density(
    const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& Q,
    const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& X, Scalar h) {
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  const Scalar d = static_cast<Scalar>(X.cols());
  const Scalar log_normaliser = -d * std::log(h) -
                                Scalar(0.5) * d * std::log(Scalar(2 * 3.14159265358979323846)) -
                                std::log(static_cast<Scalar>(X.rows()));
  const Vector sums = naive_gaussian_weights(Q, X, h).rowwise().sum();
  return (sums.array().log() + log_normaliser).matrix();
}

}  // namespace nadaraya_bench

#endif  // NADARAYA_BENCH_NAIVE_HPP
