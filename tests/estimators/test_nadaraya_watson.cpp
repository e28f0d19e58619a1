// NadarayaWatson and NadarayaWatsonClassifier against the long-double brute-force reference, their
// limits (tiny and huge bandwidths, the Constant kernel, unreached queries), leave-one-out, score,
// and the classifier's Bayes-rule identities with Parzen class densities.

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include <nadaraya/nadaraya.hpp>

#include "estimators/helpers.hpp"
#include "support/reference.hpp"
#include "support/tolerances.hpp"

using nadaraya::Bandwidth;
using nadaraya::NadarayaWatson;
using nadaraya::NadarayaWatsonClassifier;
using nadaraya::Options;
using nadaraya::ParzenDensity;
using nadaraya::Unreached;
using nadaraya::WidthUnit;
using nadaraya_test::close;
using nadaraya_test::LongMatrix;
using nadaraya_test::normal_matrix;
using nadaraya_test::reference_nadaraya_watson;

using estimator_test::for_each_density_kernel;
using estimator_test::MatrixX;
using estimator_test::test_weights;
using estimator_test::VectorX;
using estimator_test::without_row;

namespace {

/// Kernel-scale widths that let the compact kernels reach a fair share of a standard normal
/// sample in d dimensions (per dimension in d = 2, to exercise diagonal bandwidths).
Eigen::VectorXd widths_for(Eigen::Index d) {
  if (d == 1) return Eigen::VectorXd::Constant(1, 0.5);
  if (d == 2) return (Eigen::VectorXd(2) << 0.6, 0.9).finished();
  return Eigen::VectorXd::Constant(d, 2.2);
}

Bandwidth bandwidth_of(const Eigen::VectorXd& h) {
  if ((h.array() == h(0)).all()) return Bandwidth::scalar(h(0));
  return Bandwidth::per_dimension(h);
}

/// Every kernel Nadaraya–Watson accepts: the density kernels and Constant.
template <class F>
void for_each_kernel(F&& f) {
  for_each_density_kernel(f);
  f(nadaraya::Constant{});
}

template <class Estimator, class XDerived, class YDerived>
void fit(Estimator& estimator, const Eigen::MatrixBase<XDerived>& X,
         const Eigen::MatrixBase<YDerived>& Y, const Eigen::VectorXd& weights) {
  if (weights.size() == 0) {
    estimator.fit(X, Y);
  } else {
    estimator.fit(X, Y, weights);
  }
}

/// Weighted column means of Y in long double (equal weights when `weights` is empty).
template <class Derived>
LongMatrix weighted_mean(const Eigen::MatrixBase<Derived>& Y, const Eigen::VectorXd& weights) {
  LongMatrix sum = LongMatrix::Zero(1, Y.cols());
  long double total = 0;
  for (Eigen::Index i = 0; i < Y.rows(); ++i) {
    const long double w = weights.size() == 0 ? 1.0L : weights(i);
    total += w;
    for (Eigen::Index c = 0; c < Y.cols(); ++c) sum(0, c) += w * static_cast<long double>(Y(i, c));
  }
  return sum / total;
}

/// Elementwise check of an estimator's output against a long-double reference.
template <class Scalar, class Derived>
void check_close(const Eigen::MatrixBase<Derived>& actual, const LongMatrix& expected,
                 double scale = 1.0) {
  REQUIRE(actual.rows() == expected.rows());
  REQUIRE(actual.cols() == expected.cols());
  for (Eigen::Index q = 0; q < actual.rows(); ++q) {
    for (Eigen::Index c = 0; c < actual.cols(); ++c) {
      INFO("row " << q << ", column " << c);
      CHECK(close<Scalar>(static_cast<double>(actual(q, c)), static_cast<double>(expected(q, c)),
                          scale));
    }
  }
}

/// exp of each entry with std::exp (which underflows to exactly 0, unlike a clamped SIMD exp).
Eigen::VectorXd exp_of(const Eigen::VectorXd& v) {
  Eigen::VectorXd out(v.size());
  for (Eigen::Index i = 0; i < v.size(); ++i) out(i) = std::exp(v(i));
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// NadarayaWatson
// ---------------------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("NadarayaWatson matches the long-double reference", "[nadaraya_watson]", float,
                   double) {
  using Scalar = TestType;
  const Eigen::Index n = 80, m = 30;
  for (const Eigen::Index d : {1, 2, 5}) {
    for (const Eigen::Index k : {1, 3}) {
      for (const bool weighted : {false, true}) {
        const unsigned seed = static_cast<unsigned>(100 * d + 10 * k) + (weighted ? 1u : 0u);
        const MatrixX<Scalar> X = normal_matrix<Scalar>(n, d, seed);
        const MatrixX<Scalar> Y = normal_matrix<Scalar>(n, k, seed + 1000);
        MatrixX<Scalar> Q = Scalar(1.3) * normal_matrix<Scalar>(m, d, seed + 2000);
        Q.row(0) = X.row(3);
        const Eigen::VectorXd w = weighted ? test_weights(n, seed + 3000) : Eigen::VectorXd();
        const Eigen::VectorXd h = widths_for(d);

        for_each_kernel([&](auto kernel) {
          using Kernel = decltype(kernel);
          INFO("kernel " << Kernel::name << ", d = " << d << ", k = " << k
                         << ", weighted = " << weighted);
          NadarayaWatson<Kernel, Scalar> nw(bandwidth_of(h));
          if (k == 1) {
            const VectorX<Scalar> y = Y.col(0);  // a vector is one output
            fit(nw, X, y, w);
          } else {
            fit(nw, X, Y, w);
          }
          REQUIRE(nw.n_outputs() == k);
          REQUIRE(nw.bandwidth() == h);
          const MatrixX<Scalar> P = nw.predict(Q);
          const LongMatrix expected = reference_nadaraya_watson<Kernel>(Q, X, Y, h, w);
          check_close<Scalar>(P, expected);
          Eigen::Index reached = 0;
          for (Eigen::Index q = 0; q < m; ++q) reached += std::isnan(P(q, 0)) ? 0 : 1;
          CHECK(reached >= 3 * m / 4);
        });
      }
    }
  }
}

TEMPLATE_TEST_CASE("NadarayaWatson: attention weights", "[nadaraya_watson]", float, double) {
  using Scalar = TestType;
  const Eigen::Index n = 40, m = 15, d = 2;
  const MatrixX<Scalar> X = normal_matrix<Scalar>(n, d, 21);
  const MatrixX<Scalar> Y = normal_matrix<Scalar>(n, 2, 22);
  const MatrixX<Scalar> Q = normal_matrix<Scalar>(m, d, 23);
  const Eigen::VectorXd h = widths_for(d);
  // The attention weights are the Nadaraya–Watson pooling of the identity matrix.
  const MatrixX<Scalar> identity = MatrixX<Scalar>::Identity(n, n);
  for (const bool weighted : {false, true}) {
    const Eigen::VectorXd w = weighted ? test_weights(n, 24) : Eigen::VectorXd();
    auto check_kernel = [&](auto kernel) {
      using Kernel = decltype(kernel);
      INFO("kernel " << Kernel::name << ", weighted = " << weighted);
      NadarayaWatson<Kernel, Scalar> nw(bandwidth_of(h));
      fit(nw, X, Y, w);
      const MatrixX<Scalar> A = nw.attention_weights(Q);
      REQUIRE(A.rows() == m);
      REQUIRE(A.cols() == n);
      const LongMatrix expected = reference_nadaraya_watson<Kernel>(Q, X, identity, h, w);
      check_close<Scalar>(A, expected);
      const MatrixX<Scalar> P = nw.predict(Q);
      const MatrixX<Scalar> AY = A * Y;
      for (Eigen::Index q = 0; q < m; ++q) {
        INFO("query " << q);
        if (std::isnan(P(q, 0))) {
          CHECK(A.row(q).array().isNaN().all());
          continue;
        }
        CHECK((A.row(q).array() >= Scalar(0)).all());
        CHECK(close<Scalar>(A.row(q).sum(), 1.0));
        for (Eigen::Index c = 0; c < Y.cols(); ++c) CHECK(close<Scalar>(AY(q, c), P(q, c)));
        // Keys out of the support, or of weight zero, get exactly zero attention.
        for (Eigen::Index i = 0; i < n; ++i) {
          if (expected(q, i) == 0) {
            INFO("key " << i);
            CHECK(A(q, i) == Scalar(0));
          }
        }
      }
    };
    check_kernel(nadaraya::Gaussian{});
    check_kernel(nadaraya::Epanechnikov{});
    check_kernel(nadaraya::Laplacian{});
    check_kernel(nadaraya::Constant{});
  }
}

// Attention weights of keys out of the support must be exactly 0 (a guard: Eigen 3.4's vectorised
// double exp clamps its argument at about -708.4 and turns exp(-inf) into 5.56e-309; the strided
// row that attention_weights() writes is not vectorised today, so it gets std::exp's exact 0).
TEST_CASE("NadarayaWatson: attention weights are exactly 0 out of a compact kernel's support",
          "[nadaraya_watson]") {
  Eigen::MatrixXd X(3, 1), Y(3, 1);
  X << 0.0, 0.1, 5.0;
  Y << 1.0, 2.0, 3.0;
  NadarayaWatson<nadaraya::Epanechnikov> nw(Bandwidth::scalar(1.0));
  nw.fit(X, Y);
  const Eigen::MatrixXd A = nw.attention_weights(Eigen::MatrixXd::Zero(1, 1));
  CHECK(A(0, 2) == 0.0);
  CHECK((A * Y)(0, 0) == nw.predict(Eigen::MatrixXd::Zero(1, 1))(0, 0));
}

TEMPLATE_TEST_CASE("NadarayaWatson: leave-one-out equals refitting without the point",
                   "[nadaraya_watson]", float, double) {
  using Scalar = TestType;
  const Eigen::Index n = 30, d = 2;
  MatrixX<Scalar> X = normal_matrix<Scalar>(n, d, 31);
  X.row(n - 1) << Scalar(50), Scalar(-50);  // isolated: unreachable for compact kernels
  const MatrixX<Scalar> Y = normal_matrix<Scalar>(n, 2, 32);
  const Eigen::VectorXd h = widths_for(d);
  for (const bool weighted : {false, true}) {
    const Eigen::VectorXd w = weighted ? test_weights(n, 33) : Eigen::VectorXd();
    auto check_kernel = [&](auto kernel) {
      using Kernel = decltype(kernel);
      INFO("kernel " << Kernel::name << ", weighted = " << weighted);
      NadarayaWatson<Kernel, Scalar> nw(bandwidth_of(h));
      fit(nw, X, Y, w);
      const MatrixX<Scalar> loo = nw.predict_leave_one_out();
      REQUIRE(loo.rows() == n);
      REQUIRE(loo.cols() == 2);
      check_close<Scalar>(loo, reference_nadaraya_watson<Kernel>(X, X, Y, h, w, true));
      for (Eigen::Index i = 0; i < n; ++i) {
        INFO("left out " << i);
        NadarayaWatson<Kernel, Scalar> refit(bandwidth_of(h));
        const Eigen::VectorXd rest_w = weighted ? Eigen::VectorXd(without_row(w, i)) : w;
        fit(refit, without_row(X, i), without_row(Y, i), rest_w);
        const MatrixX<Scalar> refitted = refit.predict(X.row(i));
        for (Eigen::Index c = 0; c < 2; ++c) {
          CHECK(close<Scalar>(loo(i, c), static_cast<double>(refitted(0, c))));
        }
      }
      CHECK(std::isnan(loo(n - 1, 0)) == nadaraya::kernel_traits<Kernel>::is_compact);
    };
    check_kernel(nadaraya::Gaussian{});
    check_kernel(nadaraya::Epanechnikov{});
    check_kernel(nadaraya::Uniform{});
    check_kernel(nadaraya::Laplacian{});
    check_kernel(nadaraya::Constant{});
  }
}

TEMPLATE_TEST_CASE("NadarayaWatson: a tiny Gaussian bandwidth gives the nearest neighbour",
                   "[nadaraya_watson]", float, double) {
  using Scalar = TestType;
  const Eigen::Index d = 2, k = 2;
  MatrixX<Scalar> X(43, d);
  X.topRows(40) = normal_matrix<Scalar>(40, d, 41);
  X.row(40) = X.row(5);  // three samples at one point, with different outputs
  X.row(41) = X.row(5);
  X.row(42) = X.row(17);  // two at another
  const Eigen::Index n = X.rows();
  const MatrixX<Scalar> Y = normal_matrix<Scalar>(n, k, 42);
  MatrixX<Scalar> Q(30 + n + 1, d);
  Q.topRows(30) = Scalar(1.5) * normal_matrix<Scalar>(30, d, 43);
  Q.middleRows(30, n) = X;                       // every sample, duplicates included
  Q.bottomRows(1) << Scalar(1e3), Scalar(-1e3);  // far from everything: still no NaN

  for (const bool weighted : {false, true}) {
    const Eigen::VectorXd w =
        weighted ? nadaraya_test::uniform_vector(n, 0.5, 2.0, 44) : Eigen::VectorXd();
    INFO("weighted = " << weighted);
    NadarayaWatson<nadaraya::Gaussian, Scalar> nw(Bandwidth::scalar(1e-8));
    fit(nw, X, Y, w);
    const MatrixX<Scalar> P = nw.predict(Q);
    REQUIRE_FALSE(P.array().isNaN().any());
    Eigen::Index checked = 0, ties = 0;
    for (Eigen::Index q = 0; q < Q.rows(); ++q) {
      INFO("query " << q << " at " << Q.row(q));
      // The nearest samples, by squared distance in long double.
      std::vector<long double> r2(static_cast<std::size_t>(n));
      long double best = std::numeric_limits<long double>::infinity();
      for (Eigen::Index i = 0; i < n; ++i) {
        long double s = 0;
        for (Eigen::Index j = 0; j < d; ++j) {
          const long double u =
              static_cast<long double>(Q(q, j)) - static_cast<long double>(X(i, j));
          s += u * u;
        }
        r2[static_cast<std::size_t>(i)] = s;
        best = std::min(best, s);
      }
      std::vector<Eigen::Index> nearest;
      long double second = std::numeric_limits<long double>::infinity();
      for (Eigen::Index i = 0; i < n; ++i) {
        const long double s = r2[static_cast<std::size_t>(i)];
        if (s == best) {
          nearest.push_back(i);
        } else {
          second = std::min(second, s);
        }
      }
      // Skip near-ties between distinct points, which rounding in Scalar could reorder.
      if (second - best < 1e-3L * second) continue;
      ++checked;
      ties += nearest.size() > 1 ? 1 : 0;
      for (Eigen::Index c = 0; c < k; ++c) {
        if (!weighted) {
          // The mean of the tied neighbours, summed in the engine's order: exact.
          Scalar sum = 0;
          for (Eigen::Index i : nearest) sum += Y(i, c);
          CHECK(P(q, c) == sum / static_cast<Scalar>(nearest.size()));
        } else if (q >= 30 && q < 30 + n) {
          // On a sample the kernel's log-weight is 0, so the sample weights are kept exactly
          // (away from the samples, see the regression test below).
          long double sum = 0, total = 0;
          for (Eigen::Index i : nearest) {
            sum += w(i) * static_cast<long double>(Y(i, c));
            total += w(i);
          }
          CHECK(close<Scalar>(P(q, c), static_cast<double>(sum / total)));
        }
      }
    }
    CHECK(checked >= Q.rows() - 2);
    CHECK(ties >= 5);  // at least the five queries on the duplicated samples
  }
}

// Regression: with a tiny bandwidth the log-weight log w_i - r2/2 is dominated by r2/2 ~ 1e16, so
// adding log w_i to it rounds log w_i away and tied neighbours lose their sample weights (with
// h = 1e-8 at distance 1 the weights 1 and 3 became e^0 and e^1). The engine keeps log k and
// log w apart (log k is taken relative to its running maximum first). The limit h -> 0 is the
// weighted mean of the tied neighbours, (1 * 0 + 3 * 4) / 4 = 3.
TEST_CASE("NadarayaWatson: a tiny bandwidth keeps the sample weights of tied neighbours",
          "[nadaraya_watson]") {
  Eigen::MatrixXd X(2, 1), Y(2, 1), Q(3, 1);
  X << 0.0, 0.0;
  Y << 0.0, 4.0;
  Q << 0.0, 1.0, 10.0;
  for (const double h : {1e-8, 1e-150}) {
    INFO("h = " << h);
    NadarayaWatson<nadaraya::Gaussian> nw(Bandwidth::scalar(h));
    nw.fit(X, Y, Eigen::Vector2d(1.0, 3.0));
    const Eigen::MatrixXd P = nw.predict(Q);
    CHECK(P(0, 0) == Approx(3.0).epsilon(1e-12));
    CHECK(P(1, 0) == Approx(3.0).epsilon(1e-12));
    CHECK(P(2, 0) == Approx(3.0).epsilon(1e-12));
    const Eigen::MatrixXd A = nw.attention_weights(Q);
    for (Eigen::Index q = 0; q < Q.rows(); ++q) {
      CHECK(A(q, 0) == Approx(0.25).epsilon(1e-12));
      CHECK(A(q, 1) == Approx(0.75).epsilon(1e-12));
    }
  }
  // Many keys (several key blocks and, for a single query, key shards), the tied pair first and
  // last (in different shards).
  const Eigen::Index n = 20000;
  Eigen::MatrixXd X_many(n, 1), Y_many(n, 1), Q_one(1, 1);
  Eigen::VectorXd w_many(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    X_many(i, 0) = 1.0 + static_cast<double>(i);  // farther than the tied pair
    Y_many(i, 0) = 100.0;
    w_many(i) = 1.0 + static_cast<double>(i % 7);
  }
  X_many(0, 0) = X_many(n - 1, 0) = 0.0;
  Y_many(0, 0) = 0.0;
  Y_many(n - 1, 0) = 4.0;
  w_many(0) = 1.0;
  w_many(n - 1) = 3.0;
  Q_one << -0.25;
  NadarayaWatson<nadaraya::Gaussian> many(Bandwidth::scalar(1e-8));
  many.fit(X_many, Y_many, w_many);
  CHECK(many.predict(Q_one)(0, 0) == Approx(3.0).epsilon(1e-12));
  CHECK(many.predict(X_many.bottomRows(1))(0, 0) == Approx(3.0).epsilon(1e-12));
}

TEMPLATE_TEST_CASE("NadarayaWatson: a huge bandwidth or the Constant kernel gives the mean",
                   "[nadaraya_watson]", float, double) {
  using Scalar = TestType;
  const Eigen::Index n = 50, d = 3;
  const MatrixX<Scalar> X = normal_matrix<Scalar>(n, d, 51);
  const MatrixX<Scalar> Y = normal_matrix<Scalar>(n, 3, 52);
  MatrixX<Scalar> Q = Scalar(2) * normal_matrix<Scalar>(10, d, 53);
  Q.row(0).setConstant(Scalar(100));  // far from the data, still near at h = 1e8
  for (const bool weighted : {false, true}) {
    const Eigen::VectorXd w = weighted ? test_weights(n, 54) : Eigen::VectorXd();
    const LongMatrix mean = weighted_mean(Y, w);
    const LongMatrix expected = mean.replicate(Q.rows(), 1);
    INFO("weighted = " << weighted);
    auto check_kernel = [&](auto kernel, double h) {
      using Kernel = decltype(kernel);
      INFO("kernel " << Kernel::name << ", h = " << h);
      NadarayaWatson<Kernel, Scalar> nw(Bandwidth::scalar(h));
      fit(nw, X, Y, w);
      check_close<Scalar>(nw.predict(Q), expected);
    };
    check_kernel(nadaraya::Gaussian{}, 1e8);
    check_kernel(nadaraya::Epanechnikov{}, 1e8);
    check_kernel(nadaraya::Biweight{}, 1e8);
    check_kernel(nadaraya::Constant{}, 1e8);
    check_kernel(nadaraya::Constant{}, 1e-3);  // the width does not matter
    NadarayaWatson<nadaraya::Constant, Scalar> far(Bandwidth::scalar(1e-3));
    fit(far, X, Y, w);
    check_close<Scalar>(far.predict(MatrixX<Scalar>::Constant(1, d, Scalar(1e6))), mean);

    // Constant kernel, leave-one-out: the (weighted) mean of the others.
    NadarayaWatson<nadaraya::Constant, Scalar> constant;
    fit(constant, X, Y, w);
    const MatrixX<Scalar> loo = constant.predict_leave_one_out();
    for (Eigen::Index i = 0; i < n; ++i) {
      INFO("left out " << i);
      const Eigen::VectorXd rest_w = weighted ? Eigen::VectorXd(without_row(w, i)) : w;
      const LongMatrix others = weighted_mean(without_row(Y, i), rest_w);
      for (Eigen::Index c = 0; c < 3; ++c) {
        CHECK(close<Scalar>(loo(i, c), static_cast<double>(others(0, c))));
      }
    }
  }
}

TEMPLATE_TEST_CASE("NadarayaWatson: unreached queries under a compact kernel", "[nadaraya_watson]",
                   float, double) {
  using Scalar = TestType;
  // Samples at 0, 0.1, ..., 1 and a second one at 1 with another output.
  MatrixX<Scalar> X(12, 1);
  MatrixX<Scalar> Y(12, 2);
  for (Eigen::Index i = 0; i <= 10; ++i) {
    X(i, 0) = static_cast<Scalar>(i) / Scalar(10);
    Y(i, 0) = static_cast<Scalar>(i);
    Y(i, 1) = -static_cast<Scalar>(i);
  }
  X(11, 0) = Scalar(1);
  Y.row(11) << Scalar(20), Scalar(6);
  MatrixX<Scalar> Q(3, 1);
  Q << Scalar(5), Scalar(-3), Scalar(0.45);  // beyond 1, below 0, reached
  const Bandwidth h = Bandwidth::scalar(0.3);

  SECTION("NaN by default, for predictions and attention weights") {
    NadarayaWatson<nadaraya::Epanechnikov, Scalar> nw(h);
    nw.fit(X, Y);
    const MatrixX<Scalar> P = nw.predict(Q);
    CHECK(P.topRows(2).array().isNaN().all());
    CHECK_FALSE(P.row(2).array().isNaN().any());
    const MatrixX<Scalar> A = nw.attention_weights(Q);
    CHECK(A.topRows(2).array().isNaN().all());
    CHECK(close<Scalar>(A.row(2).sum(), 1.0));
  }
  SECTION("Unreached::nearest_neighbour: the nearest samples' (weighted) mean") {
    Options options;
    options.unreached = Unreached::nearest_neighbour;
    NadarayaWatson<nadaraya::Epanechnikov, Scalar> nw(h, options);
    nw.fit(X, Y);
    const MatrixX<Scalar> P = nw.predict(Q);
    CHECK(P(0, 0) == Scalar(15));  // (10 + 20) / 2
    CHECK(P(0, 1) == Scalar(-2));  // (-10 + 6) / 2
    CHECK(P(1, 0) == Scalar(0));
    CHECK(P(1, 1) == Scalar(0));
    NadarayaWatson<nadaraya::Epanechnikov, Scalar> plain(h);
    plain.fit(X, Y);
    CHECK(P.row(2) == plain.predict(Q).row(2));  // reached queries are unchanged

    const MatrixX<Scalar> A = nw.attention_weights(Q);
    CHECK(A(0, 10) == Scalar(0.5));
    CHECK(A(0, 11) == Scalar(0.5));
    CHECK(A.row(0).sum() == Scalar(1));
    CHECK(A(1, 0) == Scalar(1));
    CHECK(A.row(1).sum() == Scalar(1));

    Eigen::VectorXd w = Eigen::VectorXd::Ones(12);
    w(11) = 3;
    nw.fit(X, Y, w);
    const MatrixX<Scalar> Pw = nw.predict(Q);
    CHECK(Pw(0, 0) == Scalar(17.5));  // (10 + 3 * 20) / 4
    CHECK(Pw(0, 1) == Scalar(2));     // (-10 + 3 * 6) / 4
  }
  SECTION("equidistant nearest samples share equally") {
    Options options;
    options.unreached = Unreached::nearest_neighbour;
    NadarayaWatson<nadaraya::Uniform, Scalar> nw(Bandwidth::scalar(0.5), options);
    MatrixX<Scalar> X2(2, 1), Y2(2, 1), Q2(1, 1);
    X2 << Scalar(0), Scalar(2);
    Y2 << Scalar(1), Scalar(4);
    Q2 << Scalar(1);
    nw.fit(X2, Y2);
    CHECK(nw.predict(Q2)(0, 0) == Scalar(2.5));
  }
  SECTION("leave-one-out: an isolated sample gets NaN, or its nearest other sample's output") {
    MatrixX<Scalar> X3(4, 1), Y3(4, 1);
    X3 << Scalar(0), Scalar(0.1), Scalar(0.2), Scalar(5);
    Y3 << Scalar(1), Scalar(2), Scalar(3), Scalar(4);
    NadarayaWatson<nadaraya::Epanechnikov, Scalar> plain(h);
    plain.fit(X3, Y3);
    const MatrixX<Scalar> loo_nan = plain.predict_leave_one_out();
    CHECK(std::isnan(loo_nan(3, 0)));
    CHECK_FALSE(loo_nan.topRows(3).array().isNaN().any());
    Options options;
    options.unreached = Unreached::nearest_neighbour;
    NadarayaWatson<nadaraya::Epanechnikov, Scalar> nearest(h, options);
    nearest.fit(X3, Y3);
    const MatrixX<Scalar> loo = nearest.predict_leave_one_out();
    CHECK(loo(3, 0) == Scalar(3));
    CHECK(loo.topRows(3) == loo_nan.topRows(3));
  }
  SECTION("a single sample: leave-one-out has no other sample, NaN whatever the rule") {
    Options options;
    options.unreached = Unreached::nearest_neighbour;
    NadarayaWatson<nadaraya::Gaussian, Scalar> nw(h, options);
    nw.fit(X.topRows(1), Y.topRows(1));
    CHECK(nw.predict_leave_one_out().array().isNaN().all());
    CHECK(nw.predict(Q) == Y.topRows(1).replicate(3, 1));
  }
}

TEMPLATE_TEST_CASE("NadarayaWatson: score is 1 - RSS/TSS", "[nadaraya_watson]", float, double) {
  using Scalar = TestType;
  const Eigen::Index d = 2;
  auto target = [](const MatrixX<Scalar>& X, const MatrixX<Scalar>& noise) {
    MatrixX<Scalar> Y(X.rows(), 3);
    Y.col(0) = X.col(0).array().sin().matrix() + X.col(1).cwiseAbs2() + Scalar(0.3) * noise.col(0);
    Y.col(1) = X.col(0) - X.col(1) + Scalar(0.3) * noise.col(1);
    Y.col(2) = (Scalar(10) + Scalar(0.5) * noise.col(2).array()).matrix();
    return Y;
  };
  const MatrixX<Scalar> X = normal_matrix<Scalar>(120, d, 61);
  const MatrixX<Scalar> Y = target(X, normal_matrix<Scalar>(120, 3, 62));
  const MatrixX<Scalar> Q = normal_matrix<Scalar>(40, d, 63);
  const MatrixX<Scalar> truth = target(Q, normal_matrix<Scalar>(40, 3, 64));
  auto by_hand = [](const MatrixX<Scalar>& T, const MatrixX<Scalar>& P) {
    long double rss = 0, tss = 0;
    for (Eigen::Index c = 0; c < T.cols(); ++c) {
      long double mean = 0;
      for (Eigen::Index q = 0; q < T.rows(); ++q) mean += T(q, c);
      mean /= static_cast<long double>(T.rows());
      for (Eigen::Index q = 0; q < T.rows(); ++q) {
        const long double r = static_cast<long double>(T(q, c)) - static_cast<long double>(P(q, c));
        const long double t = static_cast<long double>(T(q, c)) - mean;
        rss += r * r;
        tss += t * t;
      }
    }
    return static_cast<double>(1.0L - rss / tss);
  };
  SECTION("one output, as a vector") {
    NadarayaWatson<nadaraya::Gaussian, Scalar> nw(Bandwidth::scalar(0.4));
    const VectorX<Scalar> y = Y.col(0);
    nw.fit(X, y);
    const VectorX<Scalar> y_true = truth.col(0);
    const Scalar score = nw.score(Q, y_true);
    const MatrixX<Scalar> P = nw.predict(Q);
    CHECK(close<Scalar>(score, by_hand(truth.leftCols(1), P), 10.0));
    CHECK(score > Scalar(0.5));
    CHECK(score < Scalar(1));
  }
  SECTION("three outputs: each about its own mean") {
    NadarayaWatson<nadaraya::Epanechnikov, Scalar> nw(Bandwidth::scalar(1.5));
    nw.fit(X, Y);
    const Scalar score = nw.score(Q, truth);
    CHECK(close<Scalar>(score, by_hand(truth, nw.predict(Q)), 10.0));
  }
}

TEMPLATE_TEST_CASE("NadarayaWatson: per-dimension widths equal scaling the columns by hand",
                   "[nadaraya_watson]", float, double) {
  using Scalar = TestType;
  const Eigen::Index d = 3;
  const MatrixX<Scalar> X = normal_matrix<Scalar>(60, d, 71);
  const MatrixX<Scalar> Y = normal_matrix<Scalar>(60, 2, 72);
  const MatrixX<Scalar> Q = normal_matrix<Scalar>(20, d, 73);
  const Eigen::Vector3d h(0.5, 2.0, 1.25);
  const Eigen::Matrix<Scalar, 3, 1> inverse = h.cast<Scalar>().cwiseInverse();
  const MatrixX<Scalar> X_scaled = X * inverse.asDiagonal();
  const MatrixX<Scalar> Q_scaled = Q * inverse.asDiagonal();
  auto check_kernel = [&](auto kernel) {
    using Kernel = decltype(kernel);
    INFO("kernel " << Kernel::name);
    NadarayaWatson<Kernel, Scalar> diagonal(Bandwidth::per_dimension(h));
    NadarayaWatson<Kernel, Scalar> by_hand(Bandwidth::scalar(1.0));
    diagonal.fit(X, Y);
    by_hand.fit(X_scaled, Y);
    CHECK(diagonal.bandwidth() == h);
    const MatrixX<Scalar> a = diagonal.predict(Q), b = by_hand.predict(Q_scaled);
    for (Eigen::Index q = 0; q < Q.rows(); ++q) {
      for (Eigen::Index c = 0; c < 2; ++c) {
        INFO("query " << q);
        CHECK(close<Scalar>(a(q, c), static_cast<double>(b(q, c))));
      }
    }
  };
  check_kernel(nadaraya::Gaussian{});
  check_kernel(nadaraya::Epanechnikov{});
  check_kernel(nadaraya::Laplacian{});
}

TEST_CASE("NadarayaWatson: widths given as standard deviations", "[nadaraya_watson]") {
  const Eigen::MatrixXd X = normal_matrix<double>(60, 2, 81);
  const Eigen::VectorXd y = normal_matrix<double>(60, 1, 82).col(0);
  const Eigen::MatrixXd Q = normal_matrix<double>(20, 2, 83);
  const double s = 0.35;
  auto check_kernel = [&](auto kernel, Eigen::Index d, double kernel_scale) {
    using Kernel = decltype(kernel);
    INFO("kernel " << Kernel::name << ", d = " << d);
    NadarayaWatson<Kernel> by_sd(Bandwidth::scalar(s, WidthUnit::standard_deviation));
    NadarayaWatson<Kernel> by_scale(Bandwidth::scalar(kernel_scale));
    by_sd.fit(X.leftCols(d), y);
    by_scale.fit(X.leftCols(d), y);
    REQUIRE(by_sd.bandwidth().size() == d);
    for (Eigen::Index j = 0; j < d; ++j) CHECK(close<double>(by_sd.bandwidth()(j), kernel_scale));
    const Eigen::MatrixXd a = by_sd.predict(Q.leftCols(d)), b = by_scale.predict(Q.leftCols(d));
    for (Eigen::Index q = 0; q < Q.rows(); ++q) CHECK(close<double>(a(q, 0), b(q, 0)));
  };
  check_kernel(nadaraya::Epanechnikov{}, 1, s * std::sqrt(5.0));  // variance 1/5 in d = 1
  check_kernel(nadaraya::Epanechnikov{}, 2, s * std::sqrt(6.0));  // 1/(d + 4)
  check_kernel(nadaraya::Gaussian{}, 1, s);
  check_kernel(nadaraya::Uniform{}, 1, s * std::sqrt(3.0));
}

TEST_CASE("NadarayaWatson: set_bandwidth and threads", "[nadaraya_watson]") {
  const Eigen::MatrixXd X = normal_matrix<double>(70, 2, 91);
  const Eigen::MatrixXd Y = normal_matrix<double>(70, 2, 92);
  const Eigen::MatrixXd Q = normal_matrix<double>(25, 2, 93);
  SECTION("set_bandwidth re-resolves on the stored data") {
    NadarayaWatson<nadaraya::Gaussian> changed(Bandwidth::scalar(0.1));
    changed.fit(X, Y);
    changed.set_bandwidth(Bandwidth::per_dimension(Eigen::Vector2d(0.3, 0.6)));
    NadarayaWatson<nadaraya::Gaussian> fresh(Bandwidth::per_dimension(Eigen::Vector2d(0.3, 0.6)));
    fresh.fit(X, Y);
    CHECK(changed.bandwidth() == fresh.bandwidth());
    CHECK(changed.predict(Q) == fresh.predict(Q));
  }
  SECTION("results do not depend on the number of threads") {
    Options one, two;
    one.threads = 1;
    two.threads = 2;
    NadarayaWatson<nadaraya::Epanechnikov> serial(Bandwidth::scalar(0.8), one);
    NadarayaWatson<nadaraya::Epanechnikov> parallel(Bandwidth::scalar(0.8), two);
    serial.fit(X, Y);
    parallel.fit(X, Y);
    CHECK(estimator_test::identical(serial.predict(Q), parallel.predict(Q)));
    CHECK(estimator_test::identical(serial.predict_leave_one_out(),
                                    parallel.predict_leave_one_out()));
  }
}

// ---------------------------------------------------------------------------------------------
// NadarayaWatsonClassifier
// ---------------------------------------------------------------------------------------------

namespace {

/// Three spatially structured classes with arbitrary labels -4, 7, 10.
template <class Scalar>
Eigen::VectorXi three_labels(const MatrixX<Scalar>& X) {
  Eigen::VectorXi labels(X.rows());
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    labels(i) = X(i, 0) < Scalar(-0.4) ? 7 : (X(i, 1) > Scalar(0.3) ? -4 : 10);
  }
  return labels;
}

/// Column index of `label` in `classes`.
Eigen::Index column_of(const Eigen::VectorXi& classes, int label) {
  for (Eigen::Index c = 0; c < classes.size(); ++c) {
    if (classes(c) == label) return c;
  }
  FAIL("label " << label << " not among the classes");
  return -1;
}

}  // namespace

