// Translation invariance: every estimator and objective centres the data on the training set's
// weighted mean at fit(), so data far from the origin (timestamps in seconds, projected
// coordinates in metres) keep the digits they have. Each case shifts the same data by s = 0, 1e3,
// 1e6 and 1e9 and compares with a long-double direct evaluation on the same shifted inputs
// (tests/support/reference.hpp); the objectives, whose reference would be long, are compared with
// themselves on the shifted data moved back exactly (x + s - s is exact in floating point here).
// What remains is the inputs' own rounding at their magnitude, which the references share.

#include <catch2/catch.hpp>

#include <cmath>
#include <iomanip>
#include <iostream>
#include <limits>
#include <nadaraya/nadaraya.hpp>
#include <random>
#include <type_traits>

#include "support/reference.hpp"

using namespace nadaraya;
using Index = Eigen::Index;

namespace {

template <class Scalar>
using MatrixOf = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
template <class Scalar>
using VectorOf = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

const double shifts[] = {0.0, 1e3, 1e6, 1e9};

/// Largest allowed error, in units of the output's scale: 1e-12 in double (the bound); in
/// float a few ulps of each coordinate's rounding once centred, times the widths' amplification.
template <class Scalar>
constexpr double tolerance() {
  return std::is_same<Scalar, float>::value ? 2e-4 : 1e-12;
}

template <class Scalar>
MatrixOf<Scalar> uniform_matrix(Index rows, Index cols, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<double> distribution(-1.0, 1.0);
  MatrixOf<Scalar> m(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) m(i, j) = static_cast<Scalar>(distribution(generator));
  return m;
}

template <class Scalar>
MatrixOf<Scalar> shifted(const MatrixOf<Scalar>& m, double shift) {
  return (m.array() + static_cast<Scalar>(shift)).matrix();
}

/// One row of the closing table: the worst error over every quantity for one (shift, d, kernel).
struct Worst {
  double value = 0;
  void add(double error) { value = std::max(value, std::isnan(error) ? INFINITY : error); }
};

template <class Actual, class Expected>
double compare(const Actual& actual, const Expected& expected, double scale) {
  double worst = 0;
  for (Index i = 0; i < actual.rows(); ++i) {
    for (Index c = 0; c < actual.cols(); ++c) {
      const long double e = expected(i, c);
      const double a = static_cast<double>(actual(i, c));
      if (std::isnan(static_cast<double>(e)) || std::isinf(static_cast<double>(e))) {
        if (!(std::isnan(static_cast<double>(e)) ? std::isnan(a) : a == static_cast<double>(e)))
          return INFINITY;
        continue;
      }
      worst = std::max(worst, static_cast<double>(std::abs(a - e)) / scale);
    }
  }
  return worst;
}

/// Everything an estimator answers, against the long-double reference on the same shifted data;
/// returns the worst error in units of each quantity's scale.
template <class Kernel, class Scalar>
double estimator_errors(Index d, double shift, double h) {
  const Index n = d == 1 ? 200 : 400, m = 40;
  const MatrixOf<Scalar> X =
      shifted(uniform_matrix<Scalar>(n, d, 11u + static_cast<unsigned>(d)), shift);
  const MatrixOf<Scalar> Q =
      shifted(uniform_matrix<Scalar>(m, d, 12u + static_cast<unsigned>(d)), shift);
  // Outputs from the unshifted coordinates: a smooth function plus a little noise.
  const MatrixOf<Scalar> noise = uniform_matrix<Scalar>(n, 1, 13);
  MatrixOf<Scalar> Y(n, 1);
  for (Index i = 0; i < n; ++i) {
    double s = 0;
    for (Index j = 0; j < d; ++j) s += static_cast<double>(X(i, j)) - shift;
    Y(i, 0) = static_cast<Scalar>(std::sin(2 * s) + 0.1 * static_cast<double>(noise(i, 0)));
  }
  Eigen::VectorXi labels(n);
  MatrixOf<Scalar> one_hot = MatrixOf<Scalar>::Zero(n, 2);
  for (Index i = 0; i < n; ++i) {
    labels(i) = Y(i, 0) > 0 ? 1 : 0;
    one_hot(i, labels(i)) = 1;
  }
  const Eigen::VectorXd widths = Eigen::VectorXd::Constant(d, h);
  const double y_scale = static_cast<double>(Y.cwiseAbs().maxCoeff());
  Worst worst;

  NadarayaWatson<Kernel, Scalar> nw(Bandwidth::scalar(h));
  nw.fit(X, Y);
  worst.add(compare(nw.predict(Q),
                    nadaraya_test::reference_nadaraya_watson<Kernel>(Q, X, Y, widths), y_scale));
  worst.add(compare(
      nw.predict_leave_one_out(),
      nadaraya_test::reference_nadaraya_watson<Kernel>(X, X, Y, widths, Eigen::VectorXd(), true),
      y_scale));

  NadarayaWatsonClassifier<Kernel, Scalar> classifier(Bandwidth::scalar(h));
  classifier.fit(X, labels);
  worst.add(compare(classifier.predict_proba(Q),
                    nadaraya_test::reference_nadaraya_watson<Kernel>(Q, X, one_hot, widths), 1.0));

  // Log densities: an error e in log p is a relative error e in p.
  ParzenDensity<Kernel, Scalar> kde(Bandwidth::scalar(h));
  kde.fit(X);
  const nadaraya_test::LongVector log_p =
      nadaraya_test::reference_log_density<Kernel>(Q, X, widths);
  worst.add(compare(kde.log_density(Q), log_p, 1.0));
  return worst.value;
}

}  // namespace

