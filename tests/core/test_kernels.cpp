// Kernels: closed-form constants against quadrature, densities that integrate to one in d = 1, 2,
// 3, and a user-written kernel that plugs into every estimator.

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <nadaraya/nadaraya.hpp>

#include "support/reference.hpp"
#include "support/short_run.hpp"

using namespace nadaraya;

namespace {

// A user kernel written as one small struct: only the profile and its support. The library
// finds its normalising constant and variance by quadrature.
struct Tricube {
  static constexpr const char* name = "tricube";
  static constexpr double support_radius = 1.0;
  template <class Scalar>
  static Scalar log_profile(Scalar r2) {
    if (!(r2 < Scalar(1))) return -std::numeric_limits<Scalar>::infinity();
    const Scalar s = std::sqrt(r2);
    return Scalar(3) * std::log1p(-s * s * s);
  }
};

// An unbounded user kernel: the Cauchy-like profile 1 / (1 + r2)^2 (integrable for d < 4).
struct InverseQuadratic {
  template <class Scalar>
  static Scalar log_profile(Scalar r2) {
    return Scalar(-2) * std::log1p(r2);
  }
};

// Integral over R^d of c_d k(||u||^2) by nested Gauss–Legendre, independent of the radial
// formulas the library uses. Inside the unit ball the substitution x = a sin t makes the chord
// ends smooth; unbounded kernels are integrated on [-L, L] per axis, split at 0 (the cusp of the
// Laplacian and Triangular kernels sits on a panel edge).
double integrate_density(const std::function<double(double)>& log_profile, double log_normaliser,
                         int d, bool compact, double half_width, int panels) {
  std::function<double(int, double)> level = [&](int axis, double r2) -> double {
    if (axis == d) return std::exp(log_profile(r2) + log_normaliser);
    if (compact) {
      const double a = std::sqrt(std::max(0.0, 1.0 - r2));
      if (a <= 0) return 0.0;
      auto f = [&](double t) {
        return a * std::cos(t) * level(axis + 1, r2 + std::pow(a * std::sin(t), 2));
      };
      return detail::integrate(f, -detail::pi / 2, 0.0, panels) +
             detail::integrate(f, 0.0, detail::pi / 2, panels);
    }
    auto f = [&](double x) { return level(axis + 1, r2 + x * x); };
    return detail::integrate(f, -half_width, 0.0, panels) +
           detail::integrate(f, 0.0, half_width, panels);
  };
  return level(0, 0.0);
}

template <class Kernel>
double integral_of_density(int d) {
  using Traits = kernel_traits<Kernel>;
  auto log_profile = [](double r2) { return Traits::log_profile(r2); };
  const int panels = d == 3 ? 4 : 16;
  const double half_width = std::is_same<Kernel, Gaussian>::value ? 12.0 : 45.0;
  return integrate_density(log_profile, Traits::log_normaliser(d), d, Traits::is_compact,
                           half_width, Traits::is_compact ? 2 * panels : 2 * panels + 8);
}

template <class Kernel>
double numeric_log_normaliser(int d) {
  auto log_profile = [](double r2) { return kernel_traits<Kernel>::log_profile(r2); };
  const double moment =
      detail::radial_moment(log_profile, d, 0, kernel_traits<Kernel>::support_radius());
  return -(detail::log_unit_sphere_area(d) + std::log(moment));
}

template <class Kernel>
double numeric_variance(int d) {
  auto log_profile = [](double r2) { return kernel_traits<Kernel>::log_profile(r2); };
  const double radius = kernel_traits<Kernel>::support_radius();
  return detail::radial_moment(log_profile, d, 2, radius) /
         detail::radial_moment(log_profile, d, 0, radius) / d;
}

}  // namespace

TEMPLATE_TEST_CASE("closed-form constants agree with radial quadrature", "[kernel]", Gaussian,
                   Epanechnikov, Uniform, Triangular, Biweight, Triweight, Cosine, Laplacian) {
  for (int d = 1; d <= 8; ++d) {
    INFO(kernel_traits<TestType>::name() << " in d = " << d);
    CHECK(kernel_traits<TestType>::log_normaliser(d) ==
          Approx(numeric_log_normaliser<TestType>(d)).epsilon(1e-11));
    CHECK(kernel_traits<TestType>::variance(d) ==
          Approx(numeric_variance<TestType>(d)).epsilon(1e-10));
  }
}

TEMPLATE_TEST_CASE("every density integrates to one in d = 1, 2, 3", "[kernel]", Gaussian,
                   Epanechnikov, Uniform, Triangular, Biweight, Triweight, Cosine, Laplacian) {
  // d = 3 is most of this file's time unoptimised; a short run stops at d = 2.
  for (int d = 1; d <= (nadaraya_test::short_run ? 2 : 3); ++d) {
    INFO(kernel_traits<TestType>::name() << " in d = " << d);
    CHECK(integral_of_density<TestType>(d) == Approx(1.0).epsilon(1e-6));
  }
}

