#ifndef NADARAYA_DETAIL_SIMD_HPP
#define NADARAYA_DETAIL_SIMD_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>

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

}  // namespace simd

/// Whether an Eigen expression exposes its storage directly (data(), strides).
template <class Derived>
constexpr bool has_direct_access() {
  return static_cast<bool>(Eigen::internal::traits<Derived>::Flags & Eigen::DirectAccessBit);
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_SIMD_HPP
