#ifndef NADARAYA_TRAINING_SET_HPP
#define NADARAYA_TRAINING_SET_HPP

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "bandwidth.hpp"
#include "detail/centre.hpp"
#include "detail/check.hpp"
#include "detail/nearest.hpp"         // nearest_keys, nearest_shares, nearest_mean
#include "detail/sample_weights.hpp"  // sample_weights
#include "detail/scale.hpp"           // divide_by_widths, scale_keys
#include "errors.hpp"
#include "kernel.hpp"
#include "options.hpp"

namespace nadaraya {
namespace detail {

/// What every estimator holds after fit(): the data centred on their weighted mean (centre.hpp),
/// the centred data divided by the widths (what the engine sees), the widths, and the normalised
/// log sample weights.
template <class Scalar>
class TrainingSet {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  /// Validates X and weights, resolves the bandwidth and scales the data. Nothing changes unless
  /// every check passes: a fit that throws leaves the previous training set as it was.
  template <class Kernel, class Derived>
  void fit(const Eigen::MatrixBase<Derived>& X, const Eigen::VectorXd& weights,
           const Bandwidth& bandwidth, const char* where) {
    static_assert(std::is_same<typename Derived::Scalar, Scalar>::value,
                  "X's scalar type must be the estimator's Scalar: convert it with "
                  "X.template cast<Scalar>()");
    check_sample(X, weights, where);
    Matrix data = X;  // evaluated before anything is changed: X may alias our own members
    // The weights' ratios (overflow-free for weights near 1e308): the rules see the same ratios.
    SampleWeights sample = sample_weights(weights, data.rows());
    Eigen::VectorXd centre = weighted_centre(data, sample.relative);
    data = centre_rows<Scalar>(data, centre);
    Eigen::VectorXd widths = bandwidth.resolve<Kernel>(data, sample.relative, where);
    Matrix keys = scaled_keys(data, widths, where);
    Vector log_weights = sample.log_shares.template cast<Scalar>();  // -inf for a zero weight
    // Every check has passed: commit.
    m_data = std::move(data);
    m_centre = std::move(centre);
    m_weights = std::move(sample.relative);
    m_log_weights = std::move(log_weights);
    m_widths = std::move(widths);
    m_keys = std::move(keys);
    m_fitted = true;
  }

  /// Resolves another bandwidth on the stored (centred) data and rescales the keys: what fit()
  /// would give with the same data and weights. On an error nothing changes.
  template <class Kernel>
  void set_bandwidth(const Bandwidth& bandwidth, const char* where) {
    set_widths(bandwidth.resolve<Kernel>(m_data, m_weights, where), where);
  }

  /// Changes the widths (kernel scale, one per dimension) and rescales the keys; on an error
  /// nothing changes.
  void set_widths(const Eigen::VectorXd& widths, const char* where) {
    Matrix keys = scaled_keys(m_data, widths, where);
    m_widths = widths;
    m_keys = std::move(keys);
  }

  /// log(sum_{j != i} w_j / sum_j w_j) for each i: the share of the mass that leave-one-out
  /// keeps. Summed directly (prefix and suffix log-sums of the log weights), not as
  /// 1 - w_i / sum: next to a dominant weight that difference rounds to 0 although the others
  /// weigh 1e-20 of it (or 1e-330, below any double). -inf for a single point.
  Vector log_others_share() const {
    const Eigen::Index n = m_data.rows();
    auto log_add = [](double a, double b) {
      const double high = std::max(a, b), low = std::min(a, b);
      if (low == -std::numeric_limits<double>::infinity()) return high;
      return high + std::log1p(std::exp(low - high));
    };
    Eigen::VectorXd prefix(n + 1), suffix(n + 1);
    prefix(0) = suffix(n) = -std::numeric_limits<double>::infinity();
    for (Eigen::Index i = 0; i < n; ++i)
      prefix(i + 1) = log_add(prefix(i), static_cast<double>(m_log_weights(i)));
    for (Eigen::Index i = n; i > 0; --i)
      suffix(i - 1) = log_add(suffix(i), static_cast<double>(m_log_weights(i - 1)));
    Vector share(n);
    for (Eigen::Index i = 0; i < n; ++i)
      share(i) = static_cast<Scalar>(log_add(prefix(i), suffix(i + 1)) - prefix(n));
    return share;
  }

  /// The weight of sample i, scaled with the others so that the largest is in [1, 2) (1 for
  /// equal weights).
  double sample_weight(Eigen::Index i) const { return m_weights.size() == 0 ? 1.0 : m_weights(i); }