TEMPLATE_TEST_CASE(
    "translation: estimators far from the origin match the long-double reference on "
    "the same shifted data",
    "[translation]", float, double) {
  using Scalar = TestType;
  const char* type = std::is_same<Scalar, float>::value ? "float" : "double";
  for (const Index d : {Index(1), Index(8)}) {
    for (const double shift : shifts) {
      // d = 8: the case (Gaussian, h = 0.3); the Epanechnikov needs a wider window to
      // reach most queries in eight dimensions.
      const double gaussian = estimator_errors<Gaussian, Scalar>(d, shift, 0.3);
      const double epanechnikov =
          estimator_errors<Epanechnikov, Scalar>(d, shift, d == 1 ? 0.3 : 2.0);
      std::cout << "translation: shift " << std::setw(5) << shift << "  d = " << d << "  " << type
                << "  largest error (output scale): Gaussian " << gaussian << ", Epanechnikov "
                << epanechnikov << "\n";
      INFO("shift " << shift << ", d = " << d);
      CHECK(gaussian <= tolerance<Scalar>());
      CHECK(epanechnikov <= tolerance<Scalar>());
    }
  }
}

namespace {

/// Each objective's value and gradient on the shifted data, against the same objective on those
/// data moved back by the shift (exact: x + s and s are within a factor of two, or s = 0), as a
/// relative difference.
template <class Kernel, class Scalar>
double objective_errors(Index d, double shift) {
  const Index n = 60;
  const MatrixOf<Scalar> X =
      shifted(uniform_matrix<Scalar>(n, d, 21u + static_cast<unsigned>(d)), shift);
  const MatrixOf<Scalar> back = shifted(X, -shift);
  MatrixOf<Scalar> Y(n, 1);
  Eigen::VectorXi labels(n);
  for (Index i = 0; i < n; ++i) {
    Y(i, 0) = static_cast<Scalar>(std::cos(3 * static_cast<double>(back.row(i).sum())));
    labels(i) = static_cast<int>(i % 3 == 0);  // two classes, whatever float makes of the data
  }
  Eigen::VectorXd weights = nadaraya_test::uniform_vector(n, 0.5, 2.0, 22);
  weights(3) = 0;
  // Compact kernels: wide enough in d = 8 that every point has others in reach (a finite
  // leave-one-out likelihood).
  const double h = kernel_traits<Kernel>::is_compact ? (d == 1 ? 0.3 : 4.0) : (d == 1 ? 0.2 : 1.5);
  const Eigen::VectorXd theta = Eigen::VectorXd::Constant(d, std::log(h));
  double worst = 0;
  auto check = [&](const auto& far, const auto& near) {
    Eigen::VectorXd far_gradient, near_gradient;
    const double far_value = far.value_and_gradient(theta, far_gradient);
    const double near_value = near.value_and_gradient(theta, near_gradient);
    const double scale = std::max(std::abs(near_value), near_gradient.cwiseAbs().maxCoeff());
    worst = std::max(worst, std::abs(far_value - near_value) / scale);
    worst = std::max(worst, (far_gradient - near_gradient).cwiseAbs().maxCoeff() / scale);
    if (!std::isfinite(far_value) || !far_gradient.allFinite()) worst = INFINITY;
  };
  check(SquaredErrorObjective<Kernel, Scalar>(X, Y, weights),
        SquaredErrorObjective<Kernel, Scalar>(back, Y, weights));
  check(LikelihoodObjective<Kernel, Scalar>(X, weights),
        LikelihoodObjective<Kernel, Scalar>(back, weights));
  check(LogLossObjective<Kernel, Scalar>(X, labels, weights),
        LogLossObjective<Kernel, Scalar>(back, labels, weights));
  if constexpr (std::is_same<Kernel, Gaussian>::value) {
    check(LeastSquaresObjective<Scalar>(X, weights), LeastSquaresObjective<Scalar>(back, weights));
  }
  return worst;
}

}  // namespace

