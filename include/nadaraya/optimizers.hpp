#ifndef NADARAYA_OPTIMIZERS_HPP
#define NADARAYA_OPTIMIZERS_HPP

#include <Eigen/Core>
#include <algorithm>  // std::min, std::max
#include <cmath>      // std::isnan
#include <cstddef>    // std::size_t
#include <random>     // std::mt19937_64: its output sequence is fixed by the standard
#include <vector>

#include "detail/check.hpp"
#include "detail/shuffle.hpp"  // the seeded mini-batch order
#include "sgd_options.hpp"
#include "update_policies.hpp"

namespace nadaraya {

/// \file optimizers.hpp
/// Mini-batch stochastic gradient descent over the points of a separable objective
/// \f$ L(\theta) = \sum_i p_i \ell_i(\theta) \f$ (objectives.hpp), with plain, momentum or Adam
/// updates, a learning-rate schedule, a seeded generator, and stopping on a tolerance, an epoch or
/// step budget, or a callback. Modelled on ensmallen's SGD: the update rule is a small policy
/// class with one `update` member (update_policies.hpp), chosen here at run time from
/// SgdOptions::update (or at compile time with `sgd_minimise<Policy>`).
///
/// **Reproducibility.** Mini-batches are drawn by a Fisher–Yates shuffle driven by
/// std::mt19937_64 (whose output the standard fixes) with our own unbiased bounded draws, and the
/// objectives are bit-identical for any number of threads: the same seed gives the same result
/// whatever the thread count, compiler or standard library.

/// Minimises a separable objective by mini-batch SGD with the update rule `UpdatePolicy`.
///
/// \tparam UpdatePolicy VanillaUpdate, MomentumUpdate, AdamUpdate or one of yours (contract in
///                      update_policies.hpp)
/// \tparam Function     an objective with
/// \code
///   Eigen::Index samples() const;      // n, the points batches are drawn from
///   Eigen::Index parameters() const;   // entries of theta
///   double batch_value_and_gradient(const Eigen::VectorXd& theta,
///                                   const std::vector<Eigen::Index>& rows,
///                                   Eigen::VectorXd& gradient) const;  // unbiased estimates
///   double value(const Eigen::VectorXd& theta) const;                  // for exact_objective
/// \endcode
/// \param function the objective
/// \param start    the initial theta
/// \param options  settings (validated here)
/// \param lower    optional lower bounds on theta (empty: none); each step is clamped into them
/// \param upper    optional upper bounds on theta (empty: none)
/// \return the final theta, the objective per epoch, the counts and why it stopped
template <class UpdatePolicy, class Function>
SgdReport sgd_minimise(const Function& function, const Eigen::VectorXd& start,
                       const SgdOptions& options, const Eigen::VectorXd& lower = Eigen::VectorXd(),
                       const Eigen::VectorXd& upper = Eigen::VectorXd()) {
  const char* where = "sgd_minimise";
  options.check();
  const Eigen::Index p = function.parameters(), n = function.samples();
  if (start.size() != p) {
    detail::fail(where, "argument 'start' has ", start.size(), " entries but the objective has ", p,
                 " parameters");
  }
  if (!start.allFinite()) detail::fail(where, "argument 'start' must be finite");
  for (const Eigen::VectorXd* bound : {&lower, &upper}) {
    if (bound->size() != 0 && bound->size() != p) {
      detail::fail(where, "argument '", bound == &lower ? "lower" : "upper", "' has ",
                   bound->size(), " entries but the objective has ", p, " parameters");
    }
  }
  auto clamp = [&](Eigen::VectorXd& theta) {
    if (lower.size() != 0) theta = theta.cwiseMax(lower);
    if (upper.size() != 0) theta = theta.cwiseMin(upper);
  };

  SgdReport report;
  Eigen::VectorXd theta = start;  // the iterate the updates move
  clamp(theta);
  Eigen::VectorXd reported = theta;  // the last iterate, or the last epoch's mean iterate
  UpdatePolicy policy(options, p);
  std::mt19937_64 engine(options.seed);
  std::vector<Eigen::Index> order(static_cast<std::size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  const std::vector<Eigen::Index> every_point = order;
  std::size_t cursor = order.size();  // reshuffle before the first batch
  // An epoch is about `epoch_size` point evaluations in whole steps: part of a pass for large n,
  // several passes for small n, so that every epoch averages, and tests convergence over, several
  // steps. A batch that covers n is the full batch: every point exactly once.
  const Eigen::Index epoch_points = options.epoch_size == 0 ? n : options.epoch_size;
  double batch_size = static_cast<double>(options.full_batch ? n : std::min(options.batch_size, n));

  std::vector<Eigen::Index> rows;
  Eigen::VectorXd gradient(p), iterate_sum(p);
  double rate = options.rate(0);
  bool stopped = false;
  Eigen::Index quiet_epochs = 0;  // consecutive epochs within the tolerance
  for (Eigen::Index epoch = 0; epoch < options.max_epochs && !stopped; ++epoch) {
    const auto size = static_cast<Eigen::Index>(batch_size);
    const Eigen::Index steps_per_epoch =
        std::max<Eigen::Index>(1, (epoch_points + size - 1) / size);
    double total = 0;
    Eigen::Index epoch_steps = 0;
    iterate_sum.setZero();
    for (Eigen::Index step = 0; step < steps_per_epoch; ++step) {
      if (size == n) {
        rows = every_point;  // the full batch
      } else {
        rows.clear();
        for (Eigen::Index b = 0; b < size; ++b) {
          if (cursor == order.size()) {
            detail::shuffle(order, engine);
            cursor = 0;
          }
          rows.push_back(order[cursor++]);
        }
      }
      const double value = function.batch_value_and_gradient(theta, rows, gradient);
      if (std::isnan(value) || !gradient.allFinite()) {
        report.reason = StopReason::non_finite;
        stopped = true;
        break;
      }
      rate = options.rate(report.steps);
      policy.update(theta, rate, gradient);
      clamp(theta);
      ++report.steps;
      ++epoch_steps;
      iterate_sum += theta;
      total += value;
      if (options.max_steps > 0 && report.steps >= options.max_steps) {
        report.reason = StopReason::max_steps;
        stopped = true;
        break;
      }
    }
    if (epoch_steps == 0) break;  // stopped before the epoch's first step
    ++report.epochs;
    const Eigen::VectorXd previous = reported;
    reported =
        options.average ? Eigen::VectorXd(iterate_sum / static_cast<double>(epoch_steps)) : theta;
    const double objective = options.exact_objective ? function.value(reported)
                                                     : total / static_cast<double>(epoch_steps);
    report.objective.push_back(objective);
    if (options.on_epoch) {
      SgdProgress progress;
      progress.epoch = report.epochs;
      progress.steps = report.steps;
      progress.objective = objective;
      progress.learning_rate = rate;
      progress.parameters = reported;
      if (!options.on_epoch(progress)) {
        report.reason = StopReason::callback;
        break;
      }
    }
    if (stopped) break;
    quiet_epochs =
        (reported - previous).cwiseAbs().maxCoeff() <= options.tolerance ? quiet_epochs + 1 : 0;
    if (quiet_epochs >= options.patience) {
      report.reason = StopReason::converged;
      break;
    }
    report.reason = StopReason::max_epochs;  // unless a later epoch says otherwise
    batch_size = std::min(batch_size * options.batch_growth, static_cast<double>(n));
  }
  report.parameters = reported;
  return report;
}

/// Minimises with the update rule named in `options.update` (see sgd_minimise).
template <class Function>
SgdReport minimise(const Function& function, const Eigen::VectorXd& start,
                   const SgdOptions& options, const Eigen::VectorXd& lower = Eigen::VectorXd(),
                   const Eigen::VectorXd& upper = Eigen::VectorXd()) {
  options.check();
  switch (options.update) {
    case UpdateRule::sgd:
      return sgd_minimise<VanillaUpdate>(function, start, options, lower, upper);
    case UpdateRule::momentum:
      return sgd_minimise<MomentumUpdate>(function, start, options, lower, upper);
    case UpdateRule::adam:
      break;
  }
  return sgd_minimise<AdamUpdate>(function, start, options, lower, upper);
}

}  // namespace nadaraya

#endif  // NADARAYA_OPTIMIZERS_HPP
