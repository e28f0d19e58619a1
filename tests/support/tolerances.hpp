#ifndef NADARAYA_TEST_TOLERANCES_HPP
#define NADARAYA_TEST_TOLERANCES_HPP

// One test body for float and double: the tolerance comes from the type.

#include <cmath>  // std::abs, std::isnan, std::isinf

namespace nadaraya_test {

template <class Scalar>
struct Tolerances;

template <>
struct Tolerances<float> {
  static constexpr double relative = 2e-5;  // a few ulps per accumulated key, n <= a few hundred
  static constexpr double absolute = 1e-5;
};

template <>
struct Tolerances<double> {
  static constexpr double relative = 1e-12;
  static constexpr double absolute = 1e-12;
};

/// |actual - expected| <= absolute + relative |expected|, with equal infinities and NaNs equal.
template <class Scalar>
bool close(double actual, double expected, double scale = 1.0) {
  if (std::isnan(expected)) return std::isnan(actual);
  if (std::isinf(expected)) return actual == expected;
  return std::abs(actual - expected) <=
         scale * (Tolerances<Scalar>::absolute + Tolerances<Scalar>::relative * std::abs(expected));
}

}  // namespace nadaraya_test

#endif  // NADARAYA_TEST_TOLERANCES_HPP
