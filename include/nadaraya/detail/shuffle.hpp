#ifndef NADARAYA_DETAIL_SHUFFLE_HPP
#define NADARAYA_DETAIL_SHUFFLE_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>  // Eigen::Index
#include <cstddef>     // std::size_t
#include <cstdint>     // std::uint64_t
#include <limits>
#include <random>   // std::mt19937_64: its output sequence is fixed by the standard
#include <utility>  // std::swap
#include <vector>

namespace nadaraya {
namespace detail {

/// \file shuffle.hpp
/// The mini-batch order of the optimiser (optimizers.hpp), drawn with our own code rather than
/// the standard distributions so that a seed gives the same batches on every platform.

/// A uniform integer in [0, bound) from a 64-bit engine, by rejection (unbiased, and the same on
/// every platform, unlike std::uniform_int_distribution).
inline std::uint64_t uniform_below(std::mt19937_64& engine, std::uint64_t bound) {
  const std::uint64_t top = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t excess = (top % bound + 1) % bound;  // 2^64 mod bound
  std::uint64_t draw;
  do {
    draw = engine();
  } while (draw > top - excess);
  return draw % bound;
}

/// Fisher–Yates shuffle with uniform_below.
inline void shuffle(std::vector<Eigen::Index>& order, std::mt19937_64& engine) {
  for (std::size_t i = order.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(uniform_below(engine, static_cast<std::uint64_t>(i)));
    std::swap(order[i - 1], order[j]);
  }
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_SHUFFLE_HPP
