#ifndef NADARAYA_PARZEN_DENSITY_HPP
#define NADARAYA_PARZEN_DENSITY_HPP

#include <Eigen/Core>
#include <cmath>
#include <type_traits>

#include "bandwidth.hpp"
#include "training_set.hpp"
#include "fit_bandwidth.hpp"
#include "kernel.hpp"
#include "kernels.hpp"
#include "objectives.hpp"
#include "options.hpp"
#include "pool.hpp"

namespace nadaraya {

/// Parzen-window (kernel) density estimation:
/// \f[ \hat p(q) = \frac{1}{\sum_i w_i} \sum_i w_i \frac{c_d}{h_1 \cdots h_d}
///     k\!\left(\|(q - x_i)/h\|^2\right). \f]
/// With equal weights and a Gaussian kernel this is scikit-learn's KernelDensity with
/// `bandwidth = h`, and scipy's gaussian_kde with a diagonal covariance h^2.
///
/// \tparam Kernel  a normalisable kernel (ParzenDensity<Constant> does not compile)
/// \tparam Scalar_ float or double
///
/// \code
/// ParzenDensity<Epanechnikov> kde(Bandwidth::silverman());
/// kde.fit(X);
/// Eigen::VectorXd logp = kde.log_density(Q);
/// \endcode
/// Threading: const member functions may be called from several threads at once.
template <class Kernel, class Scalar_ = double>
class ParzenDensity {
  static_assert(kernel_traits<Kernel>::is_normalisable,
                "ParzenDensity needs a kernel whose profile integrates (not Constant)");

 public:
  using Scalar = Scalar_;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  explicit ParzenDensity(Bandwidth bandwidth = Bandwidth::silverman(), Options options = {})
      : m_bandwidth(std::move(bandwidth)), m_options(options) {}

  /// Stores the sample X (n x d, rows are samples) and resolves the bandwidth on it.
  template <class Derived>
  ParzenDensity& fit(const Eigen::MatrixBase<Derived>& X) {
    m_training.template fit<Kernel>(X, Eigen::VectorXd(), m_bandwidth, "ParzenDensity::fit");
    update_normaliser();
    return *this;
  }

  /// As fit(X), with non-negative sample weights (one per row, not all zero).
  template <class Derived, class WeightDerived>
  ParzenDensity& fit(const Eigen::MatrixBase<Derived>& X,
                     const Eigen::MatrixBase<WeightDerived>& weights) {
    m_training.template fit<Kernel>(X,
                                    detail::weights_vector(weights, X.rows(), "ParzenDensity::fit"),
                                    m_bandwidth, "ParzenDensity::fit");
    update_normaliser();
    return *this;
  }

  /// log p(q) for each row of Q, computed in log space: finite wherever the density is positive,
  /// -inf where no sample's kernel reaches q (compact kernels).
  template <class Derived>
  Vector log_density(const Eigen::MatrixBase<Derived>& Q) const {
    const Matrix queries = m_training.scale_queries(Q, "ParzenDensity::log_density");
    return log_density_scaled(queries);
  }

  /// p(q) for each row of Q (exp of log_density; may underflow to 0 far from the data).
  template <class Derived>
  Vector density(const Eigen::MatrixBase<Derived>& Q) const {
    // std::exp, not Eigen's vectorised exp, which clamps its argument and never returns 0.
    return log_density(Q).unaryExpr([](Scalar l) { return std::exp(l); });
  }

  /// Total log-likelihood sum_q log p(q) (scikit-learn's KernelDensity::score).
  template <class Derived>
  Scalar log_likelihood(const Eigen::MatrixBase<Derived>& Q) const {
    return log_density(Q).sum();
  }

  /// log p_{-i}(x_i) for each training point: its density estimated from all the others
  /// (weights renormalised without it). -inf when no other point reaches it; with a single
  /// training point there are no others and every value is -inf.
  Vector leave_one_out_log_density() const {
    m_training.check_fitted("ParzenDensity::leave_one_out_log_density");
    PoolOptions pool_options;
    pool_options.leave_one_out = true;
    pool_options.threads = m_options.threads;
    Vector log_sum = pool_log_sum<Kernel>(m_training.keys(), m_training.keys(),
                                          m_training.engine_log_weights(), pool_options);
    log_sum.array() += m_training.engine_log_sum_offset();  // -inf (unreached) stays -inf
    m_training.template complete_unreached<Kernel>(m_training.keys(), log_sum, Matrix(),
                                                   Unreached::nan, true, nullptr);
    // Renormalise: the others hold their share of the mass (none for a single point).
    const Vector others = m_training.log_others_share();
    for (Eigen::Index i = 0; i < log_sum.size(); ++i) {
      log_sum(i) = others(i) > -std::numeric_limits<Scalar>::infinity()
                       ? log_sum(i) - others(i)
                       : -std::numeric_limits<Scalar>::infinity();
    }
    return (log_sum.array() + m_log_normaliser).matrix();
  }

