// Every branch of the library that depends on the instruction set, named with the branch this
// build compiled and checked against a plain long-double evaluation: the register tile at Eigen's
// packet width (SSE 4/2, AVX 8/4, AVX-512 16/8 float/double lanes) with its register barrier, the
// fused Gaussian log-weights of the objectives' blocks, their moment sums (lane or packet order,
// chosen by the packet width), the vectorised exponential over whole lane arrays, and
// multiply_add (fused where the target has an FMA). The test executables print the instruction
// set they were built for first (tests/support/simd.hpp); CMake's NADARAYA_NATIVE (on by default)
// builds them for this machine's CPU, the sanitizer builds of scripts/ci.sh for baseline x86-64.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <nadaraya/detail/exp.hpp>
#include <nadaraya/detail/lanes.hpp>
#include <nadaraya/detail/block_log_weights.hpp>
#include <nadaraya/detail/score.hpp>
#include <nadaraya/objectives.hpp>
#include <random>
#include <vector>

#include "support/simd.hpp"

using namespace nadaraya;
using Index = Eigen::Index;

namespace {

template <class Scalar>
constexpr long double unit_roundoff() {
  return static_cast<long double>(std::numeric_limits<Scalar>::epsilon()) / 2;
}

template <class Scalar>
std::vector<Scalar> uniform(std::size_t count, Scalar low, Scalar high, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<double> distribution(static_cast<double>(low),
                                                      static_cast<double>(high));
  std::vector<Scalar> values(count);
  for (Scalar& value : values) value = static_cast<Scalar>(distribution(generator));
  return values;
}

/// The register tile for `Queries` queries against `length` keys in d dimensions, every output
/// against its long-double value: squared distances and dot products, plain and with the affine
/// epilogue (slope * score + log w, and the row maxima).
template <Index Queries, class Scalar>
void check_tile(Index d, Index length, unsigned seed) {
  const auto keys = uniform<Scalar>(static_cast<std::size_t>(length * d), -2, 2, seed);
  const auto queries = uniform<Scalar>(static_cast<std::size_t>(Queries * d), -2, 2, seed + 1);
  const auto log_weights = uniform<Scalar>(static_cast<std::size_t>(length), -3, 0, seed + 2);
  const Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>
      key_matrix(keys.data(), length, d);
  std::vector<Scalar> panels(static_cast<std::size_t>(length * d));
  detail::pack_key_panels(key_matrix, length, panels.data());
  const Scalar slope = Scalar(-0.5);
  for (const bool affine : {false, true}) {
    for (const bool difference : {true, false}) {
      std::vector<Scalar> out(static_cast<std::size_t>(Queries * length));
      std::vector<Scalar> row_max(Queries, -std::numeric_limits<Scalar>::infinity());
      const Scalar* weights = affine ? log_weights.data() : nullptr;
      if (difference) {
        detail::tile_scores<true, Queries>(queries.data(), d, panels.data(), length, out.data(),
                                           length, weights, slope, row_max.data());
      } else {
        detail::tile_scores<false, Queries>(queries.data(), d, panels.data(), length, out.data(),
                                            length, weights, slope, row_max.data());
      }
      for (Index t = 0; t < Queries; ++t) {
        long double largest = -std::numeric_limits<long double>::infinity();
        for (Index i = 0; i < length; ++i) {
          long double score = 0, magnitude = 0;
          for (Index j = 0; j < d; ++j) {
            const long double q = queries[static_cast<std::size_t>(t * d + j)];
            const long double x = key_matrix(i, j);
            const long double term = difference ? (q - x) * (q - x) : q * x;
            score += term;
            magnitude += std::abs(term);
          }
          long double expected = score;
          if (affine) {
            expected = slope * score + log_weights[static_cast<std::size_t>(i)];
            magnitude = std::abs(slope) * magnitude + std::abs(expected);
          }
          largest = std::max(largest, expected);
          const long double actual = out[static_cast<std::size_t>(t * length + i)];
          INFO("query " << t << ", key " << i << ", d = " << d << (affine ? ", affine" : "")
                        << (difference ? ", distance" : ", dot product"));
          CHECK(std::abs(actual - expected) <=
                (2 * d + 4) * unit_roundoff<Scalar>() * (magnitude + 1));
        }
        if (affine) {
          CHECK(std::abs(row_max[static_cast<std::size_t>(t)] - largest) <=
                (2 * d + 4) * unit_roundoff<Scalar>() * (std::abs(largest) + 8 * d + 4));
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("SIMD: the build's instruction set is the one Eigen's packets and the library use",
          "[simd]") {
  INFO(nadaraya_test::simd_description());
  // The lanes the library vectorises over are Eigen's packets (score.hpp, pair_blocks.hpp).
  CHECK(detail::TileShape<float>::packet_size == nadaraya_test::expected_lanes<float>());
  CHECK(detail::TileShape<double>::packet_size == nadaraya_test::expected_lanes<double>());
  CHECK(detail::TileShape<float>::row_keys == 2 * detail::TileShape<float>::packet_size);
  // A lane array of the reductions holds whole packets.
  CHECK(detail::lane_count<float>() % detail::TileShape<float>::packet_size == 0);
  CHECK(detail::lane_count<double>() % detail::TileShape<double>::packet_size == 0);
}

TEMPLATE_TEST_CASE(
    "SIMD: the register tile at this target's packet width, with its register "
    "barrier, against the long-double reference",
    "[simd]", float, double) {
  using Shape = detail::TileShape<TestType>;
  INFO(nadaraya_test::simd_description()
       << "; keep_in_register: " << detail::keep_in_register_branch << "; " << Shape::packet_size
       << " lanes per packet");
  unsigned seed = 1;
  for (const Index d : {1, 2, 3, 8, 17, 33}) {
    for (const Index panels : {1, 3}) {
      check_tile<4, TestType>(d, panels * Shape::row_keys, seed++);
      check_tile<1, TestType>(d, panels * Shape::row_keys, seed++);
    }
  }
}

TEMPLATE_TEST_CASE(
    "SIMD: the objectives' fused Gaussian log-weights (d = 1 to 4) at this "
    "target's packet width against the long-double reference",
    "[simd]", float, double) {
  using Scalar = TestType;
  INFO(nadaraya_test::simd_description());
  const Index count = 4 * detail::lane_count<Scalar>();
  for (Index d = 1; d <= 4; ++d) {
    const auto columns =
        uniform<Scalar>(static_cast<std::size_t>(count * d), -3, 3, static_cast<unsigned>(10 + d));
    const auto point =
        uniform<Scalar>(static_cast<std::size_t>(d), -1, 1, static_cast<unsigned>(20 + d));
    const auto key_log_weights =
        uniform<Scalar>(static_cast<std::size_t>(count), -5, 0, static_cast<unsigned>(30 + d));
    std::vector<Scalar> r2(static_cast<std::size_t>(count)), log_weights(r2.size());
    const Scalar slope = Scalar(-0.5);
    const Scalar max = detail::linear_block_log_weights(d, columns.data(), count, point.data(),
                                                        key_log_weights.data(), slope, count,
                                                        r2.data(), log_weights.data());
    long double largest = -std::numeric_limits<long double>::infinity();
    for (Index k = 0; k < count; ++k) {
      long double expected_r2 = 0;
      for (Index j = 0; j < d; ++j) {
        const long double u = static_cast<long double>(point[static_cast<std::size_t>(j)]) -
                              columns[static_cast<std::size_t>(j * count + k)];
        expected_r2 += u * u;
      }
      const long double expected =
          slope * expected_r2 + key_log_weights[static_cast<std::size_t>(k)];
      largest = std::max(largest, expected);
      const long double tolerance = (2 * d + 4) * unit_roundoff<Scalar>() * (expected_r2 + 5);
      INFO("d = " << d << ", key " << k);
      CHECK(std::abs(r2[static_cast<std::size_t>(k)] - expected_r2) <= tolerance);
      CHECK(std::abs(log_weights[static_cast<std::size_t>(k)] - expected) <= tolerance);
    }
    CHECK(std::abs(max - largest) <=
          (2 * d + 4) * unit_roundoff<Scalar>() * (std::abs(largest) + 40));
  }
}

TEMPLATE_TEST_CASE(
    "SIMD: the objectives' block moments (lane or packet order, by the target's "
    "packet width, the packet exponential inside) against plain long-double sums",
    "[simd]", float, double) {
  using Scalar = TestType;
  const Index count = 2 * detail::lane_count<Scalar>();
  const Index d = 2;
  // Log-weights against a reference above them all, one key that does not count (-inf).
  auto log_weights = uniform<Scalar>(static_cast<std::size_t>(count), -6, 0, 41);
  log_weights[3] = -std::numeric_limits<Scalar>::infinity();
  const Scalar reference = Scalar(0.25);
  const auto values = uniform<Scalar>(static_cast<std::size_t>(count), -2, 2, 42);
  const auto columns = uniform<Scalar>(static_cast<std::size_t>(count * d), -2, 2, 43);
  const auto point = uniform<Scalar>(static_cast<std::size_t>(d), -1, 1, 44);
  std::vector<Scalar> r2(static_cast<std::size_t>(count));
  for (Index k = 0; k < count; ++k) {
    Scalar sum = 0;
    for (Index j = 0; j < d; ++j) {
      const Scalar u =
          point[static_cast<std::size_t>(j)] - columns[static_cast<std::size_t>(j * count + k)];
      sum += u * u;
    }
    r2[static_cast<std::size_t>(k)] = sum;
  }
  const Scalar* value_columns[1] = {values.data()};
  INFO(nadaraya_test::simd_description());
  // Sums: weight, [weight y], per basis b_j: weight b_j, [weight b_j y]; b_j = u_j^2 per
  // dimension, or r2 for one shared width (Dims = 1).
  auto check = [&](auto per_dimension, auto outputs, int dims) {
    constexpr bool PerDimension = decltype(per_dimension)::value;
    constexpr int Outputs = decltype(outputs)::value;
    std::vector<Scalar> sums(static_cast<std::size_t>(1 + Outputs + dims * (1 + Outputs)));
    if (dims == 1) {
      detail::block_moments<1, Outputs, PerDimension>(
          columns.data(), count, point.data(), r2.data(), count, log_weights.data(), Scalar(0),
          reference, value_columns, sums.data());
    } else {
      detail::block_moments<2, Outputs, PerDimension>(
          columns.data(), count, point.data(), r2.data(), count, log_weights.data(), Scalar(0),
          reference, value_columns, sums.data());
    }
    std::vector<long double> expected(sums.size(), 0), magnitude(sums.size(), 0);
    for (Index k = 0; k < count; ++k) {
      const long double w =
          std::exp(static_cast<long double>(log_weights[static_cast<std::size_t>(k)]) - reference);
      const long double y = values[static_cast<std::size_t>(k)];
      auto add = [&](std::size_t s, long double term) {
        expected[s] += term;
        magnitude[s] += std::abs(term);
      };
      add(0, w);
      if (Outputs == 1) add(1, w * y);
      for (int j = 0; j < dims; ++j) {
        long double basis = r2[static_cast<std::size_t>(k)];
        if (PerDimension) {
          const long double u = static_cast<long double>(point[static_cast<std::size_t>(j)]) -
                                columns[static_cast<std::size_t>(j * count + k)];
          basis = u * u;
        }
        add(static_cast<std::size_t>(1 + Outputs) + static_cast<std::size_t>(j), w * basis);
        if (Outputs == 1) {
          add(static_cast<std::size_t>(2 + dims) + static_cast<std::size_t>(j), w * basis * y);
        }
      }
    }
    for (std::size_t s = 0; s < sums.size(); ++s) {
      INFO("sum " << s << ", dims " << dims << ", outputs " << Outputs
                  << (PerDimension ? ", per dimension" : ", shared width"));
      CHECK(std::abs(sums[s] - expected[s]) <=
            static_cast<long double>(count + 12) * unit_roundoff<Scalar>() * magnitude[s]);
    }
  };
  check(std::true_type{}, std::integral_constant<int, 0>{}, 2);
  check(std::true_type{}, std::integral_constant<int, 1>{}, 2);
  check(std::false_type{}, std::integral_constant<int, 0>{}, 1);
  check(std::false_type{}, std::integral_constant<int, 1>{}, 1);
}

TEMPLATE_TEST_CASE(
    "SIMD: the exponential over whole lane arrays equals the scalar one and "
    "exp(-y) to 1.5 ulp",
    "[simd]", float, double) {
  using Scalar = TestType;
  INFO(nadaraya_test::simd_description());
  const Index count = 8 * detail::lane_count<Scalar>();
  const Scalar top = std::is_same<Scalar, float>::value ? Scalar(80) : Scalar(700);
  const auto y = uniform<Scalar>(static_cast<std::size_t>(count), 0, top, 51);
  std::vector<Scalar> out(y.size());
  detail::exp_neg(y.data(), out.data(), count);
  for (Index k = 0; k < count; ++k) {
    const Scalar x = y[static_cast<std::size_t>(k)];
    const long double exact = std::exp(-static_cast<long double>(x));
    INFO("y = " << x);
    CHECK(out[static_cast<std::size_t>(k)] == detail::exp_neg(x));
    if (exact >= static_cast<long double>(std::numeric_limits<Scalar>::min())) {
      CHECK(std::abs(out[static_cast<std::size_t>(k)] - exact) <=
            3 * unit_roundoff<Scalar>() * exact);
    }
  }
}

TEST_CASE("SIMD: multiply_add is fused exactly where the target has a hardware FMA", "[simd]") {
  INFO(nadaraya_test::simd_description()
       << "; multiply_add: " << (detail::multiply_add_is_fused ? "fused" : "separate"));
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  CHECK(detail::multiply_add_is_fused);
#endif
  // (1 + 2^-28)(1 - 2^-28) - 1 = -2^-56 exactly; the product alone rounds to 1.
  const double a = 1 + std::ldexp(1.0, -28), b = 1 - std::ldexp(1.0, -28);
  const double expected = detail::multiply_add_is_fused ? -std::ldexp(1.0, -56) : 0.0;
  CHECK(detail::multiply_add(a, b, -1.0) == expected);
  // In float: (1 + 2^-13)(1 - 2^-13) - 1 = -2^-26.
  const float af = 1 + std::ldexp(1.0f, -13), bf = 1 - std::ldexp(1.0f, -13);
  const float expected_float = detail::multiply_add_is_fused ? -std::ldexp(1.0f, -26) : 0.0f;
  CHECK(detail::multiply_add(af, bf, -1.0f) == expected_float);
}

TEMPLATE_TEST_CASE(
    "SIMD: block moments with the log-weights formed from the keys (FromKeys) are bit for bit "
    "those over the stored log-weights",
    "[simd]", float, double) {
  using Scalar = TestType;
  INFO(nadaraya_test::simd_description());
  const Index count = 3 * detail::lane_count<Scalar>();
  const Scalar slope = Scalar(-0.5);
  const auto values = uniform<Scalar>(static_cast<std::size_t>(count), -2, 2, 52);
  const Scalar* value_columns[1] = {values.data()};
  // Dims key columns (one shared width: one column), log p_k with a key that does not count.
  auto check = [&](auto dims, auto outputs, auto per_dimension) {
    constexpr int Dims = decltype(dims)::value;
    constexpr int Outputs = decltype(outputs)::value;
    constexpr bool PerDimension = decltype(per_dimension)::value;
    const auto columns = uniform<Scalar>(static_cast<std::size_t>(count * Dims), -3, 3, 53);
    const auto point = uniform<Scalar>(static_cast<std::size_t>(Dims), -1, 1, 54);
    auto key_log_weights = uniform<Scalar>(static_cast<std::size_t>(count), -4, 0, 55);
    key_log_weights[5] = -std::numeric_limits<Scalar>::infinity();
    std::vector<Scalar> r2(static_cast<std::size_t>(count)), log_weights(r2.size());
    const Scalar max = detail::linear_block_log_weights<Dims>(columns.data(), count, point.data(),
                                                              key_log_weights.data(), slope, count,
                                                              r2.data(), log_weights.data());
    // Below the reference, as the pass guarantees; and exactly at it (the block's own maximum).
    for (const Scalar reference : {max, max + Scalar(1.5)}) {
      constexpr std::size_t size = 1 + Outputs + Dims * (1 + Outputs);
      Scalar stored[size], formed[size];
      detail::block_moments<Dims, Outputs, PerDimension>(columns.data(), count, point.data(),
                                                         r2.data(), count, log_weights.data(),
                                                         slope, reference, value_columns, stored);
      detail::block_moments<Dims, Outputs, PerDimension, true>(
          columns.data(), count, point.data(), static_cast<const Scalar*>(nullptr), count,
          key_log_weights.data(), slope, reference, value_columns, formed);
      for (std::size_t s = 0; s < size; ++s) {
        INFO("dims " << Dims << ", outputs " << Outputs << ", sum " << s);
        CHECK(stored[s] != 0);  // no sum is trivially equal
        CHECK(formed[s] == stored[s]);
      }
    }
  };
  check(std::integral_constant<int, 1>{}, std::integral_constant<int, 1>{}, std::true_type{});
  check(std::integral_constant<int, 1>{}, std::integral_constant<int, 0>{}, std::false_type{});
  check(std::integral_constant<int, 1>{}, std::integral_constant<int, 1>{}, std::false_type{});
  check(std::integral_constant<int, 3>{}, std::integral_constant<int, 1>{}, std::true_type{});
  check(std::integral_constant<int, 4>{}, std::integral_constant<int, 0>{}, std::true_type{});
}
