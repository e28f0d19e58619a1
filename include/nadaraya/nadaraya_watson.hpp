#ifndef NADARAYA_NADARAYA_WATSON_HPP
#define NADARAYA_NADARAYA_WATSON_HPP

#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "bandwidth.hpp"
#include "detail/check.hpp"
#include "detail/nearest.hpp"  // nearest_keys, nearest_shares
#include "training_set.hpp"
#include "fit_bandwidth.hpp"
#include "kernel.hpp"
#include "kernels.hpp"
#include "objectives.hpp"
#include "options.hpp"
#include "detail/weights_pass.hpp"
#include "pool.hpp"

namespace nadaraya {

/// Nadaraya–Watson kernel regression, i.e. attention pooling by similarity:
/// \f[ f(q) = \sum_i \alpha_i(q) y_i, \qquad
///     \alpha_i(q) = \frac{w_i k(\|(q - x_i)/h\|^2)}{\sum_j w_j k(\|(q - x_j)/h\|^2)}. \f]
/// The weights are a softmax of log-weights, so a tiny Gaussian bandwidth gives the nearest
/// neighbour's value (the mean of tied neighbours) and a huge one the global weighted mean.
/// A query that no key reaches (compact kernels) gets NaN, or the nearest keys' mean with
/// `Options::unreached = Unreached::nearest_neighbour`.
///
/// \tparam Kernel  any kernel (Constant gives the mean predictor)
/// \tparam Scalar_ float or double
///
/// \code
/// NadarayaWatson<Gaussian> nw(Bandwidth::scalar(0.3));
/// nw.fit(X, Y);                          // X n x d, Y n x k (or a vector)
/// Eigen::MatrixXd Yq = nw.predict(Q);    // m x k
/// \endcode
/// Threading: const member functions may be called from several threads at once.
template <class Kernel, class Scalar_ = double>
class NadarayaWatson {
 public:
  using Scalar = Scalar_;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  explicit NadarayaWatson(Bandwidth bandwidth = Bandwidth::silverman(), Options options = {})
      : m_bandwidth(std::move(bandwidth)), m_options(options) {}

  /// Stores inputs X (n x d) and outputs Y (n x k; a vector is one output).
  template <class XDerived, class YDerived>
  NadarayaWatson& fit(const Eigen::MatrixBase<XDerived>& X, const Eigen::MatrixBase<YDerived>& Y) {
    return fit_impl(X, Y, Eigen::VectorXd());
  }

  /// As fit(X, Y), with non-negative sample weights (one per row, not all zero).
  template <class XDerived, class YDerived, class WeightDerived>
  NadarayaWatson& fit(const Eigen::MatrixBase<XDerived>& X, const Eigen::MatrixBase<YDerived>& Y,
                      const Eigen::MatrixBase<WeightDerived>& weights) {
    return fit_impl(X, Y, detail::weights_vector(weights, X.rows(), "NadarayaWatson::fit"));
  }

  /// The pooled outputs for each row of Q: m x k.
  template <class Derived>
  Matrix predict(const Eigen::MatrixBase<Derived>& Q) const {
    const Matrix queries = m_training.scale_queries(Q, "NadarayaWatson::predict");
    return pool_outputs(queries, false);
  }

  /// Each training point predicted from all the others (its own pair excluded): n x k.
  /// With a single training point there are no others: NaN (whatever the Unreached rule).
  Matrix predict_leave_one_out() const {
    m_training.check_fitted("NadarayaWatson::predict_leave_one_out");
    return pool_outputs(m_training.keys(), true);
  }