TEMPLATE_TEST_CASE("NadarayaWatsonClassifier: probabilities are NW regression of one-hot labels",
                   "[classifier]", float, double) {
  using Scalar = TestType;
  const Eigen::Index n = 90, m = 40, d = 2;
  const MatrixX<Scalar> X = normal_matrix<Scalar>(n, d, 101);
  const Eigen::VectorXi labels = three_labels(X);
  MatrixX<Scalar> Q = Scalar(1.3) * normal_matrix<Scalar>(m, d, 102);
  Q.row(0) << Scalar(20), Scalar(20);  // unreached under compact kernels
  const Eigen::VectorXi classes = (Eigen::VectorXi(3) << -4, 7, 10).finished();
  MatrixX<Scalar> one_hot = MatrixX<Scalar>::Zero(n, 3);
  for (Eigen::Index i = 0; i < n; ++i) one_hot(i, column_of(classes, labels(i))) = Scalar(1);
  const Eigen::VectorXd h = widths_for(d);

  for (const bool weighted : {false, true}) {
    const Eigen::VectorXd w = weighted ? test_weights(n, 103) : Eigen::VectorXd();
    // The class of largest total weight, which unreached queries are assigned.
    Eigen::Vector3d class_weight = Eigen::Vector3d::Zero();
    for (Eigen::Index i = 0; i < n; ++i) {
      class_weight(column_of(classes, labels(i))) += weighted ? w(i) : 1.0;
    }
    Eigen::Index majority = 0;
    class_weight.maxCoeff(&majority);

    auto check_kernel = [&](auto kernel) {
      using Kernel = decltype(kernel);
      INFO("kernel " << Kernel::name << ", weighted = " << weighted);
      NadarayaWatsonClassifier<Kernel, Scalar> classifier(bandwidth_of(h));
      fit(classifier, X, labels, w);
      REQUIRE(classifier.classes() == classes);
      REQUIRE(classifier.n_classes() == 3);
      const MatrixX<Scalar> P = classifier.predict_proba(Q);
      REQUIRE(P.rows() == m);
      REQUIRE(P.cols() == 3);

      NadarayaWatson<Kernel, Scalar> regression(bandwidth_of(h));
      fit(regression, X, one_hot, w);
      const MatrixX<Scalar> R = regression.predict(Q);
      check_close<Scalar>(P, R.template cast<long double>());
      check_close<Scalar>(P, reference_nadaraya_watson<Kernel>(Q, X, one_hot, h, w));

      const Eigen::VectorXi predicted = classifier.predict(Q);
      for (Eigen::Index q = 0; q < m; ++q) {
        INFO("query " << q);
        if (std::isnan(P(q, 0))) {
          CHECK(nadaraya::kernel_traits<Kernel>::is_compact);
          CHECK(predicted(q) == classes(majority));
          continue;
        }
        CHECK((P.row(q).array() >= Scalar(0)).all());
        CHECK(close<Scalar>(P.row(q).sum(), 1.0));
        Eigen::Index best = 0;
        P.row(q).maxCoeff(&best);  // the first maximum: ties go to the smaller label
        CHECK(predicted(q) == classes(best));
      }
    };
    check_kernel(nadaraya::Gaussian{});
    check_kernel(nadaraya::Epanechnikov{});
    check_kernel(nadaraya::Constant{});
  }
}

