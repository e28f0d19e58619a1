// Fitting the widths: SGD against an exhaustive grid on the textbook problem, the naive objective's
// collapse, irrelevant inputs, statsmodels' cv_ls and cv_ml minimisers, the three estimators'
// fit_bandwidth, reproducibility, stopping rules, and option validation.

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <nadaraya/nadaraya.hpp>

#include "support/fixture.hpp"
#include "support/reference.hpp"

using namespace nadaraya;
using nadaraya_test::fixture_path;
using nadaraya_test::read_csv;

namespace {

/// y = 2 sin(x) + x + noise_sd * N(0, 1), x ~ N(0, 1): the textbook example.
void textbook(Eigen::Index n, double noise_sd, unsigned seed, Eigen::MatrixXd& x,
              Eigen::VectorXd& y) {
  std::mt19937_64 generator(seed);
  std::normal_distribution<double> normal;
  x.resize(n, 1);
  y.resize(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    x(i, 0) = normal(generator);
    y(i) = 2 * std::sin(x(i, 0)) + x(i, 0) + noise_sd * normal(generator);
  }
}

double value_at(const SquaredErrorObjective<Gaussian>& objective, double h) {
  return objective.value(Eigen::VectorXd::Constant(1, std::log(h)));
}

double mean_squared_error(const Eigen::MatrixXd& predicted, const Eigen::VectorXd& truth) {
  return (predicted.col(0) - truth).squaredNorm() / static_cast<double>(truth.size());
}

/// One thread: the fits below are short, and a parallel region per step only costs on a busy
/// machine. Thread invariance has its own test.
Options serial() {
  Options options;
  options.threads = 1;
  return options;
}

ObjectiveOptions serial_objective() {
  ObjectiveOptions options;
  options.threads = 1;
  return options;
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Accuracy
// ------------------------------------------------------------------------------------------------

TEST_CASE("SGD lands on the grid minimiser of the leave-one-out loss (textbook, n = 1000)",
          "[fit][accuracy]") {
  Eigen::MatrixXd x;
  Eigen::VectorXd y;
  textbook(1000, 0.1, 2024, x, y);
  const SquaredErrorObjective<Gaussian> objective(x, y, Eigen::VectorXd(), serial_objective());

  // Exhaustive grid over log h: steps of 0.2 over [0.005, 1], then of 0.005 around the best.
  double best_log_h = 0, best = std::numeric_limits<double>::infinity();
  for (double log_h = std::log(0.005); log_h <= 0; log_h += 0.2) {
    const double value = value_at(objective, std::exp(log_h));
    if (value < best) {
      best = value;
      best_log_h = log_h;
    }
  }
  const double coarse = best_log_h;
  for (double log_h = coarse - 0.2; log_h <= coarse + 0.2; log_h += 0.005) {
    const double value = value_at(objective, std::exp(log_h));
    if (value < best) {
      best = value;
      best_log_h = log_h;
    }
  }
  const double grid_h = std::exp(best_log_h);

  NadarayaWatson<Gaussian> model(Bandwidth::silverman(), serial());
  model.fit(x, y);
  const FitReport report = model.fit_bandwidth();
  const double h = model.bandwidth()(0);
  INFO("grid h " << grid_h << " (loss " << best << "), SGD h " << h << " (loss "
                 << value_at(objective, h) << ") after " << report.steps << " steps, "
                 << to_string(report.reason));
  CHECK(report.reason == StopReason::converged);
  CHECK(std::abs(h / grid_h - 1) < 0.02);
  CHECK(value_at(objective, h) <= 1.005 * best);
  CHECK(report.start_widths(0) > 3 * h);  // Silverman's rule smooths far too much here
}

TEST_CASE("the naive objective collapses h while leave-one-out settles", "[fit][naive]") {
  Eigen::MatrixXd x, x_test;
  Eigen::VectorXd y, y_test;
  textbook(300, 0.5, 7, x, y);
  textbook(1000, 0.5, 8, x_test, y_test);

  NadarayaWatson<Gaussian> loo(Bandwidth::silverman(), serial());
  loo.fit(x, y);
  FitOptions loo_options;
  loo_options.sgd.exact_objective = true;  // a trace without mini-batch noise, to see it settle
  const FitReport loo_report = loo.fit_bandwidth(loo_options);
  const double loo_held_out = mean_squared_error(loo.predict(x_test), y_test);

  NadarayaWatson<Gaussian> naive(Bandwidth::silverman(), serial());
  naive.fit(x, y);
  FitOptions options;
  options.leave_one_out = false;
  options.sgd.half_life = 200;   // let it run: nothing stops the naive fit but the width range
  std::vector<double> held_out;  // along the naive fit, epoch by epoch
  options.on_epoch = [&](const FitProgress& progress) {
    NadarayaWatson<Gaussian> probe(Bandwidth::per_dimension(progress.widths), serial());
    probe.fit(x, y);
    held_out.push_back(mean_squared_error(probe.predict(x_test), y_test));
    return true;
  };
  const FitReport naive_report = naive.fit_bandwidth(options);
  const double naive_held_out = mean_squared_error(naive.predict(x_test), y_test);

  INFO("leave-one-out: h " << loo.bandwidth()(0) << ", held-out MSE " << loo_held_out
                           << "; naive: h " << naive.bandwidth()(0) << ", held-out MSE "
                           << naive_held_out);
  // The naive fit runs h down by orders of magnitude and its training loss to zero...
  CHECK(naive.bandwidth()(0) < naive_report.start_widths(0) / 100);
  CHECK(naive_report.final_objective() < 1e-3 * naive_report.objective.front());
  // ...while its held-out loss grows,
  REQUIRE(held_out.size() >= 3);
  CHECK(held_out.back() > 1.3 * *std::min_element(held_out.begin(), held_out.end()));
  CHECK(naive_held_out > 1.3 * loo_held_out);
  // whereas leave-one-out settles at a finite width with the better held-out loss.
  CHECK(loo_report.reason == StopReason::converged);
  CHECK(loo.bandwidth()(0) > loo_report.start_widths(0) / 10);
  const std::size_t epochs = loo_report.objective.size();
  CHECK(std::abs(loo_report.objective[epochs - 1] / loo_report.objective[epochs - 2] - 1) < 1e-4);
  CHECK(loo_held_out < 0.3);  // the noise variance is 0.25
}

TEST_CASE("per-dimension widths find an irrelevant input", "[fit][irrelevant]") {
  std::mt19937_64 generator(99);
  std::normal_distribution<double> normal;
  const Eigen::Index n = 400;
  Eigen::MatrixXd X(n, 2);
  Eigen::VectorXd y(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    X(i, 0) = normal(generator);
    X(i, 1) = normal(generator);  // pure noise: y does not depend on it
    y(i) = 2 * std::sin(2 * X(i, 0)) + 0.2 * normal(generator);
  }
  NadarayaWatson<Gaussian> model(Bandwidth::silverman(), serial());
  model.fit(X, y);
  const FitReport report = model.fit_bandwidth();
  INFO("widths " << report.widths.transpose() << " from " << report.start_widths.transpose());
  CHECK(report.widths(1) >= 10 * report.widths(0));
  CHECK(report.widths(0) < report.start_widths(0));
}

TEST_CASE("the fitted widths are statsmodels' cv_ls and cv_ml bandwidths", "[fit][statsmodels]") {
  for (const std::string name : {"statsmodels_kreg_cvls_d1", "statsmodels_kreg_cvls_d2"}) {
    const Eigen::MatrixXd X = read_csv(fixture_path(name + "_X.csv"));
    const Eigen::MatrixXd Y = read_csv(fixture_path(name + "_Y.csv"));
    const Eigen::MatrixXd expected = read_csv(fixture_path(name + "_expected.csv"));
    const Eigen::Index d = X.cols();
    // Columns: h0 (d), bandwidth_statsmodels (d), bandwidth_refined (d), cv_statsmodels,
    // cv_refined.
    const Eigen::VectorXd refined = expected.block(0, 2 * d, 1, d).transpose();
    const double cv_statsmodels = expected(0, 3 * d);
    NadarayaWatson<Gaussian> model(Bandwidth::silverman(), serial());
    model.fit(X, Y);
    const FitReport report = model.fit_bandwidth();
    const SquaredErrorObjective<Gaussian> objective(X, Y, Eigen::VectorXd(), serial_objective());
    const double cv = 2 * objective.value(report.widths.array().log().matrix());
    INFO(name << ": widths " << report.widths.transpose() << ", statsmodels (refined) "
              << refined.transpose() << ", cv " << cv << " vs " << cv_statsmodels);
    for (Eigen::Index j = 0; j < d; ++j) CHECK(std::abs(report.widths(j) / refined(j) - 1) < 0.01);
    CHECK(cv <= cv_statsmodels * (1 + 1e-9));
  }
  const Eigen::MatrixXd X = read_csv(fixture_path("statsmodels_kde_cvml_d1_X.csv"));
  const Eigen::MatrixXd expected = read_csv(fixture_path("statsmodels_kde_cvml_d1_expected.csv"));
  ParzenDensity<Gaussian> kde(Bandwidth::silverman(), serial());
  kde.fit(X);
  const FitReport report = kde.fit_bandwidth();
  INFO("cv_ml: width " << report.widths(0) << ", statsmodels (refined) " << expected(0, 2));
  CHECK(std::abs(report.widths(0) / expected(0, 2) - 1) < 0.01);
  // The estimator now uses the width: its leave-one-out log-likelihood is statsmodels' optimum.
  const double n = static_cast<double>(X.rows());
  CHECK(-kde.leave_one_out_log_density().sum() - n * std::log(n - 1) ==
        Approx(expected(0, 4)).epsilon(1e-6));
}

TEMPLATE_TEST_CASE("fits in float reach the double minimiser", "[fit][float]", float, double) {
  using Scalar = TestType;
  const Eigen::MatrixXd X = read_csv(fixture_path("statsmodels_kreg_cvls_d2_X.csv"));
  const Eigen::MatrixXd Y = read_csv(fixture_path("statsmodels_kreg_cvls_d2_Y.csv"));
  const Eigen::MatrixXd expected = read_csv(fixture_path("statsmodels_kreg_cvls_d2_expected.csv"));
  NadarayaWatson<Gaussian, Scalar> model(Bandwidth::silverman(), serial());
  model.fit(X.cast<Scalar>(), Y.cast<Scalar>());
  const FitReport report = model.fit_bandwidth();
  CHECK(std::abs(report.widths(0) / expected(0, 4) - 1) < 0.01);
  CHECK(std::abs(report.widths(1) / expected(0, 5) - 1) < 0.01);
}

TEST_CASE("least-squares cross-validation lands on its grid minimiser", "[fit][density]") {
  const Eigen::MatrixXd X = read_csv(fixture_path("statsmodels_kde_cvml_d1_X.csv"));
  const LeastSquaresObjective<> objective(X, Eigen::VectorXd(), serial_objective());
  double best = std::numeric_limits<double>::infinity(), grid_h = 0;
  for (double log_h = std::log(0.05); log_h <= std::log(2.0); log_h += 0.005) {
    const double value = objective.value(Eigen::VectorXd::Constant(1, log_h));
    if (value < best) {
      best = value;
      grid_h = std::exp(log_h);
    }
  }
  ParzenDensity<Gaussian> kde(Bandwidth::silverman(), serial());
  kde.fit(X);
  FitOptions options;
  options.density_criterion = DensityCriterion::least_squares;
  const FitReport report = kde.fit_bandwidth(options);
  INFO("LSCV: SGD " << report.widths(0) << ", grid " << grid_h);
  CHECK(std::abs(report.widths(0) / grid_h - 1) < 0.02);
  CHECK(kde.bandwidth()(0) == report.widths(0));
  // Only the Gaussian has the closed-form self-convolution.
  ParzenDensity<Epanechnikov> other;
  other.fit(X);
  CHECK_THROWS_WITH(other.fit_bandwidth(options), Catch::Contains("Gaussian"));
}

TEST_CASE("the classifier learns widths that lower its leave-one-out log-loss",
          "[fit][classifier]") {
  std::mt19937_64 generator(5);
  std::normal_distribution<double> normal;
  const Eigen::Index n = 300;
  Eigen::MatrixXd X(n, 2);
  Eigen::VectorXi labels(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    X(i, 0) = normal(generator);
    X(i, 1) = 3 * normal(generator);  // irrelevant, and on a larger scale
    labels(i) = std::sin(2 * X(i, 0)) + 0.3 * normal(generator) > 0 ? 1 : 0;
  }
  NadarayaWatsonClassifier<Gaussian> model(Bandwidth::silverman(), serial());
  model.fit(X, labels);
  const LogLossObjective<Gaussian> objective(X, labels, Eigen::VectorXd(), serial_objective());
  const FitReport report = model.fit_bandwidth();
  const double start_loss = objective.value(report.start_widths.array().log().matrix());
  const double loss = objective.value(report.widths.array().log().matrix());
  INFO("widths " << report.widths.transpose() << ", log-loss " << start_loss << " -> " << loss);
  CHECK(loss < 0.9 * start_loss);
  CHECK(report.widths(1) > 5 * report.widths(0));
  // predict_proba uses the learned widths: its leave-one-out log-loss is the objective's.
  const Eigen::MatrixXd probabilities = model.predict_proba_leave_one_out();
  double log_loss = 0;
  for (Eigen::Index i = 0; i < n; ++i) log_loss -= std::log(probabilities(i, labels(i)));
  CHECK(log_loss / static_cast<double>(n) == Approx(loss).epsilon(1e-10));
}

// ------------------------------------------------------------------------------------------------
// The estimators' face
// ------------------------------------------------------------------------------------------------

TEST_CASE("after fit_bandwidth the estimator predicts with the learned widths",
          "[fit][estimator]") {
  const Eigen::MatrixXd X = read_csv(fixture_path("statsmodels_kreg_cvls_d2_X.csv"));
  const Eigen::MatrixXd Y = read_csv(fixture_path("statsmodels_kreg_cvls_d2_Y.csv"));
  NadarayaWatson<Gaussian> model(Bandwidth::silverman(), serial());
  CHECK_THROWS_AS(model.fit_bandwidth(), NotFitted);
  model.fit(X, Y);
  FitOptions options;
  options.per_dimension = false;
  const FitReport report = model.fit_bandwidth(options);
  REQUIRE(report.widths.size() == 2);
  CHECK(report.widths(0) == report.widths(1));  // one shared width
  CHECK(model.bandwidth() == report.widths);
  NadarayaWatson<Gaussian> fixed(Bandwidth::per_dimension(report.widths), serial());
  fixed.fit(X, Y);
  CHECK(model.predict(X) == fixed.predict(X));
  // The learned widths are now the estimator's bandwidth: a later fit() keeps them.
  model.fit(X.topRows(50), Y.topRows(50));
  CHECK(model.bandwidth() == report.widths);
  CHECK(report.epochs == static_cast<Eigen::Index>(report.objective.size()));
}

TEST_CASE("fits with compact kernels stay finite", "[fit][estimator]") {
  Eigen::MatrixXd x;
  Eigen::VectorXd y;
  textbook(300, 0.3, 12, x, y);
  NadarayaWatson<Epanechnikov> regression(Bandwidth::silverman(), serial());
  regression.fit(x, y);
  const FitReport report = regression.fit_bandwidth();
  CHECK(std::isfinite(report.widths(0)));
  CHECK(std::isfinite(report.final_objective()));
  CHECK(report.widths(0) < report.start_widths(0));
  ParzenDensity<Biweight> density(Bandwidth::silverman(), serial());
  density.fit(x);
  const FitReport density_report = density.fit_bandwidth();
  CHECK(std::isfinite(density_report.widths(0)));
  CHECK(density.leave_one_out_log_density().allFinite());
}

// ------------------------------------------------------------------------------------------------
// The optimiser: reproducibility, stopping, update rules
// ------------------------------------------------------------------------------------------------

TEST_CASE("the same seed gives the same widths whatever the thread count", "[fit][reproducible]") {
  Eigen::MatrixXd x;
  Eigen::VectorXd y;
  textbook(500, 0.3, 3, x, y);
  FitOptions options;
  options.sgd.seed = 17;
  options.sgd.max_epochs = 6;
  std::vector<Eigen::VectorXd> widths;
  std::vector<std::vector<double>> traces;
  for (int threads : {1, 2, 1}) {
    Options estimator_options;
    estimator_options.threads = threads;
    NadarayaWatson<Gaussian> model(Bandwidth::silverman(), estimator_options);
    model.fit(x, y);
    const FitReport report = model.fit_bandwidth(options);
    widths.push_back(report.widths);
    traces.push_back(report.objective);
  }
  CHECK(widths[0] == widths[1]);
  CHECK(widths[0] == widths[2]);
  CHECK(traces[0] == traces[1]);
  options.sgd.seed = 18;  // another seed: other batches, another path
  NadarayaWatson<Gaussian> other(Bandwidth::silverman(), serial());
  other.fit(x, y);
  CHECK(other.fit_bandwidth(options).objective != traces[0]);
}

TEST_CASE("the optimiser stops on its budgets and on the callback", "[fit][stopping]") {
  Eigen::MatrixXd x;
  Eigen::VectorXd y;
  textbook(200, 0.3, 4, x, y);
  NadarayaWatson<Gaussian> model(Bandwidth::silverman(), serial());
  model.fit(x, y);

  FitOptions options;
  options.sgd.max_epochs = 3;
  FitReport report = model.fit_bandwidth(options);
  CHECK(report.reason == StopReason::max_epochs);
  CHECK(report.epochs == 3);
  CHECK(report.objective.size() == 3);

  options = FitOptions();
  options.sgd.max_steps = 5;
  report = model.fit_bandwidth(options);
  CHECK(report.reason == StopReason::max_steps);
  CHECK(report.steps == 5);

  options = FitOptions();
  int calls = 0;
  options.on_epoch = [&](const FitProgress& progress) {
    ++calls;
    CHECK(progress.epoch == calls);
    CHECK(progress.widths.allFinite());
    return progress.epoch < 2;
  };
  report = model.fit_bandwidth(options);
  CHECK(report.reason == StopReason::callback);
  CHECK(report.epochs == 2);
  CHECK(calls == 2);

  // Full batch: the batch is every point, so an epoch of `epoch_size` points is one step here.
  options = FitOptions();
  options.sgd.full_batch = true;
  options.sgd.epoch_size = 0;
  options.sgd.exact_objective = true;
  options.sgd.update = UpdateRule::momentum;
  options.sgd.learning_rate = 0.5;
  options.sgd.max_epochs = 30;
  options.start = Bandwidth::scalar(0.5);
  report = model.fit_bandwidth(options);
  CHECK(report.steps == report.epochs);
  const SquaredErrorObjective<Gaussian> objective(x, y, Eigen::VectorXd(), serial_objective());
  CHECK(report.final_objective() ==
        Approx(objective.value(report.widths.array().log().matrix())).epsilon(1e-12));
  CHECK(report.final_objective() < report.objective.front());
}

namespace {

/// A separable objective of our own: sum_i p_i (theta - c_i)^2 / 2 over 10 points, whose gradient
/// turns NaN after `healthy_calls` calls.
struct Quadratic {
  int healthy_calls = 1000000;
  mutable int calls = 0;
  Eigen::Index samples() const { return 10; }
  Eigen::Index parameters() const { return 1; }
  double batch_value_and_gradient(const Eigen::VectorXd& theta,
                                  const std::vector<Eigen::Index>& rows,
                                  Eigen::VectorXd& gradient) const {
    ++calls;
    double value = 0, slope = 0;
    for (Eigen::Index i : rows) {
      const double centre = static_cast<double>(i);
      value += 0.5 * (theta(0) - centre) * (theta(0) - centre) / static_cast<double>(rows.size());
      slope += (theta(0) - centre) / static_cast<double>(rows.size());
    }
    gradient = Eigen::VectorXd::Constant(1, calls > healthy_calls ? std::nan("") : slope);
    return value;
  }
  double value(const Eigen::VectorXd& theta) const {
    Eigen::VectorXd unused;
    return batch_value_and_gradient(theta, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, unused);
  }
};

}  // namespace

TEST_CASE("the optimiser minimises any separable objective and stops on a non-finite gradient",
          "[fit][stopping]") {
  SgdOptions options;
  options.batch_size = 3;
  options.epoch_size = 9;
  options.max_epochs = 2000;
  options.tolerance = 1e-4;
  options.learning_rate = 1;  // the default travels about 5.8 in all (rate * half_life / ln 2)
  options.half_life = 100;
  Quadratic quadratic;
  const SgdReport report = minimise(quadratic, Eigen::VectorXd::Constant(1, -20.0), options);
  CHECK(report.reason == StopReason::converged);
  CHECK(report.parameters(0) == Approx(4.5).margin(1e-2));  // the mean of the centres 0..9

  quadratic.healthy_calls = 7;  // the 8th step (third epoch, second step) sees a NaN gradient
  quadratic.calls = 0;
  const SgdReport broken = minimise(quadratic, Eigen::VectorXd::Constant(1, -20.0), options);
  CHECK(broken.reason == StopReason::non_finite);
  CHECK(broken.steps == 7);
  CHECK(broken.epochs == 3);
  CHECK(std::isfinite(broken.parameters(0)));
  CHECK(broken.parameters(0) > -20.0);
}

TEST_CASE("every update rule lowers the objective", "[fit][updates]") {
  Eigen::MatrixXd x;
  Eigen::VectorXd y;
  textbook(200, 0.3, 5, x, y);
  const SquaredErrorObjective<Gaussian> objective(x, y, Eigen::VectorXd(), serial_objective());
  const Eigen::VectorXd start = Eigen::VectorXd::Constant(1, std::log(0.8));
  for (UpdateRule rule : {UpdateRule::sgd, UpdateRule::momentum, UpdateRule::adam}) {
    for (Schedule schedule : {Schedule::constant, Schedule::exponential, Schedule::inverse_time}) {
      SgdOptions options;
      options.update = rule;
      options.schedule = schedule;
      // Plain steps scale with L; momentum's grow to rate / (1 - momentum) = 10x its rate.
      options.learning_rate = rule == UpdateRule::adam ? 0.1 : rule == UpdateRule::sgd ? 2.0 : 0.2;
      options.max_epochs = 5;
      options.batch_size = 50;
      options.batch_growth = 1.5;
      const SgdReport report = minimise(objective, start, options);
      INFO("rule " << static_cast<int>(rule) << ", schedule " << static_cast<int>(schedule));
      CHECK(objective.value(report.parameters) < 0.8 * objective.value(start));
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Option validation
// ------------------------------------------------------------------------------------------------

TEST_CASE("bad options throw InvalidArgument naming the field", "[fit][options]") {
  auto expect = [](auto change, const char* field) {
    FitOptions options;
    change(options);
    INFO("field " << field);
    CHECK_THROWS_AS(options.check(), InvalidArgument);
    CHECK_THROWS_WITH(options.check(), Catch::Contains(std::string("'") + field + "'"));
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  expect([](FitOptions& o) { o.sgd.learning_rate = 0; }, "learning_rate");
  expect([](FitOptions& o) { o.sgd.learning_rate = -0.1; }, "learning_rate");
  expect([nan](FitOptions& o) { o.sgd.learning_rate = nan; }, "learning_rate");
  expect([inf](FitOptions& o) { o.sgd.learning_rate = inf; }, "learning_rate");
  expect([](FitOptions& o) { o.sgd.batch_size = 0; }, "batch_size");
  expect([](FitOptions& o) { o.sgd.momentum = 1; }, "momentum");
  expect([](FitOptions& o) { o.sgd.momentum = -0.5; }, "momentum");
  expect([](FitOptions& o) { o.sgd.beta1 = 1; }, "beta1");
  expect([nan](FitOptions& o) { o.sgd.beta2 = nan; }, "beta2");
  expect([](FitOptions& o) { o.sgd.epsilon = 0; }, "epsilon");
  expect([](FitOptions& o) { o.sgd.half_life = -1; }, "half_life");
  expect([](FitOptions& o) { o.sgd.batch_growth = 0.5; }, "batch_growth");
  expect([](FitOptions& o) { o.sgd.epoch_size = -1; }, "epoch_size");
  expect([](FitOptions& o) { o.sgd.max_epochs = 0; }, "max_epochs");
  expect([](FitOptions& o) { o.sgd.max_steps = -1; }, "max_steps");
  expect([](FitOptions& o) { o.sgd.tolerance = -1e-3; }, "tolerance");
  expect([nan](FitOptions& o) { o.sgd.tolerance = nan; }, "tolerance");
  expect([](FitOptions& o) { o.sgd.patience = 0; }, "patience");
  expect([](FitOptions& o) { o.sgd.update = static_cast<UpdateRule>(7); }, "update");
  expect([](FitOptions& o) { o.sgd.schedule = static_cast<Schedule>(7); }, "schedule");
  expect([](FitOptions& o) { o.width_range = 1; }, "width_range");
  expect([inf](FitOptions& o) { o.width_range = inf; }, "width_range");
  expect([](FitOptions& o) { o.density_criterion = static_cast<DensityCriterion>(9); },
         "density_criterion");
  CHECK_NOTHROW(FitOptions().check());

  // The estimators and the free functions check before they start.
  Eigen::MatrixXd x;
  Eigen::VectorXd y;
  textbook(20, 0.3, 6, x, y);
  NadarayaWatson<Gaussian> model(Bandwidth::silverman(), serial());
  model.fit(x, y);
  FitOptions bad;
  bad.sgd.batch_size = 0;
  CHECK_THROWS_WITH(model.fit_bandwidth(bad), Catch::Contains("'batch_size'"));
  const SquaredErrorObjective<Gaussian> objective(x, y, Eigen::VectorXd(), serial_objective());
  CHECK_THROWS_WITH(fit_widths(objective, Eigen::VectorXd::Constant(2, 1.0), FitOptions()),
                    Catch::Contains("'start_widths'"));
  CHECK_THROWS_WITH(fit_widths(objective, Eigen::VectorXd::Constant(1, -1.0), FitOptions()),
                    Catch::Contains("'start_widths'"));
  CHECK_THROWS_WITH(minimise(objective, Eigen::VectorXd::Zero(3), SgdOptions()),
                    Catch::Contains("'start'"));
}
