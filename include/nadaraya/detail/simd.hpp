#ifndef NADARAYA_DETAIL_SIMD_HPP
#define NADARAYA_DETAIL_SIMD_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <cstdint>  // std::uint32_t, std::uint64_t
#include <cstring>  // std::memcpy
#include <type_traits>
#if defined(__SSE2__) || defined(_M_X64)
#include <immintrin.h>  // the bit operations of `shift_bits`
#endif

namespace nadaraya {
namespace detail {

/// \file simd.hpp
/// The packet primitives the register loops are written with (score.hpp's tile,
/// block_log_weights.hpp, block_moments.hpp). They are Eigen's (`Eigen::internal::`), which is
/// not Eigen's public API: every use of them is here, so that a later Eigen or another SIMD
/// library (xsimd, Highway) replaces this one file.
namespace simd {

/// The widest packet of Scalar that Eigen vectorises with on this target.
template <class Scalar>
using Packet = typename Eigen::internal::packet_traits<Scalar>::type;

/// Scalars per Packet<Scalar>.
template <class Scalar>
constexpr Eigen::Index size() {
  return Eigen::internal::packet_traits<Scalar>::size;
}

/// Every lane set to `value`.
template <class Scalar>
inline Packet<Scalar> broadcast(Scalar value) {
  return Eigen::internal::pset1<Packet<Scalar>>(value);
}

/// size() scalars from `from`, not necessarily aligned.
template <class Scalar>
inline Packet<Scalar> load(const Scalar* from) {
  return Eigen::internal::ploadu<Packet<Scalar>>(from);
}

/// size() scalars to `to`, not necessarily aligned.
template <class Scalar, class P>
inline void store(Scalar* to, const P& packet) {
  Eigen::internal::pstoreu(to, packet);
}

template <class P>
inline P add(const P& a, const P& b) {
  return Eigen::internal::padd(a, b);
}

template <class P>
inline P subtract(const P& a, const P& b) {
  return Eigen::internal::psub(a, b);
}

template <class P>
inline P multiply(const P& a, const P& b) {
  return Eigen::internal::pmul(a, b);
}

/// a b + c, fused where the target has an FMA.
template <class P>
inline P multiply_add(const P& a, const P& b, const P& c) {
  return Eigen::internal::pmadd(a, b, c);
}

/// -a.
template <class P>
inline P negate(const P& a) {
  return Eigen::internal::pnegate(a);
}

/// Lane by lane minimum (no NaN).
template <class P>
inline P minimum(const P& a, const P& b) {
  return Eigen::internal::pmin(a, b);
}

/// Lane by lane maximum.
template <class P>
inline P maximum(const P& a, const P& b) {
  return Eigen::internal::pmax(a, b);
}

/// The largest lane.
template <class P>
inline typename Eigen::internal::unpacket_traits<P>::type reduce_max(const P& packet) {
  return Eigen::internal::predux_max(packet);
}

/// Lane by lane, the scalar whose bit pattern is (bits(x) - offset) << Shift, in unsigned
/// arithmetic of the lane's width (wrapping): how exp_neg writes 2^(n - 1) into an exponent field.
/// Eigen has no 64-bit integer packets, so x86's are used directly (the packet's size names its
/// type: comparing the types themselves drops their attributes, which GCC warns about); other
/// targets go lane by lane.
template <class Scalar, int Shift, class P>
inline P shift_bits(const P& x,
                    std::conditional_t<sizeof(Scalar) == 8, std::uint64_t, std::uint32_t> offset) {
  using Bits = decltype(offset);
#if defined(__AVX512F__)
  if constexpr (sizeof(P) == 64 && sizeof(Scalar) == 8) {
    const __m512i bits =
        _mm512_sub_epi64(_mm512_castpd_si512(x), _mm512_set1_epi64(static_cast<long long>(offset)));
    return _mm512_castsi512_pd(_mm512_slli_epi64(bits, Shift));
  }
  if constexpr (sizeof(P) == 64 && sizeof(Scalar) == 4) {
    const __m512i bits =
        _mm512_sub_epi32(_mm512_castps_si512(x), _mm512_set1_epi32(static_cast<int>(offset)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(bits, Shift));
  }
#endif
#if defined(__AVX2__)
  if constexpr (sizeof(P) == 32 && sizeof(Scalar) == 8) {
    const __m256i bits = _mm256_sub_epi64(_mm256_castpd_si256(x),
                                          _mm256_set1_epi64x(static_cast<long long>(offset)));
    return _mm256_castsi256_pd(_mm256_slli_epi64(bits, Shift));
  }
  if constexpr (sizeof(P) == 32 && sizeof(Scalar) == 4) {
    const __m256i bits =
        _mm256_sub_epi32(_mm256_castps_si256(x), _mm256_set1_epi32(static_cast<int>(offset)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(bits, Shift));
  }
#endif
#if defined(__SSE2__) || defined(_M_X64)
  if constexpr (sizeof(P) == 16 && sizeof(Scalar) == 8) {
    const __m128i bits =
        _mm_sub_epi64(_mm_castpd_si128(x), _mm_set1_epi64x(static_cast<long long>(offset)));
    return _mm_castsi128_pd(_mm_slli_epi64(bits, Shift));
  }
  if constexpr (sizeof(P) == 16 && sizeof(Scalar) == 4) {
    const __m128i bits =
        _mm_sub_epi32(_mm_castps_si128(x), _mm_set1_epi32(static_cast<int>(offset)));
    return _mm_castsi128_ps(_mm_slli_epi32(bits, Shift));
  }
#endif
  constexpr Eigen::Index count = Eigen::internal::unpacket_traits<P>::size;
  Scalar lanes[count];
  Eigen::internal::pstoreu(lanes, x);
  for (Eigen::Index l = 0; l < count; ++l) {
    Bits bits;
    std::memcpy(&bits, &lanes[l], sizeof bits);
    bits = static_cast<Bits>((bits - offset) << Shift);
    std::memcpy(&lanes[l], &bits, sizeof bits);
  }
  return Eigen::internal::ploadu<P>(lanes);
}

}  // namespace simd

/// Whether an Eigen expression exposes its storage directly (data(), strides).
template <class Derived>
constexpr bool has_direct_access() {
  return static_cast<bool>(Eigen::internal::traits<Derived>::Flags & Eigen::DirectAccessBit);
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_SIMD_HPP
