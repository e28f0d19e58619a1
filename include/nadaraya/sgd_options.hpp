#ifndef NADARAYA_SGD_OPTIONS_HPP
#define NADARAYA_SGD_OPTIONS_HPP

#include <Eigen/Core>
#include <cmath>       // std::exp2, std::isfinite
#include <cstdint>     // std::uint64_t
#include <functional>  // std::function: the per-epoch callback
#include <vector>

#include "detail/check.hpp"

namespace nadaraya {

/// \file sgd_options.hpp
/// What the optimiser (optimizers.hpp) is told and what it tells back: its settings, the per-epoch
/// progress, the final report and why it stopped. Kept apart from the loop: these are the types a
/// caller writes and reads, and the update policies are built from them.

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

}  // namespace nadaraya

#endif  // NADARAYA_SGD_OPTIONS_HPP
