#ifndef NADARAYA_KERNEL_HPP
#define NADARAYA_KERNEL_HPP

#include <cmath>  // std::log, std::exp
#include <limits>
#include <type_traits>

#include "detail/math.hpp"

namespace nadaraya {

/// \file kernel.hpp
/// What a kernel must provide, and `kernel_traits`, which fills in everything optional.
///
/// A kernel is a small plain struct describing a *radial* kernel through its profile k, a function
/// of the squared scaled distance r2 = ||(q - x) / h||^2. The density it defines in d dimensions is
/// K_h(u) = c_d / (h_1 ... h_d) * k(||u / h||^2), with c_d the normalising constant.
///
/// Required:
/// \code
/// struct MyKernel {
///   template <class Scalar> static Scalar log_profile(Scalar r2);  // log k(r2); -inf where k = 0
/// };
/// \endcode
/// Optional, detected by name (the defaults are computed numerically or assume the weakest case):
/// - `static constexpr double support_radius`: the profile is zero for r2 >= radius^2 (compact
///   support). Default: unbounded support.
/// - `static constexpr bool normalisable = false`: the profile is not integrable (the Constant
///   kernel), so densities are undefined. Default: true.
/// - `static double log_normaliser(int d)`: log c_d. Default: numerical radial quadrature.
/// - `static double variance(int d)`: variance of one coordinate under the unit-scale density in
///   d dimensions. Default: numerical radial quadrature.
/// - `template <class Scalar> static Scalar dlog_profile(Scalar r2)`: d log k / d r2, used by
///   bandwidth fitting. Default: none (fitting such a kernel does not compile).
/// - `static constexpr const char* name`: shown in messages and reports.
/// - `template <class Scalar> static Scalar profile(Scalar r2)`: k(r2) itself, 0 outside the
///   support, equal to exp(log_profile(r2)) up to rounding. Only compact kernels use it: with it,
///   the engine forms their weights without an exponential (see pool.hpp). Write it without
///   branches (`std::max(Scalar(1) - r2, Scalar(0))` rather than `r2 < 1 ? 1 - r2 : 0`) so that
///   the engine's loop over keys vectorises. Default: exp(log_profile(r2)).
/// - `static constexpr double log_profile_slope`: log k(r2) = slope * r2 exactly (the Gaussian:
///   -1/2). The engine then applies the kernel inside its register tile. Default: none.
/// Log-profiles are what the engine sums in log space, so tiny bandwidths stay exact.

namespace detail {

template <class K, class = void>
struct has_log_profile : std::false_type {};
template <class K>
struct has_log_profile<K, std::void_t<decltype(K::log_profile(double{}))>>
    : std::is_convertible<decltype(K::log_profile(double{})), double> {};

template <class K, class = void>
struct has_support_radius : std::false_type {};
template <class K>
struct has_support_radius<K, std::void_t<decltype(K::support_radius)>> : std::true_type {};

template <class K, class = void>
struct declared_normalisable : std::true_type {};
template <class K>
struct declared_normalisable<K, std::void_t<decltype(K::normalisable)>>
    : std::integral_constant<bool, K::normalisable> {};

template <class K, class = void>
struct has_log_normaliser : std::false_type {};
template <class K>
struct has_log_normaliser<K, std::void_t<decltype(K::log_normaliser(int{}))>> : std::true_type {};

template <class K, class = void>
struct has_variance : std::false_type {};
template <class K>
struct has_variance<K, std::void_t<decltype(K::variance(int{}))>> : std::true_type {};

template <class K, class = void>
struct has_dlog_profile : std::false_type {};
template <class K>
struct has_dlog_profile<K, std::void_t<decltype(K::dlog_profile(double{}))>> : std::true_type {};

template <class K, class = void>
struct has_profile : std::false_type {};
template <class K>
struct has_profile<K, std::void_t<decltype(K::profile(double{}))>> : std::true_type {};

template <class K, class = void>
struct has_log_profile_slope : std::false_type {};
template <class K>
struct has_log_profile_slope<K, std::void_t<decltype(K::log_profile_slope)>> : std::true_type {};

template <class K, class = void>
struct has_name : std::false_type {};
template <class K>
struct has_name<K, std::void_t<decltype(K::name)>> : std::true_type {};

}  // namespace detail

/// Everything the library asks of a kernel, with the optional parts filled in.
template <class Kernel>
struct kernel_traits {
  static_assert(detail::has_log_profile<Kernel>::value,
                "A nadaraya kernel must provide `template <class Scalar> static Scalar "
                "log_profile(Scalar r2)`, the log of its profile at squared scaled distance r2");