  /// Replaces the bandwidth and, once fitted, re-resolves it on the stored data.
  /// A bandwidth that cannot be applied throws InvalidArgument and changes nothing.
  void set_bandwidth(const Bandwidth& bandwidth) {
    if (m_training.fitted()) {
      m_training.template set_bandwidth<Kernel>(bandwidth, "ParzenDensity::set_bandwidth");
      update_normaliser();
    }
    m_bandwidth = bandwidth;
  }

  /// Learns the widths by SGD on a cross-validation criterion: by default the leave-one-out
  /// negative log-likelihood (LikelihoodObjective, statsmodels' cv_ml) from Silverman's rule, one
  /// width per input column; `options.density_criterion = DensityCriterion::least_squares` uses
  /// least-squares cross-validation instead (LeastSquaresObjective, Gaussian kernel only).
  /// Afterwards the density uses the learned widths, bandwidth() returns them, and they become the
  /// estimator's fixed bandwidth (a later fit() keeps them). The kernel must provide
  /// `dlog_profile`. With a compact kernel the likelihood is infinite once a width falls below a
  /// point's distance to its nearest neighbour (see LikelihoodObjective); prefer the Gaussian.
  /// \param options the criterion, start, widths and optimiser settings
  /// \return the learned widths, the objective per epoch, the steps and why the fit stopped
  /// \throws NotFitted before fit(); InvalidArgument for bad options, or least_squares with a
  ///         kernel other than Gaussian.
  FitReport fit_bandwidth(const FitOptions& options = {}) {
    const char* where = "ParzenDensity::fit_bandwidth";
    options.check();
    m_training.check_fitted(where);
    const Eigen::VectorXd start = options.start.template resolve<Kernel>(
        m_training.centred_data(), m_training.weights(), where);
    const ObjectiveOptions objective_options =
        detail::objective_options(options, m_options.threads);
    FitReport report;
    if (options.density_criterion == DensityCriterion::least_squares) {
      if constexpr (std::is_same<Kernel, Gaussian>::value) {
        const LeastSquaresObjective<Scalar> objective(m_training.centred_data(),
                                                      m_training.weights(), objective_options);
        report = fit_widths(objective, start, options);
      } else {
        detail::fail(where,
                     "option 'density_criterion': least_squares needs the Gaussian kernel, not ",
                     kernel_traits<Kernel>::name());
      }
    } else {
      const LikelihoodObjective<Kernel, Scalar> objective(m_training.centred_data(),
                                                          m_training.weights(), objective_options);
      report = fit_widths(objective, start, options);
    }
    m_training.set_widths(report.widths, where);
    m_bandwidth = Bandwidth::per_dimension(report.widths);
    update_normaliser();
    return report;
  }

  /// The widths in use, in kernel scale, one per dimension.
  const Eigen::VectorXd& bandwidth() const {
    m_training.check_fitted("ParzenDensity::bandwidth");
    return m_training.widths();
  }
  bool is_fitted() const { return m_training.fitted(); }
  Eigen::Index n_samples() const { return m_training.centred_data().rows(); }
  Eigen::Index n_features() const { return m_training.centred_data().cols(); }
  const Options& options() const { return m_options; }

 private:
  Vector log_density_scaled(const Matrix& queries) const {
    PoolOptions pool_options;
    pool_options.threads = m_options.threads;
    Vector log_sum = pool_log_sum<Kernel>(queries, m_training.keys(),
                                          m_training.engine_log_weights(), pool_options);
    log_sum.array() += m_training.engine_log_sum_offset();  // -inf (unreached) stays -inf
    m_training.template complete_unreached<Kernel>(queries, log_sum, Matrix(), Unreached::nan,
                                                   false, nullptr);
    return (log_sum.array() + m_log_normaliser).matrix();
  }

  void update_normaliser() {
    const Eigen::VectorXd& widths = m_training.widths();
    m_log_normaliser =
        static_cast<Scalar>(kernel_traits<Kernel>::log_normaliser(static_cast<int>(widths.size())) -
                            widths.array().log().sum());
  }

  Bandwidth m_bandwidth;                   // as given: fixed widths or a rule
  Options m_options;                       // threads
  detail::TrainingSet<Scalar> m_training;  // data, scaled keys, widths, weights
  Scalar m_log_normaliser = 0;             // log c_d - sum_j log h_j
};

}  // namespace nadaraya

#endif  // NADARAYA_PARZEN_DENSITY_HPP
