// Bandwidths: fixed widths, the standard-deviation unit, and the rules of thumb with their
// documented fallbacks, checked against the formulas computed by hand.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <nadaraya/nadaraya.hpp>
#include <vector>

#include "support/reference.hpp"

using namespace nadaraya;

namespace {

double sample_sd(const Eigen::VectorXd& x) {
  const double mean = x.mean();
  return std::sqrt((x.array() - mean).square().sum() / static_cast<double>(x.size() - 1));
}

// numpy.percentile's default (linear interpolation between order statistics).
double percentile(const Eigen::VectorXd& x, double p) {
  std::vector<double> v(x.data(), x.data() + x.size());
  std::sort(v.begin(), v.end());
  const double position = p * static_cast<double>(v.size() - 1);
  const auto below = static_cast<std::size_t>(position);
  const std::size_t above = std::min(below + 1, v.size() - 1);
  return v[below] + (position - static_cast<double>(below)) * (v[above] - v[below]);
}

}  // namespace

TEST_CASE("fixed widths resolve per dimension", "[bandwidth]") {
  const Eigen::MatrixXd X = nadaraya_test::normal_matrix(30, 3, 1);
  const Eigen::VectorXd scalar =
      Bandwidth::scalar(0.7).resolve<Gaussian>(X, Eigen::VectorXd(), "t");
  CHECK(scalar.isApprox(Eigen::VectorXd::Constant(3, 0.7)));
  const Eigen::VectorXd widths = Eigen::Vector3d(0.1, 2.0, 30.0);
  CHECK(Bandwidth::per_dimension(widths).resolve<Epanechnikov>(X, Eigen::VectorXd(), "t") ==
        widths);
  CHECK(Bandwidth::scalar(0.7).is_scalar());
  CHECK_FALSE(Bandwidth::per_dimension(widths).is_scalar());
}

TEST_CASE("a width given as a standard deviation is divided by the kernel's", "[bandwidth]") {
  const Eigen::MatrixXd X1 = nadaraya_test::normal_matrix(10, 1, 2);
  const Eigen::MatrixXd X3 = nadaraya_test::normal_matrix(10, 3, 2);
  const Eigen::VectorXd none;
  const Bandwidth sd = Bandwidth::scalar(0.5, WidthUnit::standard_deviation);
  CHECK(sd.resolve<Gaussian>(X1, none, "t")(0) == Approx(0.5));
  CHECK(sd.resolve<Epanechnikov>(X1, none, "t")(0) == Approx(0.5 * std::sqrt(5.0)));  // R's scale
  CHECK(sd.resolve<Uniform>(X1, none, "t")(0) == Approx(0.5 * std::sqrt(3.0)));
  CHECK(sd.resolve<Laplacian>(X1, none, "t")(0) == Approx(0.5 / std::sqrt(2.0)));
  CHECK(sd.resolve<Epanechnikov>(X3, none, "t")(2) == Approx(0.5 * std::sqrt(7.0)));
  CHECK(sd.resolve<Constant>(X1, none, "t")(0) == Approx(0.5));
}

TEST_CASE("Scott's rule: sd times n^(-1/(d+4)) per dimension", "[bandwidth]") {
  Eigen::MatrixXd X = nadaraya_test::normal_matrix(200, 2, 3);
  X.col(1) *= 5.0;
  const Eigen::VectorXd widths = Bandwidth::scott().resolve<Gaussian>(X, Eigen::VectorXd(), "t");
  for (Eigen::Index j = 0; j < 2; ++j) {
    CHECK(widths(j) == Approx(sample_sd(X.col(j)) * std::pow(200.0, -1.0 / 6)).epsilon(1e-13));
  }
}

TEST_CASE("Silverman's rule uses the robust spread min(sd, IQR/1.349)", "[bandwidth]") {
  Eigen::MatrixXd X = nadaraya_test::normal_matrix(150, 2, 4);
  X.col(1) = X.col(1).array().cube();  // heavy tails: the IQR term is the smaller one
  const Eigen::VectorXd widths =
      Bandwidth::silverman().resolve<Gaussian>(X, Eigen::VectorXd(), "t");
  const double factor = std::pow(4.0 / (4.0 * 150.0), 1.0 / 6);
  for (Eigen::Index j = 0; j < 2; ++j) {
    const double iqr = percentile(X.col(j), 0.75) - percentile(X.col(j), 0.25);
    const double spread = std::min(sample_sd(X.col(j)), iqr / 1.349);
    INFO("column " << j << ", sd " << sample_sd(X.col(j)) << ", iqr/1.349 " << iqr / 1.349);
    CHECK(widths(j) == Approx(spread * factor).epsilon(1e-13));
  }
  CHECK(percentile(X.col(1), 0.75) - percentile(X.col(1), 0.25) < 1.349 * sample_sd(X.col(1)));
  // In d = 1 the factor is (4/3)^(1/5) n^(-1/5) = 1.06 n^(-1/5): R's bw.nrd.
  const Eigen::MatrixXd x = X.col(0);
  const double iqr = percentile(x.col(0), 0.75) - percentile(x.col(0), 0.25);
  CHECK(Bandwidth::silverman().resolve<Gaussian>(x, Eigen::VectorXd(), "t")(0) ==
        Approx(std::pow(4.0 / 3.0, 0.2) * std::min(sample_sd(x.col(0)), iqr / 1.349) *
               std::pow(150.0, -0.2)));
}

