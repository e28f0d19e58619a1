// Shared by the libFuzzer targets in fuzz/: turns arbitrary bytes into estimator inputs (shapes,
// bit patterns, bandwidths, kernels, options) and checks the library's contract on every answer.
//
// The contract checked: every call either throws an exception derived from nadaraya::Error, or
// returns an answer of the documented shape whose values are what the documentation promises —
// finite where the mathematical answer is finite and representable, NaN or -inf only where the
// README says so (a query no compact kernel reaches, leave-one-out without another sample), and
// convex combinations within the range of what they combine. Anything else (another exception,
// a crash, a sanitizer report, a NaN or infinity where a finite value is documented) aborts.
#ifndef NADARAYA_FUZZ_COMMON_HPP
#define NADARAYA_FUZZ_COMMON_HPP

#include <fuzzer/FuzzedDataProvider.h>  // ships with clang (libclang-common-*-dev)

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <cstdio>      // std::fprintf: the reason for an abort
#include <cstdlib>     // std::abort
#include <cstring>     // std::memcpy, std::memcmp: bit patterns
#include <functional>  // std::function: the context printed on a violation
#include <iostream>    // std::cerr: that context
#include <limits>
#include <type_traits>
#include <utility>  // std::pair
#include <vector>

#include <nadaraya/nadaraya.hpp>

/// Known library issues (see fuzz/README.md). While a reported defect is open, the oracle can
/// accept its documented-as-wrong outcome under the exact condition that triggers it, so that the
/// fuzzers keep looking for everything else. All found so far are fixed: 0.
#ifndef NADARAYA_FUZZ_KNOWN_ISSUES
#define NADARAYA_FUZZ_KNOWN_ISSUES 0
#endif

