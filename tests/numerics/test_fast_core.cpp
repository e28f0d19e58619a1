// The fast core behind pool() and attention(): its exponential over its whole range, the core
// against a plain long-double evaluation of the same sums (float and double, every kernel path,
// leave-one-out, sample weights, tiny and odd sizes, unreached queries, tiny bandwidths), the
// independence from the number of threads (key shards merged with SoftmaxAccumulator::merge),
// scaled dot-product attention, and the guarded matrix-product form far from the origin.
//
// The tolerance, stated once (core_tolerance below): with eps the Scalar's unit roundoff,
//   |error| <= eps (2 n + 4 (d + 2) L)
// on log-sums, and that times max |y| on means, where n is the number of keys and L the size of
// the log-weights that matter, max(1, |largest log-weight|) + log(1/eps). The first term is two
// ulps per key (summation); the second, four ulps per dimension of each relevant log-weight (r2 is
// rounded d + 1 times, and the exponential and the log-weight add an ulp each).

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>  // std::uint32_t, std::uint64_t
#include <cstring>  // std::memcpy
#include <limits>
#include <type_traits>
#include <nadaraya/detail/exp.hpp>
#include <nadaraya/nadaraya.hpp>
#include <vector>

#include "support/reference.hpp"

using namespace nadaraya;

