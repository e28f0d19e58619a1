// ParzenDensity against the long-double brute-force reference, plus its edge cases: far from the
// data, out of reach of compact kernels, hand-computed values and leave-one-out.

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include <nadaraya/nadaraya.hpp>

#include "estimators/helpers.hpp"
#include "support/reference.hpp"
#include "support/tolerances.hpp"

using nadaraya::Bandwidth;
using nadaraya::Options;
using nadaraya::ParzenDensity;
using nadaraya::WidthUnit;
using nadaraya_test::close;
using nadaraya_test::normal_matrix;
using nadaraya_test::reference_log_density;

using estimator_test::for_each_compact_kernel;
using estimator_test::for_each_density_kernel;
using estimator_test::MatrixX;
using estimator_test::test_weights;
using estimator_test::VectorX;
using estimator_test::without_row;

namespace {

constexpr double infinity = std::numeric_limits<double>::infinity();

/// Kernel-scale widths that let the compact kernels reach a fair share of a standard normal
/// sample in d dimensions (per dimension in d = 2, to exercise diagonal bandwidths).
Eigen::VectorXd widths_for(Eigen::Index d) {
  if (d == 1) return Eigen::VectorXd::Constant(1, 0.6);
  if (d == 2) return (Eigen::VectorXd(2) << 0.7, 1.1).finished();
  return Eigen::VectorXd::Constant(d, 2.2);
}

Bandwidth bandwidth_of(const Eigen::VectorXd& h) {
  if ((h.array() == h(0)).all()) return Bandwidth::scalar(h(0));
  return Bandwidth::per_dimension(h);
}

template <class Kernel, class Scalar, class XDerived>
void fit(ParzenDensity<Kernel, Scalar>& kde, const Eigen::MatrixBase<XDerived>& X,
         const Eigen::VectorXd& weights) {
  if (weights.size() == 0) {
    kde.fit(X);
  } else {
    kde.fit(X, weights);
  }
}

}  // namespace

TEMPLATE_TEST_CASE("ParzenDensity matches the long-double reference", "[parzen]", float, double) {
  using Scalar = TestType;
  const Eigen::Index n = 120, m = 40;
  for (const Eigen::Index d : {1, 2, 5}) {
    for (const bool weighted : {false, true}) {
      const unsigned seed = static_cast<unsigned>(10 * d) + (weighted ? 1u : 0u);
      const MatrixX<Scalar> X = normal_matrix<Scalar>(n, d, seed);
      MatrixX<Scalar> Q = Scalar(1.3) * normal_matrix<Scalar>(m, d, seed + 100);
      Q.row(0) = X.row(3);  // a query exactly on a sample
      const Eigen::VectorXd w = weighted ? test_weights(n, seed + 200) : Eigen::VectorXd();
      const Eigen::VectorXd h = widths_for(d);

      for_each_density_kernel([&](auto kernel) {
        using Kernel = decltype(kernel);
        INFO("kernel " << Kernel::name << ", d = " << d << ", weighted = " << weighted);
        ParzenDensity<Kernel, Scalar> kde(bandwidth_of(h));
        fit(kde, X, w);
        REQUIRE(kde.bandwidth() == h);
        REQUIRE(kde.n_samples() == n);
        REQUIRE(kde.n_features() == d);

        const VectorX<Scalar> log_p = kde.log_density(Q);
        const VectorX<Scalar> p = kde.density(Q);
        const nadaraya_test::LongVector expected = reference_log_density<Kernel>(Q, X, h, w);
        REQUIRE(log_p.size() == m);
        REQUIRE(p.size() == m);
        Eigen::Index finite = 0;
        for (Eigen::Index q = 0; q < m; ++q) {
          INFO("query " << q);
          const auto want = static_cast<double>(expected(q));
          CHECK(close<Scalar>(log_p(q), want));
          CHECK(close<Scalar>(p(q), std::exp(want)));
          finite += std::isfinite(want) ? 1 : 0;
        }
        // Most queries are reached, so the comparison above is mostly between finite values.
        CHECK(finite >= 3 * m / 4);
        CHECK(close<Scalar>(kde.log_likelihood(Q), static_cast<double>(expected.sum()), 10.0));
      });
    }
  }
}

