#ifndef NADARAYA_TEST_OBJECTIVE_ORACLE_HPP
#define NADARAYA_TEST_OBJECTIVE_ORACLE_HPP

// The four cross-validation objectives of include/nadaraya/objectives.hpp written out pair by pair
// in long double from their documented formulas, each with its exact gradient with respect to
// theta = log widths: the reference the library is checked against. Every pair (i, k) is formed
// explicitly; nothing is streamed, blocked or shared with the library but the kernels.
// The one numerical care: a query's weights are summed relative to its largest log-weight (and
// LogLoss's own class on its own), since at tiny widths they span more orders of magnitude than
// even long double holds, and the library is exact there.

#include <Eigen/Core>
#include <algorithm>  // std::sort, std::unique, std::lower_bound, std::max_element, std::min
#include <cmath>
#include <cstddef>  // std::size_t
#include <limits>
#include <vector>

#include <nadaraya/kernel.hpp>      // kernel_traits: log_profile, dlog_profile, log_normaliser
#include <nadaraya/kernels.hpp>     // Gaussian: the least-squares criterion's kernel
#include <nadaraya/objectives.hpp>  // ObjectiveOptions (leave_one_out, per_dimension)

#include "support/reference.hpp"  // LongMatrix, LongVector

namespace nadaraya_test {

/// An objective's value and its gradient with respect to theta, and the gradient's size before
/// cancellation: the norm of its formula with every difference taken as a sum of magnitudes. An
/// evaluation in floating point rounds those terms, not the (possibly far smaller) gradient.
struct OracleResult {
  long double value = 0;
  LongVector gradient;
  long double terms = 0;
};

/// Row-major: a key's coordinates, derivatives or values are contiguous, read through a pointer
/// in the loops over pairs (Eigen's accessors cost tens of calls a pair in unoptimised builds).
using LongRows = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// What every objective is built from: the data as the objective holds them (any Scalar,
/// converted exactly), the shares p_i = w_i / sum w (1/n without weights) and the two options
/// that change the formula.
class OracleData {
 public:
  template <class XM>
  OracleData(const XM& X, const Eigen::VectorXd& weights, const nadaraya::ObjectiveOptions& options)
      : m_X(X.template cast<long double>()),
        m_shares(X.rows()),
        m_log_shares(X.rows()),
        m_leave_one_out(options.leave_one_out),
        m_per_dimension(options.per_dimension) {
    long double total = 0;
    for (Eigen::Index i = 0; i < X.rows(); ++i) total += weights.size() == 0 ? 1.0L : weights(i);
    for (Eigen::Index i = 0; i < X.rows(); ++i) {
      m_shares(i) = (weights.size() == 0 ? 1.0L : weights(i)) / total;
      m_log_shares(i) = std::log(m_shares(i));  // -inf for a zero weight
    }
  }

  Eigen::Index samples() const { return m_X.rows(); }
  Eigen::Index dimensions() const { return m_X.cols(); }
  Eigen::Index parameters() const { return m_per_dimension ? m_X.cols() : 1; }
  const long double* point(Eigen::Index i) const { return m_X.data() + i * m_X.cols(); }
  long double share(Eigen::Index i) const { return m_shares(i); }
  long double log_share(Eigen::Index i) const { return m_log_shares(i); }
  bool leave_one_out() const { return m_leave_one_out; }
  bool per_dimension() const { return m_per_dimension; }

  /// h_j = exp(theta_j), or exp(theta_0) for every column with one shared width.
  LongVector widths(const Eigen::VectorXd& theta) const {
    LongVector h(dimensions());
    for (Eigen::Index j = 0; j < dimensions(); ++j)
      h(j) = std::exp(static_cast<long double>(theta(m_per_dimension ? j : 0)));
    return h;
  }
  /// log(h_1 ... h_d) and its derivative with respect to each theta entry (1, or d when shared).
  long double log_width_product(const Eigen::VectorXd& theta) const {
    long double sum = 0;
    for (Eigen::Index j = 0; j < dimensions(); ++j)
      sum += static_cast<long double>(theta(m_per_dimension ? j : 0));
    return sum;
  }
  long double log_width_product_slope() const {
    return m_per_dimension ? 1.0L : static_cast<long double>(dimensions());
  }