  /// The attention weights alpha_i(q): m x n, each row non-negative and summing to one (a NaN row
  /// for an unreached query under Unreached::nan). The only call that forms an m x n matrix.
  template <class Derived>
  Matrix attention_weights(const Eigen::MatrixBase<Derived>& Q) const {
    const Matrix queries = m_training.scale_queries(Q, "NadarayaWatson::attention_weights");
    const Matrix& keys = m_training.keys();
    const Eigen::Index m = queries.rows(), n = keys.rows();
    Matrix weights(m, n);
    const int threads =
        detail::resolve_threads(m_options.threads, "NadarayaWatson::attention_weights");
    const detail::PassCut cut = detail::PassCut::of<Scalar>(m, n, keys.cols());
    detail::WeightsPass<Kernel, Scalar> pass(queries, keys, m_training.log_weights(), weights);
    detail::drive(cut, threads, pass);
    std::vector<long double> far_log_weights;
    for (Eigen::Index q = 0; q < m; ++q) {
      if (pass.finish(q)) continue;
      long double offset = 0;
      if (m_training.template far_query_log_weights<Kernel>(queries.row(q), -1, far_log_weights,
                                                            offset)) {
        // Every r2 overflowed (an unbounded kernel, a query very far away): see TrainingSet.
        long double total = 0;
        for (const long double l : far_log_weights) total += std::exp(l);
        for (Eigen::Index i = 0; i < n; ++i) {
          weights(q, i) =
              static_cast<Scalar>(std::exp(far_log_weights[static_cast<std::size_t>(i)]) / total);
        }
        continue;
      }
      weights.row(q).setConstant(std::numeric_limits<Scalar>::quiet_NaN());
      if (m_options.unreached == Unreached::nearest_neighbour) {
        weights.row(q).setZero();
        const auto nearest =
            detail::nearest_keys(queries.row(q), m_training.keys(), m_training.log_weights(), -1);
        const std::vector<double> shares =
            detail::nearest_shares(nearest, m_training.weights(), m_training.log_weights());
        for (std::size_t j = 0; j < nearest.size(); ++j)
          weights(q, nearest[j]) = static_cast<Scalar>(shares[j]);
      }
    }
    return weights;
  }

  /// Coefficient of determination R^2 of predict(Q) against Y, over all outputs (1 - residual
  /// sum of squares / total sum of squares about each output's mean; scikit-learn's `score` with
  /// uniform averaging when k = 1).
  template <class QDerived, class YDerived>
  Scalar score(const Eigen::MatrixBase<QDerived>& Q, const Eigen::MatrixBase<YDerived>& Y) const {
    const char* where = "NadarayaWatson::score";
    m_training.check_fitted(where);
    detail::check_rows(Y, Q.rows(), "Y", where, "'Q'");
    detail::check_cols(Y, m_outputs.cols(), "Y", where, "the training outputs");
    detail::check_finite(Y, "Y", where);
    const Matrix prediction = predict(Q);
    const Matrix truth = Y;
    const Scalar residual = (truth - prediction).squaredNorm();
    const Scalar total = (truth.rowwise() - truth.colwise().mean()).squaredNorm();
    return Scalar(1) - residual / total;
  }

  /// Replaces the bandwidth and, once fitted, re-resolves it on the stored data. A bandwidth that
  /// cannot be applied throws InvalidArgument and changes nothing.
  void set_bandwidth(const Bandwidth& bandwidth) {
    if (m_training.fitted()) {
      m_training.template set_bandwidth<Kernel>(bandwidth, "NadarayaWatson::set_bandwidth");
    }
    m_bandwidth = bandwidth;
  }

  /// Learns the widths by SGD on the leave-one-out squared error (SquaredErrorObjective): by
  /// default from Silverman's rule, one width per input column. Afterwards predict() uses the
  /// learned widths, bandwidth() returns them, and they become the estimator's fixed bandwidth
  /// (a later fit() keeps them). The kernel must provide `dlog_profile`.
  /// \param options the objective (leave-one-out or naive), start, widths and optimiser settings
  /// \return the learned widths, the objective per epoch, the steps and why the fit stopped
  /// \throws NotFitted before fit(); InvalidArgument for bad options.
  FitReport fit_bandwidth(const FitOptions& options = {}) {
    const char* where = "NadarayaWatson::fit_bandwidth";
    options.check();
    m_training.check_fitted(where);
    const Eigen::VectorXd start = options.start.template resolve<Kernel>(
        m_training.centred_data(), m_training.weights(), where);
    const SquaredErrorObjective<Kernel, Scalar> objective(
        m_training.centred_data(), outputs(), m_training.weights(),
        detail::objective_options(options, m_options.threads));
    FitReport report = fit_widths(objective, start, options);
    m_training.set_widths(report.widths, where);
    m_bandwidth = Bandwidth::per_dimension(report.widths);
    return report;
  }

  /// The widths in use, in kernel scale, one per dimension.
  const Eigen::VectorXd& bandwidth() const {
    m_training.check_fitted("NadarayaWatson::bandwidth");
    return m_training.widths();
  }
  bool is_fitted() const { return m_training.fitted(); }
  Eigen::Index n_samples() const { return m_training.centred_data().rows(); }
  Eigen::Index n_features() const { return m_training.centred_data().cols(); }
  Eigen::Index n_outputs() const { return m_outputs.cols(); }
  const Options& options() const { return m_options; }

