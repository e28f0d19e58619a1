// The blocked objective pass (detail/pair_blocks.hpp, SoftmaxGradientAccumulator::add_block)
// against the plain per-pair `stream` loop it replaces (ObjectiveOptions::blocked = false): values
// and gradients of every objective, float and double, with and without leave-one-out, sample
// weights (zero weights included), per-dimension and shared widths, compact kernels (queries that
// no key reaches), tiny and huge widths, key counts on both sides of the block sizes, batches.
//
// Tolerance. Both passes form the same sums; they differ in the order of the additions (lane
// partial sums per block against one running sum) and in the exponential (exp_neg, within 1.5
// ulp, against std::exp): a few ulps per sum. The objectives are logs and squared errors of O(1)
// data, whose rounding errors are absolute (a few ulps of 1) even where the value itself is far
// smaller (a log-loss term -log P with P = 1 - 1e-10 is a difference of two logs near 0), and a
// gradient may cancel far below the objective's own size. So, with L the per-pair value and g the
// per-pair gradient,
//   |L_blocked - L| <= tol max(|L|, 1),                           tol = 1e-12 (double), 1e-5
//   (float)
//   ||g_blocked - g|| <= tol_g (max(||g||, |L|) + floor),         tol_g = 1e-10 (double), 1e-4
//   (float)
// where the floor (1e-290 in double, 1e-30 in float) covers the weights that exp_neg flushes to 0
// below 1e-308 (1e-37 in float) of the running maximum, which std::exp keeps as subnormals.
// Measured worst cases are reported (WARN) at the end of each case: 8e-16 (double) and 7e-7
// (float) for values, 9e-14 and 3e-5 for gradients.
//
// Unoptimised sanitizer builds (NADARAYA_TEST_SHORT, support/short_run.hpp) compare every seventh
// case of the two sweeps; the optimised build compares all of them.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <utility>  // std::pair
#include <vector>

#include <nadaraya/nadaraya.hpp>

#include "support/reference.hpp"
#include "support/short_run.hpp"

using namespace nadaraya;

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
};
template <>
struct PassTolerance<float> {
  static constexpr double value = 1e-5;
  static constexpr double gradient = 1e-4;
  static constexpr double floor = 1e-30;
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
  double gradient = 0;
  long cases = 0;  // compare_passes calls so far: a short run compares a sample of them
};

template <class Scalar>
bool values_agree(double blocked, double per_pair, Worst& worst) {
  if (std::isnan(per_pair)) return std::isnan(blocked);
  if (std::isinf(per_pair)) return blocked == per_pair;
  const double error = std::abs(blocked - per_pair) / std::max(std::abs(per_pair), 1.0);
  worst.value = std::max(worst.value, error);
  UNSCOPED_INFO("value error " << error);
  return error <= PassTolerance<Scalar>::value;
}

/// The gradient's scale: its norm, or the objective's magnitude where that is larger (the natural
/// size of d L / d log h; a gradient far below it is a cancellation to rounding noise).
template <class Scalar>
bool gradients_agree(const Eigen::VectorXd& blocked, const Eigen::VectorXd& per_pair, double value,
                     Worst& worst) {
  if (blocked.size() != per_pair.size()) return false;
  const double scale = std::max(per_pair.norm(), std::isfinite(value) ? std::abs(value) : 0.0);
  const double error = (blocked - per_pair).norm() / (scale + PassTolerance<Scalar>::floor);
  worst.gradient = std::max(worst.gradient, error);
  UNSCOPED_INFO("gradient error " << error << " of scale " << scale);
  return error <= PassTolerance<Scalar>::gradient;
}