 private:
  LongRows m_X;
  LongVector m_shares;
  LongVector m_log_shares;
  bool m_leave_one_out;
  bool m_per_dimension;
};

/// The pairs (i, k) of one query i against every key k.
struct QueryPairs {
  std::vector<long double> r2;          // ||(x_i - x_k) / h||^2
  std::vector<long double> log_weight;  // log p_k + log k(r2); -inf where the pair does not count
  LongRows log_kernel_slope;    // n x parameters: d log k(r2) / d theta (0 outside the support)
  std::vector<char> candidate;  // k is pooled at all: not i under leave-one-out, p_k > 0
};

template <class Kernel>
QueryPairs query_pairs(const OracleData& data, const LongVector& h, Eigen::Index i) {
  using Traits = nadaraya::kernel_traits<Kernel>;
  constexpr long double minus_infinity = -std::numeric_limits<long double>::infinity();
  const Eigen::Index n = data.samples(), d = data.dimensions(), p = data.parameters();
  const auto size = static_cast<std::size_t>(n);
  QueryPairs pairs{std::vector<long double>(size), std::vector<long double>(size),
                   LongRows::Zero(n, p), std::vector<char>(size)};
  std::vector<long double> u(static_cast<std::size_t>(d));
  const long double* query = data.point(i);
  for (Eigen::Index k = 0; k < n; ++k) {
    const auto key = static_cast<std::size_t>(k);
    long double r2 = 0;
    for (Eigen::Index j = 0; j < d; ++j) {
      const auto jj = static_cast<std::size_t>(j);
      u[jj] = (query[j] - data.point(k)[j]) / h(j);
      r2 += u[jj] * u[jj];
    }
    const long double log_kernel = Traits::template log_profile<long double>(r2);
    const bool inside = log_kernel > minus_infinity;  // outside a compact support: weight 0
    const bool candidate = !(data.leave_one_out() && k == i) && data.share(k) > 0;
    pairs.r2[key] = r2;
    pairs.candidate[key] = candidate;
    pairs.log_weight[key] = candidate && inside ? data.log_share(k) + log_kernel : minus_infinity;
    // du_j / dtheta_j = -u_j, so d log k / dtheta_j = -2 u_j^2 dlog_profile(r2). At r2 = 0 the
    // product tends to 0 even where dlog_profile(0) is infinite (Laplacian, Triangular).
    if (!inside || !(r2 > 0)) continue;
    const long double slope = -2 * Kernel::template dlog_profile<long double>(r2);
    long double* g = pairs.log_kernel_slope.data() + k * p;
    if (data.per_dimension()) {
      for (Eigen::Index j = 0; j < d; ++j)
        g[j] = slope * u[static_cast<std::size_t>(j)] * u[static_cast<std::size_t>(j)];
    } else {
      g[0] = slope * r2;
    }
  }
  return pairs;
}

/// Softmax means of one query's keys under the weights e^{a_k} (a_k = -inf: skipped): the log of
/// the total weight, E[g], E[y] and E[g y^T], with every weight taken relative to the largest.
struct Softmax {
  long double log_sum = -std::numeric_limits<long double>::infinity();
  LongVector g;   // E[g_k]
  LongVector y;   // E[y_k]
  LongMatrix gy;  // E[g_k y_k^T]
  bool empty() const { return !(log_sum > -std::numeric_limits<long double>::infinity()); }
};

/// Y: one row of values per key (omitted: weights and derivatives only).
inline Softmax softmax(const std::vector<long double>& a, const LongRows& g, const LongRows& Y) {
  const Eigen::Index p = g.cols(), q = Y.cols();
  Softmax result{-std::numeric_limits<long double>::infinity(), LongVector::Zero(p),
                 LongVector::Zero(q), LongMatrix::Zero(p, q)};
  const long double max = *std::max_element(a.begin(), a.end());
  if (!(max > -std::numeric_limits<long double>::infinity())) return result;
  long double sum = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    // Below -12000 the weight is 0 even in long double (expl's slow underflow path, skipped).
    if (!(a[k] - max > -12000)) continue;
    const long double weight = std::exp(a[k] - max);
    const long double* gk = g.data() + static_cast<Eigen::Index>(k) * p;
    const long double* yk = Y.data() + static_cast<Eigen::Index>(k) * q;
    sum += weight;
    for (Eigen::Index c = 0; c < q; ++c) result.y(c) += weight * yk[c];
    for (Eigen::Index j = 0; j < p; ++j) {
      result.g(j) += weight * gk[j];
      for (Eigen::Index c = 0; c < q; ++c) result.gy(j, c) += weight * gk[j] * yk[c];
    }
  }
  result.log_sum = max + std::log(sum);
  result.g /= sum;
  result.y /= sum;
  result.gy /= sum;
  return result;
}
inline Softmax softmax(const std::vector<long double>& a, const LongRows& g) {
  return softmax(a, g, LongRows(static_cast<Eigen::Index>(a.size()), 0));
}

