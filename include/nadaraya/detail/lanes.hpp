#ifndef NADARAYA_DETAIL_LANES_HPP
#define NADARAYA_DETAIL_LANES_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>  // Eigen::Index
#include <cmath>       // std::fma
#include <limits>

namespace nadaraya {
namespace detail {

/// \file lanes.hpp
/// Reductions written as plain loops over fixed-size lane arrays, which GCC and Clang vectorise
/// without -ffast-math or OpenMP's `simd`: each lane is its own running sum, so no reassociation
/// is asked of the compiler (it would refuse it under the default floating-point model). The
/// maximum is a halving tree of element-wise maxima, since a loop-carried `a < b ? b : a` is not
/// vectorised by GCC under the default model.

using Index = Eigen::Index;

/// Scalars per lane array: 64 bytes, one AVX-512 register, two AVX2 or four SSE/NEON registers,
/// so that the lanes keep several independent dependency chains in flight on every target.
template <class Scalar>
constexpr Index lane_count() {
  return static_cast<Index>(64 / sizeof(Scalar));
}

/// a b + c, fused where the target has a hardware FMA (whatever -ffp-contract says, so results
/// do not depend on -std=c++17 versus -std=gnu++17); a multiplication and an addition otherwise.
/// `multiply_add_is_fused` says which (the tests check it). Clang defines no __FP_FAST_FMA, but
/// contracts a b + c into an FMA by default where the target has one: __FMA__ (x86) and
/// __ARM_FEATURE_FMA say so for both compilers.
#if defined(FP_FAST_FMA) || defined(__FP_FAST_FMA) || defined(__FMA__) || defined(__ARM_FEATURE_FMA)
inline constexpr bool multiply_add_is_fused = true;
#else
inline constexpr bool multiply_add_is_fused = false;
#endif
template <class Scalar>
inline Scalar multiply_add(Scalar a, Scalar b, Scalar c) noexcept {
  if constexpr (multiply_add_is_fused) {
    return std::fma(a, b, c);
  } else {
    return a * b + c;
  }
}

/// Sum of x[0..count), count a multiple of lane_count().
template <class Scalar>
inline Scalar lane_sum(const Scalar* x, Index count) noexcept {
  constexpr Index lanes = lane_count<Scalar>();
  Scalar partial[lanes] = {};
  for (Index i = 0; i < count; i += lanes) {
    for (Index l = 0; l < lanes; ++l) partial[l] += x[i + l];
  }
  Scalar total = 0;
  for (Index l = 0; l < lanes; ++l) total += partial[l];
  return total;
}

/// Dot product of x[0..count) and y[0..count), count a multiple of lane_count().
template <class Scalar>
inline Scalar lane_dot(const Scalar* x, const Scalar* y, Index count) noexcept {
  constexpr Index lanes = lane_count<Scalar>();
  Scalar partial[lanes] = {};
  for (Index i = 0; i < count; i += lanes) {
    // Not multiply_add: GCC does not vectorise std::fma across a lane array (it does a plain
    // multiply and add, contracted into an FMA where the compiler may).
    for (Index l = 0; l < lanes; ++l) partial[l] += x[i + l] * y[i + l];
  }
  Scalar total = 0;
  for (Index l = 0; l < lanes; ++l) total += partial[l];
  return total;
}

/// Maximum of x[0..count) (no NaN), count a power of two and at least two lane arrays, by
/// halving: each level is an element-wise maximum of two halves, which vectorises. `scratch`
/// holds count / 2 scalars.
template <class Scalar>
inline Scalar lane_max(const Scalar* x, Index count, Scalar* scratch) noexcept {
  constexpr Index lanes = lane_count<Scalar>();
  Index width = count / 2;
  for (Index i = 0; i < width; ++i) scratch[i] = x[i] < x[i + width] ? x[i + width] : x[i];
  for (width /= 2; width >= lanes; width /= 2) {
    for (Index i = 0; i < width; ++i) {
      scratch[i] = scratch[i] < scratch[i + width] ? scratch[i + width] : scratch[i];
    }
  }
  Scalar result = scratch[0];
  for (Index l = 1; l < lanes; ++l) result = result < scratch[l] ? scratch[l] : result;
  return result;
}

/// Maximum of x[0..count) (no NaN) for any count that is a multiple of lane_count(), as
/// lane_max over power-of-two pieces (a block shortened by the padding rule is not a power of
/// two); -inf for count 0. `scratch` holds count / 2 scalars.
template <class Scalar>
inline Scalar lane_max_of(const Scalar* x, Index count, Scalar* scratch) noexcept {
  constexpr Index lanes = lane_count<Scalar>();
  Scalar result = -std::numeric_limits<Scalar>::infinity();
  for (Index begin = 0; begin < count;) {
    Index piece = lanes;
    while (2 * piece <= count - begin) piece *= 2;
    Scalar largest = x[begin];
    if (piece >= 2 * lanes) {
      largest = lane_max(x + begin, piece, scratch);
    } else {
      for (Index i = 1; i < piece; ++i) largest = largest < x[begin + i] ? x[begin + i] : largest;
    }
    result = result < largest ? largest : result;
    begin += piece;
  }
  return result;
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_LANES_HPP
