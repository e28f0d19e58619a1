#ifndef NADARAYA_BANDWIDTH_HPP
#define NADARAYA_BANDWIDTH_HPP

#include <Eigen/Core>
#include <algorithm>  // std::sort, std::nth_element, std::min_element, std::min
#include <cstddef>    // std::ptrdiff_t
#include <cmath>
#include <numeric>  // std::iota
#include <vector>

#include "detail/check.hpp"
#include "kernel.hpp"

namespace nadaraya {

/// What a number given as a width means.
enum class WidthUnit {
  kernel_scale,       ///< h scales the kernel as written in kernels.hpp (scikit-learn's convention)
  standard_deviation  ///< h is the standard deviation of the kernel along each axis (R's `bw`)
};

/// A bandwidth: one width for every dimension, one per dimension (diagonal), or a rule of thumb
/// applied to the training data at `fit()`.
///
/// Rules of thumb give the standard deviation s_j of the smoothing along dimension j, from the
/// data's spread and its effective size n_eff = (sum w)^2 / sum w^2 (n without weights):
/// - Scott: s_j = sd_j * n_eff^(-1/(d+4)) (scipy's `scott_factor` times the column's sd).
/// - Silverman: s_j = A_j * (4 / ((d + 2) n_eff))^(1/(d+4)) with the robust spread
///   A_j = min(sd_j, IQR_j / 1.349) (Silverman 1986, eq. 4.14 and 3.30; in d = 1 this is
///   1.06 A n^(-1/5), R's `bw.nrd`).
/// sd_j is the weighted standard deviation with the unbiased correction (scipy's, ddof = 1 without
/// weights); IQR_j uses linear interpolation between order statistics (numpy's default; with
/// weights, on the weighted empirical distribution). A width s_j is then divided by the kernel's
/// standard deviation in d dimensions, so every kernel smooths by the same amount.
///
/// Fallbacks, so that a rule never returns a zero or NaN width: an interquartile range of zero
/// uses sd_j alone; a constant column (or a single sample) takes spread 1 in the data's units.
class Bandwidth {
 public:
  enum class Rule { fixed, silverman, scott };

  /// One width for every dimension. Throws InvalidArgument unless 0 < h < infinity.
  static Bandwidth scalar(double h, WidthUnit unit = WidthUnit::kernel_scale) {
    check_width(h, 0, "Bandwidth::scalar");
    Bandwidth b(Rule::fixed, unit);
    b.m_values = Eigen::VectorXd::Constant(1, h);
    return b;
  }

  /// One width per dimension (a diagonal bandwidth matrix).
  template <class Derived>
  static Bandwidth per_dimension(const Eigen::MatrixBase<Derived>& h,
                                 WidthUnit unit = WidthUnit::kernel_scale) {
    const char* where = "Bandwidth::per_dimension";
    if (h.size() == 0) detail::fail(where, "argument 'h' is empty");
    if (h.rows() != 1 && h.cols() != 1) {
      detail::fail(where, "argument 'h' must be a vector, got ", h.rows(), " x ", h.cols());
    }
    Bandwidth b(Rule::fixed, unit);
    b.m_values.resize(h.size());
    for (Eigen::Index j = 0; j < h.size(); ++j) {
      b.m_values(j) = static_cast<double>(h(j));
      check_width(b.m_values(j), j, where);
    }
    b.m_per_dimension = true;
    return b;
  }

  static Bandwidth silverman() { return Bandwidth(Rule::silverman, WidthUnit::standard_deviation); }
  static Bandwidth scott() { return Bandwidth(Rule::scott, WidthUnit::standard_deviation); }

  Rule rule() const { return m_rule; }
  WidthUnit unit() const { return m_unit; }
  /// True when one width serves every dimension (rules are always per dimension).
  bool is_scalar() const { return m_rule == Rule::fixed && !m_per_dimension; }
  /// The widths as given (empty for rules).
  const Eigen::VectorXd& values() const { return m_values; }

  /// The widths in kernel scale, one per column of X, for the given kernel.
  /// \param X       training data, n x d (already validated: non-empty, finite)
  /// \param weights sample weights (size n) or empty for equal weights
  /// \param where   the calling function, for messages
  template <class Kernel, class Derived>
  Eigen::VectorXd resolve(const Eigen::MatrixBase<Derived>& X, const Eigen::VectorXd& weights,
                          const char* where) const {
    const Eigen::Index d = X.cols();
    Eigen::VectorXd widths(d);
    if (m_rule == Rule::fixed) {
      if (m_per_dimension && m_values.size() != d) {
        detail::fail(where, "the bandwidth has ", m_values.size(), " widths but the data has ", d,
                     " columns");
      }
      widths = m_per_dimension ? m_values : Eigen::VectorXd::Constant(d, m_values(0));
    } else {
      widths = rule_of_thumb(X, weights);
    }
    if (m_unit == WidthUnit::standard_deviation) {
      widths /= std::sqrt(kernel_traits<Kernel>::variance(static_cast<int>(d)));
    }
    return widths;
  }