TEST_CASE("NadarayaWatsonClassifier: two classes follow Bayes' rule with Parzen densities",
          "[classifier]") {
  // decision_function(q) p(q) = p(q, +1) - p(q, -1), with p(q) the Parzen density of all the
  // samples and p(q, c) = pi_c p(q | c): the class's share of the weight times the Parzen density
  // of its samples alone. Checked to 1e-12 relative to p(q) (the difference can cancel).
  const Eigen::Index n = 80, m = 60, d = 2;
  const Eigen::MatrixXd X = normal_matrix<double>(n, d, 111);
  const Eigen::MatrixXd noise = normal_matrix<double>(n, 1, 112);
  Eigen::VectorXi labels(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    labels(i) = X(i, 0) + 0.5 * X(i, 1) + 0.5 * noise(i, 0) > 0 ? 5 : 2;  // +1 is 5, -1 is 2
  }
  Eigen::MatrixXd Q = 1.2 * normal_matrix<double>(m, d, 113);
  Q.row(0) << 9.0, 9.0;  // unreached under Epanechnikov
  const Eigen::VectorXd h = widths_for(d);

  for (const bool weighted : {false, true}) {
    const Eigen::VectorXd w = weighted ? test_weights(n, 114) : Eigen::VectorXd::Ones(n);
    auto check_kernel = [&](auto kernel) {
      using Kernel = decltype(kernel);
      INFO("kernel " << Kernel::name << ", weighted = " << weighted);
      NadarayaWatsonClassifier<Kernel> classifier(bandwidth_of(h));
      if (weighted) {
        classifier.fit(X, labels, w);
      } else {
        classifier.fit(X, labels);
      }
      REQUIRE(classifier.classes() == Eigen::Vector2i(2, 5));
      const Eigen::VectorXd decision = classifier.decision_function(Q);
      const Eigen::MatrixXd P = classifier.predict_proba(Q);
      const Eigen::VectorXi predicted = classifier.predict(Q);

      ParzenDensity<Kernel> all(bandwidth_of(h));
      all.fit(X, w);
      const Eigen::VectorXd p = exp_of(all.log_density(Q));
      Eigen::VectorXd joint[2];  // p(q, 2) and p(q, 5)
      for (int c = 0; c < 2; ++c) {
        const int label = c == 0 ? 2 : 5;
        std::vector<Eigen::Index> rows;
        for (Eigen::Index i = 0; i < n; ++i) {
          if (labels(i) == label) rows.push_back(i);
        }
        const auto size = static_cast<Eigen::Index>(rows.size());
        Eigen::MatrixXd Xc(size, d);
        Eigen::VectorXd wc(size);
        for (Eigen::Index r = 0; r < size; ++r) {
          Xc.row(r) = X.row(rows[static_cast<std::size_t>(r)]);
          wc(r) = w(rows[static_cast<std::size_t>(r)]);
        }
        ParzenDensity<Kernel> own(bandwidth_of(h));
        own.fit(Xc, wc);
        joint[c] = (wc.sum() / w.sum()) * exp_of(own.log_density(Q));
      }

      Eigen::Index compared = 0, reached = 0;
      for (Eigen::Index q = 0; q < m; ++q) {
        INFO("query " << q << ", p(q) = " << p(q));
        const double difference = joint[1](q) - joint[0](q);
        if (p(q) == 0) {  // unreached: both sides are 0, the ratio is undefined
          CHECK(nadaraya::kernel_traits<Kernel>::is_compact);
          CHECK(joint[0](q) == 0);
          CHECK(joint[1](q) == 0);
          CHECK(std::isnan(decision(q)));
          continue;
        }
        ++reached;
        CHECK(std::abs(decision(q) * p(q) - difference) <= 1e-12 * p(q));
        CHECK(std::abs(P(q, 0) * p(q) - joint[0](q)) <= 1e-12 * p(q));
        CHECK(std::abs(P(q, 1) * p(q) - joint[1](q)) <= 1e-12 * p(q));
        if (std::abs(difference) > 1e-9 * p(q)) {
          ++compared;
          CHECK(predicted(q) == (difference > 0 ? 5 : 2));
        }
      }
      CHECK(compared >= reached - 3);
      CHECK(reached >= m / 2);
    };
    check_kernel(nadaraya::Gaussian{});
    check_kernel(nadaraya::Epanechnikov{});
  }
}

