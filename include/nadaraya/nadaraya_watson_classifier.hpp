#ifndef NADARAYA_NADARAYA_WATSON_CLASSIFIER_HPP
#define NADARAYA_NADARAYA_WATSON_CLASSIFIER_HPP

#include <Eigen/Core>
#include <limits>
#include <type_traits>
#include <vector>

#include "bandwidth.hpp"
#include "detail/check.hpp"
#include "detail/labels.hpp"  // encode_labels, label_codes
#include "training_set.hpp"
#include "fit_bandwidth.hpp"
#include "kernel.hpp"
#include "kernels.hpp"
#include "objectives.hpp"
#include "options.hpp"
#include "pool.hpp"

namespace nadaraya {

/// Nadaraya–Watson classification: the class probabilities at q are the Nadaraya–Watson pooling
/// of one-hot labels, i.e. each class's share of the kernel weight,
/// \f[ P(c \mid q) = \frac{\sum_{i: y_i = c} w_i k_i(q)}{\sum_i w_i k_i(q)}
///                 = \frac{\pi_c\, \hat p(q \mid c)}{\hat p(q)}, \f]
/// Bayes' rule with Parzen class-conditional densities and class shares pi_c as priors.
/// For two classes, decision_function is the Nadaraya–Watson regression of labels mapped to -1
/// (the smaller label) and +1 (the larger), and equals (p(q, +1) - p(q, -1)) / p(q).
///
/// \tparam Kernel  any kernel
/// \tparam Scalar_ float or double
///
/// A query no key reaches gets NaN probabilities (Unreached::nan), or the nearest keys' class
/// shares (Unreached::nearest_neighbour); predict() then returns, respectively, the class of
/// largest total training weight, or the nearest keys' majority.
template <class Kernel, class Scalar_ = double>
class NadarayaWatsonClassifier {
 public:
  using Scalar = Scalar_;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  using Labels = Eigen::VectorXi;

  explicit NadarayaWatsonClassifier(Bandwidth bandwidth = Bandwidth::silverman(),
                                    Options options = {})
      : m_bandwidth(std::move(bandwidth)), m_options(options) {}

  /// Stores inputs X (n x d) and integer class labels (n, any values, at least two classes).
  template <class XDerived, class LabelDerived>
  NadarayaWatsonClassifier& fit(const Eigen::MatrixBase<XDerived>& X,
                                const Eigen::MatrixBase<LabelDerived>& labels) {
    return fit_impl(X, labels, Eigen::VectorXd());
  }

  /// As fit(X, labels), with non-negative sample weights.
  template <class XDerived, class LabelDerived, class WeightDerived>
  NadarayaWatsonClassifier& fit(const Eigen::MatrixBase<XDerived>& X,
                                const Eigen::MatrixBase<LabelDerived>& labels,
                                const Eigen::MatrixBase<WeightDerived>& weights) {
    return fit_impl(X, labels,
                    detail::weights_vector(weights, X.rows(), "NadarayaWatsonClassifier::fit"));
  }

  /// m x classes: column c is the probability of classes()(c); rows sum to one.
  template <class Derived>
  Matrix predict_proba(const Eigen::MatrixBase<Derived>& Q) const {
    const Matrix queries = m_training.scale_queries(Q, "NadarayaWatsonClassifier::predict_proba");
    return pool_probabilities(queries, false);
  }

  /// Each training point's class probabilities from all the other points: n x classes.
  Matrix predict_proba_leave_one_out() const {
    m_training.check_fitted("NadarayaWatsonClassifier::predict_proba_leave_one_out");
    return pool_probabilities(m_training.keys(), true);
  }

  /// The most probable class label for each row of Q (ties: the smaller label).
  template <class Derived>
  Labels predict(const Eigen::MatrixBase<Derived>& Q) const {
    const Matrix probabilities = predict_proba(Q);
    Labels predicted(probabilities.rows());
    for (Eigen::Index q = 0; q < probabilities.rows(); ++q) {
      Eigen::Index best = m_majority;
      if (!std::isnan(probabilities(q, 0))) probabilities.row(q).maxCoeff(&best);
      predicted(q) = m_classes(best);
    }
    return predicted;
  }

  /// Two classes only: P(larger label | q) - P(smaller label | q), the Nadaraya–Watson estimate
  /// of labels mapped to -1 and +1. Positive means the larger label.
  template <class Derived>
  Vector decision_function(const Eigen::MatrixBase<Derived>& Q) const {
    if (m_training.fitted() && m_classes.size() != 2) {
      detail::fail("NadarayaWatsonClassifier::decision_function",
                   "needs exactly two classes, the training labels have ", m_classes.size());
    }
    const Matrix probabilities = predict_proba(Q);
    return probabilities.col(1) - probabilities.col(0);
  }

  /// Fraction of rows of Q whose predicted label equals `labels`. Labels never seen in fit()
  /// are refused.
  template <class QDerived, class LabelDerived>
  double score(const Eigen::MatrixBase<QDerived>& Q,
               const Eigen::MatrixBase<LabelDerived>& labels) const {
    const char* where = "NadarayaWatsonClassifier::score";
    m_training.check_fitted(where);
    detail::check_label_column(labels, where);
    detail::check_rows(labels, Q.rows(), "labels", where, "'Q'");
    const std::vector<Eigen::Index> codes = detail::label_codes(
        labels, m_classes.data(), static_cast<std::size_t>(m_classes.size()), where);
    const Labels predicted = predict(Q);
    double correct = 0;
    for (Eigen::Index q = 0; q < predicted.size(); ++q) {
      correct += predicted(q) == m_classes(codes[static_cast<std::size_t>(q)]) ? 1 : 0;
    }
    return correct / static_cast<double>(predicted.size());
  }