TEMPLATE_TEST_CASE("ParzenDensity: log density far from the data is finite (Gaussian)", "[parzen]",
                   float, double) {
  using Scalar = TestType;
  for (const Eigen::Index d : {1, 2}) {
    INFO("d = " << d);
    const MatrixX<Scalar> X = normal_matrix<Scalar>(50, d, 7);
    // 40 standard deviations away (d = 1) and 30 along each axis (d = 2): log p is about -700
    // and -900, at or below the edge of double's range, yet log_density stays finite.
    MatrixX<Scalar> Q(2, d);
    Q.row(0).setConstant(Scalar(d == 1 ? 40 : 30));
    Q.row(1) = -Q.row(0);
    ParzenDensity<nadaraya::Gaussian, Scalar> kde(Bandwidth::scalar(1.0));
    kde.fit(X);
    const VectorX<Scalar> log_p = kde.log_density(Q);
    const VectorX<Scalar> p = kde.density(Q);
    const nadaraya_test::LongVector expected =
        reference_log_density<nadaraya::Gaussian>(Q, X, Eigen::VectorXd::Ones(d));
    for (Eigen::Index q = 0; q < 2; ++q) {
      INFO("query " << Q.row(q));
      CHECK(std::isfinite(log_p(q)));
      CHECK(log_p(q) < Scalar(-700));
      CHECK(log_p(q) > Scalar(-1000));
      CHECK(close<Scalar>(log_p(q), static_cast<double>(expected(q))));
      // Tiny but representable (about 1e-305 in double) or 0 once below the smallest subnormal.
      CHECK(p(q) == std::exp(log_p(q)));
    }
    CHECK(std::isfinite(kde.log_likelihood(Q)));
  }
}

TEMPLATE_TEST_CASE("ParzenDensity: compact kernels give -inf out of reach", "[parzen]", float,
                   double) {
  using Scalar = TestType;
  const MatrixX<Scalar> X = normal_matrix<Scalar>(30, 2, 8);
  MatrixX<Scalar> Q(3, 2);
  Q << Scalar(10), Scalar(0), Scalar(0), Scalar(-10), Scalar(0.1), Scalar(0.2);
  for_each_compact_kernel([&](auto kernel) {
    using Kernel = decltype(kernel);
    INFO("kernel " << Kernel::name);
    ParzenDensity<Kernel, Scalar> kde(Bandwidth::scalar(1.0));
    kde.fit(X);
    const VectorX<Scalar> log_p = kde.log_density(Q);
    const VectorX<Scalar> p = kde.density(Q);
    CHECK(log_p(0) == -std::numeric_limits<Scalar>::infinity());
    CHECK(log_p(1) == -std::numeric_limits<Scalar>::infinity());
    CHECK(p(0) == Scalar(0));
    CHECK(p(1) == Scalar(0));
    const nadaraya_test::LongVector expected =
        reference_log_density<Kernel>(Q, X, Eigen::VectorXd::Ones(2));
    CHECK(std::isfinite(log_p(2)));
    CHECK(close<Scalar>(log_p(2), static_cast<double>(expected(2))));
    CHECK(kde.log_likelihood(Q) == -std::numeric_limits<Scalar>::infinity());
  });
}

