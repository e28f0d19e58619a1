#ifndef NADARAYA_DETAIL_TRAINING_SET_HPP
#define NADARAYA_DETAIL_TRAINING_SET_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "../bandwidth.hpp"
#include "../errors.hpp"
#include "../options.hpp"
#include "../pool.hpp"
#include "check.hpp"

namespace nadaraya {
namespace detail {

/// What every estimator holds after fit(): the data, the data divided by the widths (what the
/// engine sees), the widths, and the normalised log sample weights.
template <class Scalar>
class TrainingSet {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  /// Validates X and weights, resolves the bandwidth and scales the data.
  template <class Kernel, class Derived>
  void fit(const Eigen::MatrixBase<Derived>& X, const Eigen::VectorXd& weights,
           const Bandwidth& bandwidth, const char* where) {
    static_assert(std::is_same<typename Derived::Scalar, Scalar>::value,
                  "X's scalar type must be the estimator's Scalar: convert it with "
                  "X.template cast<Scalar>()");
    check_not_empty(X, "X", where);
    check_finite(X, "X", where);
    if (weights.size() != 0) check_weights(weights, X.rows(), where);
    Matrix data = X;  // evaluated before anything is changed: X may alias our own members
    Eigen::VectorXd widths = bandwidth.resolve<Kernel>(data, weights, where);
    m_data = std::move(data);
    m_weights = weights;
    const double total = weights.size() == 0 ? static_cast<double>(m_data.rows()) : weights.sum();
    m_log_weights.resize(m_data.rows());
    for (Eigen::Index i = 0; i < m_data.rows(); ++i) {
      const double w = weights.size() == 0 ? 1.0 : weights(i);
      m_log_weights(i) = static_cast<Scalar>(std::log(w / total));  // -inf for a zero weight
    }
    set_widths(widths, where);
  }

  /// Changes the widths (kernel scale, one per dimension) and rescales the keys.
  void set_widths(const Eigen::VectorXd& widths, const char* where) {
    if (widths.size() != m_data.cols()) {
      fail(where, "the bandwidth has ", widths.size(), " widths but the data has ", m_data.cols(),
           " columns");
    }
    for (Eigen::Index j = 0; j < widths.size(); ++j) {
      if (!(widths(j) > 0) || !std::isfinite(widths(j))) {
        fail(where, "width ", j, " must be positive and finite, got ", widths(j));
      }
    }
    Matrix keys = scale(m_data, widths);
    for (Eigen::Index j = 0; j < keys.cols(); ++j) {
      if (!keys.col(j).allFinite()) {
        fail(where, "width ", widths(j), " of column ", j,
             " is too small for the magnitude of the data: X / h overflows");
      }
    }
    m_widths = widths;
    m_keys = std::move(keys);
    m_fitted = true;
  }

  /// Checks queries against the training data and divides them by the widths.
  template <class Derived>
  Matrix scale_queries(const Eigen::MatrixBase<Derived>& Q, const char* where) const {
    static_assert(std::is_same<typename Derived::Scalar, Scalar>::value,
                  "Q's scalar type must be the estimator's Scalar: convert it with "
                  "Q.template cast<Scalar>()");
    check_fitted(where);
    check_not_empty(Q, "Q", where);
    check_finite(Q, "Q", where);
    check_cols(Q, m_data.cols(), "Q", where, "the training data 'X'");
    Matrix queries = scale(Q, m_widths);
    if (!queries.allFinite()) {
      fail(where, "argument 'Q' divided by the bandwidth overflows: its values are too large");
    }
    return queries;
  }

  void check_fitted(const char* where) const {
    if (!m_fitted) throw NotFitted(message(where, "call fit() first"));
  }

  /// For each query with no reachable key (-inf log sum), per `rule`: NaN, or the weighted mean
  /// of `values` over the keys nearest in scaled distance (ties share equally by weight).
  /// `leave_one_out`: query i is training point i and may not use itself.
  void fill_unreached(const Matrix& queries, const Vector& log_sum, const Matrix& values,
                      Unreached rule, bool leave_one_out, Matrix& mean) const {
    for (Eigen::Index q = 0; q < queries.rows(); ++q) {
      if (log_sum(q) > -std::numeric_limits<Scalar>::infinity()) continue;
      mean.row(q).setConstant(std::numeric_limits<Scalar>::quiet_NaN());
      if (rule != Unreached::nearest_neighbour) continue;
      const std::vector<Eigen::Index> nearest =
          nearest_keys(queries.row(q), leave_one_out ? q : -1);
      if (nearest.empty()) continue;  // no other key at all: stays NaN
      double total = 0;
      Eigen::RowVectorXd sum = Eigen::RowVectorXd::Zero(values.cols());
      for (Eigen::Index i : nearest) {
        const double w = m_weights.size() == 0 ? 1.0 : m_weights(i);
        total += w;
        sum += w * values.row(i).template cast<double>();
      }
      mean.row(q) = (sum / total).template cast<Scalar>();
    }
  }

  /// Keys of positive weight at the smallest scaled squared distance from `query` (all ties),
  /// skipping key `excluded` (-1: none).
  template <class Row>
  std::vector<Eigen::Index> nearest_keys(const Eigen::MatrixBase<Row>& query,
                                         Eigen::Index excluded) const {
    std::vector<Eigen::Index> nearest;
    double best = std::numeric_limits<double>::infinity();
    for (Eigen::Index i = 0; i < m_keys.rows(); ++i) {
      if (i == excluded || m_log_weights(i) == -std::numeric_limits<Scalar>::infinity()) continue;
      const double r2 =
          (query.template cast<double>() - m_keys.row(i).template cast<double>()).squaredNorm();
      if (r2 < best) {
        best = r2;
        nearest.assign(1, i);
      } else if (r2 == best) {
        nearest.push_back(i);
      }
    }
    return nearest;
  }

  bool fitted() const { return m_fitted; }
  const Matrix& data() const { return m_data; }
  const Matrix& keys() const { return m_keys; }
  const Vector& log_weights() const { return m_log_weights; }
  const Eigen::VectorXd& weights() const { return m_weights; }
  const Eigen::VectorXd& widths() const { return m_widths; }

 private:
  template <class Derived>
  static Matrix scale(const Eigen::MatrixBase<Derived>& X, const Eigen::VectorXd& widths) {
    Matrix scaled(X.rows(), X.cols());
    for (Eigen::Index j = 0; j < X.cols(); ++j) {
      scaled.col(j) = X.col(j) / static_cast<Scalar>(widths(j));
    }
    return scaled;
  }

  Matrix m_data;              // X as given, n x d
  Matrix m_keys;              // X divided column-wise by the widths: what the engine sees
  Vector m_log_weights;       // log(w_i / sum w); -inf for zero weights
  Eigen::VectorXd m_weights;  // sample weights as given; empty for equal weights
  Eigen::VectorXd m_widths;   // kernel-scale widths, one per dimension
  bool m_fitted = false;      // fit() has succeeded
};

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_TRAINING_SET_HPP
