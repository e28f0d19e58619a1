#ifndef NADARAYA_SOFTMAX_GRADIENT_ACCUMULATOR_HPP
#define NADARAYA_SOFTMAX_GRADIENT_ACCUMULATOR_HPP

#include <Eigen/Core>
#include <array>
#include <cmath>    // std::exp, std::log
#include <cstddef>  // std::size_t
#include <limits>
#include <vector>

#include "config.hpp"                // NADARAYA_ASSERT
#include "detail/block_moments.hpp"  // the block's sums in one pass
#include "detail/exp.hpp"            // exp_neg: the block's weights, vectorised
#include "detail/lanes.hpp"          // lane_sum, lane_dot

namespace nadaraya {

/// One query against one block of keys, as the objectives' pass hands it to a block accumulator.
template <class Scalar>
struct PairBlock {
  Eigen::Index query;            ///< the query's position in the pass
  Eigen::Index begin;            ///< the block's first key
  Eigen::Index count;            ///< keys in the block: a multiple of the lane count
  const Scalar* log_weight;      ///< count: log w_k + log k(r2_k); -inf for keys that do not
                                 ///< count (weight zero, padding, the excluded key, outside a
                                 ///< compact support)
  Scalar max;                    ///< the largest of log_weight (finite: blocks where no key
                                 ///< counts are not handed over)
  const Scalar* r2;              ///< count: squared scaled distances
  const Scalar* key_log_weight;  ///< count: log w_k alone (-inf on the padding)
  const Scalar* query_point;     ///< d scaled coordinates of the query
  const Scalar* key_columns;     ///< coordinate j of key begin + k at key_columns[j * stride + k]
  Eigen::Index stride;           ///< rows of the key matrix (the padded key count)
  Eigen::Index dimensions;       ///< d
};

/// The derivative of the log-weights with respect to the log-widths theta over a block, in the
/// form the gradient accumulators use: g_kj = f_k * b_j(k), with the basis b_j(k) = u_kj^2 (one
/// entry per dimension) or r2_k (one shared width), and f_k = -2 dlog_profile(r2_k), 0 for keys
/// that do not count and at r2 = 0 (see objectives.hpp).
template <class Scalar>
struct BlockGradient {
  const Scalar* factors;  ///< count: f_k; null when every key has `factor`
  Scalar factor;          ///< f_k for every key when `factors` is null (linear log-profiles)
  bool per_dimension;     ///< basis u_kj^2 per dimension, or r2_k for one shared width
};

/// The running state of one query's softmax pooling *and its derivatives*: with log-weights l_k,
/// per-pair derivative vectors g_k (p entries) and values y_k (q entries), it holds
/// \f[ M = \max_k l_k,\; s = \sum_k e^{l_k - M},\; v = \sum_k e^{l_k - M} y_k,\;
///     G = \sum_k e^{l_k - M} g_k,\; C = \sum_k e^{l_k - M} g_k y_k^T, \f]
/// from which the softmax means E[y], E[g] and E[g y^T] give every objective's value and gradient.
/// Like SoftmaxAccumulator, no weight is formed outside [0, 1], so tiny widths stay exact, and two
/// states over disjoint key sets merge exactly (`merge`).
///
/// \tparam Scalar_ float or double.
template <class Scalar_>
class SoftmaxGradientAccumulator {
 public:
  using Scalar = Scalar_;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  /// \param outputs    number of value entries q per key (0: weights and derivatives only)
  /// \param parameters number of derivative entries p per key
  explicit SoftmaxGradientAccumulator(Eigen::Index outputs = 0, Eigen::Index parameters = 0)
      : m_outputs(outputs),
        m_parameters(parameters),
        m_size(1 + outputs + parameters + parameters * outputs) {
    if (m_size > inline_size) m_heap.assign(static_cast<std::size_t>(m_size), Scalar(0));
  }

  void reset() {
    m_max = -std::numeric_limits<Scalar>::infinity();
    buffer().setZero();
  }