/// The p-weighted mean of Y over the candidate keys nearest to the query in scaled distance (ties
/// share by weight): how a point that no key of a compact kernel reaches is predicted, the limit
/// as the last key leaves the support. Its gradient is zero.
inline LongVector nearest_mean(const OracleData& data, const QueryPairs& pairs, const LongRows& Y) {
  long double nearest = std::numeric_limits<long double>::infinity();
  for (std::size_t k = 0; k < pairs.r2.size(); ++k) {
    if (pairs.candidate[k]) nearest = std::min(nearest, pairs.r2[k]);
  }
  long double weight = 0;
  LongVector sum = LongVector::Zero(Y.cols());
  for (Eigen::Index k = 0; k < data.samples(); ++k) {
    const auto key = static_cast<std::size_t>(k);
    if (!pairs.candidate[key] || pairs.r2[key] != nearest) continue;
    weight += data.share(k);
    sum += data.share(k) * Y.row(k).transpose();
  }
  return sum / weight;
}

/// (n / |B|) sum_{i in B} p_i l_i and its gradient, with `term(i)` giving l_i and its gradient;
/// `rows` empty: every point (B need not be distinct). Zero-share points count for nothing.
template <class Term>
OracleResult sum_over_rows(const OracleData& data, std::vector<Eigen::Index> rows,
                           const Term& term) {
  if (rows.empty()) {
    for (Eigen::Index i = 0; i < data.samples(); ++i) rows.push_back(i);
  }
  OracleResult total{0, LongVector::Zero(data.parameters()), 0};
  for (const Eigen::Index i : rows) {
    if (!(data.share(i) > 0)) continue;
    const OracleResult point = term(i);
    total.value += data.share(i) * point.value;
    total.gradient += data.share(i) * point.gradient;
    total.terms += data.share(i) * point.terms;
  }
  const long double scale =
      static_cast<long double>(data.samples()) / static_cast<long double>(rows.size());
  total.value *= scale;
  total.gradient *= scale;
  total.terms *= scale;
  return total;
}

/// SquaredErrorObjective: l_i = 1/2 ||y_i - f_{-i}(x_i)||^2 with f the Nadaraya–Watson mean,
/// f = E[y], so df/dtheta_j = E[g_j y] - E[g_j] f. Unreached points take their nearest keys'.
template <class Kernel, class YM>
OracleResult oracle_squared_error(const OracleData& data, const YM& Y_in,
                                  const Eigen::VectorXd& theta,
                                  const std::vector<Eigen::Index>& rows = {}) {
  const LongRows Y = Y_in.template cast<long double>();
  const LongVector h = data.widths(theta);
  return sum_over_rows(data, rows, [&](Eigen::Index i) {
    const QueryPairs pairs = query_pairs<Kernel>(data, h, i);
    const Softmax mean = softmax(pairs.log_weight, pairs.log_kernel_slope, Y);
    OracleResult point{0, LongVector::Zero(data.parameters()), 0};
    const LongVector prediction = mean.empty() ? nearest_mean(data, pairs, Y) : mean.y;
    const LongVector residual = Y.row(i).transpose() - prediction;
    point.value = 0.5L * residual.squaredNorm();
    if (mean.empty()) return point;  // the nearest keys' mean does not move with theta
    // Both the residual and the slope cancel: y - f where f -> y, E[g y] - E[g] f where one key
    // dominates (E[g] ~ r2, 1e5 at tiny widths).
    LongVector terms(data.parameters());
    for (Eigen::Index j = 0; j < data.parameters(); ++j) {
      const LongVector slope = mean.gy.row(j).transpose() - mean.g(j) * prediction;
      point.gradient(j) = -residual.dot(slope);
      terms(j) = residual.cwiseAbs().dot(mean.gy.row(j).transpose().cwiseAbs() +
                                         std::abs(mean.g(j)) * prediction.cwiseAbs()) +
                 (Y.row(i).transpose().cwiseAbs() + prediction.cwiseAbs()).dot(slope.cwiseAbs());
    }
    point.terms = terms.norm();
    return point;
  });
}

