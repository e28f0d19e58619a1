#ifndef NADARAYA_DETAIL_EXP_HPP
#define NADARAYA_DETAIL_EXP_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <cstddef>  // std::ptrdiff_t, std::size_t
#include <cstdint>  // std::int32_t, std::int64_t, std::uint32_t, std::uint64_t: bit patterns
#include <cstring>  // std::memcpy: the bit casts, which compilers turn into register moves
#include <utility>  // std::index_sequence unrolls the polynomial

#include "../config.hpp"  // NADARAYA_ALWAYS_INLINE
#include "lanes.hpp"      // multiply_add
#include "simd.hpp"       // the packet form

namespace nadaraya {
namespace detail {

/// \file exp.hpp
/// exp(-y) for y >= 0, the only exponential the engine needs (every weight it forms is
/// exp(log-weight - running maximum) <= 1), written once in portable C++ so that GCC and Clang
/// vectorise it on any instruction set (SSE2, AVX2, AVX-512, NEON) when it is called in a plain
/// loop: no table, no branch, no library call, and not even a floating-point select — see
/// exp_neg for why that matters. The engine's hot loops call exp_neg_packet, the same operations
/// on Eigen's widest packet (the same bits), since compilers vectorise plain loops at their
/// preferred width, which is half the register on Intel's AVX-512 chips.
///
/// Method: x = -y = n ln2 + r with n = round(x / ln2) and |r| <= ln2 / 2 (Cody–Waite: ln2 split
/// in a short high part, whose product with n is exact, and a low part); exp(r) by a near-minimax
/// polynomial (a Chebyshev fit of (exp(r) - 1) / r, so p(0) = 1 exactly); 2^n by writing n into
/// the exponent field. The code forms 2 p(r) * 2^(n - 1) (the factor 2 is folded into the
/// coefficients), so that 2^(n - 1) stays a normal number down to the flush below.
///
/// Results that would be subnormal are flushed to 0: y is first clamped to 708.25 (double) or
/// 87.25 (float), which keeps n >= -1022 (-126), and n = -1022 (-126), reached from
/// y = 1021.5 ln 2 = 708.05 (125.5 ln 2 = 86.99) on, writes an exponent field of 0: 2^(n - 1) is
/// then +0 exactly, and so is the result, +inf included. Below that point the result is at least
/// 2^-1022 (2^-126), a normal number. Producing a subnormal costs a microcode assist of about a
/// hundred cycles on x86, and in the engine such a weight is below 1e-307 (1e-37) of the running
/// maximum's: nothing it could add survives the rounding of the sum. (Measured: with gradual
/// underflow, float pooling on data at Scott's width ran 40% slower, its smallest weights falling
/// into the subnormals.) The flush costs nothing beyond the clamp: an earlier version clamped
/// lower and cleared the result with a mask, two more integer operations per packet and 15%
/// (float) / 10% (double) of the exponential's throughput (bench_ceiling, side by side).
///
/// Accuracy, over the whole domain y in [0, +inf] (tested in tests/numerics/test_fast_core.cpp):
/// - double: degree 11, fit error 8e-18; within 1.5 ulp of the exact value (measured: 1.13 ulp,
///   relative error 1.8e-16) down to the flush;
/// - float: degree 6, fit error 5e-9; within 1.5 ulp (measured: 1.17 ulp, relative 9.9e-8) down
///   to the flush;
/// - exp_neg(0) == 1 exactly; exp_neg(y) == 0 from the flush on, +inf included.
/// NaN arguments give an unspecified value (the engine never forms one).

template <class Scalar>
struct ExpConstants;

template <>
struct ExpConstants<double> {
  using SignedBits = std::int64_t;
  using Bits = std::uint64_t;
  /// y is clamped to 708.25 = 1.38330078125 * 2^9 (round(-708.25 / ln 2) = -1022).
  static constexpr SignedBits clamp_bits = 0x4086220000000000LL;
  static constexpr double clamp = 708.25;                  // exp_neg(y) == 0 for every y >= clamp
  static constexpr double log2e = 1.44269504088896340736;  // 1 / ln 2
  static constexpr double shifter = 6755399441055744.0;    // 1.5 * 2^52: rounds to an integer
  static constexpr Bits shifter_bits = 0x4338000000000000ULL;  // bit pattern of `shifter`
  static constexpr double ln2_hi = 0.693145751953125;  // 32 significant bits: n ln2_hi exact
  static constexpr double ln2_lo = 1.42860682030941723212e-6;  // ln 2 - ln2_hi
  static constexpr Bits exponent_bias = 1023;
  static constexpr int mantissa_bits = 52;
  /// 2 q(r), highest degree first: exp(r) ~= 1 + r q(r), so 2 exp(r) ~= 2 + r (2 q(r)).
  static constexpr int degree = 11;
  static constexpr bool split_powers = true;  // see exp_polynomial
  static constexpr double twice_q[degree] = {2 * 2.510520637395701111603821e-8,
                                             2 * 2.762635724144722285515356e-7,
                                             2 * 2.755725542574643428181815e-6,
                                             2 * 2.480150434699768725539351e-5,
                                             2 * 1.984126987480049198075797e-4,
                                             2 * 1.388888893248859818134173e-3,
                                             2 * 8.333333333326140883978706e-3,
                                             2 * 4.166666666657314261060233e-2,
                                             2 * 1.666666666666667098633262e-1,
                                             2 * 5.000000000000005616924593e-1,
                                             2 * 1.0};
};

template <>
struct ExpConstants<float> {
  using SignedBits = std::int32_t;
  using Bits = std::uint32_t;
  /// y is clamped to 87.25 = 1.36328125 * 2^6 (round(-87.25 / ln 2) = -126).
  static constexpr SignedBits clamp_bits = 0x42AE8000;
  static constexpr float clamp = 87.25f;  // exp_neg(y) == 0 for every y >= clamp
  static constexpr float log2e = 1.44269504088896340736f;
  static constexpr float shifter = 12582912.0f;  // 1.5 * 2^23
  static constexpr Bits shifter_bits = 0x4B400000U;
  static constexpr float ln2_hi = 0.693359375f;  // 9 significant bits
  static constexpr float ln2_lo = -2.12194440054690582768e-4f;
  static constexpr Bits exponent_bias = 127;
  static constexpr int mantissa_bits = 23;
  static constexpr int degree = 6;
  static constexpr bool split_powers = false;
  static constexpr float twice_q[degree] = {
      2 * 1.393364103198670115e-3f, 2 * 8.369148490856346587e-3f, 2 * 4.166646500604004876e-2f,
      2 * 1.666650526040812349e-1f, 2 * 5.000000013457727153e-1f, 2 * 1.000000010771570138f};
};

/// c[First] x^(count) + c[First + Stride] x^(count - 1) + ... by Horner's rule in x, over the
/// coefficients c[First], c[First + Stride], ... of 2 q, unrolled at compile time: a loop here,
/// however short, is a loop inside the caller's loop, and GCC then refuses to vectorise the
/// caller's loop.
template <class Scalar, std::size_t First, std::size_t Stride, std::size_t... I>
NADARAYA_ALWAYS_INLINE Scalar exp_horner(Scalar x, std::index_sequence<I...>) noexcept {
  Scalar q = ExpConstants<Scalar>::twice_q[First];
  ((q = multiply_add(q, x, ExpConstants<Scalar>::twice_q[First + Stride * (I + 1)])), ...);
  return q;
}

/// 2 q(r). Float: Horner's rule in r. Double (degree 11): the terms of degree 2 and up as two
/// Horner chains in r^2 (their even and their odd powers), then the last two steps of Horner's
/// rule in r: one multiplication more than plain Horner, and 7 dependent steps instead of 10.
/// Shorter chains are faster; the last two steps, where the rounding errors that reach the
/// result are made, are those of plain Horner, so the accuracy stays. In float the single chain
/// is as fast.
template <class Scalar>
NADARAYA_ALWAYS_INLINE Scalar exp_polynomial(Scalar r) noexcept {
  constexpr std::size_t degree = ExpConstants<Scalar>::degree;
  constexpr auto& c = ExpConstants<Scalar>::twice_q;
  if constexpr (ExpConstants<Scalar>::split_powers) {
    // High part: twice_q[0 .. degree - 2), an odd count, highest power first.
    constexpr std::size_t high = degree - 2;
    static_assert(high % 2 == 1, "exp_polynomial: the split form expects an odd coefficient count");
    const Scalar r2 = r * r;
    const Scalar even = exp_horner<Scalar, 0, 2>(r2, std::make_index_sequence<high / 2>{});
    const Scalar odd = exp_horner<Scalar, 1, 2>(r2, std::make_index_sequence<high / 2 - 1>{});
    const Scalar upper = multiply_add(odd, r, even);
    return multiply_add(multiply_add(upper, r, c[degree - 2]), r, c[degree - 1]);
  } else {
    return exp_horner<Scalar, 0, 1>(r, std::make_index_sequence<degree - 1>{});
  }
}

/// exp(-y) for y >= 0 (+inf included), float or double; see the file comment for accuracy.
/// Call it from a plain loop over contiguous data, or use the array overload.
///
/// Why there is no floating-point select: clamping y with `y > c ? c : y` gives the compiler a
/// path on which y is the constant c; GCC then evaluates the whole polynomial at c at compile
/// time for that path, which leaves the polynomial inside a branch, and (its operations may
/// trap under the default floating-point model) a branch stops vectorisation. Non-negative
/// floats order as their bit patterns do, so the clamp is an integer minimum instead.
template <class Scalar>
NADARAYA_ALWAYS_INLINE Scalar exp_neg(Scalar y) noexcept {
  using C = ExpConstants<Scalar>;
  using SignedBits = typename C::SignedBits;
  using Bits = typename C::Bits;
  SignedBits y_bits;
  std::memcpy(&y_bits, &y, sizeof y_bits);
  y_bits = y_bits < C::clamp_bits ? y_bits : C::clamp_bits;  // +inf too becomes the clamp
  Scalar clamped;
  std::memcpy(&clamped, &y_bits, sizeof clamped);
  const Scalar x = -clamped;
  // n = round(x / ln 2): adding 1.5 * 2^(mantissa bits) leaves the rounded integer in the low bits
  // of the sum, without a float-to-integer conversion (which AVX2 lacks for 64-bit lanes).
  const Scalar shifted = multiply_add(x, C::log2e, C::shifter);
  const Scalar n = shifted - C::shifter;
  // r = x - n ln 2 in two steps: the first is exact (n ln2_hi has few bits), so r keeps full
  // precision even for |x| ~ 700, with or without a hardware FMA.
  const Scalar r = multiply_add(-n, C::ln2_lo, multiply_add(-n, C::ln2_hi, x));
  // 2 exp(r) = 2 + r (2 q(r)): exactly 2 at r = 0.
  const Scalar twice_exp_r = multiply_add(r, exp_polynomial(r), Scalar(2));
  // 2^(n - 1) from the integer in the low bits of `shifted`: its bit pattern is shifter_bits + n,
  // so (bits - shifter_bits + bias - 1) << mantissa_bits is the exponent field (0, so +0, for
  // the lowest n that the clamp allows). Unsigned arithmetic: the wrap-around for negative n is
  // well defined and shifted out.
  Bits bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  bits = (bits - C::shifter_bits + C::exponent_bias - 1) << C::mantissa_bits;
  Scalar half_scale;
  std::memcpy(&half_scale, &bits, sizeof half_scale);
  return twice_exp_r * half_scale;
}

/// exp(x) for x <= 0 (-inf included) on a packet of simd::Packet<Scalar>, for loops written with
/// packets (block_moments): exp_neg's operations on -x in the same order, so the same bits as
/// exp_neg(-x) lane by lane (negating and clamping commute exactly: max(x, -c) = -min(-x, c); and
/// -n = shifter - shifted exactly). Callers that hold l - M rather than M - l save the negation.
/// A loop calling the scalar form is vectorised at the compiler's preferred width (GCC: 256 bits
/// on Intel's AVX-512 chips); a packet is the widest the target has.
template <class Scalar, class P>
NADARAYA_ALWAYS_INLINE P exp_nonpositive_packet(const P& x) noexcept {
  using C = ExpConstants<Scalar>;
  constexpr std::size_t degree = C::degree;
  constexpr auto& c = C::twice_q;
  const auto constant = [](Scalar value) { return simd::broadcast<Scalar>(value); };
  // x <= 0, no NaN: the floating maximum clamps as the scalar form's integer minimum does.
  const P clamped = simd::maximum(x, constant(-C::clamp));
  const P shifted = simd::multiply_add(clamped, constant(C::log2e), constant(C::shifter));
  const P minus_n = simd::subtract(constant(C::shifter), shifted);
  const P r = simd::multiply_add(minus_n, constant(C::ln2_lo),
                                 simd::multiply_add(minus_n, constant(C::ln2_hi), clamped));
  P q;
  if constexpr (C::split_powers) {
    constexpr std::size_t high = degree - 2;
    const P r2 = simd::multiply(r, r);
    P even = constant(c[0]);
    for (std::size_t i = 2; i < high; i += 2) even = simd::multiply_add(even, r2, constant(c[i]));
    P odd = constant(c[1]);
    for (std::size_t i = 3; i < high; i += 2) odd = simd::multiply_add(odd, r2, constant(c[i]));
    const P upper = simd::multiply_add(odd, r, even);
    q = simd::multiply_add(simd::multiply_add(upper, r, constant(c[degree - 2])), r,
                           constant(c[degree - 1]));
  } else {
    q = constant(c[0]);
    for (std::size_t i = 1; i < degree; ++i) q = simd::multiply_add(q, r, constant(c[i]));
  }
  const P twice_exp_r = simd::multiply_add(r, q, constant(Scalar(2)));
  const P half_scale = simd::shift_bits<Scalar, C::mantissa_bits>(
      shifted, static_cast<typename C::Bits>(C::shifter_bits - C::exponent_bias + 1));
  return simd::multiply(twice_exp_r, half_scale);
}

/// exp_neg on a packet (y >= 0, +inf included): the same bits as the scalar form lane by lane.
template <class Scalar, class P>
NADARAYA_ALWAYS_INLINE P exp_neg_packet(const P& y) noexcept {
  return exp_nonpositive_packet<Scalar>(simd::negate(y));
}

/// True when exp_neg(y') is exactly 0 for every y' >= y: y is at or past the clamp (exp_neg is
/// non-increasing and 0 there). A block of log-weights whose largest lies that far below the
/// running maximum adds exactly nothing, and its exponentials can be skipped.
template <class Scalar>
constexpr bool exp_neg_flushes_from(Scalar y) noexcept {
  return y >= ExpConstants<Scalar>::clamp;
}

/// out[i] = exp_neg(y[i]) = exp(-y[i]) for 0 <= i < count (y and out may be the same array).
template <class Scalar>
inline void exp_neg(const Scalar* y, Scalar* out, std::ptrdiff_t count) noexcept {
  for (std::ptrdiff_t i = 0; i < count; ++i) out[i] = exp_neg(y[i]);
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_EXP_HPP
