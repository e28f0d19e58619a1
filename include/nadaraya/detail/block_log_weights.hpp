#ifndef NADARAYA_DETAIL_BLOCK_LOG_WEIGHTS_HPP
#define NADARAYA_DETAIL_BLOCK_LOG_WEIGHTS_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <limits>

#include "lanes.hpp"
#include "simd.hpp"  // Index

namespace nadaraya {
namespace detail {

/// \file block_log_weights.hpp
/// One query's squared distances and log-weights over a block of keys stored column by column,
/// for the objectives' block accumulator (objective_base.hpp): with the Gaussian in up to four
/// dimensions, all in one pass that also finds their maximum.

/// The squared distances r2 and log-weights slope r2 + log w of a block for a linear
/// log-profile (the Gaussian), over all Dims coordinates in one pass, and their maximum: the
/// general loop makes one pass per coordinate and one more (lane_max) for the maximum. Eigen's
/// packet primitives, as in score.hpp, so that the running maximum stays in a register.
template <int Dims, class Scalar>
inline Scalar linear_block_log_weights(const Scalar* columns, Index stride, const Scalar* point,
                                       const Scalar* key_log_weights, Scalar slope, Index count,
                                       Scalar* r2, Scalar* log_weights) noexcept {
  using Packet = simd::Packet<Scalar>;
  constexpr Index size = simd::size<Scalar>();
  Packet coordinates[Dims];
  for (int j = 0; j < Dims; ++j) coordinates[j] = simd::broadcast<Scalar>(point[j]);
  const Packet slopes = simd::broadcast<Scalar>(slope);
  Packet largest = simd::broadcast<Scalar>(-std::numeric_limits<Scalar>::infinity());
  for (Index k = 0; k < count; k += size) {
    const Packet first = simd::subtract(coordinates[0], simd::load(columns + k));
    Packet square = simd::multiply(first, first);
    for (int j = 1; j < Dims; ++j) {
      const Packet difference =
          simd::subtract(coordinates[j], simd::load(columns + j * stride + k));
      square = simd::multiply_add(difference, difference, square);
    }
    const Packet log_weight = simd::multiply_add(slopes, square, simd::load(key_log_weights + k));
    simd::store(r2 + k, square);
    simd::store(log_weights + k, log_weight);
    largest = simd::maximum(largest, log_weight);
  }
  return simd::reduce_max(largest);
}

/// linear_block_log_weights for d = 1 to 4 (`fused_dimensions`); the maximum log-weight.
template <class Scalar>
inline Scalar linear_block_log_weights(Index d, const Scalar* columns, Index stride,
                                       const Scalar* point, const Scalar* key_log_weights,
                                       Scalar slope, Index count, Scalar* r2,
                                       Scalar* log_weights) noexcept {
  switch (d) {
    case 1:
      return linear_block_log_weights<1>(columns, stride, point, key_log_weights, slope, count, r2,
                                         log_weights);
    case 2:
      return linear_block_log_weights<2>(columns, stride, point, key_log_weights, slope, count, r2,
                                         log_weights);
    case 3:
      return linear_block_log_weights<3>(columns, stride, point, key_log_weights, slope, count, r2,
                                         log_weights);
    default:
      return linear_block_log_weights<4>(columns, stride, point, key_log_weights, slope, count, r2,
                                         log_weights);
  }
}

/// The most coordinates linear_block_log_weights takes: one register per coordinate.
constexpr Index fused_dimensions = 4;

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_BLOCK_LOG_WEIGHTS_HPP