  /// The distinct training labels in increasing order; column c of predict_proba is classes()(c).
  const Labels& classes() const {
    m_training.check_fitted("NadarayaWatsonClassifier::classes");
    return m_classes;
  }

  /// Replaces the bandwidth and, once fitted, re-resolves it on the stored data. A bandwidth that
  /// cannot be applied throws InvalidArgument and changes nothing.
  void set_bandwidth(const Bandwidth& bandwidth) {
    if (m_training.fitted()) {
      m_training.template set_bandwidth<Kernel>(bandwidth,
                                                "NadarayaWatsonClassifier::set_bandwidth");
    }
    m_bandwidth = bandwidth;
  }

  /// Learns the widths by SGD on the leave-one-out log-loss of predict_proba (LogLossObjective):
  /// by default from Silverman's rule, one width per input column. Afterwards predictions use the
  /// learned widths, bandwidth() returns them, and they become the estimator's fixed bandwidth
  /// (a later fit() keeps them). The kernel must provide `dlog_profile`.
  /// \param options the objective (leave-one-out or naive), start, widths and optimiser settings
  /// \return the learned widths, the objective per epoch, the steps and why the fit stopped
  /// \throws NotFitted before fit(); InvalidArgument for bad options.
  FitReport fit_bandwidth(const FitOptions& options = {}) {
    const char* where = "NadarayaWatsonClassifier::fit_bandwidth";
    options.check();
    m_training.check_fitted(where);
    const Eigen::VectorXd start = options.start.template resolve<Kernel>(
        m_training.centred_data(), m_training.weights(), where);
    Labels codes(m_one_hot.rows());  // class index of each point, from the one-hot rows
    for (Eigen::Index i = 0; i < m_one_hot.rows(); ++i) {
      Eigen::Index code = 0;
      m_one_hot.row(i).maxCoeff(&code);
      codes(i) = static_cast<int>(code);
    }
    const LogLossObjective<Kernel, Scalar> objective(
        m_training.centred_data(), codes, m_training.weights(),
        detail::objective_options(options, m_options.threads));
    FitReport report = fit_widths(objective, start, options);
    m_training.set_widths(report.widths, where);
    m_bandwidth = Bandwidth::per_dimension(report.widths);
    return report;
  }

  /// The widths in use, in kernel scale, one per dimension.
  const Eigen::VectorXd& bandwidth() const {
    m_training.check_fitted("NadarayaWatsonClassifier::bandwidth");
    return m_training.widths();
  }
  bool is_fitted() const { return m_training.fitted(); }
  Eigen::Index n_samples() const { return m_training.centred_data().rows(); }
  Eigen::Index n_features() const { return m_training.centred_data().cols(); }
  Eigen::Index n_classes() const { return m_classes.size(); }
  const Options& options() const { return m_options; }

 private:
  template <class XDerived, class LabelDerived>
  NadarayaWatsonClassifier& fit_impl(const Eigen::MatrixBase<XDerived>& X,
                                     const Eigen::MatrixBase<LabelDerived>& labels,
                                     const Eigen::VectorXd& weights) {
    const char* where = "NadarayaWatsonClassifier::fit";
    const detail::LabelCodes<int> encoded = detail::encode_labels<int>(labels, X.rows(), where);
    m_training.template fit<Kernel>(X, weights, m_bandwidth, where);
    m_classes = Eigen::Map<const Labels>(encoded.classes.data(),
                                         static_cast<Eigen::Index>(encoded.classes.size()));
    const std::vector<Eigen::Index>& codes = encoded.codes;
    m_one_hot = Matrix::Zero(labels.rows(), m_classes.size());
    Eigen::VectorXd class_weight = Eigen::VectorXd::Zero(m_classes.size());
    for (Eigen::Index i = 0; i < labels.rows(); ++i) {
      const Eigen::Index c = codes[static_cast<std::size_t>(i)];
      m_one_hot(i, c) = Scalar(1);
      class_weight(c) += m_training.sample_weight(i);  // relative weights: no overflow
    }
    class_weight.maxCoeff(&m_majority);
    return *this;
  }

  Matrix pool_probabilities(const Matrix& queries, bool leave_one_out) const {
    PoolOptions pool_options;
    pool_options.leave_one_out = leave_one_out;
    pool_options.threads = m_options.threads;
    PoolResult<Scalar> pooled = pool<Kernel>(queries, m_training.keys(), m_one_hot,
                                             m_training.engine_log_weights(), pool_options);
    m_training.template complete_unreached<Kernel>(
        queries, pooled.log_sum, m_one_hot, m_options.unreached, leave_one_out, &pooled.mean);
    return std::move(pooled.mean);
  }

  Bandwidth m_bandwidth;                   // as given: fixed widths or a rule
  Options m_options;                       // unreached queries, threads
  detail::TrainingSet<Scalar> m_training;  // inputs, scaled keys, widths, weights
  Labels m_classes;                        // distinct labels, increasing
  Matrix m_one_hot;                        // n x classes indicator of each sample's class
  Eigen::Index m_majority = 0;             // class of largest total weight
};

}  // namespace nadaraya

#endif  // NADARAYA_NADARAYA_WATSON_CLASSIFIER_HPP