TEMPLATE_TEST_CASE("NadarayaWatsonClassifier: score is the accuracy", "[classifier]", float,
                   double) {
  using Scalar = TestType;
  const MatrixX<Scalar> X = normal_matrix<Scalar>(100, 2, 121);
  const Eigen::VectorXi labels = three_labels(X);
  const MatrixX<Scalar> Q = normal_matrix<Scalar>(50, 2, 122);
  Eigen::VectorXi truth = three_labels(Q);
  truth(0) = truth(0) == 7 ? 10 : 7;  // a few deliberate mistakes
  truth(1) = truth(1) == -4 ? 10 : -4;
  NadarayaWatsonClassifier<nadaraya::Gaussian, Scalar> classifier(Bandwidth::scalar(0.3));
  classifier.fit(X, labels);
  const Eigen::VectorXi predicted = classifier.predict(Q);
  const double correct = static_cast<double>((predicted.array() == truth.array()).count());
  const double score = classifier.score(Q, truth);
  CHECK(score == correct / 50.0);
  CHECK(score > 0.5);
  CHECK(score < 1.0);
  CHECK(classifier.score(Q, predicted) == 1.0);
}

TEMPLATE_TEST_CASE("NadarayaWatsonClassifier: leave-one-out equals refitting without the point",
                   "[classifier]", float, double) {
  using Scalar = TestType;
  const Eigen::Index n = 36, d = 2;
  const MatrixX<Scalar> X = normal_matrix<Scalar>(n, d, 131);
  const Eigen::VectorXi labels = three_labels(X);
  const Eigen::VectorXd h = widths_for(d);
  for (const bool weighted : {false, true}) {
    const Eigen::VectorXd w = weighted ? test_weights(n, 132) : Eigen::VectorXd();
    auto check_kernel = [&](auto kernel) {
      using Kernel = decltype(kernel);
      INFO("kernel " << Kernel::name << ", weighted = " << weighted);
      NadarayaWatsonClassifier<Kernel, Scalar> classifier(bandwidth_of(h));
      fit(classifier, X, labels, w);
      const MatrixX<Scalar> loo = classifier.predict_proba_leave_one_out();
      REQUIRE(loo.rows() == n);
      REQUIRE(loo.cols() == 3);
      for (Eigen::Index i = 0; i < n; ++i) {
        INFO("left out " << i);
        NadarayaWatsonClassifier<Kernel, Scalar> refit(bandwidth_of(h));
        const Eigen::VectorXd rest_w = weighted ? Eigen::VectorXd(without_row(w, i)) : w;
        fit(refit, without_row(X, i), Eigen::VectorXi(without_row(labels, i)), rest_w);
        REQUIRE(refit.classes() == classifier.classes());
        const MatrixX<Scalar> refitted = refit.predict_proba(X.row(i));
        for (Eigen::Index c = 0; c < 3; ++c) {
          CHECK(close<Scalar>(loo(i, c), static_cast<double>(refitted(0, c))));
        }
      }
    };
    check_kernel(nadaraya::Gaussian{});
    check_kernel(nadaraya::Epanechnikov{});
  }
}

