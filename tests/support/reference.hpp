#ifndef NADARAYA_TEST_REFERENCE_HPP
#define NADARAYA_TEST_REFERENCE_HPP

// Brute-force references, written as plainly as possible in long double: every weight is formed
// explicitly (no streaming, no log-sum-exp tricks beyond subtracting the maximum), so they are
// easy to check by eye and independent of the engine.

#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <nadaraya/kernel.hpp>

namespace nadaraya_test {

using LongMatrix = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;
using LongVector = Eigen::Matrix<long double, Eigen::Dynamic, 1>;

/// log of w_i k(||(q - x_i)/h||^2) for every key i, in long double.
template <class Kernel, class Q, class X>
std::vector<long double> reference_log_weights(const Q& q, const X& keys, const Eigen::VectorXd& h,
                                               const Eigen::VectorXd& weights) {
  std::vector<long double> log_weights(static_cast<std::size_t>(keys.rows()));
  for (Eigen::Index i = 0; i < keys.rows(); ++i) {
    long double r2 = 0;
    for (Eigen::Index j = 0; j < keys.cols(); ++j) {
      const long double u =
          (static_cast<long double>(q(j)) - static_cast<long double>(keys(i, j))) / h(j);
      r2 += u * u;
    }
    const long double w = weights.size() == 0 ? 1.0L : weights(i);
    log_weights[static_cast<std::size_t>(i)] =
        nadaraya::kernel_traits<Kernel>::log_profile(r2) + std::log(w);
  }
  return log_weights;
}

/// Nadaraya–Watson prediction at every row of Q; `exclude_self` skips key q for query q.
/// NaN rows where every weight is zero.
template <class Kernel, class QM, class XM, class YM>
LongMatrix reference_nadaraya_watson(const QM& Q, const XM& X, const YM& Y,
                                     const Eigen::VectorXd& h,
                                     const Eigen::VectorXd& weights = Eigen::VectorXd(),
                                     bool exclude_self = false) {
  LongMatrix out(Q.rows(), Y.cols());
  for (Eigen::Index q = 0; q < Q.rows(); ++q) {
    std::vector<long double> lw = reference_log_weights<Kernel>(Q.row(q), X, h, weights);
    if (exclude_self)
      lw[static_cast<std::size_t>(q)] = -std::numeric_limits<long double>::infinity();
    long double max = -std::numeric_limits<long double>::infinity();
    for (long double l : lw) max = std::max(max, l);
    long double total = 0;
    LongVector sum = LongVector::Zero(Y.cols());
    for (Eigen::Index i = 0; i < X.rows(); ++i) {
      if (max == -std::numeric_limits<long double>::infinity()) break;
      const long double a = std::exp(lw[static_cast<std::size_t>(i)] - max);
      total += a;
      for (Eigen::Index c = 0; c < Y.cols(); ++c) sum(c) += a * static_cast<long double>(Y(i, c));
    }
    for (Eigen::Index c = 0; c < Y.cols(); ++c) {
      out(q, c) = total > 0 ? sum(c) / total : std::numeric_limits<long double>::quiet_NaN();
    }
  }
  return out;
}

/// Parzen log density at every row of Q: log( sum_i w_i c_d/prod(h) k(r2_i) / sum_i w_i ).
template <class Kernel, class QM, class XM>
LongVector reference_log_density(const QM& Q, const XM& X, const Eigen::VectorXd& h,
                                 const Eigen::VectorXd& weights = Eigen::VectorXd()) {
  const int d = static_cast<int>(X.cols());
  long double log_norm = nadaraya::kernel_traits<Kernel>::log_normaliser(d);
  for (Eigen::Index j = 0; j < h.size(); ++j) log_norm -= std::log(static_cast<long double>(h(j)));
  const long double total =
      weights.size() == 0 ? static_cast<long double>(X.rows()) : weights.sum();
  LongVector out(Q.rows());
  for (Eigen::Index q = 0; q < Q.rows(); ++q) {
    std::vector<long double> lw = reference_log_weights<Kernel>(Q.row(q), X, h, weights);
    long double max = -std::numeric_limits<long double>::infinity();
    for (long double l : lw) max = std::max(max, l);
    if (max == -std::numeric_limits<long double>::infinity()) {
      out(q) = max;
      continue;
    }
    long double sum = 0;
    for (long double l : lw) sum += std::exp(l - max);
    out(q) = max + std::log(sum) + log_norm - std::log(total);
  }
  return out;
}

/// Seeded n x d standard normal matrix.
template <class Scalar = double>
Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> normal_matrix(Eigen::Index n, Eigen::Index d,
                                                                    unsigned seed) {
  std::mt19937_64 generator(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> m(n, d);
  for (Eigen::Index j = 0; j < d; ++j) {
    for (Eigen::Index i = 0; i < n; ++i) m(i, j) = static_cast<Scalar>(normal(generator));
  }
  return m;
}

/// Seeded vector of n values uniform in [low, high).
inline Eigen::VectorXd uniform_vector(Eigen::Index n, double low, double high, unsigned seed) {
  std::mt19937_64 generator(seed);
  std::uniform_real_distribution<double> uniform(low, high);
  Eigen::VectorXd v(n);
  for (Eigen::Index i = 0; i < n; ++i) v(i) = uniform(generator);
  return v;
}

/// Seeded sample weights in [0.2, 2) with row 1 weighing zero (when n > 2).
inline Eigen::VectorXd sample_weights(Eigen::Index n, unsigned seed) {
  Eigen::VectorXd w = uniform_vector(n, 0.2, 2.0, seed);
  if (n > 2) w(1) = 0.0;
  return w;
}

/// Log sample weights in [-3, 0], every fifth one -inf (a zero weight).
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, 1> some_zero_log_weights(Eigen::Index n, unsigned seed) {
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> log_weights =
      uniform_vector(n, -3.0, 0.0, seed).template cast<Scalar>();
  for (Eigen::Index i = 0; i < n; i += 5) log_weights(i) = -std::numeric_limits<Scalar>::infinity();
  return log_weights;
}

}  // namespace nadaraya_test

#endif  // NADARAYA_TEST_REFERENCE_HPP
