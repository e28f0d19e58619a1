// Results do not depend on the number of threads: the same call on 1, 2, 3 threads and with the
// automatic count (0) gives the same bits, for the core (groups of queries, and key shards merged
// with the accumulator's exact merge), the estimators, the bandwidth objectives, and const calls
// made from several threads at once.
//
// These are all the [threads] tests: the ThreadSanitizer stage of scripts/ci.sh builds this
// executable alone and runs it on 2 threads. Whether the threaded results are also right is
// checked against the references elsewhere (tests/numerics, tests/fitting): here, that one thread
// and several agree bit for bit.

#include <catch2/catch.hpp>

#include <Eigen/Core>
#include <cmath>
#include <cstring>  // std::memcmp: bit-for-bit comparisons
#include <limits>
#include <random>
#include <utility>  // std::pair
#include <vector>

#include <nadaraya/nadaraya.hpp>

#include "support/reference.hpp"

using namespace nadaraya;

namespace {

template <class Scalar>
using MatrixOf = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
template <class Scalar>
using VectorOf = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

/// True when a and b hold the same bits (NaNs included): the determinism contract.
template <class A, class B>
bool bit_identical(const Eigen::MatrixBase<A>& a, const Eigen::MatrixBase<B>& b) {
  using Scalar = typename A::Scalar;
  if (a.rows() != b.rows() || a.cols() != b.cols()) return false;
  const MatrixOf<Scalar> left = a, right = b;
  return std::memcmp(left.data(), right.data(),
                     static_cast<std::size_t>(left.size()) * sizeof(Scalar)) == 0;
}

}  // namespace

TEMPLATE_TEST_CASE("pool is bit-identical for any number of threads, with and without key shards",
                   "[threads][fast_core]", float, double) {
  using Scalar = TestType;
  // One query against 200000 keys and three against 30000 (the keys split into shards, merged
  // with SoftmaxAccumulator::merge), 300 queries (groups of queries only, on two threads or more),
  // and 97 (one thread whatever is asked: too few pairs).
  struct Shape {
    Eigen::Index queries, keys, d;
  };
  for (const Shape shape :
       {Shape{1, 200000, 2}, Shape{3, 30000, 2}, Shape{300, 2000, 2}, Shape{97, 300, 3}}) {
    const MatrixOf<Scalar> keys =
        nadaraya_test::normal_matrix<Scalar>(shape.keys, shape.d, 800) * Scalar(20);
    const MatrixOf<Scalar> queries =
        nadaraya_test::normal_matrix<Scalar>(shape.queries, shape.d, 801) * Scalar(20);
    const MatrixOf<Scalar> values = nadaraya_test::normal_matrix<Scalar>(shape.keys, 2, 802);
    const VectorOf<Scalar> log_weights =
        nadaraya_test::some_zero_log_weights<Scalar>(shape.keys, 803);
    const int team = detail::PassCut::of<Scalar>(shape.queries, shape.keys, shape.d).threads(3);
    CHECK((shape.queries == 97 ? team == 1 : team >= 2));
    PoolResult<Scalar> first;
    for (int threads : {1, 2, 0, 3}) {
      PoolOptions options;
      options.threads = threads;
      const PoolResult<Scalar> result = pool<Gaussian>(queries, keys, values, log_weights, options);
      INFO("m = " << shape.queries << ", n = " << shape.keys << ", threads = " << threads);
      if (threads == 1) {
        first = result;
        CHECK(result.mean.allFinite());
      } else {
        CHECK(bit_identical(result.log_sum, first.log_sum));
        CHECK(bit_identical(result.mean, first.mean));
      }
    }
  }
}

TEMPLATE_TEST_CASE("estimators are bit-identical across calls and thread counts",
                   "[threads][determinism]", float, double) {
  using Scalar = TestType;
  const Eigen::Index n = 157, m = 101, d = 3;  // odd sizes: uneven static schedules
  const MatrixOf<Scalar> X = nadaraya_test::normal_matrix<Scalar>(n, d, 1001);
  const MatrixOf<Scalar> Y = nadaraya_test::normal_matrix<Scalar>(n, 2, 1002);
  MatrixOf<Scalar> Q = nadaraya_test::normal_matrix<Scalar>(m, d, 1003);
  Q.row(7).setConstant(Scalar(40));  // unreached by compact kernels
  const Eigen::VectorXd weights = nadaraya_test::sample_weights(n, 1004);
  Eigen::VectorXi labels(n);
  for (Eigen::Index i = 0; i < n; ++i) labels(i) = static_cast<int>(i % 3) - 1;

  auto check_kernel = [&](auto kernel) {
    using Kernel = decltype(kernel);
    INFO("kernel " << kernel_traits<Kernel>::name());
    std::vector<MatrixOf<Scalar>> predictions, loo, attention, proba, proba_loo;
    std::vector<VectorOf<Scalar>> log_p, log_p_loo;
    for (int threads : {1, 2, 0, 2, 1}) {
      INFO("threads " << threads);
      Options options;
      options.threads = threads;
      options.unreached = Unreached::nearest_neighbour;
      NadarayaWatson<Kernel, Scalar> nw(Bandwidth::scalar(0.6), options);
      nw.fit(X, Y, weights);
      predictions.push_back(nw.predict(Q));
      loo.push_back(nw.predict_leave_one_out());
      attention.push_back(nw.attention_weights(Q));
      NadarayaWatsonClassifier<Kernel, Scalar> classifier(Bandwidth::scalar(0.6), options);
      classifier.fit(X, labels, weights);
      proba.push_back(classifier.predict_proba(Q));
      proba_loo.push_back(classifier.predict_proba_leave_one_out());
      if constexpr (kernel_traits<Kernel>::is_normalisable) {
        ParzenDensity<Kernel, Scalar> kde(Bandwidth::silverman(), options);
        kde.fit(X, weights);
        log_p.push_back(kde.log_density(Q));
        log_p_loo.push_back(kde.leave_one_out_log_density());
      }
    }
    for (std::size_t k = 1; k < predictions.size(); ++k) {
      INFO("run " << k << " against run 0");
      CHECK(bit_identical(predictions[k], predictions[0]));
      CHECK(bit_identical(loo[k], loo[0]));
      CHECK(bit_identical(attention[k], attention[0]));
      CHECK(bit_identical(proba[k], proba[0]));
      CHECK(bit_identical(proba_loo[k], proba_loo[0]));
      if (!log_p.empty()) {
        CHECK(bit_identical(log_p[k], log_p[0]));
        CHECK(bit_identical(log_p_loo[k], log_p_loo[0]));
      }
    }
  };
  check_kernel(Gaussian{});
  check_kernel(Epanechnikov{});
  check_kernel(Laplacian{});
}