  /// Checks queries against the training data, centres them as the data were and divides them
  /// by the widths.
  template <class Derived>
  Matrix scale_queries(const Eigen::MatrixBase<Derived>& Q, const char* where) const {
    static_assert(std::is_same<typename Derived::Scalar, Scalar>::value,
                  "Q's scalar type must be the estimator's Scalar: convert it with "
                  "Q.template cast<Scalar>()");
    check_fitted(where);
    check_not_empty(Q, "Q", where);
    check_finite(Q, "Q", where);
    check_cols(Q, m_data.cols(), "Q", where, "the training data 'X'");
    Matrix queries = scale(centre_rows<Scalar>(Q, m_centre), m_widths);
    if (!queries.allFinite()) {
      fail(where,
           "argument 'Q' minus the training data's mean, divided by the bandwidth, overflows: "
           "its values are too large");
    }
    return queries;
  }

  void check_fitted(const char* where) const {
    if (!m_fitted) throw NotFitted(message(where, "call fit() first"));
  }

  /// Completes the engine's result for each query with no reachable key (-inf log sum).
  /// Under an unbounded kernel the query is only too far for r2 to be formed in Scalar: it is
  /// pooled again in a wider type (far_query_log_weights), which sets its log sum and mean.
  /// Otherwise (compact kernels) its mean, when `mean` is given, is per `rule`: NaN, or the
  /// weighted mean of `values` over the keys nearest in scaled distance (ties share by weight).
  /// `leave_one_out`: query i is training point i and may not use itself.
  template <class Kernel>
  void complete_unreached(const Matrix& queries, Vector& log_sum, const Matrix& values,
                          Unreached rule, bool leave_one_out, Matrix* mean) const {
    std::vector<long double> log_weights;
    for (Eigen::Index q = 0; q < queries.rows(); ++q) {
      if (log_sum(q) > -std::numeric_limits<Scalar>::infinity()) continue;
      const Eigen::Index excluded = leave_one_out ? q : -1;
      long double offset = 0;
      if (far_query_log_weights<Kernel>(queries.row(q), excluded, log_weights, offset)) {
        long double total = 0;
        Eigen::Matrix<long double, 1, Eigen::Dynamic> sum =
            Eigen::Matrix<long double, 1, Eigen::Dynamic>::Zero(values.cols());
        for (Eigen::Index i = 0; i < m_keys.rows(); ++i) {
          const long double weight = std::exp(log_weights[static_cast<std::size_t>(i)]);
          if (!(weight > 0)) continue;
          total += weight;
          if (mean != nullptr) sum += weight * values.row(i).template cast<long double>();
        }
        log_sum(q) = static_cast<Scalar>(offset + std::log(total));
        if (mean != nullptr) mean->row(q) = (sum / total).template cast<Scalar>();
        continue;
      }
      if (mean == nullptr) continue;
      mean->row(q).setConstant(std::numeric_limits<Scalar>::quiet_NaN());
      if (rule != Unreached::nearest_neighbour) continue;
      const std::vector<Eigen::Index> nearest =
          nearest_keys(queries.row(q), m_keys, m_log_weights, excluded);
      if (nearest.empty()) continue;  // no other key at all: stays NaN
      const std::vector<double> shares = nearest_shares(nearest, m_weights, m_log_weights);
      mean->row(q) = nearest_mean(nearest, shares, values).template cast<Scalar>();
    }
  }

