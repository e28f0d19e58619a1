// The engine and its accumulator: pool() against the plain long-double reference, the exact merge
// of partial states, leave-one-out exclusion, sample weights and thread-count independence.

#include <catch2/catch.hpp>

#include <cmath>
#include <nadaraya/nadaraya.hpp>

#include "support/reference.hpp"
#include "support/tolerances.hpp"

using namespace nadaraya;
using nadaraya_test::close;

namespace {

template <class Scalar>
using MatrixOf = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
template <class Scalar>
using VectorOf = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

}  // namespace

TEMPLATE_TEST_CASE("pool matches the plain reference", "[pool]", float, double) {
  using Scalar = TestType;
  for (Eigen::Index d : {1, 2, 5}) {
    const MatrixOf<Scalar> keys = nadaraya_test::normal_matrix<Scalar>(70, d, 20 + unsigned(d));
    const MatrixOf<Scalar> queries = nadaraya_test::normal_matrix<Scalar>(25, d, 30 + unsigned(d));
    const MatrixOf<Scalar> values = nadaraya_test::normal_matrix<Scalar>(70, 3, 40);
    const Eigen::VectorXd weights = nadaraya_test::uniform_vector(70, 0.0, 2.0, 50);
    const VectorOf<Scalar> log_weights = weights.array().log().matrix().template cast<Scalar>();
    const Eigen::VectorXd unit = Eigen::VectorXd::Ones(d);

    const PoolResult<Scalar> pooled = pool<Gaussian>(queries, keys, values, log_weights);
    const auto expected = nadaraya_test::reference_nadaraya_watson<Gaussian>(
        queries.template cast<double>(), keys.template cast<double>(),
        values.template cast<double>(), unit, weights);
    for (Eigen::Index q = 0; q < queries.rows(); ++q) {
      // log sum: compare through the Parzen reference (log of the weighted kernel sum).
      long double log_sum = -INFINITY, max = -INFINITY;
      const auto lw = nadaraya_test::reference_log_weights<Gaussian>(
          queries.row(q).template cast<double>(), keys.template cast<double>(), unit, weights);
      for (long double l : lw) max = std::max(max, l);
      long double sum = 0;
      for (long double l : lw) sum += std::exp(l - max);
      log_sum = max + std::log(sum);
      INFO("d = " << d << ", query " << q);
      CHECK(close<Scalar>(pooled.log_sum(q), static_cast<double>(log_sum), 10));
      for (Eigen::Index c = 0; c < 3; ++c) {
        CHECK(close<Scalar>(pooled.mean(q, c), static_cast<double>(expected(q, c)), 10));
      }
    }
  }
}

TEMPLATE_TEST_CASE("pool excludes each query's own key for leave-one-out", "[pool]", float,
                   double) {
  using Scalar = TestType;
  const MatrixOf<Scalar> keys = nadaraya_test::normal_matrix<Scalar>(40, 2, 60);
  const MatrixOf<Scalar> values = nadaraya_test::normal_matrix<Scalar>(40, 1, 61);
  PoolOptions options;
  options.leave_one_out = true;
  const PoolResult<Scalar> pooled =
      pool<Epanechnikov>(keys, keys, values, VectorOf<Scalar>(), options);
  const auto expected = nadaraya_test::reference_nadaraya_watson<Epanechnikov>(
      keys.template cast<double>(), keys.template cast<double>(), values.template cast<double>(),
      Eigen::VectorXd::Ones(2), Eigen::VectorXd(), true);
  for (Eigen::Index q = 0; q < keys.rows(); ++q) {
    INFO("query " << q);
    CHECK(close<Scalar>(pooled.mean(q, 0), static_cast<double>(expected(q, 0)), 10));
  }
}

TEST_CASE("pool reports unreached queries as -inf log sums and NaN means", "[pool]") {
  const Eigen::MatrixXd keys = Eigen::MatrixXd::Zero(3, 1);
  const Eigen::MatrixXd queries = (Eigen::MatrixXd(2, 1) << 0.5, 5.0).finished();
  const Eigen::MatrixXd values = Eigen::MatrixXd::Ones(3, 2);
  const PoolResult<double> pooled = pool<Uniform>(queries, keys, values, Eigen::VectorXd());
  CHECK(pooled.log_sum(0) == Approx(std::log(3.0)));
  CHECK(pooled.mean(0, 1) == 1.0);
  CHECK(pooled.log_sum(1) == -std::numeric_limits<double>::infinity());
  CHECK(std::isnan(pooled.mean(1, 0)));
}