/// LikelihoodObjective: l_i = -log p_{-i}(x_i), p_{-i}(x) = c_d / prod h sum_{k != i} p_k k(r2)
/// / (1 - p_i); infinite, with zero gradient, where no key reaches x_i.
template <class Kernel>
OracleResult oracle_likelihood(const OracleData& data, const Eigen::VectorXd& theta,
                               const std::vector<Eigen::Index>& rows = {}) {
  const LongVector h = data.widths(theta);
  const long double log_normaliser =
      static_cast<long double>(
          nadaraya::kernel_traits<Kernel>::log_normaliser(static_cast<int>(data.dimensions()))) -
      data.log_width_product(theta);
  return sum_over_rows(data, rows, [&](Eigen::Index i) {
    const QueryPairs pairs = query_pairs<Kernel>(data, h, i);
    const Softmax density = softmax(pairs.log_weight, pairs.log_kernel_slope);
    OracleResult point{0, LongVector::Zero(data.parameters()), 0};
    if (density.empty()) {
      point.value = std::numeric_limits<long double>::infinity();
      return point;
    }
    const long double rest = data.leave_one_out() ? std::log1p(-data.share(i)) : 0.0L;
    point.value = -(log_normaliser + density.log_sum - rest);
    for (Eigen::Index j = 0; j < data.parameters(); ++j)
      point.gradient(j) = data.log_width_product_slope() - density.g(j);
    point.terms = (data.log_width_product_slope() + density.g.array().abs()).matrix().norm();
    return point;
  });
}

/// LeastSquaresObjective (Gaussian): l_i = sum_k p_k (K_h * K_h)(x_i - x_k)
/// - 2 p_{-i}(x_i), so that sum_i p_i l_i = int p^2 - 2 sum_i p_i p_{-i}(x_i). The convolution is
/// the Gaussian of widths sqrt(2) h: in scaled units exp(-r2/4) c_d / (2^(d/2) prod h), and its
/// sum runs over every k, the pair (i, i) included (which the library adds in closed form).
inline OracleResult oracle_least_squares(const OracleData& data, const Eigen::VectorXd& theta,
                                         const std::vector<Eigen::Index>& rows = {}) {
  using nadaraya::Gaussian;
  const LongVector h = data.widths(theta);
  const long double d = static_cast<long double>(data.dimensions());
  const long double log_normaliser =
      static_cast<long double>(
          nadaraya::kernel_traits<Gaussian>::log_normaliser(static_cast<int>(data.dimensions()))) -
      data.log_width_product(theta);
  const long double log_convolution_normaliser = log_normaliser - 0.5L * d * std::log(2.0L);
  const long double slope = data.log_width_product_slope();
  return sum_over_rows(data, rows, [&](Eigen::Index i) {
    const QueryPairs pairs = query_pairs<Gaussian>(data, h, i);
    const Eigen::Index n = data.samples();
    // exp(-r2/4) for every key of positive share; its derivative is half the Gaussian's u_j^2.
    std::vector<long double> convolution_log_weight(static_cast<std::size_t>(n));
    for (Eigen::Index k = 0; k < n; ++k) {
      const auto key = static_cast<std::size_t>(k);
      convolution_log_weight[key] = data.share(k) > 0
                                        ? data.log_share(k) - 0.25L * pairs.r2[key]
                                        : -std::numeric_limits<long double>::infinity();
    }
    const LongRows half_slope = 0.5L * pairs.log_kernel_slope;
    const Softmax convolution = softmax(convolution_log_weight, half_slope);
    const Softmax density = softmax(pairs.log_weight, pairs.log_kernel_slope);
    OracleResult point{0, LongVector::Zero(data.parameters()), 0};
    // Each part is c exp(log S) with d/dtheta_j = c exp(log S) (E[g_j] - slope).
    auto add = [&](const Softmax& part, long double log_factor, long double sign) {
      if (part.empty()) return;
      const long double size = sign * std::exp(log_factor + part.log_sum);
      point.value += size;
      for (Eigen::Index j = 0; j < data.parameters(); ++j)
        point.gradient(j) += size * (part.g(j) - slope);
      point.terms += std::abs(size) * (part.g.array().abs() + slope).matrix().norm();
    };
    add(convolution, log_convolution_normaliser, 1);
    const long double rest = data.leave_one_out() ? std::log1p(-data.share(i)) : 0.0L;
    add(density, log_normaliser - rest + std::log(2.0L), -1);
    return point;
  });
}