/// Builds the objective twice (blocked and per-pair) with `make(options)` and compares the value,
/// the gradient and a mini-batch estimate (repeated rows) at theta.
template <class Scalar, class Make>
void compare_passes(const Make& make, ObjectiveOptions options, const Eigen::VectorXd& theta,
                    Worst& worst) {
  if (!nadaraya_test::runs_case(worst.cases++)) return;
  options.blocked = true;
  const auto blocked = make(options);
  options.blocked = false;
  const auto per_pair = make(options);
  Eigen::VectorXd blocked_gradient, per_pair_gradient;
  const double blocked_value = blocked.value_and_gradient(theta, blocked_gradient);
  const double per_pair_value = per_pair.value_and_gradient(theta, per_pair_gradient);
  INFO("value " << blocked_value << " (blocked) vs " << per_pair_value << " (per pair)");
  INFO("gradient " << blocked_gradient.transpose() << " (blocked) vs "
                   << per_pair_gradient.transpose() << " (per pair)");
  CHECK(values_agree<Scalar>(blocked_value, per_pair_value, worst));
  CHECK(gradients_agree<Scalar>(blocked_gradient, per_pair_gradient, per_pair_value, worst));
  CHECK(values_agree<Scalar>(blocked.value(theta), per_pair.value(theta), worst));
  const Eigen::Index n = blocked.samples();
  const std::vector<Eigen::Index> rows = {n - 1, 0, 2, 2, n / 2, n / 3};
  const double blocked_batch = blocked.batch_value_and_gradient(theta, rows, blocked_gradient);
  const double per_pair_batch = per_pair.batch_value_and_gradient(theta, rows, per_pair_gradient);
  CHECK(values_agree<Scalar>(blocked_batch, per_pair_batch, worst));
  // A mini-batch estimates the whole objective, whose size is its gradient's natural scale: six
  // confidently classified points can have a log-loss and gradient of 1e-8 that cancel terms of
  // the whole objective's size (seen with fused multiply-adds: 4e-17 apart, 2e-9 of 1e-8).
  CHECK(gradients_agree<Scalar>(blocked_gradient, per_pair_gradient,
                                std::max(std::abs(per_pair_batch), std::abs(per_pair_value)),
                                worst));
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

TEMPLATE_TEST_CASE("the blocked pass agrees with the per-pair pass (regression objectives)",
                   "[objectives][blocked]", float, double) {
  using Scalar = TestType;
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
              const Eigen::VectorXd theta = theta_for(width, per_dimension, d);
              INFO("n " << n << ", d " << d << ", width " << width << ", per_dimension "
                        << per_dimension << ", leave_one_out " << leave_one_out << ", weighted "
                        << weighted);
              auto squared_error = [&](auto kernel) {
                using Kernel = decltype(kernel);
                INFO("SquaredErrorObjective<" << kernel_traits<Kernel>::name() << ">");
                compare_passes<Scalar>(
                    [&](const ObjectiveOptions& o) {
                      return SquaredErrorObjective<Kernel, Scalar>(X, Y, weights, o);
                    },
                    options, theta, worst);
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
  WARN("worst relative disagreement: value " << worst.value << ", gradient " << worst.gradient);
}

TEMPLATE_TEST_CASE("the blocked pass agrees with the per-pair pass (density and classification)",
                   "[objectives][blocked]", float, double) {
  using Scalar = TestType;
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
              INFO("leave_one_out " << leave_one_out);
              {
                INFO("LikelihoodObjective<gaussian>");
                compare_passes<Scalar>(
                    [&](const ObjectiveOptions& o) {
                      return LikelihoodObjective<Gaussian, Scalar>(X, weights, o);
                    },
                    options, theta, worst);
              }
              {
                INFO("LikelihoodObjective<triweight>");  // infinite where no key reaches
                compare_passes<Scalar>(
                    [&](const ObjectiveOptions& o) {
                      return LikelihoodObjective<Triweight, Scalar>(X, weights, o);
                    },
                    options, theta, worst);
              }
              {
                INFO("LeastSquaresObjective");
                compare_passes<Scalar>(
                    [&](const ObjectiveOptions& o) {
                      return LeastSquaresObjective<Scalar>(X, weights, o);
                    },
                    options, theta, worst);
              }
            }
            const ObjectiveOptions options = options_for(per_dimension, true);
            {
              INFO("LogLossObjective<gaussian>");
              compare_passes<Scalar>(
                  [&](const ObjectiveOptions& o) {
                    return LogLossObjective<Gaussian, Scalar>(X, data.labels, weights, o);
                  },
                  options, theta, worst);
            }
            {
              INFO("LogLossObjective<epanechnikov>");  // nearest keys where no key reaches
              compare_passes<Scalar>(
                  [&](const ObjectiveOptions& o) {
                    return LogLossObjective<Epanechnikov, Scalar>(X, data.labels, weights, o);
                  },
                  options, theta, worst);
            }
          }
        }
      }
    }
  }
  WARN("worst relative disagreement: value " << worst.value << ", gradient " << worst.gradient);
}

TEMPLATE_TEST_CASE("SoftmaxGradientAccumulator::add_block sums what add sums",
                   "[objectives][blocked][merge]", float, double) {
  // Log-weights spread over +-90 (many new maxima, weights that underflow) and some -inf, fed key
  // by key and in blocks of 16 / 32.
  using Scalar = TestType;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  const Eigen::Index count = 64, outputs = 2, d = 3;
  const Eigen::Index block = detail::pair_block_size<Scalar>(8);  // two lane arrays
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
      const detail::PairBlock<Scalar> pairs{0,
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
      const detail::BlockGradient<Scalar> block_gradient{factors.data() + begin, Scalar(0),
                                                         per_dimension};
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
  // clamp still count is what the comparisons with the per-pair pass above check, at widths down
  // to 1e-3.)
  using Scalar = TestType;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  const Eigen::Index block = detail::pair_block_size<Scalar>(8), d = 2, outputs = 1;
  const Scalar clamp = detail::ExpConstants<Scalar>::clamp;
  Vector r2 = Vector::Ones(block), query = Vector::Zero(d), factors = Vector::Ones(block);
  MatrixOf<Scalar> keys = MatrixOf<Scalar>::Ones(block, d), values(block, outputs);
  for (Eigen::Index k = 0; k < block; ++k) values(k, 0) = static_cast<Scalar>(k + 1);
  Vector scratch(2 * block);
  const Scalar* columns[outputs] = {values.data()};
  const detail::BlockGradient<Scalar> gradient{factors.data(), Scalar(0), true};
  auto add = [&](SoftmaxGradientAccumulator<Scalar>& state, Vector log_weights) {
    const Scalar max = log_weights.maxCoeff();
    const detail::PairBlock<Scalar> pairs{0,           0,         block,   log_weights.data(),
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
