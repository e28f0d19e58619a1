// Numerical stress suite: the estimators at the edges of floating point. Bandwidths from 1e-12 to
// 1e12 times the data's spread, data far from the origin, degenerate shapes (duplicates, identical
// points, n = 1, d >> n, scales 1e-6 and 1e6 side by side), outputs near the largest finite value,
// leave-one-out without neighbours, extreme sample weights, failed calls, and seeded property
// tests (convex attention weights, predictions within the outputs' range, probabilities that are
// distributions, densities integrating to one, invariance under row permutations). Every test
// asserts values; tolerances are stated where they are used. One translation unit on purpose:
// every test instantiates the same estimators for nine kernels in float and double, which is most
// of the compile time.

#include <catch2/catch.hpp>

#include <Eigen/Core>
#include <algorithm>  // std::sort, std::shuffle, std::min, std::max
#include <cmath>
#include <limits>
#include <numeric>  // std::iota
#include <random>
#include <type_traits>
#include <vector>

#include <nadaraya/nadaraya.hpp>

#include "support/reference.hpp"
#include "support/tolerances.hpp"

using namespace nadaraya;

namespace {

template <class Scalar>
using MatrixOf = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
template <class Scalar>
using VectorOf = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
using nadaraya_test::LongMatrix;
using nadaraya_test::LongVector;

template <class Scalar>
constexpr double epsilon() {
  return static_cast<double>(std::numeric_limits<Scalar>::epsilon());
}

/// Calls f(Kernel{}) for each kernel with a density (all built-ins but Constant).
template <class F>
void for_each_density_kernel(F&& f) {
  f(Gaussian{});
  f(Epanechnikov{});
  f(Uniform{});
  f(Triangular{});
  f(Biweight{});
  f(Triweight{});
  f(Cosine{});
  f(Laplacian{});
}

/// Calls f(Kernel{}) for every built-in kernel (regression and classification take Constant too).
template <class F>
void for_each_kernel(F&& f) {
  for_each_density_kernel(f);
  f(Constant{});
}

template <class Kernel>
constexpr bool is_compact() {
  return kernel_traits<Kernel>::is_compact;
}

/// The relative bandwidths of the sweep: 1e-12 ... 1e12 times the data's spread.
const std::vector<double>& relative_bandwidths() {
  static const std::vector<double> sweep{1e-12, 1e-9, 1e-6, 1e-3, 1e-1, 1.0,
                                         1e1,   1e3,  1e6,  1e9,  1e12};
  return sweep;
}

/// The largest column range max - min of X: the data's spread.
template <class Derived>
double spread(const Eigen::MatrixBase<Derived>& X) {
  double result = 0;
  for (Eigen::Index j = 0; j < X.cols(); ++j) {
    result = std::max(result, static_cast<double>(X.col(j).maxCoeff() - X.col(j).minCoeff()));
  }
  return result;
}

/// Squared distances from q to every row of X in long double, each axis divided by h_j.
template <class QRow, class XM>
std::vector<long double> scaled_squared_distances(const QRow& q, const XM& X,
                                                  const Eigen::VectorXd& h) {
  std::vector<long double> r2(static_cast<std::size_t>(X.rows()), 0.0L);
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    for (Eigen::Index j = 0; j < X.cols(); ++j) {
      const long double u =
          (static_cast<long double>(q(j)) - static_cast<long double>(X(i, j))) / h(j);
      r2[static_cast<std::size_t>(i)] += u * u;
    }
  }
  return r2;
}

/// The weighted mean of Y over the rows of positive weight nearest to q (all exact ties).
template <class QRow, class XM, class YM>
LongVector nearest_mean(const QRow& q, const XM& X, const YM& Y, const Eigen::VectorXd& h,
                        const Eigen::VectorXd& weights) {
  const std::vector<long double> r2 = scaled_squared_distances(q, X, h);
  long double best = std::numeric_limits<long double>::infinity();
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    if (weights.size() != 0 && !(weights(i) > 0)) continue;
    best = std::min(best, r2[static_cast<std::size_t>(i)]);
  }
  long double total = 0;
  LongVector sum = LongVector::Zero(Y.cols());
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    const long double w = weights.size() == 0 ? 1.0L : static_cast<long double>(weights(i));
    if (!(w > 0) || r2[static_cast<std::size_t>(i)] != best) continue;
    total += w;
    for (Eigen::Index c = 0; c < Y.cols(); ++c) sum(c) += w * static_cast<long double>(Y(i, c));
  }
  return sum / total;
}

/// The weighted mean of every row of Y.
template <class YM>
LongVector global_mean(const YM& Y, const Eigen::VectorXd& weights) {
  long double total = 0;
  LongVector sum = LongVector::Zero(Y.cols());
  for (Eigen::Index i = 0; i < Y.rows(); ++i) {
    const long double w = weights.size() == 0 ? 1.0L : static_cast<long double>(weights(i));
    total += w;
    for (Eigen::Index c = 0; c < Y.cols(); ++c) sum(c) += w * static_cast<long double>(Y(i, c));
  }
  return sum / total;
}

/// |actual - expected| <= tolerance, with NaN equal to NaN and infinities equal to themselves.
inline bool near(double actual, double expected, double tolerance) {
  if (std::isnan(expected)) return std::isnan(actual);
  if (std::isinf(expected)) return actual == expected;
  return std::abs(actual - expected) <= tolerance;
}