 private:
  template <class XDerived, class YDerived>
  NadarayaWatson& fit_impl(const Eigen::MatrixBase<XDerived>& X,
                           const Eigen::MatrixBase<YDerived>& Y, const Eigen::VectorXd& weights) {
    static_assert(std::is_same<typename YDerived::Scalar, Scalar>::value,
                  "Y's scalar type must be the estimator's Scalar: convert it with "
                  "Y.template cast<Scalar>()");
    const char* where = "NadarayaWatson::fit";
    detail::check_not_empty(Y, "Y", where);
    detail::check_rows(Y, X.rows(), "Y", where, "'X'");
    detail::check_finite(Y, "Y", where);
    // Each output column is stored divided by a power of two that brings its largest magnitude
    // into [1/2, 1): the weighted sums then cannot overflow (outputs near the largest finite
    // value) nor lose digits in the subnormals (tiny outputs), and since the scaling is exact,
    // predictions are otherwise bit for bit those of the unscaled outputs.
    Matrix outputs = Y;
    Eigen::VectorXi exponents = Eigen::VectorXi::Zero(outputs.cols());
    for (Eigen::Index c = 0; c < outputs.cols(); ++c) {
      const Scalar largest = outputs.col(c).cwiseAbs().maxCoeff();
      if (largest > Scalar(0)) exponents(c) = std::ilogb(largest) + 1;
      for (Eigen::Index i = 0; i < outputs.rows(); ++i)
        outputs(i, c) = std::ldexp(outputs(i, c), -exponents(c));
    }
    Vector low = outputs.colwise().minCoeff().transpose();
    Vector high = outputs.colwise().maxCoeff().transpose();
    m_training.template fit<Kernel>(X, weights, m_bandwidth, where);
    m_outputs = std::move(outputs);
    m_output_exponents = std::move(exponents);
    m_output_low = std::move(low);
    m_output_high = std::move(high);
    return *this;
  }

  /// The outputs as given to fit().
  Matrix outputs() const {
    Matrix outputs = m_outputs;
    unscale(outputs);
    return outputs;
  }

  void unscale(Matrix& outputs) const {
    for (Eigen::Index c = 0; c < outputs.cols(); ++c) {
      if (m_output_exponents(c) == 0) continue;
      for (Eigen::Index i = 0; i < outputs.rows(); ++i)
        outputs(i, c) = std::ldexp(outputs(i, c), m_output_exponents(c));
    }
  }

  Matrix pool_outputs(const Matrix& queries, bool leave_one_out) const {
    PoolOptions pool_options;
    pool_options.leave_one_out = leave_one_out;
    pool_options.threads = m_options.threads;
    PoolResult<Scalar> pooled = pool<Kernel>(queries, m_training.keys(), m_outputs,
                                             m_training.engine_log_weights(), pool_options);
    m_training.template complete_unreached<Kernel>(
        queries, pooled.log_sum, m_outputs, m_options.unreached, leave_one_out, &pooled.mean);
    // A weighted mean lies between its column's smallest and largest output, but the rounding of
    // the sums can carry it a few ulps past them, which for outputs at the largest finite value
    // overflows to infinity once scaled back (found by fuzz_nadaraya_watson). NaN (an unreached
    // query under Unreached::nan) fails both comparisons and stays.
    for (Eigen::Index c = 0; c < pooled.mean.cols(); ++c) {
      for (Eigen::Index q = 0; q < pooled.mean.rows(); ++q) {
        Scalar& mean = pooled.mean(q, c);
        if (mean < m_output_low(c)) mean = m_output_low(c);
        if (mean > m_output_high(c)) mean = m_output_high(c);
      }
    }
    unscale(pooled.mean);
    return std::move(pooled.mean);
  }

  Bandwidth m_bandwidth;                   // as given: fixed widths or a rule
  Options m_options;                       // unreached queries, threads
  detail::TrainingSet<Scalar> m_training;  // inputs, scaled keys, widths, weights
  Matrix m_outputs;                        // Y, n x k, column c divided by 2^exponent(c)
  Eigen::VectorXi m_output_exponents;      // per output column: see fit_impl
  Vector m_output_low, m_output_high;      // per column, the smallest and largest of m_outputs
};

}  // namespace nadaraya

#endif  // NADARAYA_NADARAYA_WATSON_HPP