TEST_CASE("ParzenDensity: hand-computed values for a single sample", "[parzen]") {
  // One sample at 0 and h = 0.5: p(q) = c_1 k((q / h)^2) / h.
  const Eigen::MatrixXd X = Eigen::MatrixXd::Zero(1, 1);
  const double h = 0.5;
  Eigen::MatrixXd Q(5, 1);
  Q << 0.0, 0.25, -0.25, 0.5, -0.5;  // centre, half way, the edge of the support (r = h)
  const double pi = 3.14159265358979323846;

  auto log_density = [&](auto kernel) {
    ParzenDensity<decltype(kernel)> kde(Bandwidth::scalar(h));
    kde.fit(X);
    return Eigen::VectorXd(kde.log_density(Q));
  };
  auto check = [](double actual, double expected) {
    INFO("actual " << actual << ", expected " << expected);
    CHECK(close<double>(actual, expected));
  };

  const Eigen::VectorXd gaussian = log_density(nadaraya::Gaussian{});
  check(gaussian(0), -0.5 * std::log(2 * pi) - std::log(h));
  check(gaussian(1), -0.5 * std::log(2 * pi) - std::log(h) - 0.125);
  check(gaussian(3), -0.5 * std::log(2 * pi) - std::log(h) - 0.5);

  const Eigen::VectorXd uniform = log_density(nadaraya::Uniform{});
  check(uniform(0), std::log(0.5 / h));  // = 0
  check(uniform(2), 0.0);
  CHECK(uniform(3) == -infinity);  // the support is the open ball: r = h is outside
  CHECK(uniform(4) == -infinity);

  const Eigen::VectorXd epanechnikov = log_density(nadaraya::Epanechnikov{});
  check(epanechnikov(0), std::log(0.75 / h));
  check(epanechnikov(1), std::log(0.75 * (1 - 0.25) / h));
  CHECK(epanechnikov(3) == -infinity);

  const Eigen::VectorXd triangular = log_density(nadaraya::Triangular{});
  check(triangular(0), std::log(1.0 / h));
  check(triangular(2), std::log(0.5 / h));
  CHECK(triangular(4) == -infinity);

  const Eigen::VectorXd biweight = log_density(nadaraya::Biweight{});
  check(biweight(1), std::log(15.0 / 16.0 * 0.75 * 0.75 / h));

  const Eigen::VectorXd triweight = log_density(nadaraya::Triweight{});
  check(triweight(1), std::log(35.0 / 32.0 * 0.75 * 0.75 * 0.75 / h));

  const Eigen::VectorXd cosine = log_density(nadaraya::Cosine{});
  check(cosine(0), std::log(pi / 4 / h));
  check(cosine(1), std::log(pi / 4 * std::cos(pi / 4) / h));
  CHECK(cosine(3) == -infinity);

  const Eigen::VectorXd laplacian = log_density(nadaraya::Laplacian{});
  check(laplacian(0), std::log(0.5 / h));
  check(laplacian(3), std::log(0.5 / h) - 1.0);

  // d = 2, diagonal widths: p(x) = 1 / (2 pi h1 h2) at the sample.
  ParzenDensity<nadaraya::Gaussian> kde2(Bandwidth::per_dimension(Eigen::Vector2d(0.5, 2.0)));
  kde2.fit(Eigen::MatrixXd::Zero(1, 2));
  check(kde2.log_density(Eigen::MatrixXd::Zero(1, 2))(0), -std::log(2 * pi * 0.5 * 2.0));
  check(kde2.log_density(Eigen::RowVector2d(0.5, 2.0))(0), -std::log(2 * pi) - 1.0);
}

