#ifndef NADARAYA_DETAIL_SCORE_HPP
#define NADARAYA_DETAIL_SCORE_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <algorithm>  // std::max
#include <cmath>      // std::sqrt
#include <limits>

#include "../kernel.hpp"
#include "lanes.hpp"
#include "simd.hpp"

namespace nadaraya {
namespace detail {

/// \file score.hpp
/// The scores of the fast core: how a tile of queries against a block of keys becomes a tile of
/// log-weights. Two scores (a kernel of the scaled distance, or the dot product of attention) and,
/// for the distance, two ways to form r2: direct differences, or the matrix-product form
/// ||q||^2 + ||x||^2 - 2 q.x through Eigen's GEMM, guarded by centring and by a bound on its
/// rounding error.

/// How the engine forms the squared distances r2 of a distance score.
enum class ScoreForm {
  automatic,  ///< direct below ProductForm::min_dimension, the product form above where the guard
              ///< allows
  direct,     ///< sum_j (q_j - x_j)^2 in registers: a few ulps of r2, always
  product,    ///< ||q||^2 + ||x||^2 - 2 q.x on centred data via GEMM, where the guard allows
};

/// When the matrix-product form may replace direct differences.
template <class Scalar>
struct ProductForm {
  /// From this dimension on, `automatic` takes the product form (when the guard allows). The
  /// register-tiled direct form wins at every d measured up to 2048 (bench/README.md, "Large d"):
  /// its subtractions run on otherwise idle adders and its keys are packed once, while the GEMM
  /// works on blocks of as few as 32 keys. Scaled dot-product attention follows the same
  /// threshold.
  static constexpr Index min_dimension = 4096;
  /// The guard: the product form's rounding error in r2 is about
  /// eps sqrt(d + 2) (max ||q||^2 + max ||x||^2) (after centring); it is used only when that is at
  /// most `max_r2_error`, the absolute error allowed in a log-weight-sized quantity: 2^-40 (1e-12)
  /// in double. In float no realistic data passes (the direct form is ten times more accurate
  /// there), so float stays on the direct form.
  static constexpr double max_r2_error = sizeof(Scalar) == 8 ? 9.094947017729282e-13 : 1e-10;
};

/// Score policy of a kernel of the scaled distance: log-weight log k(r2) + log w, or (linear
/// weights, compact kernels with a profile) k(r2) w.
template <class Kernel>
struct DistanceScore {
  using Traits = kernel_traits<Kernel>;
  static constexpr bool is_distance = true;
  /// Compact kernels that give their profile skip the exponential (see tile_rows.hpp).
  static constexpr bool can_use_linear_weights = Traits::is_compact && Traits::has_profile;
  /// log-weight = slope * r2 + log w (the Gaussian): the register tile applies it itself.
  static constexpr bool is_affine = Traits::has_linear_log_profile;
  static constexpr double slope = Traits::log_profile_slope();

  template <class Scalar>
  static Scalar log_weight(Scalar r2, Scalar log_w) {
    return Traits::log_profile(r2) + log_w;
  }
  template <class Scalar>
  static Scalar weight(Scalar r2, Scalar w) {
    return Traits::profile(r2) * w;
  }
};

/// Score policy of scaled dot-product attention: log-weight q.x + log w.
struct DotProductScore {
  static constexpr bool is_distance = false;
  static constexpr bool can_use_linear_weights = false;
  static constexpr bool is_affine = true;
  static constexpr double slope = 1.0;