  /// Adds a key of log-weight `log_weight` (-inf: skipped), derivative vector `gradient` (p
  /// entries) and value `value` (q entries; may be null when q = 0).
  void add(Scalar log_weight, const Scalar* gradient, const Scalar* value) {
    Scalar weight;
    if (log_weight > m_max) {
      // A new maximum: bring everything summed so far to the new reference (0 for the first key).
      if (m_max > -std::numeric_limits<Scalar>::infinity())
        buffer() *= std::exp(m_max - log_weight);
      m_max = log_weight;
      weight = Scalar(1);
    } else if (log_weight > -std::numeric_limits<Scalar>::infinity()) {
      weight = std::exp(log_weight - m_max);
    } else {
      return;
    }
    Scalar* sum = data();
    Scalar* values = sum + 1;
    Scalar* gradients = values + m_outputs;
    Scalar* cross = gradients + m_parameters;
    sum[0] += weight;
    for (Eigen::Index c = 0; c < m_outputs; ++c) values[c] += weight * value[c];
    for (Eigen::Index j = 0; j < m_parameters; ++j) {
      const Scalar weighted_gradient = weight * gradient[j];
      gradients[j] += weighted_gradient;
      Scalar* cross_row = cross + j * m_outputs;
      for (Eigen::Index c = 0; c < m_outputs; ++c) cross_row[c] += weighted_gradient * value[c];
    }
  }

  /// Adds a block of keys at once, the objectives' form of `add` (objective_base.hpp): the
  /// state is rescaled once for the block, its weights are exponentiated together (detail::exp_neg)
  /// and the sums run over the block in one pass (detail::block_moments) for the common shapes,
  /// otherwise as plain loops, which vectorise. The same sums as `add` over the block's keys, up
  /// to rounding.
  ///
  /// \param block       the keys' geometry (query, key columns, r2) for the derivative basis
  /// \param log_weights block.count log-weights (-inf: the key is skipped)
  /// \param max         their maximum (-inf: nothing to add)
  /// \param values      q pointers, value c of key begin + k at values[c][k] (null when q = 0)
  /// \param gradient    the derivative vectors g_kj = f_k b_j(k) (see BlockGradient);
  ///                    its factors must be finite, and zero where the log-weight is -inf
  /// \param scratch     2 block.count scalars
  void add_block(const PairBlock<Scalar>& block, const Scalar* log_weights, Scalar max,
                 const Scalar* const* values, const BlockGradient<Scalar>& gradient,
                 Scalar* scratch) {
    if (!(max > -std::numeric_limits<Scalar>::infinity())) return;
    if (max > m_max) {
      // Once per block, not per key: bring the sums so far to the new reference.
      if (m_max > -std::numeric_limits<Scalar>::infinity()) buffer() *= std::exp(m_max - max);
      m_max = max;
    }
    // Every weight of the block flushes to exactly 0, and so does every term it would add: skip
    // the block, bit for bit the same sums.
    if (detail::exp_neg_flushes_from(m_max - max)) return;
    const Eigen::Index count = block.count;
    Scalar* weights = scratch;
    Scalar* terms = scratch + count;
    const Scalar reference = m_max;
    if (m_parameters > 0 &&
        add_fused_block<false>(block, log_weights, Scalar(0), reference, values, gradient))
      return;
    // exp(l_k - M) <= 1; exp_neg(+inf) = 0 for the skipped keys.
    for (Eigen::Index k = 0; k < count; ++k)
      weights[k] = detail::exp_neg(reference - log_weights[k]);
    Scalar* sum = data();
    Scalar* value_sums = sum + 1;
    Scalar* gradients = value_sums + m_outputs;
    Scalar* cross = gradients + m_parameters;
    sum[0] += detail::lane_sum(weights, count);
    for (Eigen::Index c = 0; c < m_outputs; ++c)
      value_sums[c] += detail::lane_dot(weights, values[c], count);
    if (m_parameters == 0) return;
    // From here on weights[k] holds w_k f_k (or w_k, the constant factor applied to the sums).
    Scalar factor = gradient.factor;
    if (gradient.factors != nullptr) {
      for (Eigen::Index k = 0; k < count; ++k) weights[k] *= gradient.factors[k];
      factor = Scalar(1);
    }
    // The terms are stored and then summed by lane_sum / lane_dot: fusing the sums into this loop
    // (lane arrays of partial sums) made GCC 12 emit permutes and spills, twice as slow.
    for (Eigen::Index j = 0; j < m_parameters; ++j) {
      if (gradient.per_dimension) {
        const Scalar* column = block.key_columns + j * block.stride;
        const Scalar coordinate = block.query_point[j];
        for (Eigen::Index k = 0; k < count; ++k) {
          const Scalar difference = coordinate - column[k];
          terms[k] = weights[k] * (difference * difference);
        }
      } else {
        for (Eigen::Index k = 0; k < count; ++k) terms[k] = weights[k] * block.r2[k];
      }
      gradients[j] += factor * detail::lane_sum(terms, count);
      Scalar* cross_row = cross + j * m_outputs;
      for (Eigen::Index c = 0; c < m_outputs; ++c)
        cross_row[c] += factor * detail::lane_dot(terms, values[c], count);
    }
  }

