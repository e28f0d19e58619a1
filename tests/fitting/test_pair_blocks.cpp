// The objectives' pass (objective_base.hpp on the driver, SoftmaxGradientAccumulator::add_block)
// against the exact long-double oracle of support/objective_oracle.hpp, which forms every pair of
// the documented formulas explicitly: values and gradients of every objective, float and double,
// with and without leave-one-out, sample weights (zero weights included), per-dimension and shared
// widths, compact kernels (queries that no key reaches), tiny and huge widths, key counts on both
// sides of the block sizes, batches with repeated rows.
//
// Tolerance. The oracle is exact to long double; the library rounds each sum in Scalar (lane
// partial sums per block, the vectorised exponential exp_neg within 1.5 ulp). The objectives are
// logs and squared errors of O(1) data, whose rounding errors are absolute (a few ulps of 1) even
// where the value itself is far smaller (a log-loss term -log P with P = 1 - 1e-10 is a difference
// of two logs near 0), and a gradient may cancel far below the objective's own size. So, with L
// the oracle's value, g its gradient and T the size of the gradient's terms (OracleResult::terms),
//   |L_library - L| <= tol max(|L|, 1),          tol = 1e-12 (double), 1e-5 (float)
//   ||g_library - g|| <= max(tol_g (max(||g||, |L|) + floor), 4 eps T),
//                                                tol_g = 1e-10 (double), 1e-4 (float)
// where the floor (1e-290 in double, 1e-30 in float) covers the weights that exp_neg flushes to 0
// below 1e-308 (1e-37 in float) of the running maximum, which the oracle keeps.
//
// The bound 4 eps T is a widening, needed against an exact oracle only (two passes in Scalar
// round alike and do not see it): SquaredError's gradient -(y - f).(E[g y] - E[g] f) cancels in
// both factors, the residual where the in-sample fit f -> y (L ~ 1e-40 at width 1e-3 without
// leave-one-out), the slope where one key dominates and E[g] ~ r2 ~ 1e5 (width 1e-3). The library
// forms those terms in Scalar, so it can be exact to a few eps of T only.
//
// Float data at width 1e-3: the library divides the data by h in Scalar before it differences
// them (detail/centre.hpp), so u carries an absolute error of eps |x| / h, 1e-4 of u here. The
// Triweight likelihood's gradient (steep near the edge of the support) is 9e-5 off at h = 1e-3,
// 1e-7 at h = 2^-10 (exact scaling), 6e-4 at h = 9e-4: a float width below 1e-3 needs more room.
//
// Measured worst cases, reported (WARN) at the end of each case: values 8e-15 (double), 4e-6
// (float); gradients 6e-13 and 9e-5; the cancelling ones within 0.6 eps of their terms.
//
// Unoptimised sanitizer builds (NADARAYA_TEST_SHORT, support/short_run.hpp) compare every seventh
// case of the two sweeps; the optimised build compares all of them.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <utility>  // std::pair
#include <vector>

#include <nadaraya/nadaraya.hpp>

#include "support/objective_oracle.hpp"
#include "support/reference.hpp"
#include "support/short_run.hpp"

using namespace nadaraya;
using nadaraya_test::OracleData;
using nadaraya_test::OracleResult;

