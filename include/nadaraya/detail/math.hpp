#ifndef NADARAYA_DETAIL_MATH_HPP
#define NADARAYA_DETAIL_MATH_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <array>
#include <cmath>  // std::lgamma, std::log, std::exp
#include <limits>

namespace nadaraya {
namespace detail {

constexpr double pi = 3.14159265358979323846264338327950288;

/// log of the surface area of the unit sphere in R^d: 2 pi^(d/2) / Gamma(d/2).
inline double log_unit_sphere_area(int d) {
  return std::log(2.0) + 0.5 * d * std::log(pi) - std::lgamma(0.5 * d);
}

/// log of the volume of the unit ball in R^d: pi^(d/2) / Gamma(d/2 + 1).
inline double log_unit_ball_volume(int d) {
  return 0.5 * d * std::log(pi) - std::lgamma(0.5 * d + 1.0);
}

/// Nodes and weights of the 16-point Gauss–Legendre rule on [-1, 1], found by Newton's method on
/// the Legendre polynomial (computed once; exact for polynomials of degree 31 per panel).
struct GaussLegendre16 {
  static constexpr int size = 16;
  std::array<double, size> nodes{};
  std::array<double, size> weights{};

  GaussLegendre16() {
    for (int i = 0; i < size; ++i) {
      double x = std::cos(pi * (i + 0.75) / (size + 0.5));
      double derivative = 0;
      for (int iteration = 0; iteration < 100; ++iteration) {
        double p0 = 1, p1 = x;  // three-term recurrence for P_n(x)
        for (int k = 2; k <= size; ++k) {
          const double p2 = ((2.0 * k - 1) * x * p1 - (k - 1.0) * p0) / k;
          p0 = p1;
          p1 = p2;
        }
        derivative = size * (x * p1 - p0) / (x * x - 1);
        const double step = p1 / derivative;
        x -= step;
        if (std::abs(step) < 1e-16) break;
      }
      nodes[static_cast<std::size_t>(i)] = x;
      weights[static_cast<std::size_t>(i)] = 2 / ((1 - x * x) * derivative * derivative);
    }
  }

  static const GaussLegendre16& get() {
    static const GaussLegendre16 rule;
    return rule;
  }
};

/// Integral of f over [a, b] by composite 16-point Gauss–Legendre on `panels` equal panels.
template <class F>
double integrate(F f, double a, double b, int panels) {
  const GaussLegendre16& rule = GaussLegendre16::get();
  const double width = (b - a) / panels;
  double total = 0;
  for (int p = 0; p < panels; ++p) {
    const double centre = a + (p + 0.5) * width;
    double panel = 0;
    for (int i = 0; i < GaussLegendre16::size; ++i) {
      const auto k = static_cast<std::size_t>(i);
      panel += rule.weights[k] * f(centre + 0.5 * width * rule.nodes[k]);
    }
    total += 0.5 * width * panel;
  }
  return total;
}

/// The radial moment M_p(d) = integral over r >= 0 of k(r^2) r^(d - 1 + p) dr of a kernel profile
/// given as its log, on [0, radius]. Unbounded support (radius = infinity) is mapped onto [0, 1)
/// by r = t / (1 - t), which also copes with heavy, polynomial tails. Used for kernels without a
/// closed form.
template <class LogProfile>
double radial_moment(LogProfile log_profile, int d, int p, double radius) {
  const double power = d - 1 + p;
  auto integrand = [&](double r) {
    if (r <= 0) return power == 0 ? std::exp(log_profile(0.0)) : 0.0;
    return std::exp(log_profile(r * r) + power * std::log(r));
  };
  if (std::isfinite(radius)) return integrate(integrand, 0.0, radius, 512);
  auto mapped = [&](double t) {
    const double rest = 1.0 - t;
    return integrand(t / rest) / (rest * rest);
  };
  return integrate(mapped, 0.0, 1.0, 4096);
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_MATH_HPP