TEST_CASE("known one-dimensional constants and variances", "[kernel]") {
  // The textbook values of the table in kernels.hpp.
  CHECK(std::exp(kernel_traits<Gaussian>::log_normaliser(1)) ==
        Approx(1 / std::sqrt(2 * detail::pi)));
  CHECK(std::exp(kernel_traits<Epanechnikov>::log_normaliser(1)) == Approx(0.75));
  CHECK(std::exp(kernel_traits<Uniform>::log_normaliser(1)) == Approx(0.5));
  CHECK(std::exp(kernel_traits<Triangular>::log_normaliser(1)) == Approx(1.0));
  CHECK(std::exp(kernel_traits<Biweight>::log_normaliser(1)) == Approx(15.0 / 16));
  CHECK(std::exp(kernel_traits<Triweight>::log_normaliser(1)) == Approx(35.0 / 32));
  CHECK(std::exp(kernel_traits<Cosine>::log_normaliser(1)) == Approx(detail::pi / 4));
  CHECK(std::exp(kernel_traits<Laplacian>::log_normaliser(1)) == Approx(0.5));
  CHECK(kernel_traits<Epanechnikov>::variance(1) == Approx(0.2));
  CHECK(kernel_traits<Uniform>::variance(1) == Approx(1.0 / 3));
  CHECK(kernel_traits<Triangular>::variance(1) == Approx(1.0 / 6));
  CHECK(kernel_traits<Cosine>::variance(1) == Approx(1 - 8 / (detail::pi * detail::pi)));
  CHECK(kernel_traits<Laplacian>::variance(1) == Approx(2.0));
  // Epanechnikov in d = 2: (d + 2) / (2 V_d) = 2 / pi.
  CHECK(std::exp(kernel_traits<Epanechnikov>::log_normaliser(2)) == Approx(2 / detail::pi));
}

TEST_CASE("profiles vanish exactly outside compact support", "[kernel]") {
  CHECK(Epanechnikov::log_profile(1.0) == -std::numeric_limits<double>::infinity());
  CHECK(Uniform::log_profile(1.0f) == -std::numeric_limits<float>::infinity());
  CHECK(Triangular::log_profile(4.0) == -std::numeric_limits<double>::infinity());
  CHECK(Cosine::log_profile(1.5) == -std::numeric_limits<double>::infinity());
  CHECK(Uniform::log_profile(0.999) == 0.0);
  CHECK(Gaussian::log_profile(1e6) == -5e5);
  CHECK(Constant::log_profile(1e300) == 0.0);
  CHECK_FALSE(kernel_traits<Gaussian>::is_compact);
  CHECK(kernel_traits<Biweight>::is_compact);
  CHECK_FALSE(kernel_traits<Constant>::is_normalisable);
}

TEMPLATE_TEST_CASE("dlog_profile is the derivative of log_profile", "[kernel]", Gaussian,
                   Epanechnikov, Triangular, Biweight, Triweight, Cosine, Laplacian) {
  for (double r2 : {0.01, 0.2, 0.5, 0.8}) {
    const double step = 1e-6;
    const double numeric =
        (TestType::log_profile(r2 + step) - TestType::log_profile(r2 - step)) / (2 * step);
    INFO(kernel_traits<TestType>::name() << " at r2 = " << r2);
    CHECK(TestType::dlog_profile(r2) == Approx(numeric).epsilon(1e-7));
  }
}

TEST_CASE("a user kernel of one small struct: constants by quadrature", "[kernel][user]") {
  using Traits = kernel_traits<Tricube>;
  STATIC_REQUIRE(Traits::is_compact);
  CHECK(std::string(Traits::name()) == "tricube");
  STATIC_REQUIRE_FALSE(Traits::is_differentiable);
  // Tricube: c_1 = 70/81, variance 35/243 in d = 1.
  CHECK(std::exp(Traits::log_normaliser(1)) == Approx(70.0 / 81).epsilon(1e-12));
  CHECK(Traits::variance(1) == Approx(35.0 / 243).epsilon(1e-12));
  for (int d = 1; d <= 3; ++d) {
    INFO("d = " << d);
    CHECK(integral_of_density<Tricube>(d) == Approx(1.0).epsilon(1e-6));
  }
  // Unbounded user kernel, d = 1: integral of 1/(1 + u^2)^2 is pi/2.
  CHECK(std::exp(kernel_traits<InverseQuadratic>::log_normaliser(1)) ==
        Approx(2 / detail::pi).epsilon(1e-9));
}

TEST_CASE("a user kernel works in every estimator", "[kernel][user]") {
  const Eigen::MatrixXd X = nadaraya_test::normal_matrix(50, 2, 11);
  const Eigen::MatrixXd Q = nadaraya_test::normal_matrix(20, 2, 12);
  const Eigen::VectorXd y = X.col(0).array().sin().matrix() + X.col(1);
  const Eigen::VectorXd h = Eigen::Vector2d(1.2, 0.9);

  ParzenDensity<Tricube> kde(Bandwidth::per_dimension(h));
  kde.fit(X);
  const Eigen::VectorXd log_density = kde.log_density(Q);
  const auto expected_density = nadaraya_test::reference_log_density<Tricube>(Q, X, h);

  NadarayaWatson<Tricube> nw(Bandwidth::per_dimension(h));
  nw.fit(X, y);
  const Eigen::MatrixXd prediction = nw.predict(Q);
  const auto expected_prediction = nadaraya_test::reference_nadaraya_watson<Tricube>(Q, X, y, h);
  for (Eigen::Index q = 0; q < Q.rows(); ++q) {
    INFO("query " << q);
    if (std::isinf(static_cast<double>(expected_density(q)))) {
      CHECK(std::isinf(log_density(q)));
      CHECK(std::isnan(prediction(q, 0)));
    } else {
      CHECK(log_density(q) == Approx(static_cast<double>(expected_density(q))).epsilon(1e-12));
      CHECK(prediction(q, 0) ==
            Approx(static_cast<double>(expected_prediction(q, 0))).epsilon(1e-12));
    }
  }
}