namespace {

template <class Scalar>
using MatrixOf = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

template <class Scalar>
struct PassTolerance;
template <>
struct PassTolerance<double> {
  static constexpr double value = 1e-12;
  static constexpr double gradient = 1e-10;
  static constexpr double floor = 1e-290;
  static constexpr double cancellation = 4;
};
template <>
struct PassTolerance<float> {
  static constexpr double value = 1e-5;
  static constexpr double gradient = 1e-4;
  static constexpr double floor = 1e-30;
  static constexpr double cancellation = 4;
};

struct Data {
  Eigen::MatrixXd X;
  Eigen::MatrixXd Y;
  Eigen::VectorXi labels;
  Eigen::VectorXd weights;  // positive, with a few zeros
};

Data make_data(Eigen::Index n, Eigen::Index d, unsigned seed) {
  Data data;
  data.X = nadaraya_test::normal_matrix(n, d, seed);
  std::mt19937_64 generator(seed + 7);
  std::normal_distribution<double> normal;
  if (n > 8) {
    data.X.row(3) = data.X.row(4);  // r2 = 0
    data.X(5, 0) = data.X(6, 0);    // u_0 = 0
  }
  data.Y.resize(n, 2);
  data.labels.resize(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double x0 = data.X(i, 0), x1 = d > 1 ? data.X(i, 1) : 0.0;
    data.Y(i, 0) = std::sin(2 * x0) + 0.5 * x1 * x1 + 0.1 * normal(generator);
    data.Y(i, 1) = std::cos(x0) + 0.1 * normal(generator);
    data.labels(i) = x0 + 0.5 * normal(generator) > 0.3 ? 4 : (x0 < -0.8 ? -1 : 2);
  }
  data.weights = nadaraya_test::uniform_vector(n, 0.2, 2.0, seed + 11);
  data.weights(0) = 0;
  if (n > 10) data.weights(n / 2) = 0;
  return data;
}

/// Worst relative disagreement so far, for the report at the end of each test case.
struct Worst {
  double value = 0;
  double gradient = 0;      // relative, where the gradient's scale bounds its rounding
  double cancellation = 0;  // in eps times the gradient's terms, where those bound it instead
  long cancelling = 0;      // comparisons of the second kind
  long cases = 0;  // compare_with_oracle calls so far: a short run compares a sample of them
};

template <class Scalar>
bool values_agree(double library, double exact, Worst& worst) {
  if (std::isnan(exact)) return std::isnan(library);
  if (std::isinf(exact)) return library == exact;
  const double error = std::abs(library - exact) / std::max(std::abs(exact), 1.0);
  worst.value = std::max(worst.value, error);
  UNSCOPED_INFO("value error " << error);
  return error <= PassTolerance<Scalar>::value;
}

/// The gradient's scale: its norm, or the objective's magnitude where that is larger (the natural
/// size of d L / d log h; a gradient far below it is a cancellation to rounding noise). Where even
/// that is smaller than the terms that cancel (OracleResult::terms), a few eps of the terms.
template <class Scalar>
bool gradients_agree(const Eigen::VectorXd& library, const Eigen::VectorXd& exact, double value,
                     double terms, Worst& worst) {
  using Tolerance = PassTolerance<Scalar>;
  if (library.size() != exact.size()) return false;
  const double scale = std::max(exact.norm(), std::isfinite(value) ? std::abs(value) : 0.0);
  const double difference = (library - exact).norm();
  const double rounding = std::numeric_limits<Scalar>::epsilon() * terms;
  UNSCOPED_INFO("gradient error " << difference / (scale + Tolerance::floor) << " of scale "
                                  << scale << ", " << difference / rounding << " eps of its terms "
                                  << terms);
  if (Tolerance::cancellation * rounding <= Tolerance::gradient * (scale + Tolerance::floor)) {
    worst.gradient = std::max(worst.gradient, difference / (scale + Tolerance::floor));
    return difference <= Tolerance::gradient * (scale + Tolerance::floor);
  }
  worst.cancellation = std::max(worst.cancellation, difference / rounding);
  ++worst.cancelling;
  return difference <= Tolerance::cancellation * rounding;
}

/// Builds the objective with `make()` and compares its value, gradient and a mini-batch estimate
/// (repeated rows) at theta with `oracle(rows)` (rows empty: every point).
template <class Scalar, class Make, class Oracle>
void compare_with_oracle(const Make& make, const Oracle& oracle, const Eigen::VectorXd& theta,
                         Worst& worst) {
  if (!nadaraya_test::runs_case(worst.cases++)) return;
  const auto objective = make();
  Eigen::VectorXd gradient;
  const double value = objective.value_and_gradient(theta, gradient);
  const OracleResult exact = oracle(std::vector<Eigen::Index>());
  const double exact_value = static_cast<double>(exact.value);
  const Eigen::VectorXd exact_gradient = exact.gradient.template cast<double>();
  INFO("value " << value << " (library) vs " << exact_value << " (oracle)");
  INFO("gradient " << gradient.transpose() << " (library) vs " << exact_gradient.transpose()
                   << " (oracle)");
  CHECK(values_agree<Scalar>(value, exact_value, worst));
  CHECK(gradients_agree<Scalar>(gradient, exact_gradient, exact_value,
                                static_cast<double>(exact.terms), worst));
  CHECK(values_agree<Scalar>(objective.value(theta), exact_value, worst));
  const Eigen::Index n = objective.samples();
  const std::vector<Eigen::Index> rows = {n - 1, 0, 2, 2, n / 2, n / 3};
  const double batch = objective.batch_value_and_gradient(theta, rows, gradient);
  const OracleResult exact_batch = oracle(rows);
  const double exact_batch_value = static_cast<double>(exact_batch.value);
  CHECK(values_agree<Scalar>(batch, exact_batch_value, worst));
  // A mini-batch estimates the whole objective, whose size is its gradient's natural scale: six
  // confidently classified points can have a log-loss and gradient of 1e-8 that cancel terms of
  // the whole objective's size.
  CHECK(gradients_agree<Scalar>(gradient, exact_batch.gradient.template cast<double>(),
                                std::max(std::abs(exact_batch_value), std::abs(exact_value)),
                                static_cast<double>(exact_batch.terms), worst));
}

Eigen::VectorXd theta_for(double width, bool per_dimension, Eigen::Index d) {
  if (!per_dimension) return Eigen::VectorXd::Constant(1, std::log(width));
  Eigen::VectorXd theta(d);
  for (Eigen::Index j = 0; j < d; ++j)
    theta(j) = std::log(width * (1.0 + 0.3 * static_cast<double>(j)));
  return theta;
}

ObjectiveOptions options_for(bool per_dimension, bool leave_one_out) {
  ObjectiveOptions options;
  options.per_dimension = per_dimension;
  options.leave_one_out = leave_one_out;
  options.threads = 1;
  return options;
}

}  // namespace

