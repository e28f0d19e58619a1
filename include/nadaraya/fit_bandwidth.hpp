#ifndef NADARAYA_FIT_BANDWIDTH_HPP
#define NADARAYA_FIT_BANDWIDTH_HPP

#include <Eigen/Core>
#include <cmath>       // std::log, std::exp, std::isfinite
#include <functional>  // std::function: the per-epoch callback
#include <limits>
#include <vector>

#include "bandwidth.hpp"
#include "detail/check.hpp"
#include "objectives.hpp"
#include "optimizers.hpp"

namespace nadaraya {

/// \file fit_bandwidth.hpp
/// Learning kernel widths: SGD (optimizers.hpp) on a cross-validation objective (objectives.hpp)
/// in the log-widths theta = log h. The estimators expose it as one call,
/// \code
/// NadarayaWatson<Gaussian> nw;
/// nw.fit(X, Y);
/// FitReport report = nw.fit_bandwidth();   // leave-one-out, Silverman start, per-dimension widths
/// Eigen::VectorXd h = nw.bandwidth();      // the learned widths, now used by predict()
/// \endcode
/// and `fit_widths` runs it on any objective.

/// Which criterion ParzenDensity::fit_bandwidth minimises.
enum class DensityCriterion {
  likelihood,    ///< leave-one-out negative log-likelihood (statsmodels' cv_ml), any kernel
  least_squares  ///< least-squares cross-validation (integrated squared error), Gaussian only
};

/// What the per-epoch callback of a fit sees.
struct FitProgress {
  Eigen::Index epoch = 0;    ///< epochs completed, from 1
  Eigen::Index steps = 0;    ///< steps taken so far
  double objective = 0;      ///< this epoch's objective (see FitReport::objective)
  double learning_rate = 0;  ///< the rate of the last step
  Eigen::VectorXd widths;    ///< kernel-scale widths after the epoch, one per column
};

/// Settings of a bandwidth fit. Call check() to validate (every fit does).
struct FitOptions {
  bool leave_one_out = true;  ///< false: the naive in-sample objective, minimised as h -> 0
                              ///< (offered to show why leave-one-out is needed)
  bool per_dimension = true;  ///< one width per input column; false: one width shared by all
  Bandwidth start = Bandwidth::silverman();  ///< where the fit starts (a rule or fixed widths);
                                             ///< with one shared width, the geometric mean
  DensityCriterion density_criterion = DensityCriterion::likelihood;  ///< ParzenDensity only
  double width_range = 1e8;  ///< each width stays within [start / range, start * range], > 1:
                             ///< keeps X / h finite and bounds an irrelevant input's width
  SgdOptions sgd;            ///< the optimiser (Adam, rate 0.1 in log-width, batches of 128...)
  std::function<bool(const FitProgress&)> on_epoch;  ///< after each epoch; return false to stop

  /// Throws InvalidArgument naming the first field that is out of range (sgd's fields included).
  void check() const {
    const char* where = "FitOptions::check";
    if (density_criterion != DensityCriterion::likelihood &&
        density_criterion != DensityCriterion::least_squares) {
      detail::fail(where, "option 'density_criterion' is not a valid DensityCriterion (",
                   static_cast<int>(density_criterion), ")");
    }
    if (!(width_range > 1) || !std::isfinite(width_range)) {
      detail::fail(where, "option 'width_range' must be finite and greater than 1, got ",
                   width_range);
    }
    sgd.check();
  }
};

/// How a fit went.
struct FitReport {
  Eigen::VectorXd widths;         ///< the learned kernel-scale widths, one per input column
  Eigen::VectorXd start_widths;   ///< where the fit started, one per input column
  std::vector<double> objective;  ///< the objective per epoch (SgdReport::objective)
  Eigen::Index epochs = 0;        ///< epochs run
  Eigen::Index steps = 0;         ///< SGD steps taken
  StopReason reason = StopReason::max_epochs;  ///< why it stopped

  /// The last epoch's objective (NaN before any epoch).
  double final_objective() const {
    return objective.empty() ? std::numeric_limits<double>::quiet_NaN() : objective.back();
  }
};

namespace detail {

inline ObjectiveOptions objective_options(const FitOptions& options, int threads) {
  ObjectiveOptions objective_options;
  objective_options.leave_one_out = options.leave_one_out;
  objective_options.per_dimension = options.per_dimension;
  objective_options.threads = threads;
  return objective_options;
}

}  // namespace detail

/// Minimises `objective` over the log-widths from `start_widths` with the SGD of `options.sgd`.
///
/// \tparam Objective one of objectives.hpp (or any type with their members)
/// \param objective    the criterion; its `per_dimension` option decides the number of widths
/// \param start_widths kernel-scale widths to start from, one per input column (positive)
/// \param options      the fit's settings (checked here)
/// \return the learned widths and how the fit went
/// \throws InvalidArgument for bad options or start widths.
template <class Objective>
FitReport fit_widths(const Objective& objective, const Eigen::VectorXd& start_widths,
                     const FitOptions& options) {
  const char* where = "fit_widths";
  options.check();
  const Eigen::Index d = objective.dimensions(), p = objective.parameters();
  if (start_widths.size() != d) {
    detail::fail(where, "argument 'start_widths' has ", start_widths.size(),
                 " entries but the data has ", d, " columns");
  }
  for (Eigen::Index j = 0; j < d; ++j) {
    if (!(start_widths(j) > 0) || !std::isfinite(start_widths(j))) {
      detail::fail(where, "argument 'start_widths' must be positive and finite, got ",
                   start_widths(j), " at index ", j);
    }
  }
  const Eigen::VectorXd log_start = start_widths.array().log().matrix();
  // One shared width starts from the geometric mean of the per-column ones.
  const Eigen::VectorXd theta = p == d ? log_start : Eigen::VectorXd::Constant(1, log_start.mean());
  const double range = std::log(options.width_range);
  const Eigen::VectorXd lower = theta.array() - range, upper = theta.array() + range;

  auto widths_of = [d, p](const Eigen::VectorXd& parameters) -> Eigen::VectorXd {
    return p == d ? Eigen::VectorXd(parameters.array().exp().matrix())
                  : Eigen::VectorXd::Constant(d, std::exp(parameters(0)));
  };
  SgdOptions sgd = options.sgd;
  if (options.on_epoch) {
    // Copies: the wrapper must not refer to anything of this block once it is left.
    sgd.on_epoch = [inner = options.sgd.on_epoch, outer = options.on_epoch,
                    widths_of](const SgdProgress& progress) {
      FitProgress fit_progress;
      fit_progress.epoch = progress.epoch;
      fit_progress.steps = progress.steps;
      fit_progress.objective = progress.objective;
      fit_progress.learning_rate = progress.learning_rate;
      fit_progress.widths = widths_of(progress.parameters);
      const bool keep_going = !inner || inner(progress);
      return outer(fit_progress) && keep_going;
    };
  }
  const SgdReport sgd_report = minimise(objective, theta, sgd, lower, upper);

  FitReport report;
  report.widths = widths_of(sgd_report.parameters);
  report.start_widths = widths_of(theta);
  report.objective = sgd_report.objective;
  report.epochs = sgd_report.epochs;
  report.steps = sgd_report.steps;
  report.reason = sgd_report.reason;
  return report;
}

}  // namespace nadaraya

#endif  // NADARAYA_FIT_BANDWIDTH_HPP