namespace nadaraya_fuzz {

template <class Scalar>
using MatrixOf = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
template <class Scalar>
using VectorOf = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

// ---------------------------------------------------------------------------------------------
// Failing loudly
// ---------------------------------------------------------------------------------------------

/// What the target is doing, printed when a check fails (set by the targets; may be empty).
inline std::function<void()>& context() {
  static std::function<void()> describe;
  return describe;
}

[[noreturn]] inline void violation(const char* file, int line, const char* condition,
                                   const char* what) {
  std::fprintf(stderr, "\n%s:%d: contract violated: %s\n  check: %s\n", file, line, what,
               condition);
  if (context()) context()();
  std::abort();
}

/// Prints a named matrix at full precision (for the context of a violation).
template <class Derived>
void print(const char* name, const Eigen::MatrixBase<Derived>& m) {
  const Eigen::IOFormat format(Eigen::FullPrecision, 0, ", ", "\n", "    [", "]");
  std::cerr << "  " << name << " (" << m.rows() << " x " << m.cols() << "):\n"
            << m.format(format) << "\n";
}

#define NADARAYA_FUZZ_CHECK(condition, what)                                            \
  do {                                                                                  \
    if (!(condition)) ::nadaraya_fuzz::violation(__FILE__, __LINE__, #condition, what); \
  } while (false)

/// Runs f; true if it returned, false if it threw a nadaraya::Error. Any other exception escapes
/// and terminates the process, which libFuzzer reports as a crash.
template <class F>
bool attempt(F&& f) {
  try {
    f();
    return true;
  } catch (const nadaraya::Error&) {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding bytes
// ---------------------------------------------------------------------------------------------

/// Numbers worth hitting on purpose: signed zeros, subnormals, the ends of the range, values just
/// around 1, powers of ten that make widths and distances over- or underflow, and the non-finite.
template <class Scalar>
Scalar special_value(unsigned index) {
  using limits = std::numeric_limits<Scalar>;
  const Scalar table[] = {Scalar(0),
                          -Scalar(0),
                          Scalar(1),
                          Scalar(-1),
                          Scalar(0.5),
                          Scalar(2),
                          Scalar(3),
                          Scalar(-7),
                          limits::min(),
                          -limits::min(),
                          limits::denorm_min(),
                          -limits::denorm_min(),
                          limits::max(),
                          limits::lowest(),
                          limits::max() / Scalar(2),
                          limits::epsilon(),
                          Scalar(1) + limits::epsilon(),
                          Scalar(1) - limits::epsilon() / Scalar(2),
                          static_cast<Scalar>(1e-12),
                          static_cast<Scalar>(1e12),
                          static_cast<Scalar>(1e-30),
                          static_cast<Scalar>(1e30),
                          static_cast<Scalar>(std::is_same<Scalar, float>::value ? 1e-38 : 1e-300),
                          static_cast<Scalar>(std::is_same<Scalar, float>::value ? 1e38 : 1e300),
                          static_cast<Scalar>(1e6),
                          static_cast<Scalar>(-1e6),
                          std::sqrt(limits::max()),
                          std::sqrt(limits::min()),
                          limits::quiet_NaN(),
                          limits::infinity(),
                          -limits::infinity()};
  return table[index % (sizeof(table) / sizeof(table[0]))];
}

/// The fuzzer's bytes as estimator inputs.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : m_data(data, size) {}

  bool empty() { return m_data.remaining_bytes() == 0; }
  bool flag() { return m_data.ConsumeBool(); }
  /// An integer in [low, high].
  int pick(int low, int high) { return m_data.ConsumeIntegralInRange<int>(low, high); }
  Eigen::Index size(int low, int high) { return static_cast<Eigen::Index>(pick(low, high)); }

  /// One number: a special value (1/4), a small multiple of 1/16 in [-8, 8), which makes
  /// duplicates and exact ties likely (1/2), or an arbitrary bit pattern, NaNs included (1/4).
  template <class Scalar>
  Scalar number() {
    const auto selector = m_data.ConsumeIntegral<std::uint8_t>();
    if (selector < 64) return special_value<Scalar>(m_data.ConsumeIntegral<std::uint8_t>());
    if (selector < 192) {
      return static_cast<Scalar>(m_data.ConsumeIntegral<std::int8_t>()) / Scalar(16);
    }
    using Bits = typename std::conditional<sizeof(Scalar) == 4, std::uint32_t, std::uint64_t>::type;
    const Bits bits = m_data.ConsumeIntegral<Bits>();
    Scalar value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
  }

  template <class Scalar>
  MatrixOf<Scalar> matrix(Eigen::Index rows, Eigen::Index cols) {
    MatrixOf<Scalar> m(rows, cols);
    for (Eigen::Index j = 0; j < cols; ++j) {
      for (Eigen::Index i = 0; i < rows; ++i) m(i, j) = number<Scalar>();
    }
    return m;
  }

  /// A width: usually a positive number, sometimes anything at all.
  double width() {
    const double h = number<double>();
    return flag() ? std::abs(h) : h;
  }

  /// A bandwidth for d columns (possibly the wrong number of widths, or invalid ones: the
  /// factories throw nadaraya::Error, which the caller lets pass).
  nadaraya::Bandwidth bandwidth(Eigen::Index d) {
    const nadaraya::WidthUnit unit =
        flag() ? nadaraya::WidthUnit::kernel_scale : nadaraya::WidthUnit::standard_deviation;
    switch (pick(0, 3)) {
      case 0:
        return nadaraya::Bandwidth::scalar(width(), unit);
      case 1: {
        const Eigen::Index count = flag() ? d : size(0, 6);
        Eigen::VectorXd h(count);
        for (Eigen::Index j = 0; j < count; ++j) h(j) = width();
        return nadaraya::Bandwidth::per_dimension(h, unit);
      }
      case 2:
        return nadaraya::Bandwidth::silverman();
      default:
        return nadaraya::Bandwidth::scott();
    }
  }

  nadaraya::Options options() {
    nadaraya::Options options;
    options.unreached = flag() ? nadaraya::Unreached::nan : nadaraya::Unreached::nearest_neighbour;
    const int threads[] = {1, 1, 1, 2, 0, -1};
    options.threads = threads[pick(0, 5)];
    return options;
  }

  /// Sample weights for n rows: none (empty), or arbitrary numbers, usually of the right count.
  Eigen::VectorXd weights(Eigen::Index n) {
    if (flag()) return Eigen::VectorXd();
    const Eigen::Index count = flag() ? n : size(0, 14);
    Eigen::VectorXd w(count);
    for (Eigen::Index i = 0; i < count; ++i)
      w(i) = flag() ? std::abs(number<double>()) : number<double>();
    return w;
  }

 private:
  FuzzedDataProvider m_data;
};

/// Calls f(Kernel{}) for the kernel numbered `which` (Constant only when allowed).
template <class F>
void with_kernel(int which, bool allow_constant, F&& f) {
  switch (which % (allow_constant ? 9 : 8)) {
    case 0:
      return f(nadaraya::Gaussian{});
    case 1:
      return f(nadaraya::Epanechnikov{});
    case 2:
      return f(nadaraya::Uniform{});
    case 3:
      return f(nadaraya::Triangular{});
    case 4:
      return f(nadaraya::Biweight{});
    case 5:
      return f(nadaraya::Triweight{});
    case 6:
      return f(nadaraya::Cosine{});
    case 7:
      return f(nadaraya::Laplacian{});
    default:
      return f(nadaraya::Constant{});
  }
}

// ---------------------------------------------------------------------------------------------
// What the input says about validity
// ---------------------------------------------------------------------------------------------

/// Whether fit() must refuse these weights: wrong count, non-finite or negative entries, zero sum.
inline bool weights_invalid(const Eigen::VectorXd& w, Eigen::Index n) {
  if (w.size() == 0) return false;
  if (w.size() != n) return true;
  double total = 0;
  for (Eigen::Index i = 0; i < w.size(); ++i) {
    if (!std::isfinite(w(i)) || w(i) < 0) return true;
    total += w(i);
  }
  return !(total > 0);
}

/// Known issue 3 (reported): the library uses the weights as given, in double. It normalises
/// them as w_i / sum_j w_j, so a sum that overflows, or a positive weight below ~1e-308 of the
/// sum, turns into weight 0; and the nearest-neighbour fallback sums w_i y_i unnormalised, which
/// overflows when a weight times an output passes the largest double, and loses digits when it
/// falls near the subnormals. `largest_output` and `smallest_output` are the largest and the
/// smallest non-zero |y| pooled with the weights (1 for probabilities and densities).
inline bool weights_extreme(const Eigen::VectorXd& w, double largest_output = 1,
                            double smallest_output = 1) {
  if (!NADARAYA_FUZZ_KNOWN_ISSUES || w.size() == 0) return false;
  using limits = std::numeric_limits<double>;
  const double total = w.sum();
  if (!std::isfinite(total)) return true;
  const auto terms = static_cast<double>(w.size() + 1);
  if (w.maxCoeff() * std::max(largest_output, 1.0) * terms > limits::max() / 4) return true;
  for (Eigen::Index i = 0; i < w.size(); ++i) {
    if (!(w(i) > 0)) continue;
    if (!(w(i) / total >= limits::min())) return true;
    if (w(i) * std::min(smallest_output, 1.0) < limits::min() / limits::epsilon()) return true;
  }
  return false;
}

/// The largest and the smallest non-zero magnitude in Y (1 and 1 when there is none).
template <class Scalar>
std::pair<double, double> output_magnitudes(const MatrixOf<Scalar>& Y) {
  double largest = 0, smallest = std::numeric_limits<double>::infinity();
  for (Eigen::Index j = 0; j < Y.cols(); ++j) {
    for (Eigen::Index i = 0; i < Y.rows(); ++i) {
      const double y = std::abs(static_cast<double>(Y(i, j)));
      if (!(y > 0) || !std::isfinite(y)) continue;
      largest = std::max(largest, y);
      smallest = std::min(smallest, y);
    }
  }
  return largest > 0 ? std::make_pair(largest, smallest) : std::make_pair(1.0, 1.0);
}

/// Known issue 3b (reported): leave-one-out densities renormalise by 1 - w_i / sum w, which is 0
/// when the other samples' weights are below the rounding of w_i: -inf although they reach x_i.
inline bool loo_rest_vanishes(const Eigen::VectorXd& w, Eigen::Index i) {
  return NADARAYA_FUZZ_KNOWN_ISSUES && w.size() != 0 && w(i) / w.sum() == 1.0;
}

// ---------------------------------------------------------------------------------------------
// Reach: which (query, key) pairs the engine must see as positive weights
// ---------------------------------------------------------------------------------------------

/// Per query: does some key of positive weight surely reach it, and could the engine's squared
/// distance overflow for every such key? Computed from the same scaled coordinates the engine
/// sees (column j divided by the width cast to Scalar), with the squared distance in long double.
struct Reach {
  std::vector<bool> surely_reached;    // some positive-weight key is well inside the support
  std::vector<bool> overflow_for_all;  // every positive-weight key's r2 may overflow in Scalar
  std::vector<bool> log_below_range;   // every positive-weight key's log-profile, in long double,
                                       // is below minus Scalar's largest value: the log density's
                                       // own overflow, -inf (the Laplacian at r > max)
};

/// `leave_one_out`: the queries are the samples, and query i may not use sample i.
template <class Kernel, class Scalar>
Reach reach(const MatrixOf<Scalar>& queries, const MatrixOf<Scalar>& X,
            const Eigen::VectorXd& widths, const Eigen::VectorXd& weights, bool leave_one_out) {
  const Eigen::Index m = queries.rows(), n = X.rows(), d = X.cols();
  MatrixOf<Scalar> q_scaled(m, d), x_scaled(n, d);
  for (Eigen::Index j = 0; j < d; ++j) {
    q_scaled.col(j) = queries.col(j) / static_cast<Scalar>(widths(j));
    x_scaled.col(j) = X.col(j) / static_cast<Scalar>(widths(j));
  }
  const long double max = static_cast<long double>(std::numeric_limits<Scalar>::max());
  Reach result{std::vector<bool>(static_cast<std::size_t>(m), false),
               std::vector<bool>(static_cast<std::size_t>(m), true),
               std::vector<bool>(static_cast<std::size_t>(m), true)};
  for (Eigen::Index q = 0; q < m; ++q) {
    for (Eigen::Index i = 0; i < n; ++i) {
      if (leave_one_out && i == q) continue;
      if (weights.size() != 0 && !(weights(i) > 0)) continue;
      long double r2 = 0;
      for (Eigen::Index j = 0; j < d; ++j) {
        const long double u =
            static_cast<long double>(q_scaled(q, j)) - static_cast<long double>(x_scaled(i, j));
        r2 += u * u;
      }
      // Well inside: any rounding of r2 in Scalar keeps it inside (relative error ~ d eps).
      const bool inside = nadaraya::kernel_traits<Kernel>::is_compact ? r2 < 0.9L : r2 < max / 4;
      if (std::is_same<Kernel, nadaraya::Constant>::value || inside) {
        result.surely_reached[static_cast<std::size_t>(q)] = true;
      }
      if (!(r2 > max / 4)) result.overflow_for_all[static_cast<std::size_t>(q)] = false;
      // A relative margin for the rounding of r2 in Scalar before the library's long-double pass.
      if (!(-nadaraya::kernel_traits<Kernel>::log_profile(r2) > max * (1 - 1e-6L))) {
        result.log_below_range[static_cast<std::size_t>(q)] = false;
      }
    }
  }
  return result;
}

/// Known issue 1 (reported): an unbounded kernel reaches every query, but when every scaled
/// squared distance overflows in Scalar the engine sees only -inf log-weights: NaN predictions
/// (the documented answer is the nearest sample's) and log densities of -inf for the Laplacian.
template <class Kernel>
bool unbounded_overflow(const Reach& r, Eigen::Index q) {
  return NADARAYA_FUZZ_KNOWN_ISSUES && !nadaraya::kernel_traits<Kernel>::is_compact &&
         r.overflow_for_all[static_cast<std::size_t>(q)];
}

/// Known issue 2 (reported): outputs are summed before the division, so a column whose
/// magnitudes add up past the largest finite value overflows to +-inf (or NaN once inf * 0).
template <class Scalar>
bool outputs_may_overflow(const MatrixOf<Scalar>& Y, Eigen::Index column) {
  const double max = static_cast<double>(std::numeric_limits<Scalar>::max());
  return NADARAYA_FUZZ_KNOWN_ISSUES &&
         static_cast<double>(Y.col(column).template cast<double>().cwiseAbs().sum()) > max / 2;
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

template <class Scalar>
bool same_bits(const MatrixOf<Scalar>& a, const MatrixOf<Scalar>& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(Scalar)) == 0;
}

/// Rows of a probability matrix: all NaN (only where `nan_allowed(row)`), or in [0, 1] summing to
/// one up to rounding (`weights_unreliable`: known issue 3 applies, and only [0, 1] is checked).
template <class Scalar, class Allowed>
void check_distributions(const MatrixOf<Scalar>& P, Eigen::Index terms, bool weights_unreliable,
                         Allowed nan_allowed) {
  const double tolerance = 8.0 * static_cast<double>(terms + 2) *
                           static_cast<double>(std::numeric_limits<Scalar>::epsilon());
  for (Eigen::Index q = 0; q < P.rows(); ++q) {
    if (P.cols() == 0) continue;
    if (std::isnan(P(q, 0))) {
      NADARAYA_FUZZ_CHECK(nan_allowed(q), "a NaN row where a distribution is documented");
      NADARAYA_FUZZ_CHECK(P.row(q).array().isNaN().all(), "a partly NaN row");
      continue;
    }
    double total = 0;
    for (Eigen::Index c = 0; c < P.cols(); ++c) {
      const double p = static_cast<double>(P(q, c));
      if (!(p >= 0 && p <= 1 + tolerance)) print("row", P.row(q));
      NADARAYA_FUZZ_CHECK(p >= 0 && p <= 1 + tolerance, "a probability outside [0, 1]");
      total += p;
    }
    if (weights_unreliable) continue;
    if (!(std::abs(total - 1) <= tolerance)) print("row", P.row(q));
    NADARAYA_FUZZ_CHECK(std::abs(total - 1) <= tolerance, "probabilities that do not sum to 1");
  }
}

/// Known issue 5 (reported): for compact kernels the engine multiplies the outputs by the kernel
/// profile itself, not by the weight relative to the largest one, so a_i y_i falls into the
/// subnormals (and loses digits) when |y| is tiny and a_i small: an absolute error up to about
/// denorm_min / min a, with min a ~ (eps / 2)^3 for the Triweight's (1 - r2)^3 at the edge.
template <class Scalar>
double profile_underflow_slack(bool compact, Eigen::Index n) {
  if (!NADARAYA_FUZZ_KNOWN_ISSUES || !compact) return 0;
  const double eps = static_cast<double>(std::numeric_limits<Scalar>::epsilon());
  return static_cast<double>(n + 2) * 8 *
         static_cast<double>(std::numeric_limits<Scalar>::denorm_min()) / (eps * eps * eps);
}

/// Rows of pooled outputs: NaN (only where `nan_allowed(row)`, which also covers the known issues
/// that give +-inf), or each value within the
/// range of its output column up to rounding (a convex combination of the outputs). Rounding:
/// a few ulps per term relative to the largest output, plus one subnormal step per term
/// (weights below 1 times tiny outputs underflow gradually).
/// `weights_unreliable`: known issue 3 applies, and only NaN-or-not is checked.
template <class Scalar, class Allowed>
void check_pooled(const MatrixOf<Scalar>& predicted, const MatrixOf<Scalar>& Y, bool compact,
                  bool weights_unreliable, Allowed nan_allowed) {
  const double underflow = static_cast<double>(Y.rows() + 2) *
                               static_cast<double>(std::numeric_limits<Scalar>::denorm_min()) +
                           profile_underflow_slack<Scalar>(compact, Y.rows());
  const double eps = static_cast<double>(std::numeric_limits<Scalar>::epsilon());
  for (Eigen::Index q = 0; q < predicted.rows(); ++q) {
    for (Eigen::Index c = 0; c < predicted.cols(); ++c) {
      const double value = static_cast<double>(predicted(q, c));
      if (outputs_may_overflow(Y, c) && !std::isfinite(value)) continue;  // known issue 2
      if (!std::isfinite(value)) {
        NADARAYA_FUZZ_CHECK(std::isnan(value) || nan_allowed(q),
                            "an infinite prediction from finite outputs");
        NADARAYA_FUZZ_CHECK(nan_allowed(q), "a NaN prediction where a finite one is documented");
        continue;
      }
      if (weights_unreliable) continue;
      const double low = static_cast<double>(Y.col(c).minCoeff());
      const double high = static_cast<double>(Y.col(c).maxCoeff());
      const double slack =
          4.0 * static_cast<double>(Y.rows() + 2) * eps * std::max(std::abs(low), std::abs(high)) +
          underflow;
      if (!(value >= low - slack && value <= high + slack)) {
        std::cerr.precision(17);
        std::cerr << "  row " << q << ", output " << c << ": " << value << " not in [" << low
                  << ", " << high << "] +- " << slack << "\n";
      }
      NADARAYA_FUZZ_CHECK(value >= low - slack && value <= high + slack,
                          "a prediction outside the range of the outputs");
    }
  }
}

/// Log densities: never NaN or +inf; -inf only where `minus_inf_allowed(row)`.
template <class Scalar, class Allowed>
void check_log_density(const VectorOf<Scalar>& log_p, Allowed minus_inf_allowed) {
  for (Eigen::Index q = 0; q < log_p.size(); ++q) {
    const double value = static_cast<double>(log_p(q));
    NADARAYA_FUZZ_CHECK(!std::isnan(value), "a NaN log density");
    NADARAYA_FUZZ_CHECK(value < std::numeric_limits<double>::infinity(), "a +inf log density");
    if (value == -std::numeric_limits<double>::infinity()) {
      NADARAYA_FUZZ_CHECK(minus_inf_allowed(q), "log density -inf where the density is positive");
    }
  }
}

}  // namespace nadaraya_fuzz

#endif  // NADARAYA_FUZZ_COMMON_HPP