TEST_CASE("NadarayaWatsonClassifier: unreached queries and ties", "[classifier]") {
  // Class 1 has more samples, class 3 more weight.
  Eigen::MatrixXd X(5, 1);
  X << 0.0, 0.1, 0.2, 0.6, 0.7;
  const Eigen::VectorXi labels = (Eigen::VectorXi(5) << 1, 1, 1, 3, 3).finished();
  const Eigen::VectorXd w = (Eigen::VectorXd(5) << 1, 1, 1, 5, 5).finished();
  Eigen::MatrixXd Q(2, 1);
  Q << 10.0, -10.0;
  const Bandwidth h = Bandwidth::scalar(0.15);

  SECTION("NaN probabilities; predict gives the class of largest total weight") {
    NadarayaWatsonClassifier<nadaraya::Epanechnikov> classifier(h);
    classifier.fit(X, labels);
    CHECK(classifier.predict_proba(Q).array().isNaN().all());
    CHECK(classifier.predict(Q) == Eigen::Vector2i(1, 1));
    classifier.fit(X, labels, w);
    CHECK(classifier.predict_proba(Q).array().isNaN().all());
    CHECK(classifier.predict(Q) == Eigen::Vector2i(3, 3));
  }
  SECTION("Unreached::nearest_neighbour: the nearest sample's class") {
    Options options;
    options.unreached = Unreached::nearest_neighbour;
    NadarayaWatsonClassifier<nadaraya::Epanechnikov> classifier(h, options);
    classifier.fit(X, labels, w);
    const Eigen::MatrixXd P = classifier.predict_proba(Q);
    CHECK(P.row(0) == Eigen::RowVector2d(0, 1));
    CHECK(P.row(1) == Eigen::RowVector2d(1, 0));
    CHECK(classifier.predict(Q) == Eigen::Vector2i(3, 1));
  }
  SECTION("equal probabilities: the smaller label") {
    Eigen::MatrixXd X2(2, 1);
    X2 << 0.0, 1.0;
    NadarayaWatsonClassifier<nadaraya::Gaussian> classifier(Bandwidth::scalar(0.5));
    classifier.fit(X2, Eigen::Vector2i(3, 1));
    const Eigen::MatrixXd half = Eigen::MatrixXd::Constant(1, 1, 0.5);
    CHECK(classifier.predict_proba(half) == Eigen::RowVector2d(0.5, 0.5));
    CHECK(classifier.predict(half)(0) == 1);
    CHECK(classifier.decision_function(half)(0) == 0.0);
  }
}
