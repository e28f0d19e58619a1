#ifndef NADARAYA_OPTIMIZERS_HPP
#define NADARAYA_OPTIMIZERS_HPP

#include <Eigen/Core>
#include <algorithm>   // std::min, std::max
#include <cmath>       // std::exp2, std::isfinite, std::sqrt, std::pow
#include <cstdint>     // std::uint64_t
#include <functional>  // std::function: the per-epoch callback
#include <limits>
#include <random>   // std::mt19937_64: its output sequence is fixed by the standard
#include <utility>  // std::swap
#include <vector>

#include "detail/check.hpp"

namespace nadaraya {

/// \file optimizers.hpp
/// Mini-batch stochastic gradient descent over the points of a separable objective
/// \f$ L(\theta) = \sum_i p_i \ell_i(\theta) \f$ (objectives.hpp), with plain, momentum or Adam
/// updates, a learning-rate schedule, a seeded generator, and stopping on a tolerance, an epoch or
/// step budget, or a callback. Modelled on ensmallen's SGD: the update rule is a small policy
/// class with one `update` member, chosen here at run time from SgdOptions::update (or at compile
/// time with `sgd_minimise<Policy>`).
///
/// **Reproducibility.** Mini-batches are drawn by a Fisher–Yates shuffle driven by
/// std::mt19937_64 (whose output the standard fixes) with our own unbiased bounded draws, and the
/// objectives are bit-identical for any number of threads: the same seed gives the same result
/// whatever the thread count, compiler or standard library.

/// How a step turns a gradient into a change of the parameters.
enum class UpdateRule {
  sgd,       ///< theta -= rate * g
  momentum,  ///< v = momentum v - rate * g;  theta += v  (heavy ball)
  adam       ///< Adam (Kingma & Ba 2015) with bias correction: steps of about `rate` per entry
};

/// How the learning rate changes with the step count t.
enum class Schedule {
  constant,     ///< rate
  exponential,  ///< rate * 2^(-t / half_life)
  inverse_time  ///< rate / (1 + t / half_life)
};

/// Why the optimiser stopped.
enum class StopReason {
  converged,   ///< theta moved by at most `tolerance` per epoch for `patience` epochs
  max_epochs,  ///< the epoch budget is spent
  max_steps,   ///< the step budget is spent
  callback,    ///< the per-epoch callback returned false
  non_finite   ///< a gradient was not finite, or a value NaN: the step was not taken, and the
               ///< parameters are the last reported ones (the epoch's mean up to that step)
};

inline const char* to_string(StopReason reason) {
  switch (reason) {
    case StopReason::converged:
      return "converged";
    case StopReason::max_epochs:
      return "max_epochs";
    case StopReason::max_steps:
      return "max_steps";
    case StopReason::callback:
      return "callback";
    case StopReason::non_finite:
      return "non_finite";
  }
  return "unknown";
}

/// What the per-epoch callback sees.
struct SgdProgress {
  Eigen::Index epoch = 0;      ///< epochs completed, from 1
  Eigen::Index steps = 0;      ///< steps taken so far
  double objective = 0;        ///< this epoch's objective (see SgdReport::objective)
  double learning_rate = 0;    ///< the rate of the last step
  Eigen::VectorXd parameters;  ///< theta after the epoch (its mean iterate with `average`)
};

/// Settings of the optimiser. Defaults suit objectives in log-width parameters, where a step of
/// 0.1 changes a width by about 10%; they were tuned on the textbook problem (n = 1000, 16 data
/// sets and seeds: every fit within 1.3% of the minimiser, about 200 steps) and on statsmodels'
/// cv_ls / cv_ml fixtures (n = 80 to 100: within 1e-4). Call check() to validate (the optimiser
/// does).
struct SgdOptions {
  UpdateRule update = UpdateRule::adam;       ///< plain, momentum or Adam
  double learning_rate = 0.1;                 ///< rate at step 0, > 0
  double momentum = 0.9;                      ///< UpdateRule::momentum: in [0, 1)
  double beta1 = 0.9;                         ///< Adam: decay of the mean gradient, in [0, 1)
  double beta2 = 0.9;                         ///< Adam: decay of the mean squared gradient, in
                                              ///< [0, 1). Shorter memory than the usual 0.999:
                                              ///< with few parameters on a flat optimum, a long
                                              ///< memory of the large early gradients shrinks
                                              ///< the late steps and the fit stalls short of it
  double epsilon = 1e-8;                      ///< Adam: added to the root mean square, > 0
  Schedule schedule = Schedule::exponential;  ///< how the rate decays with the steps
  double half_life = 40;                      ///< steps over which the rate halves, > 0. With
                                              ///< the exponential schedule a width can travel
                                              ///< at most about rate * half_life / ln 2 in log
                                              ///< units (5.8 by default: a factor 330)
  Eigen::Index batch_size = 128;              ///< points per step (each against all others), >= 1
  double batch_growth = 1;                    ///< the batch is multiplied by this after each
                                              ///< epoch (up to n), >= 1: less gradient noise
                                              ///< near the optimum (Smith et al. 2018)
  bool full_batch = false;                    ///< every step uses all points (gradient descent)
  Eigen::Index epoch_size = 1024;             ///< point evaluations per epoch, rounded up to
                                              ///< whole batches (several passes when n is
                                              ///< small), >= 0; 0: n (one pass)
  Eigen::Index max_epochs = 100;              ///< epoch budget, >= 1
  Eigen::Index max_steps = 0;                 ///< step budget, >= 0; 0: no limit
  double tolerance = 1e-3;                    ///< converged when no entry of theta (epoch mean
                                              ///< with `average`) changes by more than this from
                                              ///< one epoch to the next; >= 0 (0: never)
  Eigen::Index patience = 2;                  ///< ... for this many epochs in a row, >= 1: one
                                              ///< quiet epoch may be a turning point or luck
  bool average = true;                        ///< report (and test convergence on) the mean
                                              ///< of each epoch's iterates rather than the last
                                              ///< one (Polyak–Ruppert averaging): less noise
  bool exact_objective = false;               ///< trace the full objective after each epoch
                                              ///< (one more full pass per epoch)
  std::uint64_t seed = 0;                     ///< seeds the mini-batch shuffle
  std::function<bool(const SgdProgress&)> on_epoch;  ///< after each epoch; return false to stop