  /// add_block for a block known to lie below the running maximum (finite: a seeded state):
  /// every log-weight slope r2_k + block.key_log_weight[k] of a linear log-profile, with r2 from
  /// block.key_columns, is at most max_log_weight(). They are formed inside the one pass over the
  /// keys, never stored (block.log_weight and block.r2 are not read): the sorted line's blocks
  /// away from the query. The same sums, bit for bit, as add_block over those log-weights. False:
  /// not a shape the one pass takes (add_fused_block), nothing added.
  bool add_block_below(const PairBlock<Scalar>& block, Scalar slope, const Scalar* const* values,
                       const BlockGradient<Scalar>& gradient) {
    NADARAYA_ASSERT(m_max > -std::numeric_limits<Scalar>::infinity());
    return add_fused_block<true>(block, block.key_log_weight, slope, m_max, values, gradient);
  }

  /// Starts an empty state's running maximum at `max`, a lower bound of the largest log-weight to
  /// come (from the query's nearest keys): blocks that flush to 0 against it are skipped from the
  /// first one on, not only once the maximum has been reached.
  void seed(Scalar max) {
    NADARAYA_ASSERT(empty());
    if (max > m_max) m_max = max;
  }

  /// Folds in the state of a disjoint set of keys: afterwards *this is the state of the union.
  void merge(const SoftmaxGradientAccumulator& other) {
    NADARAYA_ASSERT(other.m_size == m_size);
    if (other.empty()) return;
    if (empty()) {
      *this = other;
      return;
    }
    const Scalar max = m_max > other.m_max ? m_max : other.m_max;
    buffer() = buffer() * std::exp(m_max - max) + other.buffer() * std::exp(other.m_max - max);
    m_max = max;
  }

  /// True until a key with a positive weight has been added.
  bool empty() const { return !(data()[0] > 0); }
  Scalar max_log_weight() const { return m_max; }
  /// s: the sum of the weights relative to exp(M).
  Scalar scaled_sum() const { return data()[0]; }
  /// log of the sum of the weights; -inf when empty.
  Scalar log_sum() const {
    return empty() ? -std::numeric_limits<Scalar>::infinity() : m_max + std::log(data()[0]);
  }
  /// v_c, G_j and C_jc, relative to exp(M).
  Scalar scaled_value(Eigen::Index c) const { return data()[1 + c]; }
  Scalar scaled_gradient(Eigen::Index j) const { return data()[1 + m_outputs + j]; }
  Scalar scaled_cross(Eigen::Index j, Eigen::Index c) const {
    return data()[1 + m_outputs + m_parameters + j * m_outputs + c];
  }
  Eigen::Index outputs() const { return m_outputs; }
  Eigen::Index parameters() const { return m_parameters; }