  /// True when the profile is zero beyond `support_radius()` (in scaled units).
  static constexpr bool is_compact = detail::has_support_radius<Kernel>::value;
  /// False for profiles that do not integrate (the Constant kernel): densities are undefined.
  static constexpr bool is_normalisable = detail::declared_normalisable<Kernel>::value;
  /// True when d log k / d r2 is available, which bandwidth fitting needs.
  static constexpr bool is_differentiable = detail::has_dlog_profile<Kernel>::value;
  /// True when the kernel provides its profile k(r2) itself (not only its log).
  static constexpr bool has_profile = detail::has_profile<Kernel>::value;
  /// True when log k(r2) = log_profile_slope() * r2 exactly.
  static constexpr bool has_linear_log_profile = detail::has_log_profile_slope<Kernel>::value;

  /// The slope c of a log-profile c * r2 (0 when has_linear_log_profile is false).
  static constexpr double log_profile_slope() {
    if constexpr (has_linear_log_profile) {
      return Kernel::log_profile_slope;
    } else {
      return 0.0;
    }
  }

  static const char* name() {
    if constexpr (detail::has_name<Kernel>::value) {
      return Kernel::name;
    } else {
      return "user kernel";
    }
  }

  /// Support radius in scaled units; infinity for kernels of unbounded support.
  static constexpr double support_radius() {
    if constexpr (is_compact) {
      return Kernel::support_radius;
    } else {
      return std::numeric_limits<double>::infinity();
    }
  }

  template <class Scalar>
  static Scalar log_profile(Scalar r2) {
    return Kernel::log_profile(r2);
  }

  /// k(r2): the kernel's own `profile` when it has one, else exp(log_profile(r2)).
  template <class Scalar>
  static Scalar profile(Scalar r2) {
    if constexpr (has_profile) {
      return Kernel::profile(r2);
    } else {
      return std::exp(Kernel::log_profile(r2));
    }
  }

  /// log c_d: log of the constant that makes c_d k(||u||^2) integrate to one over R^d.
  static double log_normaliser(int d) {
    static_assert(is_normalisable, "this kernel's profile does not integrate: it has no density");
    if constexpr (detail::has_log_normaliser<Kernel>::value) {
      return Kernel::log_normaliser(d);
    } else {
      const double moment = detail::radial_moment(
          [](double r2) { return static_cast<double>(Kernel::log_profile(r2)); }, d, 0,
          support_radius());
      return -(detail::log_unit_sphere_area(d) + std::log(moment));
    }
  }

  /// Variance of one coordinate under the unit-scale density in d dimensions; 1 for kernels
  /// that have no density, so that a width given as a standard deviation is taken as it is.
  static double variance(int d) {
    if constexpr (!is_normalisable) {
      return 1.0;
    } else if constexpr (detail::has_variance<Kernel>::value) {
      return Kernel::variance(d);
    } else {
      auto log_profile_of = [](double r2) { return static_cast<double>(Kernel::log_profile(r2)); };
      const double m0 = detail::radial_moment(log_profile_of, d, 0, support_radius());
      const double m2 = detail::radial_moment(log_profile_of, d, 2, support_radius());
      return m2 / m0 / d;
    }
  }
};

}  // namespace nadaraya

#endif  // NADARAYA_KERNEL_HPP