TEMPLATE_TEST_CASE("ParzenDensity: leave-one-out equals refitting without the point", "[parzen]",
                   float, double) {
  using Scalar = TestType;
  const Eigen::Index n = 30, d = 2;
  MatrixX<Scalar> X = normal_matrix<Scalar>(n, d, 9);
  X.row(n - 1) << Scalar(50), Scalar(50);  // isolated: unreachable for compact kernels
  const Eigen::VectorXd h = widths_for(d);
  for (const bool weighted : {false, true}) {
    const Eigen::VectorXd w = weighted ? test_weights(n, 19) : Eigen::VectorXd();
    for_each_density_kernel([&](auto kernel) {
      using Kernel = decltype(kernel);
      INFO("kernel " << Kernel::name << ", weighted = " << weighted);
      ParzenDensity<Kernel, Scalar> kde(bandwidth_of(h));
      fit(kde, X, w);
      const VectorX<Scalar> loo = kde.leave_one_out_log_density();
      REQUIRE(loo.size() == n);
      for (Eigen::Index i = 0; i < n; ++i) {
        INFO("left out " << i);
        const MatrixX<Scalar> rest = without_row(X, i);
        const Eigen::VectorXd rest_w = weighted ? Eigen::VectorXd(without_row(w, i)) : w;
        ParzenDensity<Kernel, Scalar> refit(bandwidth_of(h));
        fit(refit, rest, rest_w);
        const Scalar refitted = refit.log_density(X.row(i))(0);
        const auto expected =
            static_cast<double>(reference_log_density<Kernel>(X.row(i), rest, h, rest_w)(0));
        CHECK(close<Scalar>(loo(i), static_cast<double>(refitted)));
        CHECK(close<Scalar>(loo(i), expected));
      }
      if (nadaraya::kernel_traits<Kernel>::is_compact) {
        CHECK(loo(n - 1) == -std::numeric_limits<Scalar>::infinity());
      } else {
        CHECK(std::isfinite(loo(n - 1)));
      }
    });
  }
}

TEST_CASE("ParzenDensity: leave-one-out edge cases", "[parzen]") {
  SECTION("a single sample has no others: -inf") {
    ParzenDensity<nadaraya::Gaussian> kde(Bandwidth::scalar(1.0));
    kde.fit(Eigen::MatrixXd::Constant(1, 2, 0.5));
    const Eigen::VectorXd loo = kde.leave_one_out_log_density();
    REQUIRE(loo.size() == 1);
    CHECK(loo(0) == -infinity);
  }
  SECTION("leaving out the only point of positive weight: -inf; the others see that point") {
    Eigen::MatrixXd X(3, 1);
    X << 0.0, 1.0, 2.0;
    const Eigen::Vector3d w(0.0, 0.0, 3.0);
    ParzenDensity<nadaraya::Gaussian> kde(Bandwidth::scalar(1.0));
    kde.fit(X, w);
    const Eigen::VectorXd loo = kde.leave_one_out_log_density();
    const double log_c = -0.5 * std::log(2 * 3.14159265358979323846);
    CHECK(close<double>(loo(0), log_c - 2.0));  // r = 2 from the weighted point
    CHECK(close<double>(loo(1), log_c - 0.5));
    CHECK(loo(2) == -infinity);
  }
}

TEMPLATE_TEST_CASE("ParzenDensity: per-dimension widths equal scaling the columns by hand",
                   "[parzen]", float, double) {
  using Scalar = TestType;
  const Eigen::Index d = 3;
  const MatrixX<Scalar> X = normal_matrix<Scalar>(60, d, 11);
  const MatrixX<Scalar> Q = normal_matrix<Scalar>(20, d, 12);
  const Eigen::Vector3d h(0.5, 2.0, 1.25);  // powers of two, so X / h is exact in both ways
  const Eigen::Matrix<Scalar, 3, 1> h_scalar = h.cast<Scalar>();
  const MatrixX<Scalar> X_scaled = X * h_scalar.cwiseInverse().asDiagonal();
  const MatrixX<Scalar> Q_scaled = Q * h_scalar.cwiseInverse().asDiagonal();
  const double log_jacobian = h.array().log().sum();
  auto check_kernel = [&](auto kernel) {
    using Kernel = decltype(kernel);
    INFO("kernel " << Kernel::name);
    ParzenDensity<Kernel, Scalar> diagonal(Bandwidth::per_dimension(h));
    ParzenDensity<Kernel, Scalar> by_hand(Bandwidth::scalar(1.0));
    diagonal.fit(X);
    by_hand.fit(X_scaled);
    const VectorX<Scalar> a = diagonal.log_density(Q);
    const VectorX<Scalar> b = by_hand.log_density(Q_scaled);
    for (Eigen::Index q = 0; q < Q.rows(); ++q) {
      INFO("query " << q);
      CHECK(close<Scalar>(a(q), static_cast<double>(b(q)) - log_jacobian));
    }
  };
  check_kernel(nadaraya::Gaussian{});
  check_kernel(nadaraya::Epanechnikov{});
  check_kernel(nadaraya::Laplacian{});
}