  /// The rule's per-dimension standard deviations of smoothing (see the class comment).
  template <class Derived>
  Eigen::VectorXd rule_of_thumb(const Eigen::MatrixBase<Derived>& X,
                                const Eigen::VectorXd& weights) const {
    const Eigen::Index n = X.rows(), d = X.cols();
    Eigen::VectorXd w = weights.size() == 0 ? Eigen::VectorXd::Ones(n) : weights;
    w /= w.sum();
    const double n_eff = 1.0 / w.squaredNorm();
    const double dd = static_cast<double>(d);
    Eigen::VectorXd widths(d);
    for (Eigen::Index j = 0; j < d; ++j) {
      const Eigen::VectorXd column = X.col(j).template cast<double>();
      // A constant column has no spread; its rounding noise must not pass for one.
      const bool constant = column.maxCoeff() == column.minCoeff();
      const double sd = constant ? 0.0 : weighted_sd(column, w);
      double spread = sd;
      if (m_rule == Rule::silverman) {
        const double iqr = weighted_iqr(column, w, weights.size() == 0);
        if (iqr > 0 && !constant) spread = std::min(sd, iqr / 1.349);
      }
      if (!(spread > 0) || !std::isfinite(spread)) spread = 1.0;  // constant column, n = 1
      widths(j) = m_rule == Rule::scott
                      ? spread * std::pow(n_eff, -1.0 / (dd + 4))
                      : spread * std::pow(4.0 / ((dd + 2) * n_eff), 1.0 / (dd + 4));
    }
    return widths;
  }

 private:
  Bandwidth(Rule rule, WidthUnit unit) : m_rule(rule), m_unit(unit) {}

  static void check_width(double h, Eigen::Index index, const char* where) {
    if (!(h > 0) || !std::isfinite(h)) {
      detail::fail(where, "a width must be positive and finite, got ", h, " at index ", index);
    }
  }

  /// sqrt(sum w (x - mean)^2 / (1 - sum w^2)) for weights summing to one (scipy's weighted
  /// covariance; the sample sd with ddof = 1 for equal weights). 0 when undefined (n_eff = 1).
  static double weighted_sd(const Eigen::VectorXd& x, const Eigen::VectorXd& w) {
    const double mean = w.dot(x);
    const double correction = 1.0 - w.squaredNorm();
    if (!(correction > 0)) return 0.0;
    return std::sqrt(w.dot((x.array() - mean).square().matrix()) / correction);
  }

  /// The interquartile range, quantiles by linear interpolation between order statistics:
  /// numpy's default (type 7) for equal weights (selection, no sort); with weights, interpolation
  /// on the midpoints of the weighted empirical distribution (one sort for both quartiles).
  static double weighted_iqr(const Eigen::VectorXd& x, const Eigen::VectorXd& w,
                             bool equal_weights) {
    const Eigen::Index n = x.size();
    if (n == 1) return 0.0;
    if (equal_weights) {
      std::vector<double> values(x.data(), x.data() + n);
      auto quantile = [&](double p) {
        const double position = p * static_cast<double>(n - 1);
        const auto below = static_cast<std::ptrdiff_t>(std::floor(position));
        const auto at = values.begin() + below;
        std::nth_element(values.begin(), at, values.end());
        // Everything after `at` is at least *at: the next order statistic is their minimum.
        const double next = below + 1 < n ? *std::min_element(at + 1, values.end()) : *at;
        return *at + (position - static_cast<double>(below)) * (next - *at);
      };
      const double upper = quantile(0.75);
      return upper - quantile(0.25);
    }
    std::vector<Eigen::Index> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), Eigen::Index{0});
    std::sort(order.begin(), order.end(),
              [&](Eigen::Index a, Eigen::Index b) { return x(a) < x(b); });
    auto sorted = [&](Eigen::Index i) { return x(order[static_cast<std::size_t>(i)]); };
    auto quantile = [&](double p) {
      double cumulative = 0, previous_point = 0, previous_value = sorted(0);
      for (Eigen::Index i = 0; i < n; ++i) {
        const double weight = w(order[static_cast<std::size_t>(i)]);
        const double point = cumulative + 0.5 * weight;  // midpoint of this sample's mass
        cumulative += weight;
        if (point >= p) {
          if (i == 0 || point <= previous_point) return sorted(i);
          const double fraction = (p - previous_point) / (point - previous_point);
          return previous_value + fraction * (sorted(i) - previous_value);
        }
        previous_point = point;
        previous_value = sorted(i);
      }
      return sorted(n - 1);
    };
    return quantile(0.75) - quantile(0.25);
  }

  Rule m_rule;                   // fixed widths or a rule of thumb
  WidthUnit m_unit;              // how the widths (or the rule's output) are to be read
  Eigen::VectorXd m_values;      // the fixed widths; empty for rules
  bool m_per_dimension = false;  // m_values holds one width per dimension
};

}  // namespace nadaraya

#endif  // NADARAYA_BANDWIDTH_HPP
