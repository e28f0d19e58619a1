#ifndef NADARAYA_ACCUMULATOR_HPP
#define NADARAYA_ACCUMULATOR_HPP

#include <Eigen/Core>
#include <cmath>  // std::exp, std::log
#include <limits>

namespace nadaraya {

/// The running state of one query's attention pooling: the largest log-weight seen, the sum of
/// the weights relative to it, and the weighted sum of the values relative to it,
/// \f[ M = \max_i l_i,\quad s = \sum_i e^{l_i - M},\quad v = \sum_i e^{l_i - M} y_i. \f]
/// Keeping M apart is the online softmax (log-sum-exp) of flash attention: no weight is ever
/// formed outside [0, 1], so a tiny bandwidth cannot underflow every weight to zero.
///
/// Two states built over disjoint sets of keys merge into the state of their union
/// (`merge`), which lets the keys be split across threads or machines.
///
/// \tparam Scalar_ float or double.
template <class Scalar_>
class SoftmaxAccumulator {
 public:
  using Scalar = Scalar_;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  /// \param outputs number of value columns k (0 to accumulate weights only).
  explicit SoftmaxAccumulator(Eigen::Index outputs = 0) : m_values(Vector::Zero(outputs)) {}

  /// A state given by its parts (as returned by max_log_weight(), scaled_sum() and
  /// scaled_values()), e.g. one computed elsewhere — another thread, another machine — to merge.
  template <class Derived>
  SoftmaxAccumulator(Scalar max_log_weight, Scalar scaled_sum,
                     const Eigen::MatrixBase<Derived>& scaled_values)
      : m_max(max_log_weight), m_sum(scaled_sum), m_values(scaled_values) {}

  void reset() {
    m_max = -std::numeric_limits<Scalar>::infinity();
    m_sum = 0;
    m_values.setZero();
  }

  /// Adds a key of log-weight `log_weight` (may be -inf: the key is skipped) and value `value`.
  template <class Derived>
  void add(Scalar log_weight, const Eigen::MatrixBase<Derived>& value) {
    if (log_weight > m_max) {
      const Scalar scale = std::exp(m_max - log_weight);  // 0 for the first key
      m_sum = m_sum * scale + Scalar(1);
      // In place, not m_values = m_values * scale + value: GCC 12 then sees a possible resize
      // of m_values and warns of a use after free (-Wuse-after-free) in code that inlines this.
      m_values *= scale;
      m_values += value.transpose();
      m_max = log_weight;
    } else if (log_weight > -std::numeric_limits<Scalar>::infinity()) {
      const Scalar weight = std::exp(log_weight - m_max);
      m_sum += weight;
      m_values += weight * value.transpose();
    }
  }

  /// Adds a key without values (weights only).
  void add(Scalar log_weight) { add(log_weight, Vector(0).transpose()); }

  /// Folds in the state of a disjoint set of keys: afterwards *this is the state of the union.
  void merge(const SoftmaxAccumulator& other) {
    if (other.empty()) return;
    if (empty()) {
      *this = other;
      return;
    }
    const Scalar max = m_max > other.m_max ? m_max : other.m_max;
    const Scalar mine = std::exp(m_max - max), theirs = std::exp(other.m_max - max);
    m_sum = m_sum * mine + other.m_sum * theirs;
    m_values *= mine;  // in place: see add()
    m_values += other.m_values * theirs;
    m_max = max;
  }

  /// True until a key with a positive weight has been added.
  bool empty() const { return !(m_sum > 0); }
  Scalar max_log_weight() const { return m_max; }
  Scalar scaled_sum() const { return m_sum; }
  const Vector& scaled_values() const { return m_values; }

  /// log of the sum of the weights; -inf when empty.
  Scalar log_sum() const {
    return empty() ? -std::numeric_limits<Scalar>::infinity() : m_max + std::log(m_sum);
  }

  /// The weighted mean of the values; NaN when empty.
  Vector mean() const {
    if (empty()) return Vector::Constant(m_values.size(), std::numeric_limits<Scalar>::quiet_NaN());
    return m_values / m_sum;
  }

 private:
  Scalar m_max = -std::numeric_limits<Scalar>::infinity();  // running maximum log-weight
  Scalar m_sum = 0;                                         // sum of exp(l_i - m_max)
  Vector m_values;                                          // sum of exp(l_i - m_max) y_i
};

}  // namespace nadaraya

#endif  // NADARAYA_ACCUMULATOR_HPP