TEST_CASE("concurrent const calls on one estimator agree", "[threads][determinism]") {
  // The documented guarantee: const member functions may be called from several threads at once.
  const Eigen::MatrixXd X = nadaraya_test::normal_matrix(120, 2, 1101);
  const Eigen::MatrixXd Y = nadaraya_test::normal_matrix(120, 1, 1102);
  const Eigen::MatrixXd Q = nadaraya_test::normal_matrix(60, 2, 1103);
  NadarayaWatson<Gaussian> nw(Bandwidth::scalar(0.5), Options{Unreached::nan, 1});
  nw.fit(X, Y);
  ParzenDensity<Epanechnikov> kde(Bandwidth::scalar(0.5), Options{Unreached::nan, 1});
  kde.fit(X);
  const Eigen::MatrixXd expected = nw.predict(Q);
  const Eigen::VectorXd expected_log_p = kde.log_density(Q);
  std::vector<Eigen::MatrixXd> predicted(4);
  std::vector<Eigen::VectorXd> log_p(4);
#if defined(_OPENMP)
#pragma omp parallel for num_threads(2) schedule(static)
#endif
  for (int k = 0; k < 4; ++k) {
    predicted[static_cast<std::size_t>(k)] = nw.predict(Q);
    log_p[static_cast<std::size_t>(k)] = kde.log_density(Q);
  }
  for (std::size_t k = 0; k < 4; ++k) {
    CHECK(bit_identical(predicted[k], expected));
    CHECK(bit_identical(log_p[k], expected_log_p));
  }
}

TEST_CASE("bandwidth objectives are bit-identical for any number of threads",
          "[threads][objectives]") {
  // 1100 x 1100 pairs: 35 items of the driver (detail/driver.hpp), so 1, 2 and 3 threads all
  // share them out differently. Each objective's value and gradient, per-dimension widths.
  const Eigen::Index n = 1100, d = 2;
  REQUIRE(detail::PassCut::of<double>(n, n, d).threads(3) == 3);
  const Eigen::MatrixXd X = nadaraya_test::normal_matrix(n, d, 91);
  const Eigen::MatrixXd Y = nadaraya_test::normal_matrix(n, 2, 92);
  const Eigen::VectorXd weights = nadaraya_test::sample_weights(n, 93);
  Eigen::VectorXi labels(n);
  for (Eigen::Index i = 0; i < n; ++i) labels(i) = X(i, 0) + 0.3 * Y(i, 0) > 0 ? 1 : -1;
  Eigen::VectorXd theta(d);
  theta << std::log(0.3), std::log(0.4);

  auto check_objective = [&](const char* name, auto make) {
    INFO(name);
    double reference_value = 0;
    Eigen::VectorXd reference_gradient;
    for (int threads : {1, 2, 3, 0}) {
      INFO("threads " << threads);
      ObjectiveOptions options;
      options.threads = threads;
      Eigen::VectorXd gradient;
      const double value = make(options).value_and_gradient(theta, gradient);
      if (threads == 1) {
        reference_value = value;
        reference_gradient = gradient;
        CHECK(std::isfinite(value));
      } else {
        CHECK(value == reference_value);
        CHECK(bit_identical(gradient, reference_gradient));
      }
    }
  };
  check_objective("SquaredErrorObjective", [&](const ObjectiveOptions& options) {
    return SquaredErrorObjective<Gaussian>(X, Y, weights, options);
  });
  check_objective("LikelihoodObjective", [&](const ObjectiveOptions& options) {
    return LikelihoodObjective<Gaussian>(X, weights, options);
  });
  check_objective("LogLossObjective", [&](const ObjectiveOptions& options) {
    return LogLossObjective<Gaussian>(X, labels, weights, options);
  });
}