/// Rows of M in the order `order`.
template <class Derived>
Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, Derived::ColsAtCompileTime> take_rows(
    const Eigen::MatrixBase<Derived>& M, const std::vector<Eigen::Index>& order) {
  Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, Derived::ColsAtCompileTime> out(
      static_cast<Eigen::Index>(order.size()), M.cols());
  for (std::size_t i = 0; i < order.size(); ++i) {
    out.row(static_cast<Eigen::Index>(i)) = M.row(order[i]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Quadrature for the integrals of densities: composite 5-point Gauss–Legendre between the points
// where the density is not smooth (support edges, cusps), each segment mapped through
// x = a + (b - a)(1 - cos(pi t))/2, which clusters nodes at both ends and absorbs the square-root
// behaviour of chord lengths at the edge of a disc (d = 2).
// ---------------------------------------------------------------------------------------------

struct Node {
  double x;       // abscissa
  double weight;  // quadrature weight
};

/// Nodes and weights for the integral over [lo, hi] with the given interior breakpoints.
inline std::vector<Node> quadrature_nodes(std::vector<double> breakpoints, double lo, double hi,
                                          int panels_per_segment) {
  static const double gl_x[5] = {-0.9061798459386640, -0.5384693101056831, 0.0, 0.5384693101056831,
                                 0.9061798459386640};
  static const double gl_w[5] = {0.2369268850561891, 0.4786286704993665, 0.5688888888888889,
                                 0.4786286704993665, 0.2369268850561891};
  const double pi = 3.14159265358979323846;
  breakpoints.push_back(lo);
  breakpoints.push_back(hi);
  std::sort(breakpoints.begin(), breakpoints.end());
  std::vector<Node> nodes;
  for (std::size_t s = 0; s + 1 < breakpoints.size(); ++s) {
    const double a = std::max(lo, breakpoints[s]), b = std::min(hi, breakpoints[s + 1]);
    if (!(b > a)) continue;
    for (int p = 0; p < panels_per_segment; ++p) {
      const double t0 = static_cast<double>(p) / panels_per_segment;
      const double t1 = static_cast<double>(p + 1) / panels_per_segment;
      for (int k = 0; k < 5; ++k) {
        const double t = 0.5 * (t0 + t1) + 0.5 * (t1 - t0) * gl_x[k];
        const double x = a + (b - a) * 0.5 * (1.0 - std::cos(pi * t));
        const double dxdt = (b - a) * 0.5 * pi * std::sin(pi * t);
        nodes.push_back({x, 0.5 * (t1 - t0) * gl_w[k] * dxdt});
      }
    }
  }
  return nodes;
}

/// How far beyond the data a density kernel's mass reaches, in widths (tails below ~1e-16).
template <class Kernel>
double reach_in_widths() {
  if constexpr (is_compact<Kernel>()) {
    return kernel_traits<Kernel>::support_radius();
  } else if constexpr (std::is_same<Kernel, Gaussian>::value) {
    return 9.0;  // tail mass ~ e^(-81/2) ~ 1e-18
  } else {
    return 28.0;  // Laplacian: 2-D tail mass (1 + s) e^-s at s = 28 is ~2e-11
  }
}

/// Integral over the plane (d = 1: the line) of a fitted 1-D or 2-D density with scalar width h.
template <class Kernel, class Scalar, class XM>
double integrate_density(const ParzenDensity<Kernel, Scalar>& kde, const XM& X, double h) {
  const double reach = reach_in_widths<Kernel>() * h;
  const int panels = 4;
  const bool compact = is_compact<Kernel>();
  auto breakpoints_along = [&](Eigen::Index column) {
    std::vector<double> points;
    for (Eigen::Index i = 0; i < X.rows(); ++i) {
      const double x = static_cast<double>(X(i, column));
      points.push_back(x);  // cusps (Triangular, Laplacian); harmless elsewhere
      if (compact) {
        points.push_back(x - reach);
        points.push_back(x + reach);
      }
    }
    return points;
  };
  // Segments longer than a width get extra breakpoints, so every panel spans at most h / 2.
  auto refine = [&](std::vector<double> points, double lo, double hi) {
    const auto count = static_cast<int>(std::ceil((hi - lo) / (2 * h)));
    for (int i = 0; i < count; ++i) points.push_back(lo + 2 * h * i);
    return points;
  };
  const double x_lo = static_cast<double>(X.col(0).minCoeff()) - reach;
  const double x_hi = static_cast<double>(X.col(0).maxCoeff()) + reach;
  if (X.cols() == 1) {
    const std::vector<Node> nodes =
        quadrature_nodes(refine(breakpoints_along(0), x_lo, x_hi), x_lo, x_hi, panels);
    MatrixOf<Scalar> Q(static_cast<Eigen::Index>(nodes.size()), 1);
    for (std::size_t k = 0; k < nodes.size(); ++k) {
      Q(static_cast<Eigen::Index>(k), 0) = static_cast<Scalar>(nodes[k].x);
    }
    const VectorOf<Scalar> p = kde.density(Q);
    double total = 0;
    for (std::size_t k = 0; k < nodes.size(); ++k) {
      total += nodes[k].weight * static_cast<double>(p(static_cast<Eigen::Index>(k)));
    }
    return total;
  }
  // d = 2: outer integral over the second coordinate, inner over the first with the exact edges
  // of every disc cut by the line.
  const double y_lo = static_cast<double>(X.col(1).minCoeff()) - reach;
  const double y_hi = static_cast<double>(X.col(1).maxCoeff()) + reach;
  const std::vector<Node> outer =
      quadrature_nodes(refine(breakpoints_along(1), y_lo, y_hi), y_lo, y_hi, panels);
  double total = 0;
  for (const Node& row : outer) {
    std::vector<double> points;
    for (Eigen::Index i = 0; i < X.rows(); ++i) {
      const double x = static_cast<double>(X(i, 0)), offset = row.x - static_cast<double>(X(i, 1));
      points.push_back(x);
      if (compact && std::abs(offset) < reach) {
        const double half_chord = std::sqrt(reach * reach - offset * offset);
        points.push_back(x - half_chord);
        points.push_back(x + half_chord);
      }
    }
    const std::vector<Node> inner =
        quadrature_nodes(refine(points, x_lo, x_hi), x_lo, x_hi, panels);
    MatrixOf<Scalar> Q(static_cast<Eigen::Index>(inner.size()), 2);
    for (std::size_t k = 0; k < inner.size(); ++k) {
      Q(static_cast<Eigen::Index>(k), 0) = static_cast<Scalar>(inner[k].x);
      Q(static_cast<Eigen::Index>(k), 1) = static_cast<Scalar>(row.x);
    }
    const VectorOf<Scalar> p = kde.density(Q);
    double line = 0;
    for (std::size_t k = 0; k < inner.size(); ++k) {
      line += inner[k].weight * static_cast<double>(p(static_cast<Eigen::Index>(k)));
    }
    total += row.weight * line;
  }
  return total;
}

}  // namespace

// =============================================================================================
// Bandwidth extremes
// =============================================================================================

TEMPLATE_TEST_CASE("stress: bandwidths from 1e-12 to 1e12 times the spread stay finite",
                   "[stress][bandwidth_extremes]", float, double) {
  using Scalar = TestType;
  const Eigen::Index n = 30, d = 2;
  MatrixOf<Scalar> X = nadaraya_test::normal_matrix<Scalar>(n, d, 101);
  const MatrixOf<Scalar> Y = nadaraya_test::normal_matrix<Scalar>(n, 2, 102);
  X.row(5) = X.row(4);  // a duplicated input with a different output: a tie at every bandwidth
  const Eigen::VectorXd weights = nadaraya_test::sample_weights(n, 103);  // row 1 weighs zero
  MatrixOf<Scalar> Q(15, d);
  Q.topRows(12) = nadaraya_test::normal_matrix<Scalar>(12, d, 104);
  Q.row(12) = X.row(0);  // exactly on a sample
  Q.row(13) = X.row(1);  // exactly on the zero-weight sample: its neighbours decide
  Q.row(14) = X.row(4);  // exactly on the duplicated pair
  const double s = spread(X);

  for_each_kernel([&](auto kernel) {
    using Kernel = decltype(kernel);
    for (double relative : relative_bandwidths()) {
      const double h = relative * s;
      const Eigen::VectorXd widths = Eigen::VectorXd::Constant(d, h);
      INFO("kernel " << kernel_traits<Kernel>::name() << ", h = " << relative << " x spread");
      Options nearest;
      nearest.unreached = Unreached::nearest_neighbour;
      NadarayaWatson<Kernel, Scalar> nw(Bandwidth::scalar(h));
      NadarayaWatson<Kernel, Scalar> nw_nearest(Bandwidth::scalar(h), nearest);
      nw.fit(X, Y, weights);
      nw_nearest.fit(X, Y, weights);
      const MatrixOf<Scalar> predicted = nw.predict(Q);
      const MatrixOf<Scalar> predicted_nearest = nw_nearest.predict(Q);

      // Unbounded kernels, and any kernel with the nearest-neighbour rule: always finite.
      CHECK(predicted_nearest.allFinite());
      if (!is_compact<Kernel>()) CHECK(predicted.allFinite());

      // Compact kernels under the default rule: NaN exactly where no key reaches, which is where
      // the (positive-weight) density is 0 and nowhere else.
      for (Eigen::Index q = 0; q < Q.rows(); ++q) {
        const std::vector<long double> r2 = scaled_squared_distances(Q.row(q), X, widths);
        bool reached = !is_compact<Kernel>();
        bool borderline = false;  // within rounding of the support's edge: either answer is right
        for (Eigen::Index i = 0; i < n; ++i) {
          if (!(weights(i) > 0)) continue;
          const long double r = r2[static_cast<std::size_t>(i)];
          if (r < 1) reached = true;
          if (std::abs(r - 1) < 1e-3L) borderline = true;
        }
        INFO("query " << q);
        if (!borderline) CHECK(std::isnan(predicted(q, 0)) == !reached);
        for (Eigen::Index c = 0; c < Y.cols(); ++c) {
          CHECK(std::isnan(predicted(q, c)) == std::isnan(predicted(q, 0)));
          if (!std::isnan(predicted(q, c))) CHECK(predicted(q, c) == predicted_nearest(q, c));
        }
      }

      // h -> 0: the nearest (positive-weight) neighbour's output, the mean of exact ties.
      if (relative <= 1e-6 && !std::is_same<Kernel, Constant>::value) {
        for (Eigen::Index q = 0; q < Q.rows(); ++q) {
          const LongVector expected = nearest_mean(Q.row(q), X, Y, widths, weights);
          for (Eigen::Index c = 0; c < Y.cols(); ++c) {
            INFO("query " << q << ", output " << c);
            CHECK(nadaraya_test::close<Scalar>(predicted_nearest(q, c),
                                               static_cast<double>(expected(c))));
          }
        }
      }

      // h -> infinity (and the Constant kernel at any h): the global weighted mean. The first
      // correction is of relative size 1/h for Laplacian and Triangular, 1/h^2 for the others.
      const bool first_order =
          std::is_same<Kernel, Laplacian>::value || std::is_same<Kernel, Triangular>::value;
      if (relative >= (first_order ? 1e12 : 1e9) || std::is_same<Kernel, Constant>::value) {
        const LongVector expected = global_mean(Y, weights);
        for (Eigen::Index q = 0; q < Q.rows(); ++q) {
          for (Eigen::Index c = 0; c < Y.cols(); ++c) {
            INFO("query " << q << ", output " << c);
            CHECK(nadaraya_test::close<Scalar>(predicted(q, c), static_cast<double>(expected(c)),
                                               10));
          }
        }
      }
    }
  });
}

TEMPLATE_TEST_CASE("stress: exact ties at tiny bandwidths share equally",
                   "[stress][bandwidth_extremes]", float, double) {
  using Scalar = TestType;
  // Four samples at the same distance from the origin, exactly (negation and axis swaps are exact
  // after dividing by the width), and two farther ones.
  MatrixOf<Scalar> X(6, 2);
  X << 1, 0, -1, 0, 0, 1, 0, -1, 3, 3, -3, 3;
  VectorOf<Scalar> Y(6);
  Y << 1, 2, 4, 8, 100, 200;
  const MatrixOf<Scalar> Q = MatrixOf<Scalar>::Zero(1, 2);
  for_each_kernel([&](auto kernel) {
    using Kernel = decltype(kernel);
    if (std::is_same<Kernel, Constant>::value) return;
    for (double h : {1e-12, 1e-9, 1e-6}) {
      INFO("kernel " << kernel_traits<Kernel>::name() << ", h = " << h);
      NadarayaWatson<Kernel, Scalar> nw(Bandwidth::scalar(h),
                                        Options{Unreached::nearest_neighbour});
      nw.fit(X, Y);
      CHECK(nw.predict(Q)(0, 0) == Scalar(15) / Scalar(4));
      const MatrixOf<Scalar> alpha = nw.attention_weights(Q);
      for (Eigen::Index i = 0; i < 4; ++i) CHECK(alpha(0, i) == Scalar(0.25));
      CHECK(alpha(0, 4) == Scalar(0));
    }
  });
}

// An unbounded kernel reaches every query, however far (README, "Numerics"). The engine squares
// the scaled distance in Scalar, which overflows for every key beyond sqrt(max) bandwidths
// (float: a scaled distance above ~1.8e19, e.g. h = 2e-12 with a query 1e8 away; double: above
// ~1.3e154); such queries are pooled again in long double with the keys' log-weights relative to
// the nearest one. The Gaussian's softmax saturates: the nearest sample's output. The Laplacian's
// log-weights -s_i differ by the keys' own spacing: at h = 2e-12 (float) that saturates too, at
// h = 1 (double) with keys one apart the weights are e^{x_i} (or e^{-x_i} on the other side).
TEMPLATE_TEST_CASE("stress: a far query under an unbounded kernel gets its nearest sample",
                   "[stress][bandwidth_extremes]", float, double) {
  using Scalar = TestType;
  MatrixOf<Scalar> X(3, 1);
  X << Scalar(0), Scalar(1), Scalar(2);
  VectorOf<Scalar> Y(3);
  Y << Scalar(10), Scalar(20), Scalar(30);
  const bool is_float = std::is_same<Scalar, float>::value;
  const double h = is_float ? 2e-12 : 1.0;                                 // 1e-12 and 0.5 x spread
  const Scalar far = is_float ? Scalar(1e8) : static_cast<Scalar>(1e200);  // beyond sqrt(max) h
  MatrixOf<Scalar> Q(2, 1);
  Q << far, -far;
  auto check_kernel = [&](auto kernel) {
    using Kernel = decltype(kernel);
    INFO("kernel " << kernel_traits<Kernel>::name());
    NadarayaWatson<Kernel, Scalar> nw(Bandwidth::scalar(h));
    nw.fit(X, Y);
    const MatrixOf<Scalar> predicted = nw.predict(Q);
    const MatrixOf<Scalar> alpha = nw.attention_weights(Q);
    const bool saturated = is_float || std::is_same<Kernel, Gaussian>::value;
    if (saturated) {
      CHECK(predicted(0, 0) == Scalar(30));
      CHECK(predicted(1, 0) == Scalar(10));
      CHECK(alpha(0, 2) == Scalar(1));
      CHECK(alpha(1, 0) == Scalar(1));
    } else {
      const double e = std::exp(1.0), total = 1 + e + e * e;
      CHECK(nadaraya_test::close<Scalar>(predicted(0, 0), (10 + 20 * e + 30 * e * e) / total));
      CHECK(nadaraya_test::close<Scalar>(predicted(1, 0), (10 * e * e + 20 * e + 30) / total));
      CHECK(nadaraya_test::close<Scalar>(alpha(0, 2), e * e / total));
      CHECK(nadaraya_test::close<Scalar>(alpha(1, 0), e * e / total));
      CHECK(nadaraya_test::close<Scalar>(alpha.row(0).sum(), 1.0));
    }
    ParzenDensity<Kernel, Scalar> kde(Bandwidth::scalar(h));
    kde.fit(X);
    const VectorOf<Scalar> log_p = kde.log_density(Q);
    if (std::is_same<Kernel, Gaussian>::value) {
      // -r2 / 2 with r2 above the largest finite value: -inf is the rounding of log p.
      CHECK(log_p.maxCoeff() == -std::numeric_limits<Scalar>::infinity());
    } else {
      // Laplacian: log p = log c_1 - log h - log 3 - s_min + log sum_i e^{s_min - s_i}, with
      // s = |q - x| / h representable; the last term is log(1 + 1/e + 1/e^2) when h = 1.
      const double spread = is_float ? 0.0 : std::log(1 + std::exp(-1.0) + std::exp(-2.0));
      for (Eigen::Index q = 0; q < 2; ++q) {
        const double s_min = (static_cast<double>(far) - (q == 0 ? 2.0 : 0.0)) / h;
        const double expected =
            kernel_traits<Kernel>::log_normaliser(1) - std::log(h) - std::log(3.0) - s_min + spread;
        CHECK(std::isfinite(log_p(q)));
        CHECK(nadaraya_test::close<Scalar>(log_p(q), expected));
      }
    }
  };
  check_kernel(Gaussian{});
  check_kernel(Laplacian{});
}

TEMPLATE_TEST_CASE("stress: log density over the bandwidth sweep", "[stress][bandwidth_extremes]",
                   float, double) {
  using Scalar = TestType;
  const Eigen::Index n = 25, d = 2;
  const MatrixOf<Scalar> X = nadaraya_test::normal_matrix<Scalar>(n, d, 201);
  const MatrixOf<Scalar> Q = nadaraya_test::normal_matrix<Scalar>(10, d, 202);
  const double s = spread(X);
  const double log_tolerance = std::is_same<Scalar, float>::value ? 1e-4 : 1e-9;

  for_each_density_kernel([&](auto kernel) {
    using Kernel = decltype(kernel);
    std::vector<VectorOf<Scalar>> log_densities;
    for (double relative : relative_bandwidths()) {
      const double h = relative * s;
      const Eigen::VectorXd widths = Eigen::VectorXd::Constant(d, h);
      INFO("kernel " << kernel_traits<Kernel>::name() << ", h = " << relative << " x spread");
      ParzenDensity<Kernel, Scalar> kde(Bandwidth::scalar(h));
      kde.fit(X);
      const VectorOf<Scalar> log_p = kde.log_density(Q);
      const LongVector expected = nadaraya_test::reference_log_density<Kernel>(
          Q.template cast<double>(), X.template cast<double>(), widths);
      for (Eigen::Index q = 0; q < Q.rows(); ++q) {
        INFO("query " << q << ": " << log_p(q) << " vs " << static_cast<double>(expected(q)));
        CHECK(!std::isnan(log_p(q)));
        CHECK(log_p(q) < std::numeric_limits<Scalar>::infinity());
        // Positive density (every unbounded kernel, compact ones in reach): finite log density,
        // even where the density itself underflows (h = 1e-12: log p ~ -1e22).
        if (std::isfinite(static_cast<double>(expected(q)))) {
          CHECK(std::isfinite(log_p(q)));
          const double e = static_cast<double>(expected(q));
          CHECK(near(log_p(q), e, log_tolerance * (1 + std::abs(e))));
        } else {
          CHECK(log_p(q) == -std::numeric_limits<Scalar>::infinity());
          CHECK(kde.density(Q.row(q))(0) == Scalar(0));
        }
      }
      log_densities.push_back(log_p);
    }
    // Monotone in h where the density is positive: increasing while h is far below every
    // distance from the query to the data (d log p / d log h = r^2/h^2 - d for the Gaussian,
    // r/h - d for the Laplacian), decreasing once h is far above them (p ~ c_d k(0) / h^d).
    const std::vector<double>& sweep = relative_bandwidths();
    for (Eigen::Index q = 0; q < Q.rows(); ++q) {
      const std::vector<long double> r2 =
          scaled_squared_distances(Q.row(q), X, Eigen::VectorXd::Ones(d));
      const double r_min = std::sqrt(static_cast<double>(*std::min_element(r2.begin(), r2.end())));
      const double r_max = std::sqrt(static_cast<double>(*std::max_element(r2.begin(), r2.end())));
      for (std::size_t k = 0; k + 1 < sweep.size(); ++k) {
        const double h0 = sweep[k] * s, h1 = sweep[k + 1] * s;
        const Scalar a = log_densities[k](q), b = log_densities[k + 1](q);
        INFO("kernel " << kernel_traits<Kernel>::name() << ", query " << q << ", h " << h0 << " -> "
                       << h1 << ": " << a << " -> " << b);
        if (!is_compact<Kernel>() && h1 < 1e-3 * r_min) CHECK(a < b);
        if (h0 > 1e3 * r_max) CHECK(a > b);
      }
    }
  });
}

TEMPLATE_TEST_CASE("stress: log density decreases away from a single sample at any bandwidth",
                   "[stress][bandwidth_extremes]", float, double) {
  using Scalar = TestType;
  const MatrixOf<Scalar> X = MatrixOf<Scalar>::Zero(1, 2);
  for_each_density_kernel([&](auto kernel) {
    using Kernel = decltype(kernel);
    for (double h : relative_bandwidths()) {
      INFO("kernel " << kernel_traits<Kernel>::name() << ", h = " << h);
      ParzenDensity<Kernel, Scalar> kde(Bandwidth::scalar(h));
      kde.fit(X);
      const std::vector<double> steps{0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.5, 3.0, 10.0};
      MatrixOf<Scalar> Q(static_cast<Eigen::Index>(steps.size()), 2);
      for (std::size_t k = 0; k < steps.size(); ++k) {
        const auto row = static_cast<Eigen::Index>(k);
        Q(row, 0) = static_cast<Scalar>(steps[k] * h * 0.6);
        Q(row, 1) = static_cast<Scalar>(steps[k] * h * 0.8);  // distance steps[k] * h
      }
      const VectorOf<Scalar> log_p = kde.log_density(Q);
      for (Eigen::Index k = 0; k < Q.rows(); ++k) {
        INFO("distance " << steps[static_cast<std::size_t>(k)] << " h: " << log_p(k));
        const bool inside = steps[static_cast<std::size_t>(k)] < 0.999;
        if (inside || !is_compact<Kernel>()) CHECK(std::isfinite(log_p(k)));
        if (!inside && is_compact<Kernel>()) {
          CHECK(log_p(k) == -std::numeric_limits<Scalar>::infinity());
        }
        if (k > 0) CHECK(log_p(k) <= log_p(k - 1));
      }
      // At the sample itself: log c_2 - 2 log h + log k(0), whatever the scale.
      const double expected = kernel_traits<Kernel>::log_normaliser(2) - 2 * std::log(h) +
                              static_cast<double>(kernel_traits<Kernel>::log_profile(0.0));
      CHECK(nadaraya_test::close<Scalar>(log_p(0), expected, 4));
    }
  });
}

// =============================================================================================
// Far from the origin
// =============================================================================================

TEMPLATE_TEST_CASE("stress: shifting all data far from the origin changes nothing beyond rounding",
                   "[stress][shift]", float, double) {
  using Scalar = TestType;
  // The estimators centre the data on their mean at fit(), so data at an offset s give what the
  // same data moved back by s give (exactly representable: x + s and s are within a factor of
  // two), to rounding at the unshifted scale, at every s; without centring, double lost 3e-10
  // at s = 1e6 and 3e-7 at s = 1e9.
  const bool is_float = std::is_same<Scalar, float>::value;
  const double prediction_tolerance = is_float ? 2e-4 : 1e-12;   // times max |y|
  const double log_density_tolerance = is_float ? 2e-4 : 1e-12;  // absolute, in log p
  const Eigen::Index n = 40, d = 2;
  const MatrixOf<Scalar> X0 = nadaraya_test::normal_matrix<Scalar>(n, d, 301);
  const MatrixOf<Scalar> Y = nadaraya_test::normal_matrix<Scalar>(n, 2, 302);
  const MatrixOf<Scalar> Q0 = nadaraya_test::normal_matrix<Scalar>(20, d, 303);
  const double y_scale = static_cast<double>(Y.cwiseAbs().maxCoeff());
  const double h = 0.7;
  for (const double shift : {1e3, 1e6, 1e9}) {
    INFO("shift " << shift);
    const MatrixOf<Scalar> X_far = (X0.array() + static_cast<Scalar>(shift)).matrix();
    const MatrixOf<Scalar> Q_far = (Q0.array() + static_cast<Scalar>(shift)).matrix();
    const MatrixOf<Scalar> X = (X_far.array() - static_cast<Scalar>(shift)).matrix();
    const MatrixOf<Scalar> Q = (Q_far.array() - static_cast<Scalar>(shift)).matrix();

    for_each_kernel([&](auto kernel) {
      using Kernel = decltype(kernel);
      INFO("kernel " << kernel_traits<Kernel>::name());
      for (int rule = 0; rule < 2; ++rule) {
        INFO((rule == 0 ? "scalar width" : "Silverman's rule"));
        const Bandwidth bandwidth = rule == 0 ? Bandwidth::scalar(h) : Bandwidth::silverman();
        NadarayaWatson<Kernel, Scalar> near_origin(bandwidth,
                                                   Options{Unreached::nearest_neighbour});
        NadarayaWatson<Kernel, Scalar> far_away(bandwidth, Options{Unreached::nearest_neighbour});
        near_origin.fit(X, Y);
        far_away.fit(X_far, Y);
        // A compact kernel's weight jumps (Uniform) or bends at its edge: skip queries with a
        // sample within rounding of the edge, where the shift may legitimately move it across.
        std::vector<bool> clear(static_cast<std::size_t>(Q.rows()), true);
        if (is_compact<Kernel>()) {
          for (Eigen::Index q = 0; q < Q.rows(); ++q) {
            for (long double r2 : scaled_squared_distances(Q.row(q), X, near_origin.bandwidth())) {
              if (std::abs(r2 - 1) < 2e-2L) clear[static_cast<std::size_t>(q)] = false;
            }
          }
        }
        if (rule == 1) {
          for (Eigen::Index j = 0; j < d; ++j) {
            CHECK(near(far_away.bandwidth()(j), near_origin.bandwidth()(j),
                       prediction_tolerance * near_origin.bandwidth()(j)));
          }
        }
        const MatrixOf<Scalar> expected = near_origin.predict(Q);
        const MatrixOf<Scalar> actual = far_away.predict(Q_far);
        const MatrixOf<Scalar> expected_loo = near_origin.predict_leave_one_out();
        const MatrixOf<Scalar> actual_loo = far_away.predict_leave_one_out();
        for (Eigen::Index q = 0; q < Q.rows(); ++q) {
          if (!clear[static_cast<std::size_t>(q)]) continue;
          for (Eigen::Index c = 0; c < Y.cols(); ++c) {
            INFO("query " << q << ", output " << c);
            CHECK(near(actual(q, c), expected(q, c), prediction_tolerance * y_scale));
          }
        }
        CHECK(actual.allFinite());
        CHECK(actual_loo.allFinite());
        if constexpr (kernel_traits<Kernel>::is_normalisable) {
          {
            ParzenDensity<Kernel, Scalar> kde_origin(bandwidth), kde_far(bandwidth);
            kde_origin.fit(X);
            kde_far.fit(X_far);
            const VectorOf<Scalar> log_p = kde_origin.log_density(Q);
            const VectorOf<Scalar> log_p_far = kde_far.log_density(Q_far);
            for (Eigen::Index q = 0; q < Q.rows(); ++q) {
              if (!clear[static_cast<std::size_t>(q)]) continue;
              INFO("query " << q);
              CHECK(near(log_p_far(q), log_p(q), log_density_tolerance));
            }
          }
        }
      }
    });
  }
}

// =============================================================================================
// Degenerate shapes
// =============================================================================================

TEMPLATE_TEST_CASE("stress: duplicated samples count as weight", "[stress][degenerate]", float,
                   double) {
  using Scalar = TestType;
  // Rows 0..9 once, rows 0..2 again: the same as rows 0..9 with weights 2, 2, 2, 1, ..., 1.
  const MatrixOf<Scalar> unique = nadaraya_test::normal_matrix<Scalar>(10, 2, 401);
  MatrixOf<Scalar> X(13, 2);
  X << unique, unique.topRows(3);
  const VectorOf<Scalar> unique_y = nadaraya_test::normal_matrix<Scalar>(10, 1, 402).col(0);
  VectorOf<Scalar> Y(13);
  Y << unique_y, unique_y.head(3);
  Eigen::VectorXd weights = Eigen::VectorXd::Ones(10);
  weights.head(3).setConstant(2.0);
  const MatrixOf<Scalar> Q = nadaraya_test::normal_matrix<Scalar>(12, 2, 403);
  for_each_kernel([&](auto kernel) {
    using Kernel = decltype(kernel);
    INFO("kernel " << kernel_traits<Kernel>::name());
    NadarayaWatson<Kernel, Scalar> duplicated(Bandwidth::scalar(0.8));
    NadarayaWatson<Kernel, Scalar> weighted(Bandwidth::scalar(0.8));
    duplicated.fit(X, Y);
    weighted.fit(unique, unique_y, weights);
    const MatrixOf<Scalar> a = duplicated.predict(Q), b = weighted.predict(Q);
    for (Eigen::Index q = 0; q < Q.rows(); ++q) {
      INFO("query " << q);
      CHECK(nadaraya_test::close<Scalar>(a(q, 0), b(q, 0), 10));
    }
    if constexpr (kernel_traits<Kernel>::is_normalisable) {
      ParzenDensity<Kernel, Scalar> kde_duplicated(Bandwidth::scalar(0.8));
      ParzenDensity<Kernel, Scalar> kde_weighted(Bandwidth::scalar(0.8));
      kde_duplicated.fit(X);
      kde_weighted.fit(unique, weights);
      const VectorOf<Scalar> p = kde_duplicated.log_density(Q),
                             p_weighted = kde_weighted.log_density(Q);
      for (Eigen::Index q = 0; q < Q.rows(); ++q) {
        INFO("query " << q);
        CHECK(nadaraya_test::close<Scalar>(p(q), p_weighted(q), 10));
      }
    }
  });
}

TEMPLATE_TEST_CASE("stress: all samples identical", "[stress][degenerate]", float, double) {
  using Scalar = TestType;
  const Eigen::Index n = 12;
  MatrixOf<Scalar> X(n, 2);
  X.col(0).setConstant(Scalar(3.75));
  X.col(1).setConstant(Scalar(-1.5));
  const VectorOf<Scalar> Y = nadaraya_test::normal_matrix<Scalar>(n, 1, 501).col(0);
  const double mean = static_cast<double>(global_mean(Y, Eigen::VectorXd())(0));
  MatrixOf<Scalar> Q(3, 2);
  Q << Scalar(3.75), Scalar(-1.5), Scalar(3.9), Scalar(-1.4), Scalar(50), Scalar(50);
  for_each_kernel([&](auto kernel) {
    using Kernel = decltype(kernel);
    INFO("kernel " << kernel_traits<Kernel>::name());
    for (const Bandwidth& bandwidth : {Bandwidth::silverman(), Bandwidth::scott()}) {
      NadarayaWatson<Kernel, Scalar> nw(bandwidth, Options{Unreached::nearest_neighbour});
      nw.fit(X, Y);
      // The rule's fallback spread (1 in the data's units) gives a positive, finite width.
      CHECK(nw.bandwidth().allFinite());
      CHECK(nw.bandwidth().minCoeff() > 0);
      const MatrixOf<Scalar> predicted = nw.predict(Q);
      // Every sample is equally near every query: the mean, reached or not.
      for (Eigen::Index q = 0; q < Q.rows(); ++q) {
        INFO("query " << q);
        CHECK(nadaraya_test::close<Scalar>(predicted(q, 0), mean, 10));
      }
      // Leave-one-out: the mean of the others.
      const MatrixOf<Scalar> loo = nw.predict_leave_one_out();
      for (Eigen::Index i = 0; i < n; ++i) {
        const double others = (mean * static_cast<double>(n) - static_cast<double>(Y(i))) /
                              static_cast<double>(n - 1);
        CHECK(nadaraya_test::close<Scalar>(loo(i, 0), others, 10));
      }
    }
    if constexpr (kernel_traits<Kernel>::is_normalisable) {
      ParzenDensity<Kernel, Scalar> kde;
      kde.fit(X);
      const Eigen::VectorXd h = kde.bandwidth();
      const double at_sample = kernel_traits<Kernel>::log_normaliser(2) - std::log(h(0)) -
                               std::log(h(1)) +
                               static_cast<double>(kernel_traits<Kernel>::log_profile(0.0));
      const VectorOf<Scalar> log_p = kde.log_density(Q);
      CHECK(nadaraya_test::close<Scalar>(log_p(0), at_sample, 4));
      const VectorOf<Scalar> loo = kde.leave_one_out_log_density();
      for (Eigen::Index i = 0; i < n; ++i)
        CHECK(nadaraya_test::close<Scalar>(loo(i), at_sample, 4));
    }
  });
}

TEMPLATE_TEST_CASE("stress: a single sample (n = 1)", "[stress][degenerate]", float, double) {
  using Scalar = TestType;
  for (Eigen::Index d : {1, 3}) {
    const MatrixOf<Scalar> X = nadaraya_test::normal_matrix<Scalar>(1, d, 601);
    MatrixOf<Scalar> Y(1, 2);
    Y << Scalar(-2.5), Scalar(7);
    MatrixOf<Scalar> Q(3, d);
    Q.row(0) = X.row(0);
    Q.row(1) = (X.row(0).array() + Scalar(0.1)).matrix();
    Q.row(2) = (X.row(0).array() + Scalar(1e4)).matrix();
    for_each_kernel([&](auto kernel) {
      using Kernel = decltype(kernel);
      INFO("kernel " << kernel_traits<Kernel>::name() << ", d = " << d);
      NadarayaWatson<Kernel, Scalar> nw;  // Silverman: spread 1 for a single sample
      NadarayaWatson<Kernel, Scalar> nw_nearest(Bandwidth::silverman(),
                                                Options{Unreached::nearest_neighbour});
      nw.fit(X, Y);
      nw_nearest.fit(X, Y);
      CHECK(nw.bandwidth().allFinite());
      const MatrixOf<Scalar> predicted = nw.predict(Q), predicted_nearest = nw_nearest.predict(Q);
      // The only sample's output, up to the rounding of a y / a (a: its kernel weight).
      for (Eigen::Index q = 0; q < Q.rows(); ++q) {
        INFO("query " << q);
        for (Eigen::Index c = 0; c < 2; ++c) {
          CHECK(nadaraya_test::close<Scalar>(predicted_nearest(q, c), Y(0, c)));
        }
        if (!is_compact<Kernel>() || q < 2) {
          for (Eigen::Index c = 0; c < 2; ++c) {
            CHECK(nadaraya_test::close<Scalar>(predicted(q, c), Y(0, c)));
          }
        } else {
          CHECK(std::isnan(predicted(q, 0)));
        }
      }
      // Leave-one-out has no other sample: NaN whatever the rule (documented).
      CHECK(std::isnan(nw.predict_leave_one_out()(0, 0)));
      CHECK(std::isnan(nw_nearest.predict_leave_one_out()(0, 1)));
      if constexpr (kernel_traits<Kernel>::is_normalisable) {
        ParzenDensity<Kernel, Scalar> kde;
        kde.fit(X);
        const LongVector expected = nadaraya_test::reference_log_density<Kernel>(
            Q.template cast<double>(), X.template cast<double>(), kde.bandwidth());
        const VectorOf<Scalar> log_p = kde.log_density(Q);
        for (Eigen::Index q = 0; q < Q.rows(); ++q) {
          INFO("query " << q);
          CHECK(nadaraya_test::close<Scalar>(log_p(q), static_cast<double>(expected(q)), 10));
        }
        CHECK(kde.leave_one_out_log_density()(0) == -std::numeric_limits<Scalar>::infinity());
      }
    });
    // A classifier needs two classes: one sample is refused with a library error.
    NadarayaWatsonClassifier<Gaussian, Scalar> classifier;
    CHECK_THROWS_AS(classifier.fit(X, Eigen::VectorXi::Zero(1)), InvalidArgument);
  }
}

TEMPLATE_TEST_CASE("stress: many more dimensions than samples (d = 300, n = 4)",
                   "[stress][degenerate]", float, double) {
  using Scalar = TestType;
  const Eigen::Index n = 4, d = 300;
  const MatrixOf<Scalar> X = nadaraya_test::normal_matrix<Scalar>(n, d, 701);
  const MatrixOf<Scalar> Y = nadaraya_test::normal_matrix<Scalar>(n, 1, 702);
  MatrixOf<Scalar> Q(3, d);
  Q.topRows(2) = nadaraya_test::normal_matrix<Scalar>(2, d, 703);
  Q.row(2) = (X.row(0) + X.row(1)) / Scalar(2);
  // Sums of 300 squared differences in Scalar: relative error ~ d eps in r2, times r2 ~ 600 in
  // log-weights. The tolerance scale below covers float (r2 ~ 600: ~2e-2 absolute in log p).
  const double scale = std::is_same<Scalar, float>::value ? 2000 : 1000;
  for_each_kernel([&](auto kernel) {
    using Kernel = decltype(kernel);
    INFO("kernel " << kernel_traits<Kernel>::name());
    NadarayaWatson<Kernel, Scalar> nw;  // Silverman's rule per dimension
    nw.fit(X, Y);
    const Eigen::VectorXd h = nw.bandwidth();
    CHECK(h.allFinite());
    const MatrixOf<Scalar> predicted = nw.predict(Q);
    const LongMatrix expected = nadaraya_test::reference_nadaraya_watson<Kernel>(
        Q.template cast<double>(), X.template cast<double>(), Y.template cast<double>(), h);
    for (Eigen::Index q = 0; q < Q.rows(); ++q) {
      INFO("query " << q);
      CHECK(nadaraya_test::close<Scalar>(predicted(q, 0), static_cast<double>(expected(q, 0)),
                                         scale));
    }
    if constexpr (kernel_traits<Kernel>::is_normalisable) {
      ParzenDensity<Kernel, Scalar> kde;
      kde.fit(X);
      const VectorOf<Scalar> log_p = kde.log_density(Q);
      const LongVector expected_log_p = nadaraya_test::reference_log_density<Kernel>(
          Q.template cast<double>(), X.template cast<double>(), kde.bandwidth());
      for (Eigen::Index q = 0; q < Q.rows(); ++q) {
        INFO("query " << q);
        CHECK(!std::isnan(log_p(q)));
        CHECK(
            nadaraya_test::close<Scalar>(log_p(q), static_cast<double>(expected_log_p(q)), scale));
      }
    }
  });
}

TEMPLATE_TEST_CASE("stress: scales 1e-6 and 1e6 side by side with per-dimension widths",
                   "[stress][degenerate]", float, double) {
  using Scalar = TestType;
  const Eigen::Index n = 30;
  const MatrixOf<Scalar> unit = nadaraya_test::normal_matrix<Scalar>(n, 2, 801);
  const MatrixOf<Scalar> Y = nadaraya_test::normal_matrix<Scalar>(n, 1, 802);
  const MatrixOf<Scalar> Q_unit = nadaraya_test::normal_matrix<Scalar>(15, 2, 803);
  const Eigen::Vector2d scales(1e-6, 1e6);
  const MatrixOf<Scalar> X = unit * scales.cast<Scalar>().asDiagonal();
  const MatrixOf<Scalar> Q = Q_unit * scales.cast<Scalar>().asDiagonal();
  for_each_kernel([&](auto kernel) {
    using Kernel = decltype(kernel);
    INFO("kernel " << kernel_traits<Kernel>::name());
    for (int rule = 0; rule < 2; ++rule) {
      INFO((rule == 0 ? "per-dimension widths 0.6 x scale" : "Silverman's rule"));
      const Bandwidth skewed_width =
          rule == 0 ? Bandwidth::per_dimension(0.6 * scales) : Bandwidth::silverman();
      const Bandwidth unit_width = rule == 0 ? Bandwidth::scalar(0.6) : Bandwidth::silverman();
      const Options options{Unreached::nearest_neighbour};
      NadarayaWatson<Kernel, Scalar> skewed(skewed_width, options), reference(unit_width, options);
      skewed.fit(X, Y);
      reference.fit(unit, Y);
      for (Eigen::Index j = 0; j < 2; ++j) {
        CHECK(nadaraya_test::close<Scalar>(skewed.bandwidth()(j),
                                           reference.bandwidth()(j) * scales(j), 10));
      }
      const MatrixOf<Scalar> a = skewed.predict(Q), b = reference.predict(Q_unit);
      for (Eigen::Index q = 0; q < Q.rows(); ++q) {
        INFO("query " << q);
        // Widths, data and queries each carry one rounding of the scale: tiny weight changes.
        CHECK(nadaraya_test::close<Scalar>(a(q, 0), b(q, 0), 100));
      }
      if constexpr (kernel_traits<Kernel>::is_normalisable) {
        ParzenDensity<Kernel, Scalar> kde_skewed(skewed_width), kde_unit(unit_width);
        kde_skewed.fit(X);
        kde_unit.fit(unit);
        // p_skewed(q) = p_unit(q / scale) / (1e-6 * 1e6).
        const VectorOf<Scalar> p = kde_skewed.log_density(Q), p_unit = kde_unit.log_density(Q_unit);
        for (Eigen::Index q = 0; q < Q.rows(); ++q) {
          INFO("query " << q);
          if (rule == 0) {
            CHECK(nadaraya_test::close<Scalar>(p(q), p_unit(q), 100));
          } else {
            CHECK(near(p(q), p_unit(q), 1e4 * epsilon<Scalar>() * (1 + std::abs(p_unit(q)))));
          }
        }
      }
    }
  });
}

// =============================================================================================
// Heavy outputs
// =============================================================================================

TEMPLATE_TEST_CASE("stress: large outputs well inside the range are pooled exactly",
                   "[stress][heavy]", float, double) {
  using Scalar = TestType;
  // Up to max / (4 n) every partial sum of the pooling stays finite.
  const Eigen::Index n = 20;
  const double big = static_cast<double>(std::numeric_limits<Scalar>::max()) / (4.0 * n);
  const MatrixOf<Scalar> X = nadaraya_test::normal_matrix<Scalar>(n, 1, 901);
  const Eigen::VectorXd u = nadaraya_test::uniform_vector(n, 0.5, 1.0, 902);
  const VectorOf<Scalar> Y = (u * big).template cast<Scalar>();
  const MatrixOf<Scalar> Q = nadaraya_test::normal_matrix<Scalar>(10, 1, 903);
  NadarayaWatson<Gaussian, Scalar> nw(Bandwidth::scalar(0.5));
  nw.fit(X, Y);
  const MatrixOf<Scalar> predicted = nw.predict(Q);
  const LongMatrix expected = nadaraya_test::reference_nadaraya_watson<Gaussian>(
      Q.template cast<double>(), X.template cast<double>(), Y.template cast<double>(),
      Eigen::VectorXd::Constant(1, 0.5));
  for (Eigen::Index q = 0; q < Q.rows(); ++q) {
    CHECK(std::isfinite(predicted(q, 0)));
    CHECK(nadaraya_test::close<Scalar>(predicted(q, 0), static_cast<double>(expected(q, 0)), 10));
  }
}

// The Nadaraya–Watson value is a convex combination of the outputs, so it is finite whenever they
// are: NadarayaWatson stores each output column divided by a power of two (exact), so that the
// weighted sums cannot overflow.
TEMPLATE_TEST_CASE("stress: outputs near the largest finite value do not overflow",
                   "[stress][heavy]", float, double) {
  using Scalar = TestType;
  const Scalar max = std::numeric_limits<Scalar>::max();
  MatrixOf<Scalar> X(4, 1);
  X << Scalar(0), Scalar(0.1), Scalar(0.2), Scalar(0.3);
  MatrixOf<Scalar> Y(4, 2);
  Y << max, -max, max * Scalar(0.9), Scalar(1), max * Scalar(0.8), -max * Scalar(0.5), max,
      Scalar(0);
  MatrixOf<Scalar> Q(2, 1);
  Q << Scalar(0.15), Scalar(0.05);
  for_each_kernel([&](auto kernel) {
    using Kernel = decltype(kernel);
    INFO("kernel " << kernel_traits<Kernel>::name());
    NadarayaWatson<Kernel, Scalar> nw(Bandwidth::scalar(1.0));
    nw.fit(X, Y);
    const MatrixOf<Scalar> predicted = nw.predict(Q);
    const MatrixOf<Scalar> loo = nw.predict_leave_one_out();
    for (Eigen::Index c = 0; c < 2; ++c) {
      const Scalar low = Y.col(c).minCoeff(), high = Y.col(c).maxCoeff();
      for (Eigen::Index q = 0; q < Q.rows(); ++q) {
        INFO("query " << q << ", output " << c << ": " << predicted(q, c));
        CHECK(std::isfinite(predicted(q, c)));
        CHECK(predicted(q, c) >= low);
        CHECK(predicted(q, c) <= high);
      }
      for (Eigen::Index i = 0; i < X.rows(); ++i) {
        INFO("leave-one-out " << i << ", output " << c << ": " << loo(i, c));
        CHECK(std::isfinite(loo(i, c)));
      }
    }
  });
}

// Two outputs at minus the largest finite value pooled together: their weighted mean is that value,
// but the rounding of the sums carried it an ulp past it, to -infinity once scaled back (found by
// fuzz_nadaraya_watson: Cosine, float). Predictions are clamped to their column's outputs.
TEMPLATE_TEST_CASE("stress: a mean of outputs at the largest finite value stays finite",
                   "[stress][heavy]", float, double) {
  using Scalar = TestType;
  const Scalar max = std::numeric_limits<Scalar>::max();
  MatrixOf<Scalar> X(4, 1), Y(4, 1);
  X << Scalar(-3.4375), Scalar(-1), Scalar(-1), Scalar(-4.9375);
  Y << -max, Scalar(-1.8125), std::numeric_limits<Scalar>::epsilon(), -max;
  for_each_kernel([&](auto kernel) {
    using Kernel = decltype(kernel);
    INFO("kernel " << kernel_traits<Kernel>::name());
    NadarayaWatson<Kernel, Scalar> nw(Bandwidth::scalar(2.8125));
    nw.fit(X, Y);
    const MatrixOf<Scalar> predicted = nw.predict(X);
    const MatrixOf<Scalar> loo = nw.predict_leave_one_out();
    for (Eigen::Index i = 0; i < X.rows(); ++i) {
      INFO("row " << i << ": " << predicted(i, 0) << ", leave-one-out " << loo(i, 0));
      CHECK(std::isfinite(predicted(i, 0)));
      CHECK(predicted(i, 0) >= -max);
      CHECK(predicted(i, 0) <= Y.maxCoeff());
      CHECK(std::isfinite(loo(i, 0)));
    }
  });
  // Both heavy samples alone in reach of the last query: -max to rounding (the weighted sums
  // round differently with and without fused multiply-adds), and never past it.
  NadarayaWatson<Cosine, Scalar> nw(Bandwidth::scalar(2.8125));
  nw.fit(X, Y);
  const Scalar heavy = nw.predict(X.bottomRows(1))(0, 0);
  CHECK(heavy >= -max);
  CHECK(heavy <= -max * (1 - 4 * std::numeric_limits<Scalar>::epsilon()));
}

// Tiny outputs, at the other end: a single sample reached only near the edge of a compact support
// is still that sample's output (a y / a), although the profile a is tiny there (Triweight:
// (1 - r2)^3 ~ 1e-22 in float) and y too: neither a y nor the sums may fall into the subnormals
// (found by fuzz_nadaraya_watson).
TEMPLATE_TEST_CASE("stress: tiny outputs keep their digits at the edge of a compact support",
                   "[stress][heavy]", float, double) {
  using Scalar = TestType;
  const Scalar edge = Scalar(1) - std::numeric_limits<Scalar>::epsilon();  // r2 just below 1
  MatrixOf<Scalar> X(1, 1), Q(1, 1);
  X << Scalar(0);
  Q << std::sqrt(edge);
  const Scalar tiny = std::is_same<Scalar, float>::value ? Scalar(1e-20) : Scalar(1e-290);
  VectorOf<Scalar> Y(1);
  Y << tiny;
  for_each_density_kernel([&](auto kernel) {
    using Kernel = decltype(kernel);
    INFO("kernel " << kernel_traits<Kernel>::name());
    NadarayaWatson<Kernel, Scalar> nw(Bandwidth::scalar(1.0));
    nw.fit(X, Y);
    const Scalar predicted = nw.predict(Q)(0, 0);
    INFO("predicted " << predicted << " for " << tiny);
    CHECK(nadaraya_test::close<Scalar>(predicted / tiny, 1.0));
  });
}

// =============================================================================================
// Leave-one-out without neighbours
// =============================================================================================

TEMPLATE_TEST_CASE("stress: leave-one-out when the others are out of a compact kernel's reach",
                   "[stress][leave_one_out]", float, double) {
  using Scalar = TestType;
  // 0 and 0.5 see each other at h = 1; 10 and 20 see nobody; 20's nearest other is 10, and 10's
  // nearest others are 0.5 (9.5 away) alone.
  MatrixOf<Scalar> X(4, 1);
  X << Scalar(0), Scalar(0.5), Scalar(10), Scalar(20);
  MatrixOf<Scalar> Y(4, 2);
  // Powers of two: a single reaching sample's (a y) / a is then y exactly.
  Y << Scalar(1), Scalar(-1), Scalar(2), Scalar(-2), Scalar(4), Scalar(-4), Scalar(8), Scalar(-8);
  Eigen::VectorXi labels(4);
  labels << 3, 7, 7, 3;
  for_each_density_kernel([&](auto kernel) {
    using Kernel = decltype(kernel);
    if (!is_compact<Kernel>()) return;
    INFO("kernel " << kernel_traits<Kernel>::name());
    NadarayaWatson<Kernel, Scalar> nw(Bandwidth::scalar(1.0));
    NadarayaWatson<Kernel, Scalar> nw_nearest(Bandwidth::scalar(1.0),
                                              Options{Unreached::nearest_neighbour});
    nw.fit(X, Y);
    nw_nearest.fit(X, Y);
    const MatrixOf<Scalar> loo = nw.predict_leave_one_out();
    const MatrixOf<Scalar> loo_nearest = nw_nearest.predict_leave_one_out();
    // Reached rows: each other's output, untouched by the NaN rows (nothing spreads).
    CHECK(loo(0, 0) == Scalar(2));
    CHECK(loo(1, 1) == Scalar(-1));
    CHECK(std::isnan(loo(2, 0)));
    CHECK(std::isnan(loo(3, 1)));
    CHECK(loo_nearest(0, 0) == Scalar(2));
    CHECK(loo_nearest(2, 0) == Scalar(2));  // nearest other sample of 10 is 0.5
    CHECK(loo_nearest(3, 1) == Scalar(-4));
    // Densities: -inf where no other sample reaches, finite elsewhere.
    ParzenDensity<Kernel, Scalar> kde(Bandwidth::scalar(1.0));
    kde.fit(X);
    const VectorOf<Scalar> loo_density = kde.leave_one_out_log_density();
    CHECK(std::isfinite(loo_density(0)));
    CHECK(std::isfinite(loo_density(1)));
    CHECK(loo_density(2) == -std::numeric_limits<Scalar>::infinity());
    CHECK(loo_density(3) == -std::numeric_limits<Scalar>::infinity());
    // Classifier: NaN probabilities, or the nearest other sample's class.
    NadarayaWatsonClassifier<Kernel, Scalar> classifier(Bandwidth::scalar(1.0));
    NadarayaWatsonClassifier<Kernel, Scalar> classifier_nearest(
        Bandwidth::scalar(1.0), Options{Unreached::nearest_neighbour});
    classifier.fit(X, labels);
    classifier_nearest.fit(X, labels);
    const MatrixOf<Scalar> proba = classifier.predict_proba_leave_one_out();
    const MatrixOf<Scalar> proba_nearest = classifier_nearest.predict_proba_leave_one_out();
    CHECK(proba(0, 1) == Scalar(1));  // 0 sees only 0.5, of class 7 (column 1)
    CHECK(std::isnan(proba(2, 0)));
    CHECK(std::isnan(proba(3, 1)));
    CHECK(proba_nearest(2, 1) == Scalar(1));  // nearest other of 10: 0.5, class 7
    CHECK(proba_nearest(3, 1) == Scalar(1));  // nearest other of 20: 10, class 7
  });
}

TEMPLATE_TEST_CASE("stress: leave-one-out with equidistant nearest others and with n = 2",
                   "[stress][leave_one_out]", float, double) {
  using Scalar = TestType;
  MatrixOf<Scalar> X(3, 1);
  X << Scalar(-10), Scalar(0), Scalar(10);
  VectorOf<Scalar> Y(3);
  Y << Scalar(1), Scalar(5), Scalar(3);
  NadarayaWatson<Epanechnikov, Scalar> nw(Bandwidth::scalar(1.0),
                                          Options{Unreached::nearest_neighbour});
  nw.fit(X, Y);
  const MatrixOf<Scalar> loo = nw.predict_leave_one_out();
  CHECK(loo(0, 0) == Scalar(5));
  CHECK(loo(1, 0) == Scalar(2));  // the mean of the two equidistant others
  CHECK(loo(2, 0) == Scalar(5));
  // Two samples under an unbounded kernel: each is predicted by the other, always finite.
  for (double h : {1e-12, 1.0, 1e12}) {
    NadarayaWatson<Gaussian, Scalar> pair(Bandwidth::scalar(h));
    pair.fit(X.topRows(2), Y.head(2));
    const MatrixOf<Scalar> loo_pair = pair.predict_leave_one_out();
    CHECK(nadaraya_test::close<Scalar>(loo_pair(0, 0), 5.0));
    CHECK(nadaraya_test::close<Scalar>(loo_pair(1, 0), 1.0));
  }
}

// =============================================================================================
// Extreme sample weights
// =============================================================================================

// Only the ratios of sample weights matter: weights whose sum overflows act like their ratios
// (for the predictions, the densities and the rules of thumb), and leave-one-out next to a
// dominant weight renormalises by the others' own sum, not by 1 - w_i / sum_j w_j, which rounds
// to 0 when they weigh less than the rounding of w_i.
TEMPLATE_TEST_CASE("stress: sample weights near the ends of the double range", "[stress][weights]",
                   float, double) {
  using Scalar = TestType;
  MatrixOf<Scalar> X(3, 1);
  X << Scalar(0), Scalar(1), Scalar(2);
  VectorOf<Scalar> Y(3);
  Y << Scalar(10), Scalar(20), Scalar(30);
  MatrixOf<Scalar> Q(1, 1);
  Q << Scalar(2);
  SECTION("weights whose sum overflows act like their ratios") {
    Eigen::VectorXd huge(3), ratios(3);
    huge << 1e308, 1e308, 1e292;
    ratios << 1.0, 1.0, 1e-16;
    NadarayaWatson<Gaussian, Scalar> nw(Bandwidth::scalar(1.0)), reference(Bandwidth::scalar(1.0));
    nw.fit(X, Y, huge);
    reference.fit(X, Y, ratios);
    CHECK(nadaraya_test::close<Scalar>(nw.predict(Q)(0, 0), reference.predict(Q)(0, 0)));
    ParzenDensity<Gaussian, Scalar> kde(Bandwidth::silverman()),
        kde_reference(Bandwidth::silverman());
    REQUIRE_NOTHROW(kde.fit(X, huge));
    kde_reference.fit(X, ratios);
    CHECK(nadaraya_test::close<Scalar>(kde.bandwidth()(0), kde_reference.bandwidth()(0)));
    CHECK(nadaraya_test::close<Scalar>(kde.log_density(Q)(0), kde_reference.log_density(Q)(0)));
  }
  SECTION("a weight 1e-330 of the largest still counts, after set_bandwidth too") {
    // Scaled so that the largest is near 1, this weight underflows to 0: its log comes from the
    // weight as given, and a refit starts again from the weights as given.
    Eigen::VectorXd lopsided(3);
    lopsided << std::numeric_limits<double>::denorm_min(), 1e10, 1e10;
    for (const bool refit : {false, true}) {
      INFO("set_bandwidth first: " << refit);
      NadarayaWatson<Epanechnikov, Scalar> nw(Bandwidth::scalar(0.5));
      nw.fit(X, Y, lopsided);
      ParzenDensity<Epanechnikov, Scalar> kde(Bandwidth::scalar(0.5));
      kde.fit(X, lopsided);
      if (refit) {
        nw.set_bandwidth(Bandwidth::scalar(0.25));
        kde.set_bandwidth(Bandwidth::scalar(0.25));
      }
      // Query 0 reaches sample 0 alone: its value, and a finite (tiny) log density.
      MatrixOf<Scalar> Q0(1, 1);
      Q0 << Scalar(0);
      CHECK(nw.predict(Q0)(0, 0) == Scalar(10));
      const double expected_log_share =
          std::log(std::numeric_limits<double>::denorm_min()) - std::log(2e10);  // log(w_0 / sum w)
      const Scalar log_p = kde.log_density(Q0)(0);
      CHECK(std::isfinite(log_p));
      CHECK(nadaraya_test::close<Scalar>(log_p, expected_log_share +
                                                    kernel_traits<Epanechnikov>::log_normaliser(1) -
                                                    std::log(refit ? 0.25 : 0.5)));
    }
  }
  SECTION("leave-one-out next to a dominant weight uses the others") {
    Eigen::VectorXd dominant(3);
    dominant << 1.0, 1e-20, 1e-20;
    ParzenDensity<Gaussian, Scalar> kde(Bandwidth::scalar(1.0));
    kde.fit(X, dominant);
    // Without sample 0 the others weigh equally: the density of {1, 2} at 0.
    ParzenDensity<Gaussian, Scalar> others(Bandwidth::scalar(1.0));
    others.fit(X.bottomRows(2));
    const VectorOf<Scalar> loo = kde.leave_one_out_log_density();
    CHECK(std::isfinite(loo(0)));
    CHECK(nadaraya_test::close<Scalar>(loo(0), others.log_density(X.topRows(1))(0)));
  }
}

// =============================================================================================
// A failed call leaves no trace
// =============================================================================================

// A fit() that throws (here: X divided by the widths overflows) leaves the estimator holding its
// previous data, weights and widths, and set_bandwidth keeps the old bandwidth when applying
// the new one throws.
TEMPLATE_TEST_CASE("stress: a refit that throws leaves the estimator as it was", "[stress][errors]",
                   float, double) {
  using Scalar = TestType;
  const Scalar tiny = std::numeric_limits<Scalar>::min();
  MatrixOf<Scalar> X(3, 1);
  X << Scalar(0), tiny, 2 * tiny;
  VectorOf<Scalar> Y(3);
  Y << Scalar(10), Scalar(20), Scalar(30);
  MatrixOf<Scalar> Q(1, 1);
  Q << Scalar(0.9) * tiny;
  const double h = static_cast<double>(tiny);
  MatrixOf<Scalar> X_bad(3, 1);  // X / h overflows
  X_bad << Scalar(1), Scalar(2), Scalar(1e10);
  Eigen::VectorXd w_bad(3);
  w_bad << 1.0, 1.0, 1e6;

  NadarayaWatson<Gaussian, Scalar> nw(Bandwidth::scalar(h));
  nw.fit(X, Y);
  const MatrixOf<Scalar> before = nw.predict(Q);
  CHECK_THROWS_AS(nw.fit(X_bad, Y, w_bad), InvalidArgument);
  CHECK(nw.predict(Q)(0, 0) == before(0, 0));
  CHECK(nw.n_samples() == 3);

  ParzenDensity<Gaussian, Scalar> kde(Bandwidth::scalar(h));
  kde.fit(X);
  const VectorOf<Scalar> log_p = kde.log_density(Q);
  CHECK_THROWS_AS(kde.fit(X_bad, w_bad), InvalidArgument);
  CHECK(kde.log_density(Q)(0) == log_p(0));

  // A bandwidth that cannot be applied is refused and the old one stays: fitting again works.
  CHECK_THROWS_AS(nw.set_bandwidth(Bandwidth::per_dimension(Eigen::Vector2d(1.0, 1.0))),
                  InvalidArgument);
  CHECK_NOTHROW(nw.fit(X, Y));
  CHECK(nw.predict(Q)(0, 0) == before(0, 0));
}

// Determinism across calls and thread counts: tests/threads/test_thread_invariance.cpp.

// =============================================================================================
// Seeded property tests
// =============================================================================================

TEMPLATE_TEST_CASE("stress: attention weights are convex and predictions stay within the outputs",
                   "[stress][property]", float, double) {
  using Scalar = TestType;
  std::mt19937_64 generator(1201);
  std::uniform_int_distribution<int> n_of(1, 40), d_of(1, 4), k_of(1, 3);
  std::uniform_real_distribution<double> width_of(0.05, 3.0), log_scale_of(-3, 3);
  for (int trial = 0; trial < 24; ++trial) {
    const Eigen::Index n = n_of(generator), d = d_of(generator), k = k_of(generator);
    const auto seed = static_cast<unsigned>(1300 + 10 * trial);
    const MatrixOf<Scalar> X = nadaraya_test::normal_matrix<Scalar>(n, d, seed);
    const Scalar y_scale = static_cast<Scalar>(std::pow(10.0, log_scale_of(generator)));
    const MatrixOf<Scalar> Y = nadaraya_test::normal_matrix<Scalar>(n, k, seed + 1) * y_scale;
    const MatrixOf<Scalar> Q = nadaraya_test::normal_matrix<Scalar>(17, d, seed + 2) * Scalar(1.5);
    Eigen::VectorXd h(d);
    for (Eigen::Index j = 0; j < d; ++j) h(j) = width_of(generator);
    const Eigen::VectorXd weights = nadaraya_test::sample_weights(n, seed + 3);
    for_each_kernel([&](auto kernel) {
      using Kernel = decltype(kernel);
      INFO("trial " << trial << " (n = " << n << ", d = " << d << ", k = " << k << "), kernel "
                    << kernel_traits<Kernel>::name());
      for (Unreached rule : {Unreached::nan, Unreached::nearest_neighbour}) {
        NadarayaWatson<Kernel, Scalar> nw(Bandwidth::per_dimension(h), Options{rule});
        nw.fit(X, Y, weights);
        const MatrixOf<Scalar> alpha = nw.attention_weights(Q);
        const MatrixOf<Scalar> predicted = nw.predict(Q);
        for (Eigen::Index q = 0; q < Q.rows(); ++q) {
          INFO("query " << q);
          if (std::isnan(alpha(q, 0))) {
            // Only an unreached query under Unreached::nan: its whole row is NaN.
            CHECK(rule == Unreached::nan);
            CHECK(alpha.row(q).array().isNaN().all());
            CHECK(predicted.row(q).array().isNaN().all());
            continue;
          }
          CHECK(alpha.row(q).minCoeff() >= Scalar(0));
          CHECK(near(static_cast<double>(alpha.row(q).sum()), 1.0,
                     4 * static_cast<double>(n) * epsilon<Scalar>()));
          for (Eigen::Index i = 0; i < n; ++i) {
            if (!(weights(i) > 0)) CHECK(alpha(q, i) == Scalar(0));
          }
          // A convex combination of the outputs, up to rounding (n + 2 roundings of max |y|).
          for (Eigen::Index c = 0; c < k; ++c) {
            const double slack = 4 * static_cast<double>(n + 2) * epsilon<Scalar>() *
                                 static_cast<double>(Y.col(c).cwiseAbs().maxCoeff());
            CHECK(static_cast<double>(predicted(q, c)) >=
                  static_cast<double>(Y.col(c).minCoeff()) - slack);
            CHECK(static_cast<double>(predicted(q, c)) <=
                  static_cast<double>(Y.col(c).maxCoeff()) + slack);
            CHECK(nadaraya_test::close<Scalar>(
                predicted(q, c), static_cast<double>((alpha.row(q) * Y.col(c))(0)), 100));
          }
        }
      }
    });
  }
}

TEMPLATE_TEST_CASE("stress: classifier probabilities are distributions", "[stress][property]",
                   float, double) {
  using Scalar = TestType;
  for (int trial = 0; trial < 6; ++trial) {
    const auto seed = static_cast<unsigned>(1400 + 10 * trial);
    const Eigen::Index n = 25 + trial, d = 1 + trial % 3;
    const MatrixOf<Scalar> X = nadaraya_test::normal_matrix<Scalar>(n, d, seed);
    const MatrixOf<Scalar> Q = nadaraya_test::normal_matrix<Scalar>(20, d, seed + 1) * Scalar(2);
    Eigen::VectorXi labels(n);
    for (Eigen::Index i = 0; i < n; ++i) labels(i) = static_cast<int>(i % (2 + trial)) * 5;
    const Eigen::VectorXd weights = nadaraya_test::sample_weights(n, seed + 2);
    for_each_kernel([&](auto kernel) {
      using Kernel = decltype(kernel);
      INFO("trial " << trial << ", kernel " << kernel_traits<Kernel>::name());
      NadarayaWatsonClassifier<Kernel, Scalar> classifier(Bandwidth::scalar(0.7),
                                                          Options{Unreached::nearest_neighbour});
      classifier.fit(X, labels, weights);
      const MatrixOf<Scalar> proba = classifier.predict_proba(Q);
      const MatrixOf<Scalar> proba_loo = classifier.predict_proba_leave_one_out();
      for (const MatrixOf<Scalar>* P : {&proba, &proba_loo}) {
        for (Eigen::Index q = 0; q < P->rows(); ++q) {
          INFO("row " << q);
          CHECK(P->row(q).minCoeff() >= Scalar(0));
          CHECK(P->row(q).maxCoeff() <= Scalar(1));
          CHECK(near(static_cast<double>(P->row(q).sum()), 1.0,
                     4 * static_cast<double>(n) * epsilon<Scalar>()));
        }
      }
    });
  }
}

TEMPLATE_TEST_CASE("stress: densities integrate to one in d = 1 and d = 2", "[stress][property]",
                   float, double) {
  using Scalar = TestType;
  // Measured: |integral - 1| <= 5e-9 in double (the quadrature's own error, largest in d = 2 at
  // the square-root edges of the discs), <= 1.5e-7 in float (the densities' rounding).
  const double tolerance = std::is_same<Scalar, float>::value ? 2e-6 : 5e-8;
  for (Eigen::Index d : {1, 2}) {
    for (int trial = 0; trial < 2; ++trial) {
      const auto seed = static_cast<unsigned>(1500 + 10 * trial + 100 * static_cast<int>(d));
      const Eigen::Index n = d == 1 ? 15 : 6;
      const MatrixOf<Scalar> X = nadaraya_test::normal_matrix<Scalar>(n, d, seed);
      const Eigen::VectorXd weights = nadaraya_test::sample_weights(n, seed + 1);
      const double h = trial == 0 ? 0.4 : 1.3;
      for_each_density_kernel([&](auto kernel) {
        using Kernel = decltype(kernel);
        INFO("d = " << d << ", trial " << trial << ", kernel " << kernel_traits<Kernel>::name());
        ParzenDensity<Kernel, Scalar> kde(Bandwidth::scalar(h));
        if (trial == 0) {
          kde.fit(X);
        } else {
          kde.fit(X, weights);
        }
        const double integral = integrate_density(kde, X, h);
        INFO("integral - 1 = " << integral - 1.0);
        CHECK(near(integral, 1.0, tolerance));
      });
    }
  }
}

TEMPLATE_TEST_CASE("stress: permuting the training rows changes nothing beyond rounding",
                   "[stress][property]", float, double) {
  using Scalar = TestType;
  std::mt19937_64 generator(1601);
  for (int trial = 0; trial < 4; ++trial) {
    const auto seed = static_cast<unsigned>(1700 + 10 * trial);
    const Eigen::Index n = 30 + 7 * trial, d = 1 + trial % 3;
    const MatrixOf<Scalar> X = nadaraya_test::normal_matrix<Scalar>(n, d, seed);
    const MatrixOf<Scalar> Y = nadaraya_test::normal_matrix<Scalar>(n, 2, seed + 1);
    const MatrixOf<Scalar> Q = nadaraya_test::normal_matrix<Scalar>(15, d, seed + 2);
    const Eigen::VectorXd weights = nadaraya_test::sample_weights(n, seed + 3);
    Eigen::VectorXi labels(n);
    for (Eigen::Index i = 0; i < n; ++i) labels(i) = static_cast<int>(i % 3);
    std::vector<Eigen::Index> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), Eigen::Index{0});
    std::shuffle(order.begin(), order.end(), generator);
    const MatrixOf<Scalar> X_p = take_rows(X, order), Y_p = take_rows(Y, order);
    const Eigen::VectorXd weights_p = take_rows(weights, order);
    const Eigen::VectorXi labels_p = take_rows(labels, order);
    const double y_scale = static_cast<double>(Y.cwiseAbs().maxCoeff());
    const double tolerance = 16 * static_cast<double>(n) * epsilon<Scalar>();
    for_each_kernel([&](auto kernel) {
      using Kernel = decltype(kernel);
      INFO("trial " << trial << ", kernel " << kernel_traits<Kernel>::name());
      const Options options{Unreached::nearest_neighbour};
      NadarayaWatson<Kernel, Scalar> nw(Bandwidth::silverman(), options),
          nw_p(Bandwidth::silverman(), options);
      nw.fit(X, Y, weights);
      nw_p.fit(X_p, Y_p, weights_p);
      const MatrixOf<Scalar> a = nw.predict(Q), b = nw_p.predict(Q);
      const MatrixOf<Scalar> loo = nw.predict_leave_one_out(), loo_p = nw_p.predict_leave_one_out();
      for (Eigen::Index q = 0; q < Q.rows(); ++q) {
        for (Eigen::Index c = 0; c < 2; ++c) {
          INFO("query " << q << ", output " << c);
          CHECK(near(a(q, c), b(q, c), tolerance * y_scale));
        }
      }
      for (Eigen::Index i = 0; i < n; ++i) {
        const Eigen::Index original = order[static_cast<std::size_t>(i)];
        for (Eigen::Index c = 0; c < 2; ++c) {
          INFO("leave-one-out row " << i << " (row " << original << " before), output " << c);
          CHECK(near(loo_p(i, c), loo(original, c), tolerance * y_scale));
        }
      }
      NadarayaWatsonClassifier<Kernel, Scalar> clf(Bandwidth::scalar(0.8), options),
          clf_p(Bandwidth::scalar(0.8), options);
      clf.fit(X, labels, weights);
      clf_p.fit(X_p, labels_p, weights_p);
      const MatrixOf<Scalar> P = clf.predict_proba(Q), P_p = clf_p.predict_proba(Q);
      CHECK(near(static_cast<double>((P - P_p).cwiseAbs().maxCoeff()), 0.0, tolerance));
      if constexpr (kernel_traits<Kernel>::is_normalisable) {
        ParzenDensity<Kernel, Scalar> kde(Bandwidth::scott()), kde_p(Bandwidth::scott());
        kde.fit(X, weights);
        kde_p.fit(X_p, weights_p);
        const VectorOf<Scalar> log_p = kde.log_density(Q), log_p_p = kde_p.log_density(Q);
        for (Eigen::Index q = 0; q < Q.rows(); ++q) {
          INFO("query " << q);
          CHECK(near(log_p_p(q), log_p(q), tolerance * (1 + std::abs(log_p(q)))));
        }
      }
    });
  }
}