TEST_CASE("rules never give a zero or NaN width", "[bandwidth]") {
  const Eigen::VectorXd none;
  SECTION("interquartile range of zero falls back to the sd") {
    Eigen::MatrixXd X = Eigen::MatrixXd::Zero(40, 1);
    X(0, 0) = 5;
    X(1, 0) = -3;  // IQR = 0, sd > 0
    const double factor = std::pow(4.0 / (3.0 * 40.0), 0.2);
    CHECK(Bandwidth::silverman().resolve<Gaussian>(X, none, "t")(0) ==
          Approx(sample_sd(X.col(0)) * factor));
  }
  SECTION("a constant column takes spread 1, the others are unaffected") {
    Eigen::MatrixXd X = nadaraya_test::normal_matrix(60, 2, 5);
    X.col(1).setConstant(3.25);
    for (const Bandwidth& rule : {Bandwidth::silverman(), Bandwidth::scott()}) {
      const Eigen::VectorXd widths = rule.resolve<Gaussian>(X, none, "t");
      const double factor = rule.rule() == Bandwidth::Rule::scott
                                ? std::pow(60.0, -1.0 / 6)
                                : std::pow(4.0 / (4.0 * 60.0), 1.0 / 6);
      CHECK(widths(1) == Approx(factor));
      CHECK(widths(0) > 0);
      CHECK(std::isfinite(widths(0)));
    }
  }
  SECTION("all points identical, and a single point") {
    for (Eigen::Index n : {1, 7}) {
      const Eigen::MatrixXd X = Eigen::MatrixXd::Constant(n, 3, -2.0);
      for (const Bandwidth& rule : {Bandwidth::silverman(), Bandwidth::scott()}) {
        const Eigen::VectorXd widths = rule.resolve<Epanechnikov>(X, none, "t");
        INFO("n = " << n);
        CHECK((widths.array() > 0).all());
        CHECK(widths.allFinite());
      }
    }
  }
  SECTION("estimators fitted on constant data predict finite values") {
    const Eigen::MatrixXd X = Eigen::MatrixXd::Constant(5, 1, 1e6);
    const Eigen::VectorXd y = Eigen::VectorXd::LinSpaced(5, 0, 4);
    NadarayaWatson<Gaussian> nw;
    nw.fit(X, y);
    CHECK(nw.predict(X)(0, 0) == Approx(2.0));
    ParzenDensity<Gaussian> kde;
    kde.fit(X);
    CHECK(std::isfinite(kde.log_density(X)(0)));
  }
}

TEST_CASE("weighted rules use the effective sample size and weighted spread", "[bandwidth]") {
  const Eigen::MatrixXd X = nadaraya_test::normal_matrix(80, 1, 6);
  const Eigen::VectorXd w = nadaraya_test::uniform_vector(80, 0.2, 3.0, 7);
  const Eigen::VectorXd p = w / w.sum();
  const double mean = p.dot(X.col(0));
  const double variance =
      p.dot((X.col(0).array() - mean).square().matrix()) / (1 - p.squaredNorm());
  const double n_eff = 1 / p.squaredNorm();
  CHECK(Bandwidth::scott().resolve<Gaussian>(X, w, "t")(0) ==
        Approx(std::sqrt(variance) * std::pow(n_eff, -0.2)).epsilon(1e-13));
  // Equal weights give the unweighted rule.
  CHECK(Bandwidth::silverman().resolve<Gaussian>(X, Eigen::VectorXd::Constant(80, 2.5), "t")(0) ==
        Approx(Bandwidth::silverman().resolve<Gaussian>(X, Eigen::VectorXd(), "t")(0))
            .epsilon(1e-12));
}

TEST_CASE("rules are read as standard deviations for every kernel", "[bandwidth]") {
  const Eigen::MatrixXd X = nadaraya_test::normal_matrix(100, 2, 8);
  const Eigen::VectorXd gaussian = Bandwidth::scott().resolve<Gaussian>(X, Eigen::VectorXd(), "t");
  const Eigen::VectorXd epanechnikov =
      Bandwidth::scott().resolve<Epanechnikov>(X, Eigen::VectorXd(), "t");
  CHECK(epanechnikov.isApprox(gaussian * std::sqrt(6.0)));  // Epanechnikov sd in d = 2: 1/sqrt(6)
}

TEST_CASE("bad widths are refused where they are given", "[bandwidth][errors]") {
  CHECK_THROWS_AS(Bandwidth::scalar(0.0), InvalidArgument);
  CHECK_THROWS_AS(Bandwidth::scalar(-1.0), InvalidArgument);
  CHECK_THROWS_AS(Bandwidth::scalar(std::nan("")), InvalidArgument);
  CHECK_THROWS_WITH(Bandwidth::scalar(std::numeric_limits<double>::infinity()),
                    Catch::Contains("Bandwidth::scalar") && Catch::Contains("positive and finite"));
  CHECK_THROWS_WITH(Bandwidth::per_dimension(Eigen::Vector3d(1, 0, 2)),
                    Catch::Contains("at index 1"));
  CHECK_THROWS_AS(Bandwidth::per_dimension(Eigen::VectorXd()), InvalidArgument);
  const Eigen::MatrixXd X = nadaraya_test::normal_matrix(10, 2, 9);
  CHECK_THROWS_WITH(Bandwidth::per_dimension(Eigen::Vector3d(1, 1, 2))
                        .resolve<Gaussian>(X, Eigen::VectorXd(), "fit"),
                    Catch::Contains("3 widths") && Catch::Contains("2 columns"));
}