TEST_CASE("pool keeps tiny-bandwidth weights exact as a softmax", "[pool]") {
  // Keys scaled by h = 1e-8: log-weights near -1e16, yet the pooled value is the nearest key's.
  const Eigen::MatrixXd keys = (Eigen::MatrixXd(3, 1) << 0.0, 1e8, 2e8).finished();
  const Eigen::MatrixXd queries = (Eigen::MatrixXd(1, 1) << 0.9e8).finished();
  const Eigen::MatrixXd values = (Eigen::MatrixXd(3, 1) << 1.0, 2.0, 3.0).finished();
  const PoolResult<double> pooled = pool<Gaussian>(queries, keys, values, Eigen::VectorXd());
  CHECK(pooled.mean(0, 0) == 2.0);
  CHECK(pooled.log_sum(0) == Approx(-0.5 * 1e14));
}

TEMPLATE_TEST_CASE("merging partial states equals streaming every key", "[accumulator]", float,
                   double) {
  using Scalar = TestType;
  const MatrixOf<Scalar> values = nadaraya_test::normal_matrix<Scalar>(50, 2, 70);
  const Eigen::VectorXd log_weights = nadaraya_test::uniform_vector(50, -30.0, 5.0, 71);
  SoftmaxAccumulator<Scalar> all(2), first(2), second(2), empty(2);
  for (Eigen::Index i = 0; i < 50; ++i) {
    all.add(static_cast<Scalar>(log_weights(i)), values.row(i));
    (i % 3 == 0 ? first : second).add(static_cast<Scalar>(log_weights(i)), values.row(i));
  }
  SoftmaxAccumulator<Scalar> merged = first;
  merged.merge(second);
  CHECK(close<Scalar>(merged.log_sum(), all.log_sum()));
  CHECK(merged.max_log_weight() == all.max_log_weight());
  for (Eigen::Index c = 0; c < 2; ++c) CHECK(close<Scalar>(merged.mean()(c), all.mean()(c), 10));
  // The other order, and the empty state on either side.
  SoftmaxAccumulator<Scalar> reversed = second;
  reversed.merge(first);
  CHECK(close<Scalar>(reversed.log_sum(), all.log_sum()));
  SoftmaxAccumulator<Scalar> from_empty = empty;
  from_empty.merge(all);
  CHECK(from_empty.log_sum() == all.log_sum());
  merged = all;
  merged.merge(empty);
  CHECK(merged.log_sum() == all.log_sum());
  CHECK(empty.empty());
  CHECK(std::isnan(empty.mean()(0)));
  CHECK(empty.log_sum() == -std::numeric_limits<Scalar>::infinity());
}

TEST_CASE("accumulator skips zero weights and survives huge log-weight gaps", "[accumulator]") {
  SoftmaxAccumulator<double> state(1);
  const Eigen::RowVectorXd one = Eigen::RowVectorXd::Constant(1, 1.0),
                           two = Eigen::RowVectorXd::Constant(1, 2.0);
  state.add(-std::numeric_limits<double>::infinity(), one);
  CHECK(state.empty());
  state.add(-1e300, one);
  state.add(1e300, two);  // exp(-2e300) underflows to 0: the first key drops out exactly
  CHECK(state.mean()(0) == 2.0);
  CHECK(state.log_sum() == 1e300);
}

TEST_CASE("pool refuses malformed arguments", "[pool][errors]") {
  const Eigen::MatrixXd keys = Eigen::MatrixXd::Ones(4, 2), values = Eigen::MatrixXd::Ones(4, 1);
  const Eigen::VectorXd none;
  CHECK_THROWS_WITH(pool<Gaussian>(Eigen::MatrixXd::Ones(3, 3), keys, values, none),
                    Catch::Contains("'queries' has 3 columns"));
  CHECK_THROWS_WITH(pool<Gaussian>(keys, keys, Eigen::MatrixXd::Ones(5, 1), none),
                    Catch::Contains("'values' has 5 rows"));
  CHECK_THROWS_WITH(pool<Gaussian>(keys, keys, values, Eigen::VectorXd::Zero(3)),
                    Catch::Contains("'key_log_weights' has 3 rows"));
  CHECK_THROWS_WITH(pool<Gaussian>(keys, Eigen::MatrixXd(0, 2), Eigen::MatrixXd(0, 1), none),
                    Catch::Contains("'keys' is empty"));
  PoolOptions leave_one_out;
  leave_one_out.leave_one_out = true;
  CHECK_THROWS_WITH(pool<Gaussian>(Eigen::MatrixXd::Ones(2, 2), keys, values, none, leave_one_out),
                    Catch::Contains("leave_one_out"));
  PoolOptions negative;
  negative.threads = -1;
  CHECK_THROWS_WITH(pool<Gaussian>(keys, keys, values, none, negative), Catch::Contains("threads"));
  Eigen::MatrixXd bad = keys;
  bad(2, 1) = std::nan("");
  CHECK_THROWS_WITH(pool<Gaussian>(bad, keys, values, none), Catch::Contains("row 2, column 1"));
}
