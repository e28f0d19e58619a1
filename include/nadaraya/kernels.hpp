#ifndef NADARAYA_KERNELS_HPP
#define NADARAYA_KERNELS_HPP

#include <cmath>  // std::log1p, std::sqrt, std::cos, std::tan, std::lgamma
#include <limits>

#include "detail/math.hpp"
#include "kernel.hpp"

namespace nadaraya {

/// \file kernels.hpp
/// The nine built-in kernels. Each is written as a profile k of the squared scaled distance
/// r2 = ||(q - x)/h||^2, with s = sqrt(r2); h scales the kernel exactly as written here (the
/// convention of scikit-learn's KernelDensity). The compact ones vanish for s >= 1, and also give
/// their profile k(r2) itself, so that the engine forms their weights without an exponential.
///
/// | kernel       | k(r2)            | c_1     | variance (d = 1) |
/// |--------------|------------------|---------|------------------|
/// | Gaussian     | exp(-r2 / 2)     | 1/sqrt(2 pi) | 1           |
/// | Epanechnikov | 1 - r2           | 3/4     | 1/5              |
/// | Uniform      | 1                | 1/2     | 1/3              |
/// | Triangular   | 1 - s            | 1       | 1/6              |
/// | Biweight     | (1 - r2)^2       | 15/16   | 1/7              |
/// | Triweight    | (1 - r2)^3       | 35/32   | 1/9              |
/// | Cosine       | cos(pi s / 2)    | pi/4    | 1 - 8/pi^2       |
/// | Laplacian    | exp(-s)          | 1/2     | 2                |
/// | Constant     | 1 everywhere     | (none)  | (none)           |

namespace detail {

template <class Scalar>
constexpr Scalar minus_infinity() {
  return -std::numeric_limits<Scalar>::infinity();
}

/// max(t, 0), written as a select on a value computed unconditionally, which compilers vectorise
/// (`r2 < 1 ? 1 - r2 : 0` puts the subtraction in a branch, which GCC does not).
template <class Scalar>
constexpr Scalar positive_part(Scalar t) {
  return t > Scalar(0) ? t : Scalar(0);
}

/// log c_d for the profiles (1 - r2)^p on the unit ball: Gamma(d/2 + p + 1) / (pi^(d/2) p!).
inline double log_normaliser_polynomial(int d, int p) {
  return std::lgamma(0.5 * d + p + 1.0) - std::lgamma(p + 1.0) - 0.5 * d * std::log(pi);
}

}  // namespace detail

/// Gaussian: k = exp(-r2/2); h is the standard deviation. The only kernel whose weights never
/// vanish, which is why the engine keeps them as a softmax in log space.
struct Gaussian {
  static constexpr const char* name = "gaussian";
  static constexpr double log_profile_slope =
      -0.5;  // log k = -r2 / 2: applied in the engine's tile
  template <class Scalar>
  static Scalar log_profile(Scalar r2) {
    return Scalar(-0.5) * r2;
  }
  template <class Scalar>
  static Scalar dlog_profile(Scalar /*r2*/) {
    return Scalar(-0.5);
  }
  static double log_normaliser(int d) { return -0.5 * d * std::log(2 * detail::pi); }
  static double variance(int /*d*/) { return 1.0; }
};

/// Epanechnikov: k = 1 - r2 on the unit ball (R's "epanechnikov" is this with h = sqrt(5) sd;
/// statsmodels scales it differently again: prefer widths given as standard deviations).
struct Epanechnikov {
  static constexpr const char* name = "epanechnikov";
  static constexpr double support_radius = 1.0;
  template <class Scalar>
  static Scalar log_profile(Scalar r2) {
    return r2 < Scalar(1) ? Scalar(std::log1p(-r2)) : detail::minus_infinity<Scalar>();
  }
  template <class Scalar>
  static Scalar profile(Scalar r2) {
    return detail::positive_part(Scalar(1) - r2);
  }
  template <class Scalar>
  static Scalar dlog_profile(Scalar r2) {
    return Scalar(-1) / (Scalar(1) - r2);
  }
  static double log_normaliser(int d) { return detail::log_normaliser_polynomial(d, 1); }
  static double variance(int d) { return 1.0 / (d + 4); }
};

/// Uniform (boxcar, tophat): k = 1 strictly inside the unit ball.
struct Uniform {
  static constexpr const char* name = "uniform";
  static constexpr double support_radius = 1.0;
  template <class Scalar>
  static Scalar log_profile(Scalar r2) {
    return r2 < Scalar(1) ? Scalar(0) : detail::minus_infinity<Scalar>();
  }
  template <class Scalar>
  static Scalar profile(Scalar r2) {
    return r2 < Scalar(1) ? Scalar(1) : Scalar(0);
  }
  template <class Scalar>
  static Scalar dlog_profile(Scalar /*r2*/) {
    return Scalar(0);
  }
  static double log_normaliser(int d) { return detail::log_normaliser_polynomial(d, 0); }
  static double variance(int d) { return 1.0 / (d + 2); }
};

/// Triangular (linear): k = 1 - s. This is what some texts (d2l.ai among them) call
/// "Epanechikov".
struct Triangular {
  static constexpr const char* name = "triangular";
  static constexpr double support_radius = 1.0;
  template <class Scalar>
  static Scalar log_profile(Scalar r2) {
    return r2 < Scalar(1) ? Scalar(std::log1p(-std::sqrt(r2))) : detail::minus_infinity<Scalar>();
  }
  template <class Scalar>
  static Scalar profile(Scalar r2) {
    return detail::positive_part(Scalar(1) - std::sqrt(r2));
  }
  template <class Scalar>
  static Scalar dlog_profile(Scalar r2) {
    const Scalar s = std::sqrt(r2);
    return Scalar(-0.5) / (s * (Scalar(1) - s));
  }
  static double log_normaliser(int d) {
    return std::log(d + 1.0) - detail::log_unit_ball_volume(d);
  }
  static double variance(int d) { return (d + 1.0) / ((d + 2.0) * (d + 3.0)); }
};

/// Biweight (quartic): k = (1 - r2)^2 on the unit ball.
struct Biweight {
  static constexpr const char* name = "biweight";
  static constexpr double support_radius = 1.0;
  template <class Scalar>
  static Scalar log_profile(Scalar r2) {
    return r2 < Scalar(1) ? Scalar(2) * Scalar(std::log1p(-r2)) : detail::minus_infinity<Scalar>();
  }
  template <class Scalar>
  static Scalar profile(Scalar r2) {
    const Scalar t = detail::positive_part(Scalar(1) - r2);
    return t * t;
  }
  template <class Scalar>
  static Scalar dlog_profile(Scalar r2) {
    return Scalar(-2) / (Scalar(1) - r2);
  }
  static double log_normaliser(int d) { return detail::log_normaliser_polynomial(d, 2); }
  static double variance(int d) { return 1.0 / (d + 6); }
};

/// Triweight: k = (1 - r2)^3 on the unit ball.
struct Triweight {
  static constexpr const char* name = "triweight";
  static constexpr double support_radius = 1.0;
  template <class Scalar>
  static Scalar log_profile(Scalar r2) {
    return r2 < Scalar(1) ? Scalar(3) * Scalar(std::log1p(-r2)) : detail::minus_infinity<Scalar>();
  }
  template <class Scalar>
  static Scalar profile(Scalar r2) {
    const Scalar t = detail::positive_part(Scalar(1) - r2);
    return t * t * t;
  }
  template <class Scalar>
  static Scalar dlog_profile(Scalar r2) {
    return Scalar(-3) / (Scalar(1) - r2);
  }
  static double log_normaliser(int d) { return detail::log_normaliser_polynomial(d, 3); }
  static double variance(int d) { return 1.0 / (d + 8); }
};

/// Cosine: k = cos(pi s / 2) on the unit ball. Its constant in d > 1 has no short closed form and
/// comes from the numerical radial quadrature of kernel_traits.
struct Cosine {
  static constexpr const char* name = "cosine";
  static constexpr double support_radius = 1.0;
  template <class Scalar>
  static Scalar log_profile(Scalar r2) {
    return r2 < Scalar(1) ? Scalar(std::log(std::cos(Scalar(detail::pi / 2) * std::sqrt(r2))))
                          : detail::minus_infinity<Scalar>();
  }
  template <class Scalar>
  static Scalar profile(Scalar r2) {
    return r2 < Scalar(1) ? Scalar(std::cos(Scalar(detail::pi / 2) * std::sqrt(r2))) : Scalar(0);
  }
  template <class Scalar>
  static Scalar dlog_profile(Scalar r2) {
    const Scalar s = std::sqrt(r2);
    const Scalar a = Scalar(detail::pi / 2) * s;
    // d/dr2 log cos(a) = -tan(a) * pi / (4 s); tends to -pi^2/8 at s = 0.
    return s > Scalar(0) ? -std::tan(a) * Scalar(detail::pi / 4) / s
                         : Scalar(-detail::pi * detail::pi / 8);
  }
};

/// Laplacian (exponential): k = exp(-s); h is the scale b of the Laplace law exp(-|u|/b).
struct Laplacian {
  static constexpr const char* name = "laplacian";
  template <class Scalar>
  static Scalar log_profile(Scalar r2) {
    return -std::sqrt(r2);
  }
  template <class Scalar>
  static Scalar dlog_profile(Scalar r2) {
    return Scalar(-0.5) / std::sqrt(r2);
  }
  static double log_normaliser(int d) {
    // integral of exp(-|u|) over R^d = S_(d-1) Gamma(d).
    return -(detail::log_unit_sphere_area(d) + std::lgamma(static_cast<double>(d)));
  }
  static double variance(int d) { return d + 1.0; }
};

/// Constant: every key weighs the same, so Nadaraya–Watson predicts the (weighted) mean. It has
/// no density: ParzenDensity<Constant> does not compile.
struct Constant {
  static constexpr const char* name = "constant";
  static constexpr bool normalisable = false;
  template <class Scalar>
  static Scalar log_profile(Scalar /*r2*/) {
    return Scalar(0);
  }
  template <class Scalar>
  static Scalar dlog_profile(Scalar /*r2*/) {
    return Scalar(0);
  }
};

}  // namespace nadaraya

#endif  // NADARAYA_KERNELS_HPP