  /// Throws InvalidArgument naming the first field that is out of range.
  void check() const {
    const char* where = "SgdOptions::check";
    if (update != UpdateRule::sgd && update != UpdateRule::momentum && update != UpdateRule::adam) {
      detail::fail(where, "option 'update' is not a valid UpdateRule (", static_cast<int>(update),
                   ")");
    }
    if (schedule != Schedule::constant && schedule != Schedule::exponential &&
        schedule != Schedule::inverse_time) {
      detail::fail(where, "option 'schedule' is not a valid Schedule (", static_cast<int>(schedule),
                   ")");
    }
    positive(learning_rate, "learning_rate");
    unit_interval(momentum, "momentum");
    unit_interval(beta1, "beta1");
    unit_interval(beta2, "beta2");
    positive(epsilon, "epsilon");
    positive(half_life, "half_life");
    if (batch_size < 1)
      detail::fail(where, "option 'batch_size' must be at least 1, got ", batch_size);
    if (!(batch_growth >= 1) || !std::isfinite(batch_growth)) {
      detail::fail(where, "option 'batch_growth' must be finite and at least 1, got ",
                   batch_growth);
    }
    if (epoch_size < 0) {
      detail::fail(where, "option 'epoch_size' must be 0 (one pass) or positive, got ", epoch_size);
    }
    if (max_epochs < 1)
      detail::fail(where, "option 'max_epochs' must be at least 1, got ", max_epochs);
    if (patience < 1) detail::fail(where, "option 'patience' must be at least 1, got ", patience);
    if (max_steps < 0) {
      detail::fail(where, "option 'max_steps' must be 0 (no limit) or positive, got ", max_steps);
    }
    if (!(tolerance >= 0) || !std::isfinite(tolerance)) {
      detail::fail(where, "option 'tolerance' must be finite and non-negative, got ", tolerance);
    }
  }

  /// The learning rate of step t (0-based).
  double rate(Eigen::Index step) const {
    const double t = static_cast<double>(step);
    switch (schedule) {
      case Schedule::exponential:
        return learning_rate * std::exp2(-t / half_life);
      case Schedule::inverse_time:
        return learning_rate / (1.0 + t / half_life);
      case Schedule::constant:
        break;
    }
    return learning_rate;
  }