  /// An unbounded kernel reaches every query, but the engine forms r2 in Scalar, which
  /// overflows beyond sqrt(max) bandwidths (float: 1.8e19; double: 1.3e154): every log-weight
  /// comes out -inf. For such a query this gives each key's log-weight as offset + log_weights[i]
  /// (-inf for keys skipped), in long double, taken relative to the nearest key: with
  /// g_i = q.x_i - ||x_i||^2 / 2, r2_i - r2_nearest = 2 (g_nearest - g_i) needs no ||q||^2 and
  /// keeps keys apart where r2 itself cannot (at 1e200 bandwidths, keys one apart have equal r2
  /// in any floating type); log k(r2_i) - log k(r2_nearest) is then the kernel's slope at the
  /// midpoint times that excess (exact for the Gaussian, second-order for the others), or a plain
  /// difference for kernels without dlog_profile. Returns false when the kernel is compact, r2
  /// does not overflow in Scalar (the query is truly unreached), or no key is left.
  template <class Kernel, class Row>
  bool far_query_log_weights(const Eigen::MatrixBase<Row>& query, Eigen::Index excluded,
                             std::vector<long double>& log_weights, long double& offset) const {
    using Wide = long double;
    constexpr Wide minus_infinity = -std::numeric_limits<Wide>::infinity();
    if constexpr (kernel_traits<Kernel>::is_compact) {
      return false;
    } else {
      const Eigen::Index n = m_keys.rows(), d = m_keys.cols();
      log_weights.assign(static_cast<std::size_t>(n), minus_infinity);
      std::vector<Wide> g(static_cast<std::size_t>(n), minus_infinity);
      Eigen::Index nearest = -1;
      for (Eigen::Index i = 0; i < n; ++i) {
        if (i == excluded || m_log_weights(i) == -std::numeric_limits<Scalar>::infinity()) continue;
        Wide dot = 0, norm = 0;
        for (Eigen::Index j = 0; j < d; ++j) {
          const Wide x = m_keys(i, j);
          dot += static_cast<Wide>(query(j)) * x;
          norm += x * x;
        }
        g[static_cast<std::size_t>(i)] = dot - norm / 2;
        if (nearest < 0 || g[static_cast<std::size_t>(i)] > g[static_cast<std::size_t>(nearest)])
          nearest = i;
      }
      if (nearest < 0) return false;
      Wide r2_nearest = 0;
      for (Eigen::Index j = 0; j < d; ++j) {
        const Wide difference = static_cast<Wide>(query(j)) - static_cast<Wide>(m_keys(nearest, j));
        r2_nearest += difference * difference;
      }
      if (!(r2_nearest > static_cast<Wide>(std::numeric_limits<Scalar>::max()))) return false;
      offset = kernel_traits<Kernel>::log_profile(r2_nearest);
      const Wide g_nearest = g[static_cast<std::size_t>(nearest)];
      for (Eigen::Index i = 0; i < n; ++i) {
        const Wide g_i = g[static_cast<std::size_t>(i)];
        if (g_i == minus_infinity) continue;
        const Wide excess = 2 * (g_nearest - g_i);  // r2_i - r2_nearest >= 0
        Wide relative = 0;
        if (excess > 0) {
          if constexpr (kernel_traits<Kernel>::is_differentiable) {
            relative = static_cast<Wide>(Kernel::dlog_profile(r2_nearest + excess / 2)) * excess;
          } else {
            relative =
                static_cast<Wide>(kernel_traits<Kernel>::log_profile(r2_nearest + excess)) - offset;
          }
          if (!(relative <= 0)) relative = minus_infinity;  // NaN: not resolvable, drop the key
        }
        log_weights[static_cast<std::size_t>(i)] = relative + static_cast<Wide>(m_log_weights(i));
      }
      return true;
    }
  }

  bool fitted() const { return m_fitted; }
  /// X as given to fit() minus centre().
  const Matrix& centred_data() const { return m_data; }
  /// The weighted mean subtracted from the data and from every query (0 where a column's range
  /// overflows once centred).
  const Eigen::VectorXd& centre() const { return m_centre; }
  const Matrix& keys() const { return m_keys; }
  const Vector& log_weights() const { return m_log_weights; }
  /// The key log-weights to hand the engine: none for equal weights, whose fastest paths (the
  /// sorted line in d = 1, among others) need the weights to be equal; log_weights() otherwise.
  const Vector& engine_log_weights() const {
    return m_weights.size() == 0 ? m_equal_weights : m_log_weights;
  }
  /// What the engine's log-sums lack with engine_log_weights(): log(1 / n) for equal weights (the
  /// same rounded value as each entry of log_weights()), 0 otherwise.
  Scalar engine_log_sum_offset() const {
    return m_weights.size() == 0 ? m_log_weights(0) : Scalar(0);
  }
  const Eigen::VectorXd& weights() const { return m_weights; }
  const Eigen::VectorXd& widths() const { return m_widths; }

 private:
  /// The data divided by the widths, checked: positive finite widths, one per column, and a
  /// finite quotient.
  static Matrix scaled_keys(const Matrix& data, const Eigen::VectorXd& widths, const char* where) {
    if (widths.size() != data.cols()) {
      fail(where, "the bandwidth has ", widths.size(), " widths but the data has ", data.cols(),
           " columns");
    }
    for (Eigen::Index j = 0; j < widths.size(); ++j) {
      if (!(widths(j) > 0) || !std::isfinite(widths(j))) {
        fail(where, "width ", j, " must be positive and finite, got ", widths(j));
      }
    }
    Matrix keys(data.rows(), data.cols());
    scale_keys(data, widths, keys, where);
    return keys;
  }

  template <class Derived>
  static Matrix scale(const Eigen::MatrixBase<Derived>& X, const Eigen::VectorXd& widths) {
    Matrix scaled(X.rows(), X.cols());
    divide_by_widths(X, widths, scaled);
    return scaled;
  }

  Matrix m_data;              // X minus m_centre, n x d
  Eigen::VectorXd m_centre;   // the weighted mean of X, subtracted from data and queries
  Matrix m_keys;              // m_data divided column-wise by the widths: what the engine sees
  Vector m_log_weights;       // log(w_i / sum w); -inf for zero weights
  Vector m_equal_weights;     // always empty: the engine's "equal weights"
  Eigen::VectorXd m_weights;  // sample weights, the largest scaled into [1, 2); empty for equal
  Eigen::VectorXd m_widths;   // kernel-scale widths, one per dimension
  bool m_fitted = false;      // fit() has succeeded
};

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_TRAINING_SET_HPP
