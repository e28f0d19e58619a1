#ifndef NADARAYA_OBJECTIVE_DATA_HPP
#define NADARAYA_OBJECTIVE_DATA_HPP

#include <Eigen/Core>
#include <cmath>  // std::exp
#include <limits>
#include <type_traits>
#include <utility>  // std::move

#include "detail/centre.hpp"  // weighted_centre, centre_rows
#include "detail/check.hpp"
#include "detail/driver.hpp"          // padded_key_count
#include "detail/key_order.hpp"       // KeyOrder: the keys along the line in one dimension
#include "detail/sample_weights.hpp"  // sample_weights
#include "errors.hpp"

namespace nadaraya {

/// \file objective_data.hpp
/// The options of the bandwidth objectives and the data every objective holds.

/// How an objective is computed.
struct ObjectiveOptions {
  bool leave_one_out = true;  ///< false: each point is also pooled against itself (naive objective)
  bool per_dimension = true;  ///< one log-width per input column; false: one shared log-width
  int threads = 0;            ///< 0: OpenMP's default; 1: serial. Results do not depend on it.
};

namespace detail {

/// What every objective holds: the data centred on their weighted mean (detail/centre.hpp: the
/// objectives do not depend on where the data sit), normalised sample weights, options.
template <class Scalar>
class ObjectiveData {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  template <class Derived>
  ObjectiveData(const Eigen::MatrixBase<Derived>& X, const Eigen::VectorXd& weights,
                const ObjectiveOptions& options, const char* where)
      : m_options(options) {
    static_assert(std::is_same<typename Derived::Scalar, Scalar>::value,
                  "X's scalar type must be the objective's Scalar: convert it with "
                  "X.template cast<Scalar>()");
    check_sample(X, weights, where);
    if (options.threads < 0) {
      fail(where, "option 'threads' must be 0 (automatic) or positive, got ", options.threads);
    }
    // Normalised as the estimators' fit() does: weights near 1e308 act as their ratios.
    SampleWeights sample = sample_weights(weights, X.rows());
    Matrix centred = centre_rows<Scalar>(X, weighted_centre(X, sample.relative));
    m_weights = std::move(sample.relative);
    m_shares = std::move(sample.shares);
    m_log_shares = sample.log_shares.template cast<Scalar>();  // -inf for a zero weight
    m_key_order = pass_key_order(centred);
    // The pass reads both in key order: arranged once here, not at every evaluation.
    const Eigen::Index n = X.rows();
    m_keys.resize(n, X.cols());
    m_key_log_weights =
        Vector::Constant(padded_key_count<Scalar>(n), -std::numeric_limits<Scalar>::infinity());
    for (Eigen::Index position = 0; position < n; ++position) {
      const Eigen::Index row = m_key_order.row(position);
      m_keys.row(position) = centred.row(row);
      m_key_log_weights(position) = m_log_shares(row);
    }
    Eigen::Index positive = 0;
    for (Eigen::Index i = 0; i < m_log_shares.size(); ++i)
      positive += m_log_shares(i) > -std::numeric_limits<Scalar>::infinity() ? 1 : 0;
    if (options.leave_one_out && positive < 2) {
      fail(where, "leave-one-out needs at least two points of positive weight, got ", positive);
    }
  }

  Eigen::Index samples() const { return m_keys.rows(); }
  Eigen::Index dimensions() const { return m_keys.cols(); }
  Eigen::Index parameters() const { return m_options.per_dimension ? m_keys.cols() : 1; }
  const ObjectiveOptions& options() const { return m_options; }
  /// The centred data in the pass's key order (key_order: row `key_order().row(p)` at p).
  const Matrix& keys() const { return m_keys; }
  /// log p_k in the key order, padded with -inf to padded_key_count<Scalar>(n) entries.
  const Vector& key_log_weights() const { return m_key_log_weights; }
  /// The sample weights scaled so that the largest is in [1, 2); empty for equal weights.
  const Eigen::VectorXd& weights() const { return m_weights; }
  /// p_i = w_i / sum w.
  const Eigen::VectorXd& shares() const { return m_shares; }
  const Vector& log_shares() const { return m_log_shares; }
  /// The order of the keys in the pass (sorted along the line in one dimension); the objectives'
  /// per-key arrays for the pass follow it.
  const KeyOrder& key_order() const { return m_key_order; }

  /// The widths h_j = exp(theta_j), one per column, after checking theta.
  Eigen::VectorXd widths(const Eigen::VectorXd& theta, const char* where) const {
    if (theta.size() != parameters()) {
      fail(where, "argument 'log_widths' has ", theta.size(), " entries but the objective has ",
           parameters(), m_options.per_dimension ? " (one per column)" : " (one shared width)");
    }
    if (!theta.allFinite()) fail(where, "argument 'log_widths' must be finite");
    return m_options.per_dimension ? Eigen::VectorXd(theta.array().exp().matrix())
                                   : Eigen::VectorXd::Constant(dimensions(), std::exp(theta(0)));
  }

  /// sum_j log h_j over the d columns, and its derivative with respect to each theta entry.
  double log_width_product(const Eigen::VectorXd& theta) const {
    return m_options.per_dimension ? theta.sum() : static_cast<double>(dimensions()) * theta(0);
  }
  double log_width_product_slope() const {
    return m_options.per_dimension ? 1.0 : static_cast<double>(dimensions());
  }

 private:
  ObjectiveOptions m_options;  // leave-one-out, per dimension, threads
  Matrix m_keys;               // X minus its weighted mean, n x d, in the key order
  Eigen::VectorXd m_weights;   // sample weights, the largest scaled into [1, 2); empty for equal
  Eigen::VectorXd m_shares;    // p_i = w_i / sum w
  Vector m_log_shares;         // log p_i; -inf for zero weights
  KeyOrder m_key_order;        // the pass's key order
  Vector m_key_log_weights;    // log p_k in the key order, padded with -inf
};

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_OBJECTIVE_DATA_HPP