 private:
  static void positive(double value, const char* field) {
    if (!(value > 0) || !std::isfinite(value)) {
      detail::fail("SgdOptions::check", "option '", field, "' must be positive and finite, got ",
                   value);
    }
  }
  static void unit_interval(double value, const char* field) {
    if (!(value >= 0 && value < 1)) {
      detail::fail("SgdOptions::check", "option '", field, "' must be in [0, 1), got ", value);
    }
  }
};

/// What the optimiser returns.
struct SgdReport {
  Eigen::VectorXd parameters;     ///< the final theta (the last epoch's mean with `average`)
  std::vector<double> objective;  ///< per epoch: the mean of the epoch's mini-batch estimates
                                  ///< (each taken before its step), or the exact objective after
                                  ///< the epoch with SgdOptions::exact_objective
  Eigen::Index epochs = 0;        ///< epochs run (the last may be cut short by max_steps)
  Eigen::Index steps = 0;         ///< steps taken
  StopReason reason = StopReason::max_epochs;  ///< why it stopped
};

/// Update policies. Contract (what `sgd_minimise<UpdatePolicy>` asks of its parameter):
/// \code
///   UpdatePolicy(const SgdOptions& options, Eigen::Index parameters);   // state sized once
///   void update(Eigen::VectorXd& theta, double rate, const Eigen::VectorXd& gradient);
/// \endcode

/// theta -= rate * gradient.
class VanillaUpdate {
 public:
  VanillaUpdate(const SgdOptions& /*options*/, Eigen::Index /*parameters*/) {}
  void update(Eigen::VectorXd& theta, double rate, const Eigen::VectorXd& gradient) {
    theta.noalias() -= rate * gradient;
  }
};

/// Heavy-ball momentum: v = momentum v - rate * gradient; theta += v.
class MomentumUpdate {
 public:
  MomentumUpdate(const SgdOptions& options, Eigen::Index parameters)
      : m_momentum(options.momentum), m_velocity(Eigen::VectorXd::Zero(parameters)) {}
  void update(Eigen::VectorXd& theta, double rate, const Eigen::VectorXd& gradient) {
    m_velocity = m_momentum * m_velocity - rate * gradient;
    theta += m_velocity;
  }

 private:
  double m_momentum;           // fraction of the velocity kept per step
  Eigen::VectorXd m_velocity;  // running velocity
};

/// Adam: running means of the gradient and of its square, bias-corrected; each entry moves by
/// about `rate` per step whatever the scale of the objective.
class AdamUpdate {
 public:
  AdamUpdate(const SgdOptions& options, Eigen::Index parameters)
      : m_beta1(options.beta1),
        m_beta2(options.beta2),
        m_epsilon(options.epsilon),
        m_mean(Eigen::VectorXd::Zero(parameters)),
        m_mean_square(Eigen::VectorXd::Zero(parameters)) {}
  void update(Eigen::VectorXd& theta, double rate, const Eigen::VectorXd& gradient) {
    ++m_steps;
    m_mean = m_beta1 * m_mean + (1 - m_beta1) * gradient;
    m_mean_square = m_beta2 * m_mean_square + (1 - m_beta2) * gradient.cwiseAbs2();
    const double t = static_cast<double>(m_steps);
    const double mean_correction = 1 - std::pow(m_beta1, t);
    const double square_correction = 1 - std::pow(m_beta2, t);
    theta.array() -= rate * (m_mean.array() / mean_correction) /
                     ((m_mean_square.array() / square_correction).sqrt() + m_epsilon);
  }

 private:
  double m_beta1;                 // decay of the mean gradient
  double m_beta2;                 // decay of the mean squared gradient
  double m_epsilon;               // keeps the step finite when the gradient vanishes
  Eigen::VectorXd m_mean;         // running mean gradient
  Eigen::VectorXd m_mean_square;  // running mean squared gradient
  Eigen::Index m_steps = 0;       // updates so far, for the bias correction
};

namespace detail {

/// A uniform integer in [0, bound) from a 64-bit engine, by rejection (unbiased, and the same on
/// every platform, unlike std::uniform_int_distribution).
inline std::uint64_t uniform_below(std::mt19937_64& engine, std::uint64_t bound) {
  const std::uint64_t top = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t excess = (top % bound + 1) % bound;  // 2^64 mod bound
  std::uint64_t draw;
  do {
    draw = engine();
  } while (draw > top - excess);
  return draw % bound;
}

/// Fisher–Yates shuffle with uniform_below.
inline void shuffle(std::vector<Eigen::Index>& order, std::mt19937_64& engine) {
  for (std::size_t i = order.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(uniform_below(engine, static_cast<std::uint64_t>(i)));
    std::swap(order[i - 1], order[j]);
  }
}

}  // namespace detail

/// Minimises a separable objective by mini-batch SGD with the update rule `UpdatePolicy`.
///
/// \tparam UpdatePolicy VanillaUpdate, MomentumUpdate, AdamUpdate or one of yours (contract above)
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
