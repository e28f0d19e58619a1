#ifndef NADARAYA_SQUARED_ERROR_OBJECTIVE_HPP
#define NADARAYA_SQUARED_ERROR_OBJECTIVE_HPP

#include <Eigen/Core>
#include <cmath>
#include <cstddef>  // std::size_t
#include <limits>
#include <type_traits>
#include <vector>

#include "objective_base.hpp"

namespace nadaraya {

/// Nadaraya–Watson regression: half the mean squared leave-one-out residual,
/// \f[ L(h) = \sum_i p_i \tfrac12 \| y_i - f_{-i}(x_i) \|^2 \f]
/// (p_i = 1/n without weights), where f_{-i} pools every training point but i. statsmodels'
/// `KernelReg.cv_loo` (local constant, unweighted) is 2 L.
///
/// A point that no other point reaches (compact kernels; or any kernel at widths so far below the
/// data's spacing that every squared distance overflows) is predicted by its nearest points in
/// scaled distance (Unreached::nearest_neighbour): the limit as the last key leaves the support,
/// so L stays continuous; its gradient there is zero.
///
/// \tparam Kernel  a kernel with `dlog_profile`
/// \tparam Scalar_ float or double (the pass's precision; theta, values and gradients are double)
template <class Kernel, class Scalar_ = double>
class SquaredErrorObjective
    : public detail::ObjectiveBase<SquaredErrorObjective<Kernel, Scalar_>, Scalar_> {
  using Base = detail::ObjectiveBase<SquaredErrorObjective<Kernel, Scalar_>, Scalar_>;
  friend Base;
  static_assert(detail::require_differentiable<Kernel>::value, "instantiates the check");

 public:
  using Scalar = Scalar_;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  static constexpr const char* name = "SquaredErrorObjective";

  /// \param X       inputs, n x d
  /// \param Y       outputs, n x k (a vector is one output)
  /// \param weights sample weights (n, non-negative) or empty for equal weights
  /// \param options leave-one-out, per-dimension, threads
  template <class XDerived, class YDerived>
  SquaredErrorObjective(const Eigen::MatrixBase<XDerived>& X, const Eigen::MatrixBase<YDerived>& Y,
                        const Eigen::VectorXd& weights = Eigen::VectorXd(),
                        const ObjectiveOptions& options = {})
      : Base(X, weights, options, "SquaredErrorObjective") {
    static_assert(std::is_same<typename YDerived::Scalar, Scalar>::value,
                  "Y's scalar type must be the objective's Scalar");
    const char* where = "SquaredErrorObjective";
    detail::check_not_empty(Y, "Y", where);
    detail::check_rows(Y, X.rows(), "Y", where, "'X'");
    detail::check_finite(Y, "Y", where);
    m_outputs = Y;
    m_block_outputs = Matrix::Zero(detail::padded_key_count<Scalar>(Y.rows()), Y.cols());
    for (Eigen::Index p = 0; p < Y.rows(); ++p)  // in the pass's key order
      m_block_outputs.row(p) = m_outputs.row(this->m_data.key_order().row(p));
  }

  /// The outputs, n x k.
  const Matrix& outputs() const { return m_outputs; }

 private:
  struct Term {
    using Scalar = Scalar_;
    struct State {
      SoftmaxGradientAccumulator<Scalar> moments;
      Eigen::RowVectorXd nearest;  // the nearest keys' mean output if unreached, or empty
    };
    const SquaredErrorObjective& objective;
    Eigen::Index parameters;  // entries of the gradient; 0: the value only

    State start() const {
      const Eigen::Index k = objective.m_outputs.cols();
      return State{SoftmaxGradientAccumulator<Scalar>(k, parameters), Eigen::RowVectorXd()};
    }
    void reset(State& state) const {
      state.moments.reset();
      state.nearest.resize(0);
    }
    void add_block(State& state, const PairBlock<Scalar>& block,
                   const BlockGradient<Scalar>& gradient, Scalar* scratch) const {
      with_values(block.begin, [&](const Scalar* const* values) {
        state.moments.add_block(block, block.log_weight, block.max, values, gradient, scratch);
        return true;
      });
    }
    bool add_block_below(State& state, const PairBlock<Scalar>& block, Scalar slope,
                         const BlockGradient<Scalar>& gradient) const {
      return with_values(block.begin, [&](const Scalar* const* values) {
        return state.moments.add_block_below(block, slope, values, gradient);
      });
    }
    // body(values) with the value columns at key `begin` (in the pass's key order), on the stack
    // for up to eight columns: the states are made at every evaluation, and stay small.
    template <class Body>
    bool with_values(Eigen::Index begin, Body&& body) const {
      constexpr Eigen::Index few = 8;
      const Matrix& outputs = objective.m_block_outputs;
      const Scalar* local[few];
      std::vector<const Scalar*> many(
          static_cast<std::size_t>(outputs.cols() > few ? outputs.cols() : 0));
      const Scalar** values = outputs.cols() > few ? many.data() : local;
      for (Eigen::Index c = 0; c < outputs.cols(); ++c)
        values[c] = outputs.data() + c * outputs.rows() + begin;
      return body(values);
    }
    void seed(State& state, Scalar max) const { state.moments.seed(max); }
    void merge(State& state, const State& shard) const { state.moments.merge(shard.moments); }
    bool reached(const State& state) const { return !state.moments.empty(); }
    void add_nearest(State& state, const std::vector<Eigen::Index>& keys,
                     const std::vector<double>& shares) const {
      state.nearest = detail::nearest_mean(keys, shares, objective.m_outputs);
    }
    void finish(Eigen::Index point, const State& state, double& loss, double* gradient) const {
      const Eigen::Index k = objective.m_outputs.cols();
      for (Eigen::Index j = 0; j < parameters; ++j) gradient[j] = 0;
      if (state.moments.empty()) {
        loss = std::numeric_limits<double>::quiet_NaN();  // no other point at all: undefined
        if (state.nearest.size() == 0) return;
        loss = 0;
        for (Eigen::Index c = 0; c < k; ++c) {
          const double residual =
              static_cast<double>(objective.m_outputs(point, c)) - state.nearest(c);
          loss += 0.5 * residual * residual;
        }
        return;
      }
      // f = v / s;  d f / d theta_j = C_j / s - (G_j / s) f;  d loss / d theta_j = -(y - f) . df_j
      const double sum = static_cast<double>(state.moments.scaled_sum());
      loss = 0;
      for (Eigen::Index c = 0; c < k; ++c) {
        const double prediction = static_cast<double>(state.moments.scaled_value(c)) / sum;
        const double residual = static_cast<double>(objective.m_outputs(point, c)) - prediction;
        loss += 0.5 * residual * residual;
        for (Eigen::Index j = 0; j < parameters; ++j) {
          const double slope =
              static_cast<double>(state.moments.scaled_cross(j, c)) / sum -
              static_cast<double>(state.moments.scaled_gradient(j)) / sum * prediction;
          gradient[j] -= residual * slope;
        }
      }
    }
  };

  double evaluate(const Eigen::VectorXd& theta, const std::vector<Eigen::Index>& rows,
                  Eigen::VectorXd* gradient, const char* where) const {
    const Term term{*this, gradient != nullptr ? this->parameters() : 0};
    return detail::sum_over_points<Kernel>(this->m_data, theta, rows, term, gradient, where);
  }

  Matrix m_outputs;        // Y, n x k
  Matrix m_block_outputs;  // Y in the pass's key order, padded with zero rows to whole blocks
};

}  // namespace nadaraya

#endif  // NADARAYA_SQUARED_ERROR_OBJECTIVE_HPP