TEMPLATE_TEST_CASE("the objectives agree with the exact oracle (regression)",
                   "[objectives][blocked]", float, double) {
  using Scalar = TestType;
  using Rows = std::vector<Eigen::Index>;
  Worst worst;
  // 7: one block of 16 (double) or 32 (float) keys, mostly padding; 300: two blocks of 256, the
  // second mostly padding; 513: three blocks, one key in the last.
  const std::vector<std::pair<Eigen::Index, Eigen::Index>> shapes = {
      {7, 1}, {7, 3}, {300, 3}, {513, 1}};
  for (const auto& shape : shapes) {
    const Eigen::Index n = shape.first, d = shape.second;
    {
      const Data data = make_data(n, d, static_cast<unsigned>(10 * n + d));
      const MatrixOf<Scalar> X = data.X.template cast<Scalar>();
      const MatrixOf<Scalar> Y = data.Y.template cast<Scalar>();
      for (double width : {1e-3, 0.05, 0.6, 1e3}) {
        for (bool per_dimension : {true, false}) {
          for (bool leave_one_out : {true, false}) {
            for (bool weighted : {false, true}) {
              const Eigen::VectorXd weights = weighted ? data.weights : Eigen::VectorXd();
              const ObjectiveOptions options = options_for(per_dimension, leave_one_out);
              const OracleData exact(X, weights, options);
              const Eigen::VectorXd theta = theta_for(width, per_dimension, d);
              INFO("n " << n << ", d " << d << ", width " << width << ", per_dimension "
                        << per_dimension << ", leave_one_out " << leave_one_out << ", weighted "
                        << weighted);
              auto squared_error = [&](auto kernel) {
                using Kernel = decltype(kernel);
                INFO("SquaredErrorObjective<" << kernel_traits<Kernel>::name() << ">");
                compare_with_oracle<Scalar>(
                    [&] { return SquaredErrorObjective<Kernel, Scalar>(X, Y, weights, options); },
                    [&](const Rows& rows) {
                      return nadaraya_test::oracle_squared_error<Kernel>(exact, Y, theta, rows);
                    },
                    theta, worst);
              };
              squared_error(Gaussian{});
              squared_error(Epanechnikov{});  // tiny widths: queries no key reaches
              squared_error(Laplacian{});     // infinite slope at r2 = 0
              squared_error(Triangular{});
              squared_error(Biweight{});
            }
          }
        }
      }
    }
  }
  WARN("worst relative disagreement: value "
       << worst.value << ", gradient " << worst.gradient << "; " << worst.cancelling
       << " cancelling gradients within " << worst.cancellation << " eps of their terms");
}