/// LogLossObjective: l_i = -log max(P_{-i}(c_i | x_i), epsilon) with epsilon the machine epsilon
/// of the objective's Scalar (a clipped term has zero gradient); d log P / dtheta = E_own[g] -
/// E_all[g]. Classes in increasing label order; unreached points take their nearest keys' shares.
template <class Kernel, class Scalar, class LM>
OracleResult oracle_log_loss(const OracleData& data, const LM& labels, const Eigen::VectorXd& theta,
                             const std::vector<Eigen::Index>& rows = {}) {
  const Eigen::Index n = data.samples();
  std::vector<long long> classes(static_cast<std::size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i)
    classes[static_cast<std::size_t>(i)] = static_cast<long long>(labels(i));
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  const auto classes_count = static_cast<Eigen::Index>(classes.size());
  std::vector<Eigen::Index> codes(static_cast<std::size_t>(n));
  LongRows one_hot = LongRows::Zero(n, classes_count);
  for (Eigen::Index i = 0; i < n; ++i) {
    const auto found =
        std::lower_bound(classes.begin(), classes.end(), static_cast<long long>(labels(i)));
    codes[static_cast<std::size_t>(i)] = static_cast<Eigen::Index>(found - classes.begin());
    one_hot(i, codes[static_cast<std::size_t>(i)]) = 1;
  }
  const long double epsilon = std::numeric_limits<Scalar>::epsilon();
  const LongVector h = data.widths(theta);
  return sum_over_rows(data, rows, [&](Eigen::Index i) {
    const QueryPairs pairs = query_pairs<Kernel>(data, h, i);
    const Eigen::Index own = codes[static_cast<std::size_t>(i)];
    OracleResult point{0, LongVector::Zero(data.parameters()), 0};
    const Softmax all = softmax(pairs.log_weight, pairs.log_kernel_slope);
    if (all.empty()) {
      const long double probability = nearest_mean(data, pairs, one_hot)(own);
      point.value = -std::log(std::max(probability, epsilon));
      return point;
    }
    // The own class relative to its own largest weight: at tiny widths it may lie further below
    // the overall largest than long double reaches.
    std::vector<long double> own_log_weight = pairs.log_weight;
    for (std::size_t k = 0; k < own_log_weight.size(); ++k) {
      if (codes[k] != own) own_log_weight[k] = -std::numeric_limits<long double>::infinity();
    }
    const Softmax mine = softmax(own_log_weight, pairs.log_kernel_slope);
    const long double log_probability = mine.log_sum - all.log_sum;  // -inf when mine is empty
    if (!(log_probability > std::log(epsilon))) {
      point.value = -std::log(epsilon);
      return point;
    }
    point.value = -log_probability;
    point.gradient = -(mine.g - all.g);
    point.terms = (mine.g.cwiseAbs() + all.g.cwiseAbs()).norm();
    return point;
  });
}

}  // namespace nadaraya_test

#endif  // NADARAYA_TEST_OBJECTIVE_ORACLE_HPP
