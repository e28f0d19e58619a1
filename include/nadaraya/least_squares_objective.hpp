#ifndef NADARAYA_LEAST_SQUARES_OBJECTIVE_HPP
#define NADARAYA_LEAST_SQUARES_OBJECTIVE_HPP

#include <Eigen/Core>
#include <algorithm>  // std::sort, std::unique, std::lower_bound, std::max
#include <cmath>
#include <cstddef>  // std::size_t
#include <limits>
#include <type_traits>
#include <vector>

#include "objective_base.hpp"
#include "kernels.hpp"  // Gaussian

namespace nadaraya {

/// Parzen density, least-squares cross-validation for the Gaussian kernel (Rudemo 1982, Bowman
/// 1984): the integrated squared error up to a constant,
/// \f[ L(h) = \int \hat p^2 - 2 \sum_i p_i \hat p_{-i}(x_i), \qquad
///     \int \hat p^2 = \sum_{i,k} p_i p_k (K_h * K_h)(x_i - x_k), \f]
/// where the self-convolution of a Gaussian of widths h is a Gaussian of widths sqrt(2) h: in
/// scaled units its log-profile is -r2/4 with the normaliser divided by 2^(d/2). The i = k terms of
/// the first sum (p_i^2 c_d / prod(sqrt(2) h)) are added in closed form; with
/// `leave_one_out = false` both sums include the pair (i, i) and L -> -infinity as h -> 0.
/// Both sums ride on the same pass: two running-max states per query.
template <class Scalar_ = double>
class LeastSquaresObjective
    : public detail::ObjectiveBase<LeastSquaresObjective<Scalar_>, Scalar_> {
  using Base = detail::ObjectiveBase<LeastSquaresObjective<Scalar_>, Scalar_>;
  friend Base;

 public:
  using Scalar = Scalar_;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  static constexpr const char* name = "LeastSquaresObjective";

  /// \param X       the sample, n x d
  /// \param weights sample weights (n, non-negative) or empty for equal weights
  /// \param options leave-one-out, per-dimension, threads
  template <class XDerived>
  explicit LeastSquaresObjective(const Eigen::MatrixBase<XDerived>& X,
                                 const Eigen::VectorXd& weights = Eigen::VectorXd(),
                                 const ObjectiveOptions& options = {})
      : Base(X, weights, options, "LeastSquaresObjective") {}

 private:
  struct Term {
    using Scalar = Scalar_;
    struct State {
      SoftmaxGradientAccumulator<Scalar> convolution;  // sum_k p_k exp(-r2/4): the K*K pairs
      SoftmaxGradientAccumulator<Scalar> held_out;     // sum_k p_k exp(-r2/2): the LOO density
      Vector half_gradient;                            // scratch: the convolution's derivative
    };
    const LeastSquaresObjective& objective;
    Eigen::Index parameters;  // entries of the gradient; 0: the value only
    double log_normaliser;    // log of c_d / prod h (the Gaussian of widths h)

    State start() const {
      return State{SoftmaxGradientAccumulator<Scalar>(0, parameters),
                   SoftmaxGradientAccumulator<Scalar>(0, parameters), Vector::Zero(parameters)};
    }
    void reset(State& state) const {
      state.convolution.reset();
      state.held_out.reset();
    }
    void add_block(State& state, const PairBlock<Scalar>& block,
                   const BlockGradient<Scalar>& gradient, Scalar* scratch) const {
      NADARAYA_ASSERT(gradient.factors == nullptr);  // the Gaussian: one constant factor
      const Eigen::Index count = block.count;
      state.held_out.add_block(block, block.log_weight, block.max, nullptr, gradient, scratch);
      // The same keys with log p_k - r2/4 and half the derivative.
      Scalar* logs = scratch + 2 * count;
      for (Eigen::Index k = 0; k < count; ++k) {
        logs[k] = block.log_weight[k] > -std::numeric_limits<Scalar>::infinity()
                      ? block.key_log_weight[k] - Scalar(0.25) * block.r2[k]
                      : -std::numeric_limits<Scalar>::infinity();
      }
      const Scalar max = detail::lane_max_of(logs, count, scratch + 3 * count);
      const BlockGradient<Scalar> half{nullptr, Scalar(0.5) * gradient.factor,
                                       gradient.per_dimension};
      state.convolution.add_block(block, logs, max, nullptr, half, scratch);
    }
    void merge(State& state, const State& shard) const {
      state.convolution.merge(shard.convolution);
      state.held_out.merge(shard.held_out);
    }
    bool reached(const State& /*state*/) const { return true; }  // no nearest-key fallback
    void add_nearest(State& /*state*/, const std::vector<Eigen::Index>& /*keys*/,
                     const std::vector<double>& /*shares*/) const {}

    void finish(Eigen::Index point, const State& state, double& loss, double* gradient) const {
      const double slope = objective.m_data.log_width_product_slope();
      const double dimensions = static_cast<double>(objective.dimensions());
      const double convolution_normaliser =
          std::exp(log_normaliser - 0.5 * dimensions * std::log(2.0));
      const double share = objective.m_data.shares()(point);
      const bool leave_one_out = objective.options().leave_one_out;
      loss = 0;
      for (Eigen::Index j = 0; j < parameters; ++j) gradient[j] = 0;
      // Each part is c * exp(M) * s with d/dtheta_j = c exp(M) (G_j - slope * s).
      auto add_part = [&](const SoftmaxGradientAccumulator<Scalar>& part, double factor) {
        if (part.empty()) return;
        const double scale = factor * std::exp(static_cast<double>(part.max_log_weight()));
        const double sum = static_cast<double>(part.scaled_sum());
        loss += scale * sum;
        for (Eigen::Index j = 0; j < parameters; ++j) {
          gradient[j] += scale * (static_cast<double>(part.scaled_gradient(j)) - slope * sum);
        }
      };
      add_part(state.convolution, convolution_normaliser);
      add_part(state.held_out,
               -2.0 * std::exp(log_normaliser) / (leave_one_out ? 1.0 - share : 1.0));
      if (leave_one_out) {  // the pair (i, i) of the integral, which the pass skipped
        loss += share * convolution_normaliser;
        for (Eigen::Index j = 0; j < parameters; ++j) {
          gradient[j] -= slope * share * convolution_normaliser;
        }
      }
    }
  };

  double evaluate(const Eigen::VectorXd& theta, const std::vector<Eigen::Index>& rows,
                  Eigen::VectorXd* gradient, const char* where) const {
    this->m_data.widths(theta, where);  // checks theta before it is used below
    const Term term{*this, gradient != nullptr ? this->parameters() : 0,
                    kernel_traits<Gaussian>::log_normaliser(static_cast<int>(this->dimensions())) -
                        this->m_data.log_width_product(theta)};
    return detail::sum_over_points<Gaussian>(this->m_data, theta, rows, term, gradient, where);
  }
};

}  // namespace nadaraya

#endif  // NADARAYA_LEAST_SQUARES_OBJECTIVE_HPP