TEMPLATE_TEST_CASE("the objectives agree with the exact oracle (density and classification)",
                   "[objectives][blocked]", float, double) {
  using Scalar = TestType;
  using Rows = std::vector<Eigen::Index>;
  Worst worst;
  const std::vector<std::pair<Eigen::Index, Eigen::Index>> shapes = {{7, 2}, {300, 2}, {513, 1}};
  for (const auto& shape : shapes) {
    const Eigen::Index n = shape.first, d = shape.second;
    {
      const Data data = make_data(n, d, static_cast<unsigned>(10 * n + d + 5));
      const MatrixOf<Scalar> X = data.X.template cast<Scalar>();
      for (double width : {1e-3, 0.05, 0.6, 1e3}) {
        for (bool per_dimension : {true, false}) {
          for (bool weighted : {false, true}) {
            const Eigen::VectorXd weights = weighted ? data.weights : Eigen::VectorXd();
            const Eigen::VectorXd theta = theta_for(width, per_dimension, d);
            INFO("n " << n << ", d " << d << ", width " << width << ", per_dimension "
                      << per_dimension << ", weighted " << weighted);
            for (bool leave_one_out : {true, false}) {
              const ObjectiveOptions options = options_for(per_dimension, leave_one_out);
              const OracleData exact(X, weights, options);
              INFO("leave_one_out " << leave_one_out);
              {
                INFO("LikelihoodObjective<gaussian>");
                compare_with_oracle<Scalar>(
                    [&] { return LikelihoodObjective<Gaussian, Scalar>(X, weights, options); },
                    [&](const Rows& rows) {
                      return nadaraya_test::oracle_likelihood<Gaussian>(exact, theta, rows);
                    },
                    theta, worst);
              }
              {
                INFO("LikelihoodObjective<triweight>");  // infinite where no key reaches
                compare_with_oracle<Scalar>(
                    [&] { return LikelihoodObjective<Triweight, Scalar>(X, weights, options); },
                    [&](const Rows& rows) {
                      return nadaraya_test::oracle_likelihood<Triweight>(exact, theta, rows);
                    },
                    theta, worst);
              }
              {
                INFO("LeastSquaresObjective");
                compare_with_oracle<Scalar>(
                    [&] { return LeastSquaresObjective<Scalar>(X, weights, options); },
                    [&](const Rows& rows) {
                      return nadaraya_test::oracle_least_squares(exact, theta, rows);
                    },
                    theta, worst);
              }
            }
            const ObjectiveOptions options = options_for(per_dimension, true);
            const OracleData exact(X, weights, options);
            {
              INFO("LogLossObjective<gaussian>");
              compare_with_oracle<Scalar>(
                  [&] {
                    return LogLossObjective<Gaussian, Scalar>(X, data.labels, weights, options);
                  },
                  [&](const Rows& rows) {
                    return nadaraya_test::oracle_log_loss<Gaussian, Scalar>(exact, data.labels,
                                                                            theta, rows);
                  },
                  theta, worst);
            }
            {
              INFO("LogLossObjective<epanechnikov>");  // nearest keys where no key reaches
              compare_with_oracle<Scalar>(
                  [&] {
                    return LogLossObjective<Epanechnikov, Scalar>(X, data.labels, weights, options);
                  },
                  [&](const Rows& rows) {
                    return nadaraya_test::oracle_log_loss<Epanechnikov, Scalar>(exact, data.labels,
                                                                                theta, rows);
                  },
                  theta, worst);
            }
          }
        }
      }
    }
  }
  WARN("worst relative disagreement: value "
       << worst.value << ", gradient " << worst.gradient << "; " << worst.cancelling
       << " cancelling gradients within " << worst.cancellation << " eps of their terms");
}

