#ifndef NADARAYA_OBJECTIVES_HPP
#define NADARAYA_OBJECTIVES_HPP

#include "least_squares_objective.hpp"
#include "likelihood_objective.hpp"
#include "log_loss_objective.hpp"
#include "objective_base.hpp"
#include "squared_error_objective.hpp"

namespace nadaraya {

/// \file objectives.hpp
/// Cross-validation objectives for the kernel widths, each with its exact gradient, computed in
/// one O(n m d) pass over the pairs with an accumulator of this header: no n x n matrix is ever
/// formed. The pass runs on the engine's driver (detail/driver.hpp) with the objectives' block
/// accumulator (objective_base.hpp): one rescale and one vectorised exponential per block of keys.
/// In one dimension the keys are taken along the sorted line (sorted once, when the objective is
/// built), and with the Gaussian the squared-error and likelihood objectives start each point from
/// its nearest neighbours' weight and skip the blocks of keys whose weights all flush to 0 against
/// it: the same sums, most of the pairs never formed at narrow widths.
///
/// **Parameters.** The widths are parameterised as h_j = exp(theta_j), so any real theta is a
/// valid bandwidth and a gradient step changes widths by a factor. `theta` has one entry per input
/// column (per-dimension widths) or a single entry shared by all columns (`per_dimension = false`).
///
/// **Every objective is a weighted sum over the training points**,
/// \f$ L(\theta) = \sum_i p_i \ell_i(\theta) \f$ with p_i = w_i / sum w (1/n without weights),
/// where \f$\ell_i\f$ pools point i against all the other points (leave-one-out) or, with
/// `leave_one_out = false`, against all points including itself (the naive, in-sample objective,
/// minimised as h -> 0; offered to show why leave-one-out is needed). A mini-batch B of points
/// gives the unbiased estimate \f$ (n / |B|) \sum_{i \in B} p_i \ell_i \f$ that SGD steps on.
///
/// **Gradients.** With u_j = (x_ij - x_kj) / h_j and r2 = sum_j u_j^2, the log-weight of the pair
/// (i, k) is log p_k + log k(r2), and
/// \f[ \frac{\partial \log k(r^2)}{\partial \theta_j} = -2 u_j^2 \, \frac{d \log k}{d r^2}(r^2).
/// \f] Every objective below is a function of softmax means of this quantity, accumulated with a
/// running maximum (SoftmaxGradientAccumulator) exactly as the prediction pass accumulates values.
///
/// **Kernels.** Fitting needs the kernel's `dlog_profile` (d log k / d r2); a kernel without it
/// does not compile here. Two special points:
/// - r2 = 0. For the Laplacian and Triangular kernels d log k / d r2 is infinite at 0, but the
///   product u_j^2 d log k / d r2 tends to 0 (u_j^2 <= r2, and r2 dlog_profile(r2) -> 0 for every
///   profile with finite, non-zero k(0)). A pair at r2 = 0 (duplicate points) contributes exactly 0
///   and a pair with u_j = 0 contributes 0 to theta_j: no NaN appears.
/// - The edge of a compact support (r2 = 1). The profiles of Epanechnikov, Triangular and Cosine
///   have a kink there (the slope is finite inside, zero outside), so the objective is continuous
///   but its gradient jumps when a pair crosses the edge; Biweight and Triweight are continuously
///   differentiable; Uniform is piecewise constant, its gradient is zero wherever it exists, and a
///   fit with it stays where it starts. Pairs at or beyond the edge have zero weight and contribute
///   zero (the one-sided derivative from outside).
///
/// **Threading.** The pass is parallel over the points of the batch; each point's term is computed
/// in a fixed key order and the terms are summed in batch order, so values and gradients are
/// bit-identical for any number of threads.
///
/// \code
/// SquaredErrorObjective<Gaussian> objective(X, Y);      // leave-one-out, per-dimension
/// Eigen::VectorXd theta = Eigen::VectorXd::Constant(X.cols(), std::log(0.3)), gradient;
/// double loss = objective.value_and_gradient(theta, gradient);
/// \endcode
}  // namespace nadaraya

#endif  // NADARAYA_OBJECTIVES_HPP
