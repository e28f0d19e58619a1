#ifndef NADARAYA_LOG_LOSS_OBJECTIVE_HPP
#define NADARAYA_LOG_LOSS_OBJECTIVE_HPP

#include <Eigen/Core>
#include <algorithm>  // std::max
#include <cmath>
#include <cstddef>  // std::size_t
#include <limits>
#include <type_traits>
#include <vector>

#include "detail/labels.hpp"  // encode_labels
#include "objective_base.hpp"

namespace nadaraya {

/// Nadaraya–Watson classification: the mean leave-one-out log-loss (cross-entropy) of
/// predict_proba,
/// \f[ L(h) = -\sum_i p_i \log \max(P_{-i}(c_i \mid x_i), \epsilon), \qquad
///     P_{-i}(c \mid x) = \frac{\sum_{k \ne i, c_k = c} p_k k_k(x)}{\sum_{k \ne i} p_k k_k(x)}, \f]
/// with probabilities clipped at epsilon = the machine epsilon of Scalar, as scikit-learn's
/// log_loss clips them (a clipped term has zero gradient). Each class keeps its own running-max
/// state, so log P is exact even when h is so small that the own class's share underflows.
/// A point that no other point reaches (compact kernels; any kernel once every squared distance
/// overflows, at widths far below the data's spacing) takes its nearest points' class shares.
template <class Kernel, class Scalar_ = double>
class LogLossObjective : public detail::ObjectiveBase<LogLossObjective<Kernel, Scalar_>, Scalar_> {
  using Base = detail::ObjectiveBase<LogLossObjective<Kernel, Scalar_>, Scalar_>;
  friend Base;
  static_assert(detail::require_differentiable<Kernel>::value, "instantiates the check");

 public:
  using Scalar = Scalar_;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  static constexpr const char* name = "LogLossObjective";

  /// \param X       inputs, n x d
  /// \param labels  integer class labels (n, any values, at least two classes)
  /// \param weights sample weights (n, non-negative) or empty for equal weights
  /// \param options leave-one-out, per-dimension, threads
  template <class XDerived, class LabelDerived>
  LogLossObjective(const Eigen::MatrixBase<XDerived>& X,
                   const Eigen::MatrixBase<LabelDerived>& labels,
                   const Eigen::VectorXd& weights = Eigen::VectorXd(),
                   const ObjectiveOptions& options = {})
      : Base(X, weights, options, "LogLossObjective") {
    detail::LabelCodes<long long> encoded =
        detail::encode_labels<long long>(labels, X.rows(), "LogLossObjective");
    m_classes = static_cast<Eigen::Index>(encoded.classes.size());
    m_codes = std::move(encoded.codes);
    m_one_hot = Matrix::Zero(labels.rows(), m_classes);
    for (Eigen::Index i = 0; i < labels.rows(); ++i)
      m_one_hot(i, m_codes[static_cast<std::size_t>(i)]) = Scalar(1);
    m_block_codes =
        Matrix::Constant(detail::padded_key_count<Scalar>(labels.rows()), 1, Scalar(-1));
    for (Eigen::Index p = 0; p < labels.rows(); ++p) {  // in the pass's key order
      const Eigen::Index row = this->m_data.key_order().row(p);
      m_block_codes(p, 0) = static_cast<Scalar>(m_codes[static_cast<std::size_t>(row)]);
    }
  }

  Eigen::Index classes() const { return m_classes; }

 private:
  struct Term {
    using Scalar = Scalar_;
    struct State {
      std::vector<SoftmaxGradientAccumulator<Scalar>> per_class;  // one running max per class
      Eigen::RowVectorXd nearest;  // the nearest keys' class shares if unreached, or empty
    };
    const LogLossObjective& objective;
    Eigen::Index parameters;  // entries of the gradient; 0: the value only