TEMPLATE_TEST_CASE("one dimension: the blocks skipped on the sorted line change nothing",
                   "[objectives][blocked]", float, double) {
  using Scalar = TestType;
  // 1500 points spread over [0, 30], in random order, one pair duplicated, at width 0.02: a point
  // reaches keys within 0.26 (float) or 0.75 (double) of it, so most of the six blocks of the
  // sorted line flush against its nearest neighbour's weight and the pass skips them. With and
  // without weights and leave-one-out, every batch row against the oracle (no sampling), and the
  // same objective on the rows in reverse order.
  const Eigen::Index n = 1500;
  Eigen::MatrixXd X = nadaraya_test::uniform_vector(n, 0, 30, 7);
  X(3, 0) = X(4, 0);
  const Eigen::MatrixXd Y = X.array().sin().matrix();
  const Eigen::VectorXd sample_weights = nadaraya_test::uniform_vector(n, 0.2, 2, 8);
  const MatrixOf<Scalar> Xs = X.template cast<Scalar>(), Ys = Y.template cast<Scalar>();
  const MatrixOf<Scalar> Xr = Xs.colwise().reverse(), Yr = Ys.colwise().reverse();
  const Eigen::VectorXd theta = Eigen::VectorXd::Constant(1, std::log(0.02));
  const double tolerance = std::is_same<Scalar, float>::value ? 1e-5 : 1e-12;
  Worst worst;
  for (bool weighted : {false, true}) {
    for (bool leave_one_out : {true, false}) {
      INFO("weighted " << weighted << ", leave_one_out " << leave_one_out);
      const Eigen::VectorXd weights = weighted ? sample_weights : Eigen::VectorXd();
      const Eigen::VectorXd reversed = weighted ? Eigen::VectorXd(weights.reverse()) : weights;
      const ObjectiveOptions options = options_for(true, leave_one_out);
      const OracleData exact(Xs, weights, options);
      Eigen::VectorXd gradient, gradient_reversed;
      const SquaredErrorObjective<Gaussian, Scalar> squared(Xs, Ys, weights, options);
      const double value = squared.value_and_gradient(theta, gradient);
      const OracleResult expected = nadaraya_test::oracle_squared_error<Gaussian>(exact, Ys, theta);
      CHECK(values_agree<Scalar>(value, static_cast<double>(expected.value), worst));
      CHECK(gradients_agree<Scalar>(gradient, expected.gradient.template cast<double>(), value,
                                    static_cast<double>(expected.terms), worst));
      const SquaredErrorObjective<Gaussian, Scalar> squared_reversed(Xr, Yr, reversed, options);
      CHECK(squared_reversed.value_and_gradient(theta, gradient_reversed) ==
            Approx(value).epsilon(tolerance));
      CHECK((gradient_reversed - gradient).norm() <= tolerance * (gradient.norm() + 1e-300));

      const LikelihoodObjective<Gaussian, Scalar> likelihood(Xs, weights, options);
      const double log_likelihood = likelihood.value_and_gradient(theta, gradient);
      const OracleResult expected_likelihood =
          nadaraya_test::oracle_likelihood<Gaussian>(exact, theta);
      CHECK(values_agree<Scalar>(log_likelihood, static_cast<double>(expected_likelihood.value),
                                 worst));
      CHECK(gradients_agree<Scalar>(gradient, expected_likelihood.gradient.template cast<double>(),
                                    log_likelihood, static_cast<double>(expected_likelihood.terms),
                                    worst));
      // A batch: its rows' own terms, against the oracle's.
      const std::vector<Eigen::Index> rows = {0, 3, 4, 700, 1499, 3};
      const double batch = squared.batch_value_and_gradient(theta, rows, gradient);
      const OracleResult expected_batch =
          nadaraya_test::oracle_squared_error<Gaussian>(exact, Ys, theta, rows);
      CHECK(values_agree<Scalar>(batch, static_cast<double>(expected_batch.value), worst));
      CHECK(gradients_agree<Scalar>(gradient, expected_batch.gradient.template cast<double>(),
                                    batch, static_cast<double>(expected_batch.terms), worst));
    }
  }
}