  template <class Scalar>
  static Scalar log_weight(Scalar dot, Scalar log_w) {
    return dot + log_w;
  }
  template <class Scalar>
  static Scalar weight(Scalar dot, Scalar w) {
    return dot * w;  // never called: can_use_linear_weights is false
  }
};

/// The register tile's shape for a Scalar: Eigen's widest packet on the target (SSE, AVX,
/// AVX-512, NEON, or the scalar itself without SIMD), two packets of keys per query row.
template <class Scalar>
struct TileShape {
  using Packet = simd::Packet<Scalar>;
  static constexpr Index packet_size = simd::size<Scalar>();
  static constexpr Index packets_per_row = 2;
  /// Keys per register row; keys are padded to a multiple of `key_granule`.
  static constexpr Index row_keys = packet_size * packets_per_row;
  static constexpr Index key_granule = row_keys > lane_count<Scalar>() ? row_keys
                                                                       : lane_count<Scalar>();
};

/// Copies keys (n x d) into panels for tile_scores: for each run of
/// TileShape::row_keys consecutive keys, their d coordinates one after the other,
/// panels[(c d + j) row_keys + l] = keys(c row_keys + l, j). The register tile then reads its
/// keys as one contiguous stream; reading them from the n x d matrix instead means d loads a
/// stride of n apart, which for n a power of two all fall into the same L1 set (measured: the
/// tile ran at a quarter of its speed at d = 32, n = 8192).
/// Rows from n up to `padded_rows` (a multiple of row_keys) are packed as zeros.
template <class Derived, class Scalar>
inline void pack_key_panels(const Eigen::MatrixBase<Derived>& keys, Index padded_rows,
                            Scalar* panels) {
  constexpr Index R = TileShape<Scalar>::row_keys;
  const Index n = keys.rows(), d = keys.cols(), panel_count = padded_rows / R;
  for (Index c = 0; c < panel_count; ++c) {
    const Index valid = std::max<Index>(0, std::min(R, n - c * R));
    for (Index j = 0; j < d; ++j) {
      Scalar* panel = panels + (c * d + j) * R;
      for (Index l = 0; l < valid; ++l) panel[l] = keys(c * R + l, j);
      for (Index l = valid; l < R; ++l) panel[l] = Scalar(0);
    }
  }
}

/// Keeps a packet in a register (GCC only): GCC otherwise folds the load of a key packet into
/// each of the tile's subtractions, and the loads (12 a step instead of 6) become the bottleneck
/// (measured: +60% at d = 128). Not Eigen's EIGEN_OPTIMIZATION_BARRIER: its x86 constraint
/// "+g,x" lets GCC choose memory, and it stored both key packets to the stack on every step
/// (measured with perf at d = 8). With Clang a barrier costs 25%, so none there.
/// `keep_in_register_branch` names the branch this target compiles (the tests report it).
#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__)) && \
    defined(__SSE2__)
#if defined(__AVX512F__)
inline constexpr const char* keep_in_register_branch = "GCC x86 asm, constraint +v (AVX-512)";
template <class Packet>
inline void keep_in_register(Packet& packet) {
  __asm__("" : "+v"(packet));
}
#else
inline constexpr const char* keep_in_register_branch = "GCC x86 asm, constraint +x (SSE/AVX)";
template <class Packet>
inline void keep_in_register(Packet& packet) {
  __asm__("" : "+x"(packet));
}
#endif
#elif defined(__GNUC__) && !defined(__clang__) && defined(EIGEN_OPTIMIZATION_BARRIER)
inline constexpr const char* keep_in_register_branch = "GCC, EIGEN_OPTIMIZATION_BARRIER";
template <class Packet>
inline void keep_in_register(Packet& packet) {
  EIGEN_OPTIMIZATION_BARRIER(packet);
}
#else
inline constexpr const char* keep_in_register_branch = "none (Clang or no SIMD)";
template <class Packet>
inline void keep_in_register(Packet& /*packet*/) {}
#endif

/// The register-tiled score of `Queries` consecutive queries against `length` keys:
/// out(t, i) = ||q_t - x_i||^2 (Difference) or q_t . x_i, for t < Queries, i < length.
///
/// With an `affine` epilogue (log_weights not null), the tile writes log-weights instead,
/// out(t, i) = slope * score + log_weights[i], and raises row_max[t] to the largest of them: the
/// Gaussian kernel and the dot product need no further pass before the exponential.
///
/// Layout: `queries` row-major (query t's d coordinates at queries + t d); `panels` as written by
/// pack_key_panels, starting at the first key; `out` row t at out + t out_stride. `length` is a
/// multiple of TileShape::row_keys.
///
/// Per step of the loop over dimensions: two packet loads of keys, one broadcast per query, and
/// Queries x 2 independent multiply-adds whose accumulators stay in registers (4 x 2 of the 16
/// AVX2 registers: 8 independent chains cover the FMA latency of both pipes). Written with
/// Eigen's packet primitives, which map to SSE, AVX, AVX-512 or NEON (or plain scalars): GCC 12
/// turns the same tile written as plain loops over fixed-size arrays into permute-heavy code
/// (72 vpermpd for 8 FMAs; measured 20-50% slower).
template <bool Difference, Index Queries, class Scalar>
inline void tile_scores(const Scalar* queries, Index d, const Scalar* panels, Index length,
                        Scalar* out, Index out_stride, const Scalar* log_weights = nullptr,
                        Scalar slope = 0, Scalar* row_max = nullptr) {
  using Shape = TileShape<Scalar>;
  using Packet = typename Shape::Packet;
  constexpr Index P = Shape::packet_size, V = Shape::packets_per_row, R = Shape::row_keys;
  static_assert(V == 2, "tile_scores: two packets of keys per row");
  Packet largest[Queries];
  for (Index t = 0; t < Queries; ++t)
    largest[t] = simd::broadcast<Scalar>(-std::numeric_limits<Scalar>::infinity());
  for (Index start = 0; start < length; start += R) {
    Packet accumulator[Queries][V];
    for (Index t = 0; t < Queries; ++t) {
      for (Index v = 0; v < V; ++v) accumulator[t][v] = simd::broadcast<Scalar>(Scalar(0));
    }
    const Scalar* key = panels + start * d;  // the panel of keys [start, start + R)
    for (Index j = 0; j < d; ++j, key += R) {
      // Two named packets, not an array: GCC kept an array of them on the stack, storing both
      // on every step.
      Packet first = simd::load(key);
      Packet second = simd::load(key + P);
      keep_in_register(first);
      keep_in_register(second);
      for (Index t = 0; t < Queries; ++t) {
        const Packet query = simd::broadcast<Scalar>(queries[t * d + j]);
        if constexpr (Difference) {
          const Packet first_difference = simd::subtract(query, first);
          const Packet second_difference = simd::subtract(query, second);
          accumulator[t][0] =
              simd::multiply_add(first_difference, first_difference, accumulator[t][0]);
          accumulator[t][1] =
              simd::multiply_add(second_difference, second_difference, accumulator[t][1]);
        } else {
          accumulator[t][0] = simd::multiply_add(query, first, accumulator[t][0]);
          accumulator[t][1] = simd::multiply_add(query, second, accumulator[t][1]);
        }
      }
    }
    if (log_weights != nullptr) {
      const Packet slopes = simd::broadcast<Scalar>(slope);
      for (Index v = 0; v < V; ++v) {
        const Packet weights = simd::load(log_weights + start + v * P);
        for (Index t = 0; t < Queries; ++t) {
          accumulator[t][v] = simd::multiply_add(slopes, accumulator[t][v], weights);
          largest[t] = simd::maximum(largest[t], accumulator[t][v]);
        }
      }
    }
    for (Index t = 0; t < Queries; ++t) {
      for (Index v = 0; v < V; ++v) {
        simd::store(out + t * out_stride + start + v * P, accumulator[t][v]);
      }
    }
  }
  if (log_weights != nullptr) {
    for (Index t = 0; t < Queries; ++t) {
      const Scalar tile_max = simd::reduce_max(largest[t]);
      row_max[t] = row_max[t] < tile_max ? tile_max : row_max[t];
    }
  }
}

/// Largest number of queries in one GEMM tile. The destination type below has this as its
/// compile-time maximum number of rows, which is what keeps Eigen from opening its own OpenMP
/// team inside the product (Eigen parallelises a GEMM only when the destination may have more
/// than 32 rows): the engine's threads are the only ones, and `threads = 1` means one thread.
constexpr Index gemm_max_queries = 32;

/// out(t, i) = q_t . x_i for `rows` <= gemm_max_queries queries (row-major, d each) against
/// `length` keys (dimension-major with stride `key_stride`), out row-major with stride
/// `out_stride`, through Eigen's GEMM.
template <class Scalar>
inline void gemm_scores(const Scalar* queries, Index rows, Index d, const Scalar* keys,
                        Index key_stride, Index length, Scalar* out, Index out_stride) {
  using QueryTile = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using KeyBlock = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using ScoreTile = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor,
                                  gemm_max_queries, Eigen::Dynamic>;
  static_assert(
      Eigen::Map<ScoreTile, 0, Eigen::OuterStride<>>::MaxRowsAtCompileTime <= 32,
      "the GEMM destination must have at most 32 rows at compile time (no nested threads)");
  const Eigen::Map<const QueryTile> query_tile(queries, rows, d);
  const Eigen::Map<const KeyBlock, 0, Eigen::OuterStride<>> key_block(
      keys, length, d, Eigen::OuterStride<>(key_stride));
  Eigen::Map<ScoreTile, 0, Eigen::OuterStride<>> scores(out, rows, length,
                                                        Eigen::OuterStride<>(out_stride));
  scores.noalias() = query_tile * key_block.transpose();
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_SCORE_HPP
