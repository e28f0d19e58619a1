#ifndef NADARAYA_DETAIL_BLOCK_MOMENTS_HPP
#define NADARAYA_DETAIL_BLOCK_MOMENTS_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>

#include "exp.hpp"  // exp_nonpositive_packet
#include "lanes.hpp"
#include "simd.hpp"  // Index, lane_count

namespace nadaraya {
namespace detail {

/// The sums of SoftmaxGradientAccumulator::add_block over a block, in one pass over its keys:
/// with weights w_k = exp(l_k - reference) formed in the same loop (exp_nonpositive_packet: the
/// bits of exp_neg, at the target's full packet width), derivative basis b_jk (u_kj^2 from the key
/// columns, or r2_k for one shared width) and Outputs (0 or 1) value columns y_k, writes
///   [ sum w | sum w y | sum w b_j (Dims) | sum (w b_j) y (Dims) ]
/// (the layout of SoftmaxGradientAccumulator's state). The separate loops (exp_neg, lane_sum,
/// lane_dot) read the block 4 + 3 Dims times, this one once. It forms the same products; where its
/// partial sums fit in ten registers it also adds them in the same order (lane_count partial sums,
/// then lane by lane), so that the sums are bit for bit the separate loops' (when the compiler
/// fuses their multiply-adds, as GCC does by default with FMA). Otherwise each sum keeps one packet
/// of partial sums: the order of the additions differs (the sums agree to rounding), since two
/// packets per sum spill (measured: 30% slower fits at d = 3 with one output).
///
/// With FromKeys the log-weights are formed in the loop as well, l_k = slope r2_k + log_weights[k]
/// (a linear log-profile; r2 from the Dims key columns, as linear_block_log_weights forms it, the
/// same bits; one shared width thus needs one coordinate), for blocks whose largest log-weight is
/// known not to exceed `reference`: the pass then never stores r2 or l for them (the sorted line's
/// blocks away from the query).
///
/// Written with Eigen's packet primitives, as the register tile of score.hpp: GCC 12 turns the
/// same loop over fixed-size lane arrays into transposes (vunpck/vpermpd) and spills (measured:
/// 1.5 times slower than the separate loops); with packets each partial sum stays in registers.
template <int Dims, int Outputs, bool PerDimension, bool FromKeys = false, class Scalar>
void block_moments(const Scalar* key_columns, Index stride, const Scalar* query_point,
                   const Scalar* r2, Index count, const Scalar* log_weights, Scalar slope,
                   Scalar reference, const Scalar* const* values, Scalar* sums) noexcept {
  static_assert(Outputs == 0 || Outputs == 1, "block_moments: at most one value column");
  using Packet = simd::Packet<Scalar>;
  constexpr Index size = simd::size<Scalar>();
  constexpr int count_of_sums = 1 + Outputs + Dims * (1 + Outputs);
  static_assert(lane_count<Scalar>() % size == 0, "block_moments: whole packets per lane array");
  constexpr bool in_lane_order = count_of_sums * (lane_count<Scalar>() / size) <= 10;
  constexpr Index lanes = in_lane_order ? lane_count<Scalar>() : size;
  constexpr Index packets = lanes / size;  // per partial sum
  Packet partial[count_of_sums][packets];
  for (int s = 0; s < count_of_sums; ++s) {
    for (Index v = 0; v < packets; ++v) partial[s][v] = simd::broadcast<Scalar>(Scalar(0));
  }
  const Scalar* columns[Dims];
  Packet coordinates[Dims];
  for (int j = 0; j < Dims; ++j) {
    columns[j] = PerDimension || FromKeys ? key_columns + j * stride : r2;
    coordinates[j] = simd::broadcast<Scalar>(PerDimension || FromKeys ? query_point[j] : Scalar(0));
  }
  const Packet slopes = simd::broadcast<Scalar>(slope);
  const Scalar* value = Outputs > 0 ? values[0] : nullptr;
  const Packet top = simd::broadcast<Scalar>(reference);
  for (Index start = 0; start < count; start += lanes) {
    for (Index v = 0; v < packets; ++v) {
      const Index k = start + v * size;
      Packet difference[Dims];  // the query's coordinates less the key's (FromKeys)
      Packet square = top;      // r2 (FromKeys)
      Packet log_weight;
      if constexpr (FromKeys) {
        for (int j = 0; j < Dims; ++j)
          difference[j] = simd::subtract(coordinates[j], simd::load(columns[j] + k));
        square = simd::multiply(difference[0], difference[0]);
        for (int j = 1; j < Dims; ++j)
          square = simd::multiply_add(difference[j], difference[j], square);
        log_weight = simd::multiply_add(slopes, square, simd::load(log_weights + k));
      } else {
        log_weight = simd::load(log_weights + k);
      }
      // l_k <= reference; exp(-inf) = 0 for the keys that do not count.
      const Packet weight = exp_nonpositive_packet<Scalar>(simd::subtract(log_weight, top));
      partial[0][v] = simd::add(partial[0][v], weight);
      Packet y = weight;  // unused without outputs
      if constexpr (Outputs == 1) {
        y = simd::load(value + k);
        partial[1][v] = simd::multiply_add(weight, y, partial[1][v]);
      }
      for (int j = 0; j < Dims; ++j) {
        Packet basis;
        if constexpr (FromKeys) {
          basis = PerDimension ? simd::multiply(difference[j], difference[j]) : square;
        } else if constexpr (PerDimension) {
          const Packet u = simd::subtract(coordinates[j], simd::load(columns[j] + k));
          basis = simd::multiply(u, u);
        } else {
          basis = simd::load(columns[j] + k);
        }
        const Packet term = simd::multiply(weight, basis);
        partial[1 + Outputs + j][v] = simd::add(partial[1 + Outputs + j][v], term);
        if constexpr (Outputs == 1) {
          partial[2 + Dims + j][v] = simd::multiply_add(term, y, partial[2 + Dims + j][v]);
        }
      }
    }
  }
  for (int s = 0; s < count_of_sums; ++s) {
    Scalar lane[lanes];
    for (Index v = 0; v < packets; ++v) simd::store(lane + v * size, partial[s][v]);
    Scalar total = 0;
    for (Index l = 0; l < lanes; ++l) total += lane[l];
    sums[s] = total;
  }
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_BLOCK_MOMENTS_HPP
