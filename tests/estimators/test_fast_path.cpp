// With equal weights the estimators hand the engine no weights at all (TrainingSet::
// engine_log_weights), which lets it take its fastest paths: in d = 1 with the Gaussian and enough
// queries to share a sort (64 log2 n), the sorted line. Densities add back the log(1 / n) the
// engine's sums then lack. Checked against the long-double reference, and against the same data
// given explicit equal weights (the engine's weighted paths).

#include <catch2/catch.hpp>

#include <cmath>
#include <nadaraya/nadaraya.hpp>

#include "support/reference.hpp"
#include "support/tolerances.hpp"

using namespace nadaraya;
using Index = Eigen::Index;

namespace {

template <class Scalar>
using MatrixOf = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
template <class Scalar>
using VectorOf = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

}  // namespace

TEMPLATE_TEST_CASE(
    "equal weights: predictions and densities on the engine's fastest path match "
    "the reference",
    "[estimators][fast_path]", float, double) {
  using Scalar = TestType;
  // 300 keys: 64 log2(300) = 576 queries or more share the sort.
  const Index n = 300, m = 700;
  const double h = 0.05;
  const MatrixOf<Scalar> X = nadaraya_test::normal_matrix<Scalar>(n, 1, 71);
  const MatrixOf<Scalar> Q = nadaraya_test::normal_matrix<Scalar>(m, 1, 72);
  MatrixOf<Scalar> Y(n, 1);
  for (Index i = 0; i < n; ++i) Y(i, 0) = static_cast<Scalar>(std::sin(3 * double(X(i, 0))));
  const Eigen::VectorXd widths = Eigen::VectorXd::Constant(1, h);
  const Eigen::VectorXd equal = Eigen::VectorXd::Constant(n, 2.5);
  // Sums of ~n terms, each exact to a few ulps (tests/numerics/test_fast_core.cpp).
  const double tolerance = std::is_same<Scalar, float>::value ? 2e-5 : 1e-12;

  NadarayaWatson<Gaussian, Scalar> nw(Bandwidth::scalar(h)), weighted(Bandwidth::scalar(h));
  nw.fit(X, Y);
  weighted.fit(X, Y, equal);
  const MatrixOf<Scalar> prediction = nw.predict(Q);
  const MatrixOf<Scalar> weighted_prediction = weighted.predict(Q);
  const nadaraya_test::LongMatrix expected =
      nadaraya_test::reference_nadaraya_watson<Gaussian>(Q, X, Y, widths);
  for (Index q = 0; q < m; ++q) {
    INFO("query " << q);
    CHECK(std::abs(static_cast<long double>(prediction(q, 0)) - expected(q, 0)) <= tolerance);
    CHECK(std::abs(static_cast<double>(prediction(q, 0) - weighted_prediction(q, 0))) <=
          2 * tolerance);
  }

  ParzenDensity<Gaussian, Scalar> kde(Bandwidth::scalar(h)), weighted_kde(Bandwidth::scalar(h));
  kde.fit(X);
  weighted_kde.fit(X, equal);
  const VectorOf<Scalar> log_p = kde.log_density(Q);
  const VectorOf<Scalar> weighted_log_p = weighted_kde.log_density(Q);
  const nadaraya_test::LongVector expected_log_p =
      nadaraya_test::reference_log_density<Gaussian>(Q, X, widths);
  for (Index q = 0; q < m; ++q) {
    INFO("query " << q << ": log p " << log_p(q) << ", expected " << double(expected_log_p(q)));
    // An error e in log p is a relative error e in p; far queries have large |log p|.
    const long double scale = 1 + std::abs(expected_log_p(q));
    CHECK(std::abs(static_cast<long double>(log_p(q)) - expected_log_p(q)) <= tolerance * scale);
    CHECK(std::abs(static_cast<double>(log_p(q) - weighted_log_p(q))) <=
          2 * tolerance * static_cast<double>(scale));
  }
  const VectorOf<Scalar> loo = kde.leave_one_out_log_density();
  const VectorOf<Scalar> weighted_loo = weighted_kde.leave_one_out_log_density();
  for (Index i = 0; i < n; ++i) {
    INFO("point " << i);
    CHECK(std::abs(static_cast<double>(loo(i) - weighted_loo(i))) <=
          2 * tolerance * (1 + std::abs(static_cast<double>(loo(i)))));
  }

  // The classifier's probabilities (two value columns: not the sorted line, but no weights).
  Eigen::VectorXi labels(n);
  MatrixOf<Scalar> one_hot = MatrixOf<Scalar>::Zero(n, 2);
  for (Index i = 0; i < n; ++i) {
    labels(i) = Y(i, 0) > 0 ? 1 : 0;
    one_hot(i, labels(i)) = 1;
  }
  NadarayaWatsonClassifier<Gaussian, Scalar> classifier(Bandwidth::scalar(h));
  classifier.fit(X, labels);
  const MatrixOf<Scalar> probabilities = classifier.predict_proba(Q);
  const nadaraya_test::LongMatrix expected_probabilities =
      nadaraya_test::reference_nadaraya_watson<Gaussian>(Q, X, one_hot, widths);
  for (Index q = 0; q < m; ++q) {
    for (Index c = 0; c < 2; ++c) {
      CHECK(std::abs(static_cast<long double>(probabilities(q, c)) -
                     expected_probabilities(q, c)) <= tolerance);
    }
  }
}
