#ifndef NADARAYA_LIKELIHOOD_OBJECTIVE_HPP
#define NADARAYA_LIKELIHOOD_OBJECTIVE_HPP

#include <Eigen/Core>
#include <algorithm>  // std::sort, std::unique, std::lower_bound, std::max
#include <cmath>
#include <cstddef>  // std::size_t
#include <limits>
#include <type_traits>
#include <vector>

#include "objective_base.hpp"

namespace nadaraya {

/// Parzen density, likelihood cross-validation: the mean negative leave-one-out log density,
/// \f[ L(h) = -\sum_i p_i \log \hat p_{-i}(x_i), \qquad
///     \hat p_{-i}(x) = \frac{c_d}{h_1 \cdots h_d} \sum_{k \ne i} \frac{p_k}{1 - p_i}
///     k(\|(x - x_k)/h\|^2) \f]
/// (ParzenDensity::leave_one_out_log_density). For n equal weights, statsmodels'
/// `KDEMultivariate.loo_likelihood(h, np.log)` (what its cv_ml minimises) is n L - n log(n - 1).
///
/// A point that no other point reaches (compact kernels: h below its distance to its nearest
/// neighbour) has density 0 and makes L infinite; its term's gradient is taken as zero. With
/// `leave_one_out = false` each point's own kernel is included and L -> -infinity as h -> 0.
template <class Kernel, class Scalar_ = double>
class LikelihoodObjective
    : public detail::ObjectiveBase<LikelihoodObjective<Kernel, Scalar_>, Scalar_> {
  using Base = detail::ObjectiveBase<LikelihoodObjective<Kernel, Scalar_>, Scalar_>;
  friend Base;
  static_assert(detail::require_differentiable<Kernel>::value, "instantiates the check");
  static_assert(
      kernel_traits<Kernel>::is_normalisable,
      "likelihood cross-validation needs a kernel whose profile integrates (not Constant)");

 public:
  using Scalar = Scalar_;
  static constexpr const char* name = "LikelihoodObjective";

  /// \param X       the sample, n x d
  /// \param weights sample weights (n, non-negative) or empty for equal weights
  /// \param options leave-one-out, per-dimension, threads
  template <class XDerived>
  explicit LikelihoodObjective(const Eigen::MatrixBase<XDerived>& X,
                               const Eigen::VectorXd& weights = Eigen::VectorXd(),
                               const ObjectiveOptions& options = {})
      : Base(X, weights, options, "LikelihoodObjective"),
        m_log_normaliser(kernel_traits<Kernel>::log_normaliser(static_cast<int>(X.cols()))) {}

 private:
  struct Term {
    using Scalar = Scalar_;
    using State = SoftmaxGradientAccumulator<Scalar>;
    const LikelihoodObjective& objective;
    Eigen::Index parameters;  // entries of the gradient; 0: the value only
    double log_normaliser;    // log c_d - sum_j log h_j

    State start() const { return State(0, parameters); }
    void reset(State& state) const { state.reset(); }
    void add_block(State& state, const PairBlock<Scalar>& block,
                   const BlockGradient<Scalar>& gradient, Scalar* scratch) const {
      state.add_block(block, block.log_weight, block.max, nullptr, gradient, scratch);
    }
    bool add_block_below(State& state, const PairBlock<Scalar>& block, Scalar slope,
                         const BlockGradient<Scalar>& gradient) const {
      return state.add_block_below(block, slope, nullptr, gradient);
    }
    void seed(State& state, Scalar max) const { state.seed(max); }
    void merge(State& state, const State& shard) const { state.merge(shard); }
    bool reached(const State& /*state*/) const { return true; }  // no nearest-key fallback
    void add_nearest(State& /*state*/, const std::vector<Eigen::Index>& /*keys*/,
                     const std::vector<double>& /*shares*/) const {}
    void finish(Eigen::Index point, const State& state, double& loss, double* gradient) const {
      const double slope = objective.m_data.log_width_product_slope();
      if (state.empty()) {
        loss = std::numeric_limits<double>::infinity();
        for (Eigen::Index j = 0; j < parameters; ++j) gradient[j] = 0;
        return;
      }
      const double sum = static_cast<double>(state.scaled_sum());
      // The other points hold 1 - p_i of the mass.
      const double rest =
          objective.options().leave_one_out ? std::log1p(-objective.m_data.shares()(point)) : 0.0;
      loss = -(log_normaliser + static_cast<double>(state.max_log_weight()) + std::log(sum) - rest);
      for (Eigen::Index j = 0; j < parameters; ++j) {
        gradient[j] = slope - static_cast<double>(state.scaled_gradient(j)) / sum;
      }
    }
  };

  double evaluate(const Eigen::VectorXd& theta, const std::vector<Eigen::Index>& rows,
                  Eigen::VectorXd* gradient, const char* where) const {
    this->m_data.widths(theta, where);  // checks theta before it is used below
    const Term term{*this, gradient != nullptr ? this->parameters() : 0,
                    m_log_normaliser - this->m_data.log_width_product(theta)};
    return detail::sum_over_points<Kernel>(this->m_data, theta, rows, term, gradient, where);
  }

  double m_log_normaliser;  // log c_d for the unit-width kernel
};

}  // namespace nadaraya

#endif  // NADARAYA_LIKELIHOOD_OBJECTIVE_HPP