namespace {

template <class Scalar>
using MatrixOf = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
template <class Scalar>
using VectorOf = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
using Index = Eigen::Index;

template <class Scalar>
constexpr double epsilon() {
  return static_cast<double>(std::numeric_limits<Scalar>::epsilon()) / 2;
}

/// What a plain long-double evaluation gives for one query: log sum_i w_i k_i, the weighted mean
/// of each value column, and the size L of the log-weights that matter.
struct Expected {
  long double log_sum = 0;
  std::vector<long double> mean;
  double log_weight_scale = 1;
};

enum class Score { distance, dot_product };

/// The sums of pool<Kernel> (or attention) for query q, every weight formed explicitly.
template <class Kernel, class Scalar>
Expected expected_pool(const MatrixOf<Scalar>& queries, const MatrixOf<Scalar>& keys,
                       const MatrixOf<Scalar>& values, const VectorOf<Scalar>& log_weights, Index q,
                       bool leave_one_out, Score score = Score::distance) {
  const Index n = keys.rows(), d = keys.cols(), k = values.cols();
  const long double minus_infinity = -std::numeric_limits<long double>::infinity();
  std::vector<long double> l(static_cast<std::size_t>(n));
  long double max = minus_infinity;
  for (Index i = 0; i < n; ++i) {
    long double s = 0;
    for (Index j = 0; j < d; ++j) {
      const long double a = queries(q, j), b = keys(i, j);
      s += score == Score::distance ? (a - b) * (a - b) : a * b;
    }
    long double value = score == Score::distance ? kernel_traits<Kernel>::log_profile(s) : s;
    if (log_weights.size() != 0) value += static_cast<long double>(log_weights(i));
    if (leave_one_out && i == q) value = minus_infinity;
    l[static_cast<std::size_t>(i)] = value;
    max = std::max(max, value);
  }
  Expected expected;
  expected.mean.assign(static_cast<std::size_t>(k), std::numeric_limits<long double>::quiet_NaN());
  if (max == minus_infinity) {
    expected.log_sum = minus_infinity;
    return expected;
  }
  long double sum = 0;
  std::vector<long double> weighted(static_cast<std::size_t>(k), 0.0L);
  for (Index i = 0; i < n; ++i) {
    const long double a = std::exp(l[static_cast<std::size_t>(i)] - max);
    sum += a;
    for (Index c = 0; c < k; ++c) weighted[static_cast<std::size_t>(c)] += a * values(i, c);
  }
  expected.log_sum = max + std::log(sum);
  for (Index c = 0; c < k; ++c)
    expected.mean[static_cast<std::size_t>(c)] = weighted[static_cast<std::size_t>(c)] / sum;
  expected.log_weight_scale =
      std::max(1.0, static_cast<double>(std::abs(max))) - std::log(epsilon<Scalar>());
  return expected;
}

/// The stated bound: eps (2 n + 4 (d + 2) L).
template <class Scalar>
double core_tolerance(Index n, Index d, double log_weight_scale) {
  return epsilon<Scalar>() *
         (2.0 * static_cast<double>(n) + 4.0 * (static_cast<double>(d) + 2.0) * log_weight_scale);
}

/// Checks every query of `result` against expected_pool, within core_tolerance.
template <class Kernel, class Scalar>
void check_against_reference(const PoolResult<Scalar>& result, const MatrixOf<Scalar>& queries,
                             const MatrixOf<Scalar>& keys, const MatrixOf<Scalar>& values,
                             const VectorOf<Scalar>& log_weights, bool leave_one_out,
                             Score score = Score::distance) {
  REQUIRE(result.log_sum.size() == queries.rows());
  REQUIRE(result.mean.rows() == queries.rows());
  REQUIRE(result.mean.cols() == values.cols());
  const double value_scale =
      values.size() == 0 ? 1.0 : std::max(1.0, static_cast<double>(values.cwiseAbs().maxCoeff()));
  for (Index q = 0; q < queries.rows(); ++q) {
    const Expected expected =
        expected_pool<Kernel>(queries, keys, values, log_weights, q, leave_one_out, score);
    INFO("query " << q << " of " << queries.rows() << ", n = " << keys.rows()
                  << ", d = " << keys.cols());
    if (std::isinf(static_cast<double>(expected.log_sum))) {
      CHECK(result.log_sum(q) == -std::numeric_limits<Scalar>::infinity());
      for (Index c = 0; c < values.cols(); ++c) CHECK(std::isnan(result.mean(q, c)));
      continue;
    }
    const double tolerance =
        core_tolerance<Scalar>(keys.rows(), keys.cols(), expected.log_weight_scale);
    INFO("log sum " << result.log_sum(q) << " expected " << static_cast<double>(expected.log_sum)
                    << ", tolerance " << tolerance);
    CHECK(std::abs(static_cast<double>(result.log_sum(q) - expected.log_sum)) <= tolerance);
    for (Index c = 0; c < values.cols(); ++c) {
      INFO("column " << c << ": " << result.mean(q, c) << " expected "
                     << static_cast<double>(expected.mean[static_cast<std::size_t>(c)]));
      CHECK(std::abs(static_cast<double>(result.mean(q, c) -
                                         expected.mean[static_cast<std::size_t>(c)])) <=
            tolerance * value_scale);
    }
  }
}

/// |actual - exact| in units of the last place of the exact value (its binade's spacing).
template <class Scalar>
double ulps(Scalar actual, long double exact) {
  int exponent = 0;
  std::frexp(exact, &exponent);  // exact = f 2^exponent, f in [0.5, 1)
  const long double ulp = std::ldexp(1.0L, exponent - std::numeric_limits<Scalar>::digits);
  return static_cast<double>(std::abs(static_cast<long double>(actual) - exact) / ulp);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The exponential
// ---------------------------------------------------------------------------------------------

/// Where exp_neg flushes to 0 (see exp.hpp): from y = 1021.5 ln 2 (double) or
/// 125.5 ln 2 (float) on, where round(-y / ln 2) reaches the lowest exponent the clamp allows.
/// Results below `normal_up_to` must be accurate normal numbers, from `zero_from` on exactly 0;
/// between the two (a few ulps of y wide) the rounding of y / ln 2 decides.
template <class Scalar>
struct ExpFlush {
  static constexpr double point = (sizeof(Scalar) == 4 ? 125.5 : 1021.5) * 0.6931471805599453;
  static constexpr double normal_up_to = point * (1 - 1e-6);
  static constexpr double zero_from = point * (1 + 1e-6);
};

/// The bit pattern of x: equal results, -0 and +0 apart.
template <class Scalar>
auto bits_of(Scalar x) {
  std::conditional_t<sizeof(Scalar) == 8, std::uint64_t, std::uint32_t> bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

TEMPLATE_TEST_CASE("exp_neg is within 1.5 ulp of exp(-y) over its whole range", "[exp]", float,
                   double) {
  using Scalar = TestType;
  using Flush = ExpFlush<Scalar>;
  // y from 0 to past the flush (where results become 0), densely, the neighbourhood of 0
  // finely, and the flush point and its neighbours exactly.
  const double top = sizeof(Scalar) == 4 ? 110.0 : 760.0;
  std::vector<Scalar> ys;
  for (int i = 0; i <= 400000; ++i) ys.push_back(static_cast<Scalar>(top * i / 400000.0));
  for (int i = 0; i <= 2000; ++i) ys.push_back(static_cast<Scalar>(std::ldexp(1.0, -i / 20)));
  Scalar at = static_cast<Scalar>(Flush::point);
  for (int step = 0; step < 64; ++step) at = std::nextafter(at, Scalar(0));
  for (int step = 0; step < 128; ++step, at = std::nextafter(at, Scalar(1000))) ys.push_back(at);
  ys.push_back(std::numeric_limits<Scalar>::infinity());
  ys.push_back(std::numeric_limits<Scalar>::max());
  ys.push_back(-Scalar(0));
  std::vector<Scalar> computed(ys.size());
  detail::exp_neg(ys.data(), computed.data(), static_cast<std::ptrdiff_t>(ys.size()));
  // The packet form (block_moments' loops), over whole packets of ys padded with zeros.
  constexpr std::size_t width = static_cast<std::size_t>(detail::simd::size<Scalar>());
  std::vector<Scalar> padded = ys, packets(ys.size() + width);
  padded.resize(ys.size() + width, Scalar(0));
  for (std::size_t i = 0; i < ys.size(); i += width) {
    detail::simd::store(packets.data() + i,
                        detail::exp_neg_packet<Scalar>(detail::simd::load(padded.data() + i)));
  }
  double worst_ulps = 0, worst_relative = 0;
  int flushed = 0;
  std::size_t packet_differs = 0;
  for (std::size_t i = 0; i < ys.size(); ++i) {
    CHECK(computed[i] == detail::exp_neg(ys[i]));  // the vectorised loop and the scalar agree
    if (bits_of(packets[i]) != bits_of(computed[i])) ++packet_differs;
    if (!(ys[i] < std::numeric_limits<Scalar>::max())) continue;  // checked above: 0
    const double y = static_cast<double>(ys[i]);
    if (y >= Flush::zero_from || (y > Flush::normal_up_to && computed[i] == Scalar(0))) {
      CHECK(computed[i] == Scalar(0));  // flushed: no subnormal result
      ++flushed;
      continue;
    }
    const long double exact = std::exp(-static_cast<long double>(ys[i]));
    REQUIRE(computed[i] >= std::numeric_limits<Scalar>::min());
    worst_ulps = std::max(worst_ulps, ulps(computed[i], exact));
    worst_relative =
        std::max(worst_relative, static_cast<double>(std::abs(computed[i] / exact - 1)));
  }
  CHECK(packet_differs == 0);  // the packet form: the same bits
  INFO("worst: " << worst_ulps << " ulp, relative " << worst_relative);
  CHECK(flushed > 1000);
  // Measured: 1.17 ulp (relative 9.9e-8) in float, 1.13 ulp (relative 1.8e-16) in double.
  CHECK(worst_ulps <= 1.5);
  CHECK(worst_relative <= (sizeof(Scalar) == 4 ? 1.5e-7 : 1e-14));
}

TEMPLATE_TEST_CASE("exp_neg is exact at 0 and flushes to 0 past its lowest normal result", "[exp]",
                   float, double) {
  using Scalar = TestType;
  using Flush = ExpFlush<Scalar>;
  const Scalar infinity = std::numeric_limits<Scalar>::infinity();
  CHECK(detail::exp_neg(Scalar(0)) == Scalar(1));
  CHECK(detail::exp_neg(-Scalar(0)) == Scalar(1));
  CHECK(detail::exp_neg(infinity) == Scalar(0));
  CHECK(detail::exp_neg(std::numeric_limits<Scalar>::max()) == Scalar(0));
  // The last results before the flush are normal, and the clamp itself flushes.
  const Scalar below = static_cast<Scalar>(Flush::normal_up_to);
  CHECK(detail::exp_neg(below) >= std::numeric_limits<Scalar>::min());
  CHECK(detail::exp_neg(below) <= Scalar(2) * std::numeric_limits<Scalar>::min());
  CHECK(detail::exp_neg(static_cast<Scalar>(Flush::zero_from)) == Scalar(0));
  Scalar clamp;
  std::memcpy(&clamp, &detail::ExpConstants<Scalar>::clamp_bits, sizeof clamp);
  CHECK(clamp > static_cast<Scalar>(Flush::zero_from));
  CHECK(clamp == detail::ExpConstants<Scalar>::clamp);
  // The predicate the core and the objectives skip blocks by: true only where exp_neg is 0.
  CHECK(detail::exp_neg_flushes_from(clamp));
  CHECK(detail::exp_neg_flushes_from(infinity));
  CHECK_FALSE(detail::exp_neg_flushes_from(std::nextafter(clamp, Scalar(0))));
  CHECK_FALSE(detail::exp_neg_flushes_from(static_cast<Scalar>(Flush::normal_up_to)));
  CHECK(detail::exp_neg(clamp) == Scalar(0));
  CHECK(detail::exp_neg(std::nextafter(clamp, Scalar(0))) == Scalar(0));
}

// ---------------------------------------------------------------------------------------------
// The core against the long-double reference
// ---------------------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("pool matches the long-double reference at tiny and odd sizes", "[fast_core]",
                   float, double) {
  using Scalar = TestType;
  // n, m = 1 .. 17: none of them a multiple of the 4 x 8 (or 16) register tile.
  for (Index d : {1, 2, 8, 33}) {
    for (Index n = 1; n <= 17; n += (n < 5 ? 1 : 4)) {
      for (Index m = 1; m <= 17; m += (m < 5 ? 1 : 6)) {
        const MatrixOf<Scalar> keys =
            nadaraya_test::normal_matrix<Scalar>(n, d, 100 + unsigned(n + d));
        const MatrixOf<Scalar> queries =
            nadaraya_test::normal_matrix<Scalar>(m, d, 200 + unsigned(m + d));
        const MatrixOf<Scalar> values =
            nadaraya_test::normal_matrix<Scalar>(n, 2, 300 + unsigned(n));
        const VectorOf<Scalar> none;
        check_against_reference<Gaussian>(pool<Gaussian>(queries, keys, values, none), queries,
                                          keys, values, none, false);
        const MatrixOf<Scalar> wide_queries = queries * Scalar(0.2), wide_keys = keys * Scalar(0.2);
        check_against_reference<Epanechnikov>(
            pool<Epanechnikov>(wide_queries, wide_keys, values, none), wide_queries, wide_keys,
            values, none, false);
      }
    }
  }
}

TEMPLATE_TEST_CASE("pool matches the reference with sample weights and leave-one-out",
                   "[fast_core]", float, double) {
  using Scalar = TestType;
  // n = 600: the own key of a query lies in each of the three key blocks of 256.
  for (Index d : {1, 2, 8, 33}) {
    const Index n = d == 33 ? 300 : 600;
    const MatrixOf<Scalar> keys = nadaraya_test::normal_matrix<Scalar>(n, d, 400 + unsigned(d)) *
                                  Scalar(std::pow(double(n), 1.0 / (double(d) + 4.0)));
    const MatrixOf<Scalar> values = nadaraya_test::normal_matrix<Scalar>(n, 3, 401);
    const VectorOf<Scalar> log_weights =
        nadaraya_test::some_zero_log_weights<Scalar>(n, 402 + unsigned(d));
    PoolOptions leave_one_out;
    leave_one_out.leave_one_out = true;
    INFO("d = " << d);
    check_against_reference<Gaussian>(
        pool<Gaussian>(keys, keys, values, log_weights, leave_one_out), keys, keys, values,
        log_weights, true);
    check_against_reference<Laplacian>(
        pool<Laplacian>(keys, keys, values, log_weights, leave_one_out), keys, keys, values,
        log_weights, true);
    const MatrixOf<Scalar> close_keys = keys * Scalar(0.5);
    check_against_reference<Biweight>(
        pool<Biweight>(close_keys, close_keys, values, log_weights, leave_one_out), close_keys,
        close_keys, values, log_weights, true);
    check_against_reference<Cosine>(pool<Cosine>(close_keys, close_keys, values, log_weights),
                                    close_keys, close_keys, values, log_weights, false);
  }
}

TEMPLATE_TEST_CASE("compact kernels take the log-space path when weights span a huge range",
                   "[fast_core]", float, double) {
  using Scalar = TestType;
  // Log weights from -2000 to 0: beyond the range where k(r2) w / max w stays a normal number,
  // so the core falls back to log space (with the exponential); the lightest keys still count
  // where nothing heavier reaches.
  const Index n = 100, d = 2;
  const MatrixOf<Scalar> keys = nadaraya_test::normal_matrix<Scalar>(n, d, 500) * Scalar(3);
  const MatrixOf<Scalar> queries = nadaraya_test::normal_matrix<Scalar>(40, d, 501) * Scalar(3);
  const MatrixOf<Scalar> values = nadaraya_test::normal_matrix<Scalar>(n, 1, 502);
  const VectorOf<Scalar> log_weights =
      nadaraya_test::uniform_vector(n, -2000.0, 0.0, 503).template cast<Scalar>();
  check_against_reference<Epanechnikov>(pool<Epanechnikov>(queries, keys, values, log_weights),
                                        queries, keys, values, log_weights, false);
  // And the linear path switched off by hand gives the same within the tolerance.
  detail::CoreOptions log_space;
  log_space.allow_linear_weights = false;
  const VectorOf<Scalar> none;
  const PoolResult<Scalar> forced = detail::pool_with<detail::DistanceScore<Triweight>>(
      queries, keys, values, none, PoolOptions{}, log_space, "test");
  check_against_reference<Triweight>(forced, queries, keys, values, none, false);
}

TEMPLATE_TEST_CASE("unreached queries get a -inf log sum and NaN means", "[fast_core]", float,
                   double) {
  using Scalar = TestType;
  // Queries far outside a compact kernel's reach, interleaved with reached ones in the same
  // register tiles, on both the linear-weight and the log-space path, and with only zero-weight
  // keys in reach.
  const Index n = 40, d = 2;
  const MatrixOf<Scalar> keys = nadaraya_test::normal_matrix<Scalar>(n, d, 600);
  MatrixOf<Scalar> queries = nadaraya_test::normal_matrix<Scalar>(9, d, 601);
  for (Index q = 0; q < queries.rows(); q += 2) queries.row(q).array() += Scalar(50);
  const MatrixOf<Scalar> values = nadaraya_test::normal_matrix<Scalar>(n, 2, 602);
  const VectorOf<Scalar> none;
  for (bool linear : {true, false}) {
    detail::CoreOptions core;
    core.allow_linear_weights = linear;
    const PoolResult<Scalar> result = detail::pool_with<detail::DistanceScore<Uniform>>(
        queries, keys, values, none, PoolOptions{}, core, "test");
    check_against_reference<Uniform>(result, queries, keys, values, none, false);
    CHECK(result.log_sum(0) == -std::numeric_limits<Scalar>::infinity());
    CHECK(std::isnan(result.mean(0, 1)));
  }
  VectorOf<Scalar> only_far =
      VectorOf<Scalar>::Constant(n, -std::numeric_limits<Scalar>::infinity());
  only_far(0) = 0;  // one key of positive weight; queries far from it are unreached
  const MatrixOf<Scalar> near_queries = keys.topRows(5).array() + Scalar(0.01);
  check_against_reference<Epanechnikov>(pool<Epanechnikov>(near_queries, keys, values, only_far),
                                        near_queries, keys, values, only_far, false);
}

TEMPLATE_TEST_CASE("tiny bandwidths: scaled distances of 1e16 stay exact", "[fast_core]", float,
                   double) {
  using Scalar = TestType;
  // Keys 1e16 apart in scaled units (h = 1e-16 on unit spacing): log-weights near -1e31, yet
  // the softmax of the log-weights is exact, and so is the log-sum relative to its size.
  const Index n = 20;
  MatrixOf<Scalar> keys(n, 1), values(n, 1);
  for (Index i = 0; i < n; ++i) {
    keys(i, 0) = static_cast<Scalar>(1e16 * static_cast<double>(i));
    values(i, 0) = static_cast<Scalar>(i);
  }
  MatrixOf<Scalar> queries(3, 1);
  queries << Scalar(3.3e16), Scalar(11.6e16), Scalar(-2e16);
  const VectorOf<Scalar> none;
  const PoolResult<Scalar> result = pool<Gaussian>(queries, keys, values, none);
  check_against_reference<Gaussian>(result, queries, keys, values, none, false);
  CHECK(result.mean(0, 0) == Scalar(3));
  CHECK(result.mean(1, 0) == Scalar(12));
  CHECK(result.mean(2, 0) == Scalar(0));
  CHECK(std::isfinite(result.log_sum(0)));
}

TEMPLATE_TEST_CASE("blocks of keys whose weights all flush to 0 add exactly nothing", "[fast_core]",
                   float, double) {
  using Scalar = TestType;
  // 512 keys near the origin (two full blocks of 256), then 768 keys 60 units away, whose
  // log-weights (below -1300) flush to 0 in float and double alike for the near queries: the
  // core skips their exponentials. For the near queries the result must be bit for bit that of
  // the near keys alone (same blocks, same order of additions), and all queries agree with the
  // long-double reference; with sample weights (log space, log k and log w kept apart) and with
  // leave-one-out too (the queries are the keys).
  const Index near = 512, far = 768, d = 3;
  MatrixOf<Scalar> keys(near + far, d);
  keys.topRows(near) = nadaraya_test::normal_matrix<Scalar>(near, d, 610);
  keys.bottomRows(far) = nadaraya_test::normal_matrix<Scalar>(far, d, 611);
  keys.bottomRows(far).col(0).array() += Scalar(60);
  const MatrixOf<Scalar> near_keys = keys.topRows(near);
  const MatrixOf<Scalar> values = nadaraya_test::normal_matrix<Scalar>(near + far, 2, 612);
  const MatrixOf<Scalar> near_values = values.topRows(near);
  const VectorOf<Scalar> log_weights =
      nadaraya_test::some_zero_log_weights<Scalar>(near + far, 613);
  const VectorOf<Scalar> none;
  for (const bool weighted : {false, true}) {
    for (const bool leave_one_out : {false, true}) {
      INFO("weighted " << weighted << ", leave-one-out " << leave_one_out);
      PoolOptions options;
      options.leave_one_out = leave_one_out;
      const VectorOf<Scalar> all_weights = weighted ? log_weights : none;
      const VectorOf<Scalar> near_weights =
          weighted ? VectorOf<Scalar>(log_weights.head(near)) : none;
      const PoolResult<Scalar> all = pool<Gaussian>(keys, keys, values, all_weights, options);
      const PoolResult<Scalar> near_only =
          pool<Gaussian>(near_keys, near_keys, near_values, near_weights, options);
      CHECK(all.log_sum.head(near) == near_only.log_sum);
      CHECK(all.mean.topRows(near) == near_only.mean);
      check_against_reference<Gaussian>(all, keys, keys, values, all_weights, leave_one_out);
    }
  }
}

TEMPLATE_TEST_CASE("the sorted line (d = 1, Gaussian) matches the reference and the tile",
                   "[fast_core]", float, double) {
  using Scalar = TestType;
  // The sorted-line path (keys sorted, each query's largest log-weight from its nearest key, one
  // loop per block) forced on, against the long-double reference and against the register tile
  // on the same data: ordinary widths, tiny ones (most blocks flush and are skipped, the nearest
  // key decides), huge ones (every weight near 1), data far from the origin, duplicate keys, keys
  // on one side of every query, a density (no value column), n not a multiple of a block; with
  // and without sample weights, and leave-one-out.
  const Index n = 1000, m = 70;
  const MatrixOf<Scalar> base_keys = nadaraya_test::normal_matrix<Scalar>(n, 1, 1000);
  const MatrixOf<Scalar> base_queries = nadaraya_test::normal_matrix<Scalar>(m, 1, 1001);
  const MatrixOf<Scalar> values = nadaraya_test::normal_matrix<Scalar>(n, 1, 1002);
  const VectorOf<Scalar> none;
  const VectorOf<Scalar> weights = nadaraya_test::some_zero_log_weights<Scalar>(n, 1004);
  const VectorOf<Scalar> spread_weights =
      (nadaraya_test::uniform_vector(n, -1.0, 1.0, 1005) * (sizeof(Scalar) == 4 ? 40.0 : 70.0))
          .template cast<Scalar>();
  struct Case {
    const char* name;
    double scale, shift;
  };
  const double far = sizeof(Scalar) == 4 ? 1e3 : 1e6;
  const std::vector<Case> cases = {{"ordinary", 3, 0},
                                   {"tiny widths", 1e4, 0},
                                   {"huge widths", 1e-6, 0},
                                   {"far from the origin", 3, far},
                                   {"tiny widths far out", 1e3, far}};
  detail::CoreOptions line, tile;
  line.sorted_line = detail::SortedLine::always;
  tile.sorted_line = detail::SortedLine::never;
  for (const Case& c : cases) {
    INFO(c.name);
    const Scalar scale = static_cast<Scalar>(c.scale), shift = static_cast<Scalar>(c.shift);
    const MatrixOf<Scalar> keys = (base_keys.array() * scale + shift).matrix();
    MatrixOf<Scalar> queries = (base_queries.array() * scale + shift).matrix();
    queries.topRows(10) = keys.topRows(10);    // queries exactly on keys: y = 0 for the nearest
    queries(10, 0) = keys.minCoeff() - scale;  // below every key
    queries(11, 0) = keys.maxCoeff() + scale;  // above every key
    for (const bool density : {false, true}) {
      INFO("density " << density);
      const MatrixOf<Scalar> columns = density ? MatrixOf<Scalar>(n, 0) : values;
      // Equal weights, sample weights (a fifth of them zero), and weights over 60 orders of
      // magnitude (each block's maximum is then far below log max w).
      for (const VectorOf<Scalar>* log_weights : {&none, &weights, &spread_weights}) {
        INFO("weights " << (log_weights == &none      ? "none"
                            : log_weights == &weights ? "some"
                                                      : "spread"));
        const PoolResult<Scalar> sorted = detail::pool_with<detail::DistanceScore<Gaussian>>(
            queries, keys, columns, *log_weights, PoolOptions{}, line, "test");
        const PoolResult<Scalar> tiled = detail::pool_with<detail::DistanceScore<Gaussian>>(
            queries, keys, columns, *log_weights, PoolOptions{}, tile, "test");
        check_against_reference<Gaussian>(sorted, queries, keys, columns, *log_weights, false);
        check_against_reference<Gaussian>(tiled, queries, keys, columns, *log_weights, false);
        // Leave-one-out: the keys as queries, each skipping its own (on the line: its rank).
        PoolOptions loo;
        loo.leave_one_out = true;
        const PoolResult<Scalar> sorted_loo = detail::pool_with<detail::DistanceScore<Gaussian>>(
            keys, keys, columns, *log_weights, loo, line, "test");
        check_against_reference<Gaussian>(sorted_loo, keys, keys, columns, *log_weights, true);
      }
    }
  }
  // Duplicates: every key four times, the values different.
  MatrixOf<Scalar> repeated(4 * 300, 1);
  for (Index r = 0; r < 4; ++r) repeated.middleRows(r * 300, 300) = base_keys.topRows(300);
  const MatrixOf<Scalar> repeated_values = nadaraya_test::normal_matrix<Scalar>(4 * 300, 1, 1003);
  check_against_reference<Gaussian>(
      detail::pool_with<detail::DistanceScore<Gaussian>>(base_queries, repeated, repeated_values,
                                                         none, PoolOptions{}, line, "test"),
      base_queries, repeated, repeated_values, none, false);
}

TEMPLATE_TEST_CASE("the sorted line is taken where it applies and pays, and threads agree",
                   "[fast_core]", float, double) {
  using Scalar = TestType;
  const Index n = 2000;  // 64 log2 n = 704 queries or more repay the sort
  const MatrixOf<Scalar> keys = nadaraya_test::normal_matrix<Scalar>(n, 1, 1100);
  const MatrixOf<Scalar> many = nadaraya_test::normal_matrix<Scalar>(704, 1, 1101);
  const MatrixOf<Scalar> values = nadaraya_test::normal_matrix<Scalar>(n, 1, 1102);
  const MatrixOf<Scalar> two_columns = nadaraya_test::normal_matrix<Scalar>(n, 2, 1103);
  const VectorOf<Scalar> none;
  const VectorOf<Scalar> weights = nadaraya_test::some_zero_log_weights<Scalar>(n, 1104);
  const detail::CoreOptions automatic;
  using Data = detail::CoreData<Scalar>;
  const detail::DistanceScore<Gaussian> gaussian;
  CHECK(Data(gaussian, many, keys, values, none, false, automatic).sorted_line);
  CHECK(Data(gaussian, many, keys, MatrixOf<Scalar>(n, 0), none, false, automatic).sorted_line);
  // Also with sample weights and with leave-one-out (the keys as queries).
  CHECK(Data(gaussian, many, keys, values, weights, false, automatic).sorted_line);
  CHECK(Data(gaussian, keys, keys, values, weights, true, automatic).sorted_line);
  CHECK(Data(gaussian, keys, keys, values, none, true, automatic).sorted_line);
  // Not with fewer queries, two value columns, d > 1, or another kernel.
  CHECK_FALSE(
      Data(gaussian, MatrixOf<Scalar>(many.topRows(703)), keys, values, none, false, automatic)
          .sorted_line);
  CHECK_FALSE(Data(gaussian, many, keys, two_columns, none, false, automatic).sorted_line);
  const MatrixOf<Scalar> wide = nadaraya_test::normal_matrix<Scalar>(n, 2, 1105);
  const MatrixOf<Scalar> wide_queries = nadaraya_test::normal_matrix<Scalar>(704, 2, 1106);
  CHECK_FALSE(Data(gaussian, wide_queries, wide, values, none, false, automatic).sorted_line);
  CHECK_FALSE(
      Data(detail::DistanceScore<Epanechnikov>{}, many, keys, values, none, false, automatic)
          .sorted_line);
  // One and two threads give the same bits; so do few queries against many keys (key shards,
  // merged), forced onto the sorted line.
  PoolOptions one, two;
  one.threads = 1;
  two.threads = 2;
  const PoolResult<Scalar> single = pool<Gaussian>(many, keys, values, none, one);
  const PoolResult<Scalar> dual = pool<Gaussian>(many, keys, values, none, two);
  CHECK(single.log_sum == dual.log_sum);
  CHECK(single.mean == dual.mean);
  detail::CoreOptions line;
  line.sorted_line = detail::SortedLine::always;
  const MatrixOf<Scalar> spread = nadaraya_test::normal_matrix<Scalar>(60000, 1, 1107) * Scalar(30);
  const MatrixOf<Scalar> spread_values = nadaraya_test::normal_matrix<Scalar>(60000, 1, 1108);
  const MatrixOf<Scalar> few = many.topRows(3) * Scalar(30);
  const PoolResult<Scalar> sharded_one = detail::pool_with<detail::DistanceScore<Gaussian>>(
      few, spread, spread_values, none, one, line, "test");
  const PoolResult<Scalar> sharded_two = detail::pool_with<detail::DistanceScore<Gaussian>>(
      few, spread, spread_values, none, two, line, "test");
  CHECK(sharded_one.log_sum == sharded_two.log_sum);
  CHECK(sharded_one.mean == sharded_two.mean);
  check_against_reference<Gaussian>(sharded_one, few, spread, spread_values, none, false);
  // With sample weights: each shard keeps its own running maximum, merged exactly.
  const VectorOf<Scalar> spread_weights =
      nadaraya_test::some_zero_log_weights<Scalar>(spread.rows(), 1109);
  const PoolResult<Scalar> weighted_one = detail::pool_with<detail::DistanceScore<Gaussian>>(
      few, spread, spread_values, spread_weights, one, line, "test");
  const PoolResult<Scalar> weighted_two = detail::pool_with<detail::DistanceScore<Gaussian>>(
      few, spread, spread_values, spread_weights, two, line, "test");
  CHECK(weighted_one.log_sum == weighted_two.log_sum);
  CHECK(weighted_one.mean == weighted_two.mean);
  check_against_reference<Gaussian>(weighted_one, few, spread, spread_values, spread_weights,
                                    false);
}

TEMPLATE_TEST_CASE("pool handles empty query sets, one key and weights only", "[fast_core]", float,
                   double) {
  using Scalar = TestType;
  const MatrixOf<Scalar> keys = nadaraya_test::normal_matrix<Scalar>(5, 3, 700);
  const MatrixOf<Scalar> values = nadaraya_test::normal_matrix<Scalar>(5, 1, 701);
  const VectorOf<Scalar> none;
  const PoolResult<Scalar> empty = pool<Gaussian>(MatrixOf<Scalar>(0, 3), keys, values, none);
  CHECK(empty.log_sum.size() == 0);
  CHECK(empty.mean.rows() == 0);
  const MatrixOf<Scalar> one = keys.topRows(1);
  const PoolResult<Scalar> single = pool<Gaussian>(keys, one, values.topRows(1), none);
  check_against_reference<Gaussian>(single, keys, one, MatrixOf<Scalar>(values.topRows(1)), none,
                                    false);
  const MatrixOf<Scalar> no_values(5, 0);
  check_against_reference<Gaussian>(pool<Gaussian>(keys, keys, no_values, none), keys, keys,
                                    no_values, none, false);
}

// ---------------------------------------------------------------------------------------------
// Threads and key shards
// ---------------------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("key shards and query groups on two threads match the reference", "[fast_core]",
                   float, double) {
  // That any thread count gives the same bits is tests/threads/test_thread_invariance.cpp; here,
  // that the two-thread result is right.
  using Scalar = TestType;
  // One query against 200000 keys (split into key shards merged with SoftmaxAccumulator::merge),
  // three queries against 30000 keys (shards too), and 300 queries (groups of queries only).
  const std::vector<std::pair<Index, Index>> shapes = {{1, 200000}, {3, 30000}, {300, 700}};
  for (const auto& shape : shapes) {
    const Index m = shape.first, n = shape.second, d = 2;
    const MatrixOf<Scalar> keys = nadaraya_test::normal_matrix<Scalar>(n, d, 800) * Scalar(20);
    const MatrixOf<Scalar> queries = nadaraya_test::normal_matrix<Scalar>(m, d, 801) * Scalar(20);
    const MatrixOf<Scalar> values = nadaraya_test::normal_matrix<Scalar>(n, 2, 802);
    const VectorOf<Scalar> log_weights = nadaraya_test::some_zero_log_weights<Scalar>(n, 803);
    PoolOptions two;
    two.threads = 2;
    const PoolResult<Scalar> result = pool<Gaussian>(queries, keys, values, log_weights, two);
    INFO("m = " << m << ", n = " << n);
    const Index checked = std::min<Index>(m, 3);  // the reference is slow: a few queries
    PoolResult<Scalar> head;
    head.log_sum = result.log_sum.head(checked);
    head.mean = result.mean.topRows(checked);
    check_against_reference<Gaussian>(head, MatrixOf<Scalar>(queries.topRows(checked)), keys,
                                      values, log_weights, false);
  }
}

TEMPLATE_TEST_CASE("merging the key shards of one query equals pooling all its keys", "[fast_core]",
                   float, double) {
  using Scalar = TestType;
  // The same query against all keys at once (sharded inside the core) and against two halves,
  // merged here with the same exact merge.
  const Index n = 100000, d = 1;
  const MatrixOf<Scalar> keys = nadaraya_test::normal_matrix<Scalar>(n, d, 900) * Scalar(30);
  const MatrixOf<Scalar> query = MatrixOf<Scalar>::Constant(1, d, Scalar(0.5));
  const MatrixOf<Scalar> values = nadaraya_test::normal_matrix<Scalar>(n, 1, 901);
  const VectorOf<Scalar> none;
  const PoolResult<Scalar> all = pool<Gaussian>(query, keys, values, none);
  const Index half = n / 2;
  const PoolResult<Scalar> first =
      pool<Gaussian>(query, keys.topRows(half), values.topRows(half), none);
  const PoolResult<Scalar> second =
      pool<Gaussian>(query, keys.bottomRows(n - half), values.bottomRows(n - half), none);
  // A state from (log-sum, mean): max = log-sum, scaled sum 1, scaled values = mean.
  SoftmaxAccumulator<Scalar> merged(first.log_sum(0), Scalar(1), first.mean.row(0).transpose());
  merged.merge(
      SoftmaxAccumulator<Scalar>(second.log_sum(0), Scalar(1), second.mean.row(0).transpose()));
  const double tolerance = core_tolerance<Scalar>(n, d, 1.0 - std::log(epsilon<Scalar>()));
  CHECK(std::abs(static_cast<double>(merged.log_sum() - all.log_sum(0))) <= tolerance);
  CHECK(std::abs(static_cast<double>(merged.mean()(0) - all.mean(0, 0))) <= tolerance * 4);
  check_against_reference<Gaussian>(all, query, keys, values, none, false);
}

// ---------------------------------------------------------------------------------------------
// Scaled dot-product attention
// ---------------------------------------------------------------------------------------------

TEMPLATE_TEST_CASE("attention matches the long-double softmax of q.x", "[fast_core][attention]",
                   float, double) {
  using Scalar = TestType;
  for (Index d : {1, 8, 33, 70}) {
    const Scalar scale = static_cast<Scalar>(std::pow(static_cast<double>(d), -0.25));
    const MatrixOf<Scalar> keys = nadaraya_test::normal_matrix<Scalar>(130, d, 1000) * scale;
    const MatrixOf<Scalar> values = nadaraya_test::normal_matrix<Scalar>(130, 2, 1001);
    const VectorOf<Scalar> log_weights = nadaraya_test::some_zero_log_weights<Scalar>(130, 1002);
    PoolOptions leave_one_out;
    leave_one_out.leave_one_out = true;
    INFO("d = " << d);
    check_against_reference<Gaussian>(attention(keys, keys, values, log_weights, leave_one_out),
                                      keys, keys, values, log_weights, true, Score::dot_product);
    // The same scores from Eigen's GEMM (what attention uses for large d).
    detail::CoreOptions gemm;
    gemm.form = detail::ScoreForm::product;
    check_against_reference<Gaussian>(
        detail::pool_with<detail::DotProductScore>(keys, keys, values, log_weights, leave_one_out,
                                                   gemm, "test"),
        keys, keys, values, log_weights, true, Score::dot_product);
  }
}

TEMPLATE_TEST_CASE("on unit-norm rows, attention is Gaussian Nadaraya-Watson",
                   "[fast_core][attention]", float, double) {
  using Scalar = TestType;
  // ||q - x||^2 = 2 - 2 q.x on the unit sphere: softmax(q.x / h^2) are the Gaussian weights of
  // width h, and the log-sums differ by exactly 1 / h^2.
  const Index n = 200, m = 50, d = 5;
  const double h = 0.4;
  MatrixOf<Scalar> keys = nadaraya_test::normal_matrix<Scalar>(n, d, 1100);
  MatrixOf<Scalar> queries = nadaraya_test::normal_matrix<Scalar>(m, d, 1101);
  keys.rowwise().normalize();
  queries.rowwise().normalize();
  const MatrixOf<Scalar> Y = nadaraya_test::normal_matrix<Scalar>(n, 1, 1102);
  NadarayaWatson<Gaussian, Scalar> nadaraya_watson(Bandwidth::scalar(h));
  nadaraya_watson.fit(keys, Y);
  const MatrixOf<Scalar> predicted = nadaraya_watson.predict(queries);
  const Scalar inverse = static_cast<Scalar>(1 / h);
  const PoolResult<Scalar> attended = attention(
      MatrixOf<Scalar>(queries * inverse), MatrixOf<Scalar>(keys * inverse), Y, VectorOf<Scalar>());
  const PoolResult<Scalar> gaussian = pool<Gaussian>(
      MatrixOf<Scalar>(queries * inverse), MatrixOf<Scalar>(keys * inverse), Y, VectorOf<Scalar>());
  const double tolerance = core_tolerance<Scalar>(n, d, 1 / (h * h) - std::log(epsilon<Scalar>()));
  for (Index q = 0; q < m; ++q) {
    INFO("query " << q);
    CHECK(std::abs(static_cast<double>(attended.mean(q, 0) - predicted(q, 0))) <= tolerance * 4);
    CHECK(std::abs(static_cast<double>(attended.log_sum(q) - gaussian.log_sum(q)) - 1 / (h * h)) <=
          tolerance * 4);
  }
}

// ---------------------------------------------------------------------------------------------
// The matrix-product form of r2
// ---------------------------------------------------------------------------------------------

TEST_CASE("the guarded product form is exact far from the origin; the unguarded one is not",
          "[fast_core][product_form]") {
  // Data shifted by 1e6 in d = 8: ||q||^2 ~ 8e12, so the uncentred ||q||^2 + ||x||^2 - 2 q.x
  // loses about 1e-3 of r2 ~ 1 to rounding. Centred, it agrees with the direct-difference
  // reference on the same shifted data to 1e-9 relative.
  const Index n = 300, m = 40, d = 8;
  const double shift = 1e6;
  const Eigen::MatrixXd keys = (nadaraya_test::normal_matrix(n, d, 1200).array() + shift).matrix();
  const Eigen::MatrixXd queries =
      (nadaraya_test::normal_matrix(m, d, 1201).array() + shift).matrix();
  const Eigen::MatrixXd values = nadaraya_test::normal_matrix(n, 1, 1202);
  const Eigen::VectorXd none;
  detail::CoreOptions guarded, unguarded;
  guarded.form = unguarded.form = detail::ScoreForm::product;
  unguarded.guard_product_form = false;
  const PoolResult<double> centred = detail::pool_with<detail::DistanceScore<Gaussian>>(
      queries, keys, values, none, PoolOptions{}, guarded, "test");
  const PoolResult<double> raw = detail::pool_with<detail::DistanceScore<Gaussian>>(
      queries, keys, values, none, PoolOptions{}, unguarded, "test");
  double worst_centred = 0, worst_raw = 0;
  for (Index q = 0; q < m; ++q) {
    const Expected expected = expected_pool<Gaussian>(queries, keys, values, none, q, false);
    const double mean = static_cast<double>(expected.mean[0]),
                 log_sum = static_cast<double>(expected.log_sum);
    worst_centred = std::max({worst_centred, std::abs(centred.mean(q, 0) - mean) / std::abs(mean),
                              std::abs(centred.log_sum(q) - log_sum) / std::abs(log_sum)});
    worst_raw = std::max({worst_raw, std::abs(raw.mean(q, 0) - mean) / std::abs(mean),
                          std::abs(raw.log_sum(q) - log_sum) / std::abs(log_sum)});
  }
  INFO("worst relative error: centred " << worst_centred << ", uncentred " << worst_raw);
  CHECK(worst_centred <= 1e-9);
  CHECK(worst_raw >= 1e-2);
}

TEMPLATE_TEST_CASE("the product form agrees with direct differences where its guard allows it",
                   "[fast_core][product_form]", float, double) {
  using Scalar = TestType;
  const Index n = 300, m = 37, d = 70;
  const MatrixOf<Scalar> keys = nadaraya_test::normal_matrix<Scalar>(n, d, 1300) * Scalar(0.3);
  const MatrixOf<Scalar> queries = nadaraya_test::normal_matrix<Scalar>(m, d, 1301) * Scalar(0.3);
  const MatrixOf<Scalar> values = nadaraya_test::normal_matrix<Scalar>(n, 1, 1302);
  const VectorOf<Scalar> none;
  detail::CoreOptions product;
  product.form = detail::ScoreForm::product;
  const PoolResult<Scalar> result = detail::pool_with<detail::DistanceScore<Gaussian>>(
      queries, keys, values, none, PoolOptions{}, product, "test");
  check_against_reference<Gaussian>(result, queries, keys, values, none, false);
  const PoolResult<Scalar> direct = pool<Gaussian>(queries, keys, values, none);
  check_against_reference<Gaussian>(direct, queries, keys, values, none, false);
}