 private:
  // add_block's sums in one pass (detail::block_moments, the weights exp(l_k - reference) formed
  // in it) for the common shapes: one constant derivative factor (the Gaussian), at most one
  // value column, at most four parameters; with FromKeys (add_block_below) the log-weights
  // slope r2 + log_weights[k] too, r2 from one key column per width (one shared width: one
  // column). False: not such a shape, nothing added.
  template <bool FromKeys>
  bool add_fused_block(const PairBlock<Scalar>& block, const Scalar* log_weights, Scalar slope,
                       Scalar reference, const Scalar* const* values,
                       const BlockGradient<Scalar>& gradient) {
    if (gradient.factors != nullptr || m_outputs > 1) return false;
    if (FromKeys && block.dimensions != (gradient.per_dimension ? m_parameters : 1)) return false;
    if (!gradient.per_dimension)
      return m_parameters == 1 &&
             add_moments<1, false, FromKeys>(block, log_weights, slope, reference, values,
                                             gradient.factor);
    switch (m_parameters) {
      case 1:
        return add_moments<1, true, FromKeys>(block, log_weights, slope, reference, values,
                                              gradient.factor);
      case 2:
        return add_moments<2, true, FromKeys>(block, log_weights, slope, reference, values,
                                              gradient.factor);
      case 3:
        return add_moments<3, true, FromKeys>(block, log_weights, slope, reference, values,
                                              gradient.factor);
      case 4:
        return add_moments<4, true, FromKeys>(block, log_weights, slope, reference, values,
                                              gradient.factor);
      default:
        return false;
    }
  }

  template <int Dims, bool PerDimension, bool FromKeys>
  bool add_moments(const PairBlock<Scalar>& block, const Scalar* log_weights, Scalar slope,
                   Scalar reference, const Scalar* const* values, Scalar factor) {
    if (m_outputs == 0) {
      add_moments<Dims, 0, PerDimension, FromKeys>(block, log_weights, slope, reference, values,
                                                   factor);
    } else {
      add_moments<Dims, 1, PerDimension, FromKeys>(block, log_weights, slope, reference, values,
                                                   factor);
    }
    return true;
  }

  template <int Dims, int Outputs, bool PerDimension, bool FromKeys>
  void add_moments(const PairBlock<Scalar>& block, const Scalar* log_weights, Scalar slope,
                   Scalar reference, const Scalar* const* values, Scalar factor) {
    constexpr int weight_sums = 1 + Outputs;  // s and v: the rest are derivative sums
    Scalar sums[weight_sums + Dims * (1 + Outputs)];
    detail::block_moments<Dims, Outputs, PerDimension, FromKeys>(
        block.key_columns, block.stride, block.query_point, block.r2, block.count, log_weights,
        slope, reference, values, sums);
    Scalar* state = data();  // the same layout as sums
    for (int s = 0; s < weight_sums; ++s) state[s] += sums[s];
    for (int s = weight_sums; s < weight_sums + Dims * (1 + Outputs); ++s)
      state[s] += factor * sums[s];
  }

  Eigen::Index m_outputs;                                   // q: value entries per key
  Eigen::Index m_parameters;                                // p: derivative entries per key
  Scalar m_max = -std::numeric_limits<Scalar>::infinity();  // running maximum log-weight
  // The state [s | v (q) | G (p) | C (p x q)], m_size entries: inside the object up to
  // inline_size (one output and four widths), so that the objectives' per-query states, made at
  // every evaluation, cost no allocation; on the heap beyond.
  static constexpr Eigen::Index inline_size = 10;
  Eigen::Index m_size;
  std::array<Scalar, inline_size> m_inline{};
  std::vector<Scalar> m_heap;

  Scalar* data() { return m_size > inline_size ? m_heap.data() : m_inline.data(); }
  const Scalar* data() const { return m_size > inline_size ? m_heap.data() : m_inline.data(); }
  Eigen::Map<Vector> buffer() { return Eigen::Map<Vector>(data(), m_size); }
  Eigen::Map<const Vector> buffer() const { return Eigen::Map<const Vector>(data(), m_size); }
};
}  // namespace nadaraya

#endif  // NADARAYA_SOFTMAX_GRADIENT_ACCUMULATOR_HPP