TEMPLATE_TEST_CASE(
    "translation: the fitting objectives and their gradients do not depend on where "
    "the data sit",
    "[translation]", float, double) {
  using Scalar = TestType;
  for (const Index d : {Index(1), Index(8)}) {
    for (const double shift : shifts) {
      INFO("shift " << shift << ", d = " << d);
      CHECK(objective_errors<Gaussian, Scalar>(d, shift) <= tolerance<Scalar>());
      CHECK(objective_errors<Epanechnikov, Scalar>(d, shift) <= tolerance<Scalar>());
    }
  }
}

TEMPLATE_TEST_CASE(
    "translation: a constant column, one row, zero weights and a shift of 1e9 "
    "together give the documented values",
    "[translation]", float, double) {
  using Scalar = TestType;
  const Scalar far = static_cast<Scalar>(1e9);
  // Two columns: the first spread around 1e9, the second constant at 1e9.
  MatrixOf<Scalar> X(5, 2);
  X << far - 2, far, far - 1, far, far, far, far + 1, far, far + 2, far;
  MatrixOf<Scalar> Y(5, 1);
  Y << 1, 2, 3, 4, 5;
  Eigen::VectorXd weights(5);
  weights << 1, 0, 1, 0, 1;
  MatrixOf<Scalar> Q(3, 2);
  Q << far - 2, far, far, far, far + 3, far + 1;

  NadarayaWatson<Gaussian, Scalar> nw;  // Silverman's rule: the constant column takes spread 1
  nw.fit(X, Y, weights);
  const MatrixOf<Scalar> prediction = nw.predict(Q);
  CHECK(prediction.allFinite());
  CHECK(nw.bandwidth().allFinite());
  // The zero-weight rows (outputs 2 and 4) count for nothing: the prediction at the middle row
  // is the symmetric mean of outputs 1, 3, 5.
  CHECK(std::abs(static_cast<double>(prediction(1, 0)) - 3.0) <= 1e-5);
  const MatrixOf<Scalar> loo = nw.predict_leave_one_out();
  CHECK(loo.allFinite());

  ParzenDensity<Epanechnikov, Scalar> kde;
  kde.fit(X, weights);
  const VectorOf<Scalar> log_p = kde.log_density(Q);
  CHECK(std::isfinite(static_cast<double>(log_p(1))));
  CHECK_FALSE(std::isnan(static_cast<double>(log_p(2))));  // -inf where no sample reaches

  // A single row: its own value everywhere (Gaussian), NaN leave-one-out (documented).
  NadarayaWatson<Gaussian, Scalar> single(Bandwidth::silverman());
  single.fit(X.topRows(1), Y.topRows(1));
  const MatrixOf<Scalar> single_prediction = single.predict(Q);
  CHECK((single_prediction.array() == Scalar(1)).all());
  CHECK(single.predict_leave_one_out().array().isNaN().all());

  NadarayaWatsonClassifier<Gaussian, Scalar> classifier;
  Eigen::VectorXi labels(5);
  labels << 0, 1, 0, 1, 1;
  classifier.fit(X, labels, weights);
  const MatrixOf<Scalar> probabilities = classifier.predict_proba(Q);
  CHECK(probabilities.allFinite());
  CHECK((probabilities.rowwise().sum().array() - Scalar(1)).abs().maxCoeff() <= Scalar(1e-5));
}

// Found by fuzz_parzen_density: a bulk near zero and one far outlier. Centred on the mean
// (5.4e7), the bulk would round to multiples of 4 in float and leave the query's window (h = 3);
// a column is shifted only where no value moves further from zero, so these data stay put.
TEST_CASE("translation: a far outlier does not pull the bulk's digits away (float)",
          "[translation]") {
  Eigen::MatrixXf X(4, 1);
  X << -2.8125f, 7.3125f, -2.0625f, 2.17448e8f;
  Eigen::MatrixXf Q = Eigen::MatrixXf::Zero(1, 1);
  ParzenDensity<Uniform, float> kde(Bandwidth::scalar(3.0));
  kde.fit(X);
  // Two samples within 3 of the query: p = 2 / (4 * 2 * 3).
  CHECK(std::abs(kde.density(Q)(0) - 2.0f / 24.0f) <= 1e-6f);
  NadarayaWatson<Uniform, float> nw(Bandwidth::scalar(3.0));
  Eigen::MatrixXf Y(4, 1);
  Y << 1, 2, 3, 4;
  nw.fit(X, Y);
  CHECK(nw.predict(Q)(0, 0) == 2.0f);  // the mean of 1 and 3
}