    State start() const {
      return State{std::vector<SoftmaxGradientAccumulator<Scalar>>(
                       static_cast<std::size_t>(objective.m_classes),
                       SoftmaxGradientAccumulator<Scalar>(0, parameters)),
                   Eigen::RowVectorXd()};
    }
    void reset(State& state) const {
      for (auto& part : state.per_class) part.reset();
      state.nearest.resize(0);
    }
    void add_block(State& state, const PairBlock<Scalar>& block,
                   const BlockGradient<Scalar>& gradient, Scalar* scratch) const {
      // One masked pass per class: each class keeps its own running maximum. (The factors of the
      // other classes' keys meet weights of exactly 0.)
      const Eigen::Index count = block.count;
      const Scalar* codes = objective.m_block_codes.data() + block.begin;
      Scalar* logs = scratch + 2 * count;
      for (std::size_t c = 0; c < state.per_class.size(); ++c) {
        const auto code = static_cast<Scalar>(c);
        for (Eigen::Index k = 0; k < count; ++k) {
          logs[k] =
              codes[k] == code ? block.log_weight[k] : -std::numeric_limits<Scalar>::infinity();
        }
        const Scalar max = detail::lane_max_of(logs, count, scratch + 3 * count);
        state.per_class[c].add_block(block, logs, max, nullptr, gradient, scratch);
      }
    }
    void merge(State& state, const State& shard) const {
      for (std::size_t c = 0; c < state.per_class.size(); ++c)
        state.per_class[c].merge(shard.per_class[c]);
    }
    bool reached(const State& state) const {
      for (const auto& part : state.per_class) {
        if (!part.empty()) return true;
      }
      return false;
    }
    void add_nearest(State& state, const std::vector<Eigen::Index>& keys,
                     const std::vector<double>& shares) const {
      state.nearest = detail::nearest_mean(keys, shares, objective.m_one_hot);
    }
    void finish(Eigen::Index point, const State& state, double& loss, double* gradient) const {
      const double floor = static_cast<double>(std::numeric_limits<Scalar>::epsilon());
      for (Eigen::Index j = 0; j < parameters; ++j) gradient[j] = 0;
      const Eigen::Index own = objective.m_codes[static_cast<std::size_t>(point)];
      // All classes together, in log space: log S = M + log sum_c s_c exp(M_c - M).
      double max = -std::numeric_limits<double>::infinity();
      for (const auto& part : state.per_class) {
        if (!part.empty()) max = std::max(max, static_cast<double>(part.max_log_weight()));
      }
      if (!(max > -std::numeric_limits<double>::infinity())) {
        loss = std::numeric_limits<double>::quiet_NaN();  // no other point at all: undefined
        if (state.nearest.size() == 0) return;
        loss = -std::log(std::max(state.nearest(own), floor));
        return;
      }
      double sum = 0;
      Eigen::VectorXd gradient_sum = Eigen::VectorXd::Zero(parameters);
      for (const auto& part : state.per_class) {
        if (part.empty()) continue;
        const double scale = std::exp(static_cast<double>(part.max_log_weight()) - max);
        sum += scale * static_cast<double>(part.scaled_sum());
        for (Eigen::Index j = 0; j < parameters; ++j) {
          gradient_sum(j) += scale * static_cast<double>(part.scaled_gradient(j));
        }
      }
      const auto& mine = state.per_class[static_cast<std::size_t>(own)];
      const double log_probability =
          mine.empty() ? -std::numeric_limits<double>::infinity()
                       : static_cast<double>(mine.max_log_weight()) +
                             std::log(static_cast<double>(mine.scaled_sum())) - max - std::log(sum);
      if (!(log_probability > std::log(floor))) {
        loss = -std::log(floor);  // clipped: flat, zero gradient
        return;
      }
      loss = -log_probability;
      // d log P / d theta_j = E_own[g_j] - E_all[g_j]
      const double own_sum = static_cast<double>(mine.scaled_sum());
      for (Eigen::Index j = 0; j < parameters; ++j) {
        gradient[j] =
            -(static_cast<double>(mine.scaled_gradient(j)) / own_sum - gradient_sum(j) / sum);
      }
    }
  };

  double evaluate(const Eigen::VectorXd& theta, const std::vector<Eigen::Index>& rows,
                  Eigen::VectorXd* gradient, const char* where) const {
    const Term term{*this, gradient != nullptr ? this->parameters() : 0};
    return detail::sum_over_points<Kernel>(this->m_data, theta, rows, term, gradient, where);
  }

  Eigen::Index m_classes = 0;         // number of distinct labels
  std::vector<Eigen::Index> m_codes;  // class index of each point (labels in increasing order)
  Matrix m_one_hot;                   // n x classes indicator of each point's class
  Matrix m_block_codes;  // class index of each point as a Scalar, in the pass's key order,
                         // padded with -1
};

}  // namespace nadaraya

#endif  // NADARAYA_LOG_LOSS_OBJECTIVE_HPP