TEMPLATE_TEST_CASE("SoftmaxGradientAccumulator::add_block sums what add sums",
                   "[objectives][blocked][merge]", float, double) {
  // Log-weights spread over +-90 (many new maxima, weights that underflow) and some -inf, fed key
  // by key and in blocks of 16 / 32.
  using Scalar = TestType;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  const Eigen::Index count = 64, outputs = 2, d = 3;
  const Eigen::Index block = 2 * detail::lane_count<Scalar>();  // two lane arrays
  std::mt19937_64 generator(5);
  std::normal_distribution<double> normal;
  Vector log_weights(count), r2(count), query(d);
  MatrixOf<Scalar> keys(count, d), values(count, outputs);
  for (Eigen::Index j = 0; j < d; ++j) query(j) = static_cast<Scalar>(normal(generator));
  for (Eigen::Index k = 0; k < count; ++k) {
    log_weights(k) = static_cast<Scalar>(30 * normal(generator));
    r2(k) = 0;
    for (Eigen::Index j = 0; j < d; ++j) {
      keys(k, j) = static_cast<Scalar>(normal(generator));
      r2(k) += (query(j) - keys(k, j)) * (query(j) - keys(k, j));
    }
    for (Eigen::Index c = 0; c < outputs; ++c)
      values(k, c) = static_cast<Scalar>(normal(generator));
  }
  log_weights(3) = log_weights(40) = -std::numeric_limits<Scalar>::infinity();
  for (bool per_dimension : {true, false}) {
    const Eigen::Index p = per_dimension ? d : 1;
    SoftmaxGradientAccumulator<Scalar> one_by_one(outputs, p), blocked(outputs, p);
    Vector factors(count), scratch(2 * block), gradient(p), value(outputs), max_scratch(block);
    for (Eigen::Index k = 0; k < count; ++k) {
      factors(k) = log_weights(k) > -std::numeric_limits<Scalar>::infinity()
                       ? static_cast<Scalar>(normal(generator))
                       : Scalar(0);
      for (Eigen::Index j = 0; j < p; ++j) {
        const Scalar u = query(j) - keys(k, j);
        gradient(j) = factors(k) * (per_dimension ? u * u : r2(k));
      }
      for (Eigen::Index c = 0; c < outputs; ++c) value(c) = values(k, c);
      one_by_one.add(log_weights(k), gradient.data(), value.data());
    }
    for (Eigen::Index begin = 0; begin < count; begin += block) {
      std::vector<Scalar> block_log(log_weights.data() + begin, log_weights.data() + begin + block);
      const Scalar max = detail::lane_max(block_log.data(), block, max_scratch.data());
      const Scalar* columns[outputs] = {values.data() + begin, values.data() + count + begin};
      const PairBlock<Scalar> pairs{0,
                                    begin,
                                    block,
                                    block_log.data(),
                                    max,
                                    r2.data() + begin,
                                    nullptr,
                                    query.data(),
                                    keys.data() + begin,
                                    count,
                                    d};
      const BlockGradient<Scalar> block_gradient{factors.data() + begin, Scalar(0), per_dimension};
      blocked.add_block(pairs, block_log.data(), max, columns, block_gradient, scratch.data());
    }
    INFO("per_dimension " << per_dimension);
    const double scale = 1e2;
    const double tolerance = PassTolerance<Scalar>::value;
    CHECK(std::abs(blocked.log_sum() - one_by_one.log_sum()) <=
          scale * tolerance * std::abs(one_by_one.log_sum()));
    const double sum = blocked.scaled_sum(), reference_sum = one_by_one.scaled_sum();
    auto agree = [&](double a, double b) {
      return std::abs(a / sum - b / reference_sum) <=
             scale * tolerance * (1 + std::abs(b / reference_sum));
    };
    for (Eigen::Index c = 0; c < outputs; ++c)
      CHECK(agree(blocked.scaled_value(c), one_by_one.scaled_value(c)));
    for (Eigen::Index j = 0; j < p; ++j) {
      CHECK(agree(blocked.scaled_gradient(j), one_by_one.scaled_gradient(j)));
      for (Eigen::Index c = 0; c < outputs; ++c)
        CHECK(agree(blocked.scaled_cross(j, c), one_by_one.scaled_cross(j, c)));
    }
  }
}