TEST_CASE("ParzenDensity: widths given as standard deviations, set_bandwidth, threads",
          "[parzen]") {
  const Eigen::MatrixXd X = normal_matrix<double>(80, 1, 13);
  const Eigen::MatrixXd Q = normal_matrix<double>(25, 1, 14);

  SECTION("Epanechnikov with sd s has kernel scale s sqrt(5) in d = 1") {
    const double s = 0.3;
    ParzenDensity<nadaraya::Epanechnikov> by_sd(
        Bandwidth::scalar(s, WidthUnit::standard_deviation));
    ParzenDensity<nadaraya::Epanechnikov> by_scale(Bandwidth::scalar(s * std::sqrt(5.0)));
    by_sd.fit(X);
    by_scale.fit(X);
    CHECK(close<double>(by_sd.bandwidth()(0), s * std::sqrt(5.0)));
    const Eigen::VectorXd a = by_sd.log_density(Q), b = by_scale.log_density(Q);
    for (Eigen::Index q = 0; q < Q.rows(); ++q) CHECK(close<double>(a(q), b(q)));
  }
  SECTION("set_bandwidth re-resolves on the stored data") {
    ParzenDensity<nadaraya::Gaussian> changed(Bandwidth::scalar(0.2));
    changed.fit(X);
    changed.set_bandwidth(Bandwidth::scalar(0.7));
    ParzenDensity<nadaraya::Gaussian> fresh(Bandwidth::scalar(0.7));
    fresh.fit(X);
    CHECK(changed.bandwidth()(0) == 0.7);
    const Eigen::VectorXd a = changed.log_density(Q), b = fresh.log_density(Q);
    for (Eigen::Index q = 0; q < Q.rows(); ++q) CHECK(close<double>(a(q), b(q)));
  }
  SECTION("results do not depend on the number of threads") {
    Options one, two;
    one.threads = 1;
    two.threads = 2;
    ParzenDensity<nadaraya::Gaussian> serial(Bandwidth::scalar(0.4), one);
    ParzenDensity<nadaraya::Gaussian> parallel(Bandwidth::scalar(0.4), two);
    serial.fit(X);
    parallel.fit(X);
    CHECK(estimator_test::identical(serial.log_density(Q), parallel.log_density(Q)));
    CHECK(estimator_test::identical(serial.leave_one_out_log_density(),
                                    parallel.leave_one_out_log_density()));
  }
}

// Regression: density() must be exactly 0 where log_density() is -inf (and underflow to 0 like
// std::exp far from the data). Eigen 3.4's vectorised double exp clamps its argument at about
// -708.4, so `log_density(Q).array().exp()` returns 5.56e-309 instead of 0 for both.
TEST_CASE("ParzenDensity: density is exactly 0 where log_density is -inf (double)", "[parzen]") {
  Eigen::MatrixXd X(2, 1);
  X << 0.0, 0.1;
  Eigen::MatrixXd Q(2, 1);
  Q << 5.0, 0.05;
  ParzenDensity<nadaraya::Epanechnikov> kde(Bandwidth::scalar(1.0));
  kde.fit(X);
  const Eigen::VectorXd log_p = kde.log_density(Q);
  const Eigen::VectorXd p = kde.density(Q);
  REQUIRE(log_p(0) == -infinity);
  CHECK(p(0) == 0.0);
  CHECK(p(0) == std::exp(log_p(0)));
  CHECK(close<double>(p(1), std::exp(log_p(1))));
}