TEMPLATE_TEST_CASE("SoftmaxGradientAccumulator::add_block: a block that flushes to 0 adds nothing",
                   "[objectives][blocked]", float, double) {
  // A block whose largest log-weight lies the exponential's clamp (or more) below the running
  // maximum is skipped; the state must be bit for bit the one before. (That blocks inside the
  // clamp still count is what the comparisons with the oracle above check, at widths down to
  // 1e-3.)
  using Scalar = TestType;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  const Eigen::Index block = 2 * detail::lane_count<Scalar>(), d = 2, outputs = 1;
  const Scalar clamp = detail::ExpConstants<Scalar>::clamp;
  Vector r2 = Vector::Ones(block), query = Vector::Zero(d), factors = Vector::Ones(block);
  MatrixOf<Scalar> keys = MatrixOf<Scalar>::Ones(block, d), values(block, outputs);
  for (Eigen::Index k = 0; k < block; ++k) values(k, 0) = static_cast<Scalar>(k + 1);
  Vector scratch(2 * block);
  const Scalar* columns[outputs] = {values.data()};
  const BlockGradient<Scalar> gradient{factors.data(), Scalar(0), true};
  auto add = [&](SoftmaxGradientAccumulator<Scalar>& state, Vector log_weights) {
    const Scalar max = log_weights.maxCoeff();
    const PairBlock<Scalar> pairs{0,           0,         block,   log_weights.data(),
                                  max,         r2.data(), nullptr, query.data(),
                                  keys.data(), block,     d};
    state.add_block(pairs, log_weights.data(), max, columns, gradient, scratch.data());
  };
  SoftmaxGradientAccumulator<Scalar> state(outputs, d);
  add(state, Vector::LinSpaced(block, Scalar(-3), Scalar(0)));
  SoftmaxGradientAccumulator<Scalar> before = state;
  add(state, Vector::Constant(block, -clamp));  // every y = clamp: all weights 0
  CHECK(state.max_log_weight() == before.max_log_weight());
  CHECK(state.scaled_sum() == before.scaled_sum());
  CHECK(state.scaled_value(0) == before.scaled_value(0));
  for (Eigen::Index j = 0; j < d; ++j) {
    CHECK(state.scaled_gradient(j) == before.scaled_gradient(j));
    CHECK(state.scaled_cross(j, 0) == before.scaled_cross(j, 0));
  }
}
