#ifndef NADARAYA_OBJECTIVES_HPP
#define NADARAYA_OBJECTIVES_HPP

#include <Eigen/Core>
#include <algorithm>  // std::sort, std::unique, std::lower_bound, std::max
#include <cmath>      // std::exp, std::log, std::log1p
#include <cstddef>    // std::size_t
#include <limits>
#include <type_traits>
#include <vector>

#include "detail/centre.hpp"  // weighted_centre, centre_rows
#include "detail/check.hpp"
#include "detail/pair_blocks.hpp"  // stream_blocks: the blocked, vectorised pass
#include "detail/parallel.hpp"     // resolve_threads
#include "errors.hpp"
#include "kernel.hpp"
#include "kernels.hpp"  // Gaussian, for the least-squares criterion
#include "pool.hpp"     // stream, PoolOptions

namespace nadaraya {

/// \file objectives.hpp
/// Cross-validation objectives for the kernel widths, each with its exact gradient, computed in
/// one O(n m d) pass over the pairs with an accumulator of this header: no n x n matrix is ever
/// formed. The pass is the blocked, vectorised form of the engine's loop
/// (detail/pair_blocks.hpp: one rescale and one vectorised exponential per block of keys), or,
/// with `ObjectiveOptions::blocked = false`, the plain per-pair `stream` it is tested against.
///
/// **Parameters.** The widths are parameterised as h_j = exp(theta_j), so any real theta is a
/// valid bandwidth and a gradient step changes widths by a factor. `theta` has one entry per input
/// column (per-dimension widths) or a single entry shared by all columns (`per_dimension = false`).
///
/// **Every objective is a weighted sum over the training points**,
/// \f$ L(\theta) = \sum_i p_i \ell_i(\theta) \f$ with p_i = w_i / sum w (1/n without weights),
/// where \f$\ell_i\f$ pools point i against all the other points (leave-one-out) or, with
/// `leave_one_out = false`, against all points including itself (the naive, in-sample objective,
/// minimised as h -> 0; offered to show why leave-one-out is needed). A mini-batch B of points
/// gives the unbiased estimate \f$ (n / |B|) \sum_{i \in B} p_i \ell_i \f$ that SGD steps on.
///
/// **Gradients.** With u_j = (x_ij - x_kj) / h_j and r2 = sum_j u_j^2, the log-weight of the pair
/// (i, k) is log p_k + log k(r2), and
/// \f[ \frac{\partial \log k(r^2)}{\partial \theta_j} = -2 u_j^2 \, \frac{d \log k}{d r^2}(r^2).
/// \f] Every objective below is a function of softmax means of this quantity, accumulated with a
/// running maximum (SoftmaxGradientAccumulator) exactly as the prediction pass accumulates values.
///
/// **Kernels.** Fitting needs the kernel's `dlog_profile` (d log k / d r2); a kernel without it
/// does not compile here. Two special points:
/// - r2 = 0. For the Laplacian and Triangular kernels d log k / d r2 is infinite at 0, but the
///   product u_j^2 d log k / d r2 tends to 0 (u_j^2 <= r2, and r2 dlog_profile(r2) -> 0 for every
///   profile with finite, non-zero k(0)). A pair at r2 = 0 (duplicate points) contributes exactly 0
///   and a pair with u_j = 0 contributes 0 to theta_j: no NaN appears.
/// - The edge of a compact support (r2 = 1). The profiles of Epanechnikov, Triangular and Cosine
///   have a kink there (the slope is finite inside, zero outside), so the objective is continuous
///   but its gradient jumps when a pair crosses the edge; Biweight and Triweight are continuously
///   differentiable; Uniform is piecewise constant, its gradient is zero wherever it exists, and a
///   fit with it stays where it starts. Pairs at or beyond the edge have zero weight and contribute
///   zero (the one-sided derivative from outside).
///
/// **Threading.** The pass is parallel over the points of the batch; each point's term is computed
/// in a fixed key order and the terms are summed in batch order, so values and gradients are
/// bit-identical for any number of threads.
///
/// \code
/// SquaredErrorObjective<Gaussian> objective(X, Y);      // leave-one-out, per-dimension
/// Eigen::VectorXd theta = Eigen::VectorXd::Constant(X.cols(), std::log(0.3)), gradient;
/// double loss = objective.value_and_gradient(theta, gradient);
/// \endcode

/// How an objective is computed.
struct ObjectiveOptions {
  bool leave_one_out = true;  ///< false: each point is also pooled against itself (naive objective)
  bool per_dimension = true;  ///< one log-width per input column; false: one shared log-width
  int threads = 0;            ///< 0: OpenMP's default; 1: serial. Results do not depend on it.
  bool blocked = true;        ///< the blocked, vectorised pass (detail/pair_blocks.hpp); false:
                              ///< the plain per-pair `stream` loop, the reference it is tested
                              ///< against (the same sums up to rounding, several times slower)
};

namespace detail {

/// The sums of SoftmaxGradientAccumulator::add_block over a block, in one pass over its keys:
/// with weights w_k, derivative basis b_jk (u_kj^2 from the key columns, or r2_k for one shared
/// width) and Outputs (0 or 1) value columns y_k, writes
///   [ sum w | sum w y | sum w b_j (Dims) | sum (w b_j) y (Dims) ]
/// (the layout of SoftmaxGradientAccumulator's state). The separate loops (lane_sum, lane_dot)
/// read the block 3 + 3 Dims times, this one once. It forms the same products; where its partial
/// sums fit in ten registers it also adds them in the same order (lane_count partial sums, then
/// lane by lane), so that the sums are bit for bit the separate loops' (when the compiler fuses
/// their multiply-adds, as GCC does by default with FMA). Otherwise each sum keeps
/// one packet of partial sums: the order of the additions differs (the sums agree to rounding),
/// since two packets per sum spill (measured: 30% slower fits at d = 3 with one output).
///
/// Written with Eigen's packet primitives, as the register tile of score.hpp: GCC 12 turns the
/// same loop over fixed-size lane arrays into transposes (vunpck/vpermpd) and spills (measured:
/// 1.5 times slower than the separate loops); with packets each partial sum stays in registers.
template <int Dims, int Outputs, bool PerDimension, class Scalar>
void block_moments(const PairBlock<Scalar>& block, const Scalar* weights,
                   const Scalar* const* values, Scalar* sums) noexcept {
  static_assert(Outputs == 0 || Outputs == 1, "block_moments: at most one value column");
  using Packet = typename Eigen::internal::packet_traits<Scalar>::type;
  constexpr Index size = Eigen::internal::packet_traits<Scalar>::size;
  constexpr int count_of_sums = 1 + Outputs + Dims * (1 + Outputs);
  static_assert(lane_count<Scalar>() % size == 0, "block_moments: whole packets per lane array");
  constexpr bool in_lane_order = count_of_sums * (lane_count<Scalar>() / size) <= 10;
  constexpr Index lanes = in_lane_order ? lane_count<Scalar>() : size;
  constexpr Index packets = lanes / size;  // per partial sum
  using Eigen::internal::padd;
  using Eigen::internal::ploadu;
  using Eigen::internal::pmadd;
  using Eigen::internal::pmul;
  Packet partial[count_of_sums][packets];
  for (int s = 0; s < count_of_sums; ++s) {
    for (Index v = 0; v < packets; ++v) partial[s][v] = Eigen::internal::pset1<Packet>(Scalar(0));
  }
  const Scalar* columns[Dims];
  Packet coordinates[Dims];
  for (int j = 0; j < Dims; ++j) {
    columns[j] = PerDimension ? block.key_columns + j * block.stride : block.r2;
    coordinates[j] =
        Eigen::internal::pset1<Packet>(PerDimension ? block.query_point[j] : Scalar(0));
  }
  const Scalar* value = Outputs > 0 ? values[0] : nullptr;
  for (Index start = 0; start < block.count; start += lanes) {
    for (Index v = 0; v < packets; ++v) {
      const Index k = start + v * size;
      const Packet weight = ploadu<Packet>(weights + k);
      partial[0][v] = padd(partial[0][v], weight);
      Packet y = weight;  // unused without outputs
      if constexpr (Outputs == 1) {
        y = ploadu<Packet>(value + k);
        partial[1][v] = pmadd(weight, y, partial[1][v]);
      }
      for (int j = 0; j < Dims; ++j) {
        Packet basis = ploadu<Packet>(columns[j] + k);
        if constexpr (PerDimension) {
          const Packet difference = Eigen::internal::psub(coordinates[j], basis);
          basis = pmul(difference, difference);
        }
        const Packet term = pmul(weight, basis);
        partial[1 + Outputs + j][v] = padd(partial[1 + Outputs + j][v], term);
        if constexpr (Outputs == 1) {
          partial[2 + Dims + j][v] = pmadd(term, y, partial[2 + Dims + j][v]);
        }
      }
    }
  }
  for (int s = 0; s < count_of_sums; ++s) {
    Scalar lane[lanes];
    for (Index v = 0; v < packets; ++v) Eigen::internal::pstoreu(lane + v * size, partial[s][v]);
    Scalar total = 0;
    for (Index l = 0; l < lanes; ++l) total += lane[l];
    sums[s] = total;
  }
}

}  // namespace detail

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
        m_buffer(Vector::Zero(1 + outputs + parameters + parameters * outputs)) {}

  void reset() {
    m_max = -std::numeric_limits<Scalar>::infinity();
    m_buffer.setZero();
  }

  /// Adds a key of log-weight `log_weight` (-inf: skipped), derivative vector `gradient` (p
  /// entries) and value `value` (q entries; may be null when q = 0).
  void add(Scalar log_weight, const Scalar* gradient, const Scalar* value) {
    Scalar weight;
    if (log_weight > m_max) {
      // A new maximum: bring everything summed so far to the new reference (0 for the first key).
      if (m_max > -std::numeric_limits<Scalar>::infinity())
        m_buffer *= std::exp(m_max - log_weight);
      m_max = log_weight;
      weight = Scalar(1);
    } else if (log_weight > -std::numeric_limits<Scalar>::infinity()) {
      weight = std::exp(log_weight - m_max);
    } else {
      return;
    }
    Scalar* sum = m_buffer.data();
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

  /// Adds a block of keys at once, the fast pass's form of `add` (detail/pair_blocks.hpp): the
  /// state is rescaled once for the block, its weights are exponentiated together (detail::exp_neg)
  /// and the sums run over the block in one pass (detail::block_moments) for the common shapes,
  /// otherwise as plain loops, which vectorise. The same sums as `add` over the block's keys, up
  /// to rounding.
  ///
  /// \param block       the keys' geometry (query, key columns, r2) for the derivative basis
  /// \param log_weights block.count log-weights (-inf: the key is skipped)
  /// \param max         their maximum (-inf: nothing to add)
  /// \param values      q pointers, value c of key begin + k at values[c][k] (null when q = 0)
  /// \param gradient    the derivative vectors g_kj = f_k b_j(k) (see detail::BlockGradient);
  ///                    its factors must be finite, and zero where the log-weight is -inf
  /// \param scratch     2 block.count scalars
  void add_block(const detail::PairBlock<Scalar>& block, const Scalar* log_weights, Scalar max,
                 const Scalar* const* values, const detail::BlockGradient<Scalar>& gradient,
                 Scalar* scratch) {
    if (!(max > -std::numeric_limits<Scalar>::infinity())) return;
    if (max > m_max) {
      // Once per block, not per key: bring the sums so far to the new reference.
      if (m_max > -std::numeric_limits<Scalar>::infinity()) m_buffer *= std::exp(m_max - max);
      m_max = max;
    }
    // Every weight of the block flushes to exactly 0, and so does every term it would add: skip
    // the block, bit for bit the same sums.
    if (detail::exp_neg_flushes_from(m_max - max)) return;
    const Eigen::Index count = block.count;
    Scalar* weights = scratch;
    Scalar* terms = scratch + count;
    const Scalar reference = m_max;
    // exp(l_k - M) <= 1; exp_neg(+inf) = 0 for the skipped keys.
    for (Eigen::Index k = 0; k < count; ++k)
      weights[k] = detail::exp_neg(reference - log_weights[k]);
    Scalar* sum = m_buffer.data();
    Scalar* value_sums = sum + 1;
    Scalar* gradients = value_sums + m_outputs;
    Scalar* cross = gradients + m_parameters;
    if (m_parameters > 0 && add_fused_block(block, weights, values, gradient)) return;
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

  /// Folds in the state of a disjoint set of keys: afterwards *this is the state of the union.
  void merge(const SoftmaxGradientAccumulator& other) {
    NADARAYA_ASSERT(other.m_buffer.size() == m_buffer.size());
    if (other.empty()) return;
    if (empty()) {
      *this = other;
      return;
    }
    const Scalar max = m_max > other.m_max ? m_max : other.m_max;
    m_buffer = m_buffer * std::exp(m_max - max) + other.m_buffer * std::exp(other.m_max - max);
    m_max = max;
  }

  /// True until a key with a positive weight has been added.
  bool empty() const { return !(m_buffer(0) > 0); }
  Scalar max_log_weight() const { return m_max; }
  /// s: the sum of the weights relative to exp(M).
  Scalar scaled_sum() const { return m_buffer(0); }
  /// log of the sum of the weights; -inf when empty.
  Scalar log_sum() const {
    return empty() ? -std::numeric_limits<Scalar>::infinity() : m_max + std::log(m_buffer(0));
  }
  /// v_c, G_j and C_jc, relative to exp(M).
  Scalar scaled_value(Eigen::Index c) const { return m_buffer(1 + c); }
  Scalar scaled_gradient(Eigen::Index j) const { return m_buffer(1 + m_outputs + j); }
  Scalar scaled_cross(Eigen::Index j, Eigen::Index c) const {
    return m_buffer(1 + m_outputs + m_parameters + j * m_outputs + c);
  }
  Eigen::Index outputs() const { return m_outputs; }
  Eigen::Index parameters() const { return m_parameters; }

 private:
  // add_block's sums in one pass (detail::block_moments) for the common shapes: one constant
  // derivative factor (the Gaussian), at most one value column, at most four parameters. False:
  // not such a shape, nothing added.
  bool add_fused_block(const detail::PairBlock<Scalar>& block, const Scalar* weights,
                       const Scalar* const* values, const detail::BlockGradient<Scalar>& gradient) {
    if (gradient.factors != nullptr || m_outputs > 1) return false;
    if (!gradient.per_dimension)
      return m_parameters == 1 && add_moments<1, false>(block, weights, values, gradient.factor);
    switch (m_parameters) {
      case 1:
        return add_moments<1, true>(block, weights, values, gradient.factor);
      case 2:
        return add_moments<2, true>(block, weights, values, gradient.factor);
      case 3:
        return add_moments<3, true>(block, weights, values, gradient.factor);
      case 4:
        return add_moments<4, true>(block, weights, values, gradient.factor);
      default:
        return false;
    }
  }

  template <int Dims, bool PerDimension>
  bool add_moments(const detail::PairBlock<Scalar>& block, const Scalar* weights,
                   const Scalar* const* values, Scalar factor) {
    if (m_outputs == 0) {
      add_moments<Dims, 0, PerDimension>(block, weights, values, factor);
    } else {
      add_moments<Dims, 1, PerDimension>(block, weights, values, factor);
    }
    return true;
  }

  template <int Dims, int Outputs, bool PerDimension>
  void add_moments(const detail::PairBlock<Scalar>& block, const Scalar* weights,
                   const Scalar* const* values, Scalar factor) {
    constexpr int weight_sums = 1 + Outputs;  // s and v: the rest are derivative sums
    Scalar sums[weight_sums + Dims * (1 + Outputs)];
    detail::block_moments<Dims, Outputs, PerDimension>(block, weights, values, sums);
    Scalar* state = m_buffer.data();  // the same layout as sums
    for (int s = 0; s < weight_sums; ++s) state[s] += sums[s];
    for (int s = weight_sums; s < weight_sums + Dims * (1 + Outputs); ++s)
      state[s] += factor * sums[s];
  }

  Eigen::Index m_outputs;                                   // q: value entries per key
  Eigen::Index m_parameters;                                // p: derivative entries per key
  Scalar m_max = -std::numeric_limits<Scalar>::infinity();  // running maximum log-weight
  Vector m_buffer;                                          // [s | v (q) | G (p) | C (p x q)]
};

namespace detail {

/// Fails to compile, with a message that says what to add, for kernels without `dlog_profile`.
template <class Kernel>
struct require_differentiable {
  static_assert(kernel_traits<Kernel>::is_differentiable,
                "fitting a bandwidth needs the kernel's derivative: add `template <class Scalar> "
                "static Scalar dlog_profile(Scalar r2)` (d log k / d r2) to the kernel");
  static constexpr bool value = kernel_traits<Kernel>::is_differentiable;
};

/// The keys nearest to a query in scaled distance, with their weighted value sum: what a query
/// that no key of a compact kernel reaches is predicted from. It is the limit of the prediction as
/// the last key leaves the support, so the objective stays continuous there (its gradient is 0).
template <class Scalar>
class NearestKeys {
 public:
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  explicit NearestKeys(Eigen::Index outputs = 0) : m_values(Vector::Zero(outputs)) {}

  void reset() {
    m_r2 = std::numeric_limits<Scalar>::infinity();
    m_weight = 0;
    m_values.setZero();
  }
  void add(Scalar r2, Scalar weight, const Scalar* value) {
    if (r2 < m_r2) {
      m_r2 = r2;
      m_weight = 0;
      m_values.setZero();
    }
    if (r2 == m_r2) {  // ties share by weight, as Unreached::nearest_neighbour does
      m_weight += weight;
      for (Eigen::Index c = 0; c < m_values.size(); ++c) m_values(c) += weight * value[c];
    }
  }
  bool empty() const { return !(m_weight > 0); }
  /// The weighted mean value of the nearest keys.
  Scalar mean(Eigen::Index c) const { return m_values(c) / m_weight; }

 private:
  Scalar m_r2 = std::numeric_limits<Scalar>::infinity();  // smallest squared scaled distance
  Scalar m_weight = 0;                                    // total sample weight at m_r2
  Vector m_values;                                        // weighted value sum at m_r2
};

/// What every objective holds: the data centred on their weighted mean (detail/centre.hpp: the
/// objectives do not depend on where the data sit), normalised sample weights, options.
template <class Scalar>
class ObjectiveData {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  template <class Derived>
  ObjectiveData(const Eigen::MatrixBase<Derived>& X, const Eigen::VectorXd& weights,
                const ObjectiveOptions& options, const char* where)
      : m_options(options) {
    static_assert(std::is_same<typename Derived::Scalar, Scalar>::value,
                  "X's scalar type must be the objective's Scalar: convert it with "
                  "X.template cast<Scalar>()");
    check_not_empty(X, "X", where);
    check_finite(X, "X", where);
    if (weights.size() != 0) check_weights(weights, X.rows(), where);
    if (options.threads < 0) {
      fail(where, "option 'threads' must be 0 (automatic) or positive, got ", options.threads);
    }
    m_data = centre_rows<Scalar>(X, weighted_centre(X, weights));
    const Eigen::Index n = m_data.rows();
    m_shares = weights.size() == 0 ? Eigen::VectorXd::Constant(n, 1.0 / static_cast<double>(n))
                                   : Eigen::VectorXd(weights / weights.sum());
    m_log_shares.resize(n);
    Eigen::Index positive = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
      m_log_shares(i) = static_cast<Scalar>(std::log(m_shares(i)));  // -inf for a zero weight
      positive += m_shares(i) > 0 ? 1 : 0;
    }
    if (options.leave_one_out && positive < 2) {
      fail(where, "leave-one-out needs at least two points of positive weight, got ", positive);
    }
  }

  Eigen::Index samples() const { return m_data.rows(); }
  Eigen::Index dimensions() const { return m_data.cols(); }
  Eigen::Index parameters() const { return m_options.per_dimension ? m_data.cols() : 1; }
  const ObjectiveOptions& options() const { return m_options; }
  const Matrix& data() const { return m_data; }
  /// p_i = w_i / sum w.
  const Eigen::VectorXd& shares() const { return m_shares; }
  const Vector& log_shares() const { return m_log_shares; }

  /// The widths h_j = exp(theta_j), one per column, after checking theta.
  Eigen::VectorXd widths(const Eigen::VectorXd& theta, const char* where) const {
    if (theta.size() != parameters()) {
      fail(where, "argument 'log_widths' has ", theta.size(), " entries but the objective has ",
           parameters(), m_options.per_dimension ? " (one per column)" : " (one shared width)");
    }
    if (!theta.allFinite()) fail(where, "argument 'log_widths' must be finite");
    return m_options.per_dimension ? Eigen::VectorXd(theta.array().exp().matrix())
                                   : Eigen::VectorXd::Constant(dimensions(), std::exp(theta(0)));
  }

  /// sum_j log h_j over the d columns, and its derivative with respect to each theta entry.
  double log_width_product(const Eigen::VectorXd& theta) const {
    return m_options.per_dimension ? theta.sum() : static_cast<double>(dimensions()) * theta(0);
  }
  double log_width_product_slope() const {
    return m_options.per_dimension ? 1.0 : static_cast<double>(dimensions());
  }

 private:
  ObjectiveOptions m_options;  // leave-one-out, per dimension, threads
  Matrix m_data;               // X minus its weighted mean, n x d
  Eigen::VectorXd m_shares;    // p_i = w_i / sum w
  Vector m_log_shares;         // log p_i; -inf for zero weights
};

/// The engine's accumulator for every objective: excludes each query's own point (leave-one-out),
/// computes the per-pair derivative of the log-weight with respect to theta, and hands the pair to
/// the objective's `Term`, which accumulates it and, once per query, turns the state into the
/// query's loss and gradient.
///
/// Term contract:
/// \code
///   using State = ...;  State start() const;  void reset(State&) const;
///   void add(State&, Index key, Scalar log_weight, Scalar r2, const Scalar* log_weight_gradient)
///   const; void add_unreached(State&, Index key, Scalar r2) const;   // a key the kernel does not
///   reach void finish(Index point, const State&, double& loss, double* gradient) const;
/// \endcode
template <class Kernel, class Term>
class ObjectiveAccumulator {
 public:
  using Scalar = typename Term::Scalar;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  struct State {
    typename Term::State term;
    Vector log_weight_gradient;  // scratch: d (log w_k + log k(r2)) / d theta for one pair
  };

  /// \param rows       the training index of each query
  /// \param losses     out: one loss per query
  /// \param gradients  out: parameters x queries, column-major
  ObjectiveAccumulator(const Term& term, const std::vector<Eigen::Index>& rows,
                       Eigen::Index parameters, bool per_dimension, bool leave_one_out,
                       Eigen::Index dimensions, double* losses, double* gradients)
      : m_term(term),
        m_rows(rows),
        m_parameters(parameters),
        m_dimensions(dimensions),
        m_per_dimension(per_dimension),
        m_leave_one_out(leave_one_out),
        m_losses(losses),
        m_gradients(gradients) {}

  State start() const { return State{m_term.start(), Vector::Zero(m_parameters)}; }
  void reset(State& state) const { m_term.reset(state.term); }

  void add(State& state, Eigen::Index query, Eigen::Index key, Scalar log_weight, Scalar r2,
           const Scalar* query_point, const Scalar* key_point) const {
    if (m_leave_one_out && key == m_rows[static_cast<std::size_t>(query)]) return;
    if (!(log_weight > -std::numeric_limits<Scalar>::infinity())) {
      if constexpr (kernel_traits<Kernel>::is_compact) m_term.add_unreached(state.term, key, r2);
      return;
    }
    Scalar* gradient = state.log_weight_gradient.data();
    if (m_parameters == 0) {
      // Value only: no derivative work.
    } else if (r2 > Scalar(0)) {
      // d log k / d theta_j = -2 u_j^2 dlog_profile(r2); r2 > 0 keeps dlog_profile finite.
      Scalar slope = 0;
      if constexpr (kernel_traits<Kernel>::is_differentiable) {  // else: the static_assert's
                                                                 // message only
        slope = Scalar(-2) * Kernel::dlog_profile(r2);
      }
      if (m_per_dimension) {
        for (Eigen::Index j = 0; j < m_dimensions; ++j) {
          const Scalar difference = query_point[j] - key_point[j];
          gradient[j] = slope * (difference * difference);
        }
      } else {
        gradient[0] = slope * r2;
      }
    } else {
      // Duplicate points: u = 0 and the product u_j^2 dlog_profile(r2) tends to 0 (see the file
      // comment), even where dlog_profile(0) is infinite (Laplacian, Triangular).
      state.log_weight_gradient.setZero();
    }
    m_term.add(state.term, key, log_weight, r2, gradient);
  }

  void finish(Eigen::Index query, const State& state) {
    m_term.finish(m_rows[static_cast<std::size_t>(query)], state.term, m_losses[query],
                  m_gradients + query * m_parameters);
  }

 private:
  const Term& m_term;                       // the objective's per-pair and per-query rules
  const std::vector<Eigen::Index>& m_rows;  // training index of each query
  Eigen::Index m_parameters;                // entries of theta
  Eigen::Index m_dimensions;                // d
  bool m_per_dimension;                     // one derivative per column, or their sum
  bool m_leave_one_out;                     // skip the pair (i, i)
  double* m_losses;                         // out, one per query
  double* m_gradients;                      // out, parameters x queries
};

/// The blocked pass's accumulator for every objective (see ObjectiveAccumulator for the per-pair
/// one): per block of keys, the derivative factors f_k = -2 dlog_profile(r2_k) (a constant for the
/// Gaussian), then the objective's `Term` takes the whole block.
///
/// Term contract, in addition to ObjectiveAccumulator's:
/// \code
///   void add_block(State&, const PairBlock<Scalar>&, const BlockGradient<Scalar>&,
///                  Scalar* scratch) const;        // scratch: 4 block.count scalars
///   bool reached(const State&) const;            // false: no key reached the query
/// \endcode
/// A query that no key reaches (compact kernels) is scanned once more, key by key in the per-pair
/// order, for its nearest keys (`add_unreached`): rare, and then exactly the per-pair pass's.
template <class Kernel, class Term>
class ObjectiveBlockAccumulator {
 public:
  using Scalar = typename Term::Scalar;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  struct State {
    typename Term::State term;
    Vector factors;  // scratch: f_k over a block
    Vector scratch;  // scratch for the term
  };

  /// \param queries    the scaled query points, one row each
  /// \param keys       the scaled keys, padded (stream_blocks)
  /// \param log_weights log p_k, padded with -inf
  /// \param excluded   per query, the key it skips (-1: none)
  /// \param losses     out: one loss per query
  /// \param gradients  out: parameters x queries, column-major
  ObjectiveBlockAccumulator(const Term& term, const std::vector<Eigen::Index>& rows,
                            Eigen::Index parameters, bool per_dimension, const Matrix& queries,
                            const Matrix& keys, Eigen::Index samples, const Vector& log_weights,
                            const std::vector<Eigen::Index>& excluded, double* losses,
                            double* gradients)
      : m_term(term),
        m_rows(rows),
        m_parameters(parameters),
        m_per_dimension(per_dimension),
        m_queries(queries),
        m_keys(keys),
        m_samples(samples),
        m_log_weights(log_weights),
        m_excluded(excluded),
        m_losses(losses),
        m_gradients(gradients) {}

  State start() const {
    const Eigen::Index block = pair_block_size<Scalar>(m_keys.rows());
    return State{m_term.start(), Vector::Zero(block), Vector::Zero(4 * block)};
  }
  void reset(State& state) const { m_term.reset(state.term); }

  void add_block(State& state, const PairBlock<Scalar>& block) const {
    BlockGradient<Scalar> gradient{nullptr, Scalar(0), m_per_dimension};
    if constexpr (kernel_traits<Kernel>::has_linear_log_profile) {
      // d log k / d r2 is the constant slope: f_k = -2 slope for every key (r2 = 0 included, where
      // u = 0 makes the term 0 anyway).
      gradient.factor = static_cast<Scalar>(-2 * kernel_traits<Kernel>::log_profile_slope());
    } else if constexpr (kernel_traits<Kernel>::is_differentiable) {  // else: the static_assert's
                                                                      // message only
      if (m_parameters > 0) {
        Scalar* factors = state.factors.data();
        for (Eigen::Index k = 0; k < block.count; ++k) {
          const Scalar r2 = block.r2[k];
          const Scalar factor = Scalar(-2) * Kernel::dlog_profile(r2);
          // Zero for keys that do not count (outside the support the slope may be infinite) and
          // at r2 = 0, where u_j^2 dlog_profile(r2) -> 0 (see the file comment).
          factors[k] =
              block.log_weight[k] > -std::numeric_limits<Scalar>::infinity() && r2 > Scalar(0)
                  ? factor
                  : Scalar(0);
        }
        gradient.factors = factors;
      }
    }
    m_term.add_block(state.term, block, gradient, state.scratch.data());
  }

  void finish(Eigen::Index query, State& state) {
    if constexpr (kernel_traits<Kernel>::is_compact) {
      if (!m_term.reached(state.term)) scan_unreached(query, state);
    }
    m_term.finish(m_rows[static_cast<std::size_t>(query)], state.term, m_losses[query],
                  m_gradients + query * m_parameters);
  }

 private:
  // Every key (in the per-pair order) for a query that none reaches: its nearest keys.
  void scan_unreached(Eigen::Index query, State& state) const {
    const Eigen::Index d = m_keys.cols(), skip = m_excluded[static_cast<std::size_t>(query)];
    for (Eigen::Index key = 0; key < m_samples; ++key) {
      if (key == skip || !(m_log_weights(key) > -std::numeric_limits<Scalar>::infinity())) continue;
      Scalar r2 = 0;
      for (Eigen::Index j = 0; j < d; ++j) {
        const Scalar difference = m_queries(query, j) - m_keys(key, j);
        r2 += difference * difference;
      }
      if (!(kernel_traits<Kernel>::log_profile(r2) + m_log_weights(key) >
            -std::numeric_limits<Scalar>::infinity())) {
        m_term.add_unreached(state.term, key, r2);
      }
    }
  }

  const Term& m_term;                           // the objective's per-block and per-query rules
  const std::vector<Eigen::Index>& m_rows;      // training index of each query
  Eigen::Index m_parameters;                    // entries of theta
  bool m_per_dimension;                         // one derivative per column, or their sum
  const Matrix& m_queries;                      // m x d, scaled
  const Matrix& m_keys;                         // padded x d, scaled
  Eigen::Index m_samples;                       // n: the keys before the padding
  const Vector& m_log_weights;                  // log p_k, padded with -inf
  const std::vector<Eigen::Index>& m_excluded;  // per query, the key it skips (-1: none)
  double* m_losses;                             // out, one per query
  double* m_gradients;                          // out, parameters x queries
};

/// sum_{i in rows} p_i loss_i, scaled by n / |rows| (an unbiased estimate of the full sum; the
/// sum itself when rows are all the points), and its gradient: one `stream` pass of the rows
/// against all the keys. `term.parameters` is 0 when no gradient is asked for (values only).
template <class Kernel, class Scalar, class Term>
double sum_over_points(const ObjectiveData<Scalar>& data, const Eigen::VectorXd& theta,
                       const std::vector<Eigen::Index>& rows, const Term& term,
                       Eigen::VectorXd* gradient, const char* where) {
  static_assert(require_differentiable<Kernel>::value, "instantiates the check");
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  const Eigen::VectorXd widths = data.widths(theta, where);
  const Eigen::Index n = data.samples(), d = data.dimensions(), p = data.parameters();
  const auto m = static_cast<Eigen::Index>(rows.size());
  if (m == 0) fail(where, "argument 'rows' is empty");
  Matrix keys(n, d);
  for (Eigen::Index j = 0; j < d; ++j) {
    keys.col(j) = data.data().col(j) / static_cast<Scalar>(widths(j));
    if (!keys.col(j).allFinite()) {
      fail(where, "width ", widths(j), " of column ", j,
           " is too small for the magnitude of the data: X / h overflows");
    }
  }
  Matrix queries(m, d);
  for (Eigen::Index q = 0; q < m; ++q) {
    const Eigen::Index row = rows[static_cast<std::size_t>(q)];
    if (row < 0 || row >= n)
      fail(where, "argument 'rows' has index ", row, " outside [0, ", n, ")");
    queries.row(q) = keys.row(row);
  }
  Eigen::VectorXd losses(m);
  Eigen::MatrixXd gradients(term.parameters, m);
  constexpr bool blockable =
      std::is_same<Scalar, float>::value || std::is_same<Scalar, double>::value;
  if constexpr (blockable) {
    if (data.options().blocked) {
      // The keys and their log-weights padded to whole blocks (weight zero on the padding).
      using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
      const Eigen::Index padded = padded_key_count<Scalar>(n);
      Matrix padded_keys = Matrix::Zero(padded, d);
      padded_keys.topRows(n) = keys;
      Vector log_weights = Vector::Constant(padded, -std::numeric_limits<Scalar>::infinity());
      log_weights.head(n) = data.log_shares();
      std::vector<Eigen::Index> excluded(rows.size(), -1);
      if (data.options().leave_one_out) excluded = rows;
      ObjectiveBlockAccumulator<Kernel, Term> accumulator(
          term, rows, term.parameters, data.options().per_dimension, queries, padded_keys, n,
          log_weights, excluded, losses.data(), gradients.data());
      stream_blocks<Kernel>(queries, padded_keys, log_weights, excluded.data(),
                            pass_threads(resolve_threads(data.options().threads, where), m, n),
                            accumulator);
    }
  }
  if (!blockable || !data.options().blocked) {
    ObjectiveAccumulator<Kernel, Term> accumulator(
        term, rows, term.parameters, data.options().per_dimension, data.options().leave_one_out, d,
        losses.data(), gradients.data());
    PoolOptions pool_options;
    pool_options.threads = data.options().threads;  // self-exclusion is the accumulator's (batches)
    stream<Kernel>(queries, keys, data.log_shares(), pool_options, accumulator);
  }

  // Summed in batch order, whatever the threads: bit-identical results.
  double total = 0;
  Eigen::VectorXd total_gradient = Eigen::VectorXd::Zero(p);
  for (Eigen::Index q = 0; q < m; ++q) {
    const double share = data.shares()(rows[static_cast<std::size_t>(q)]);
    if (share == 0) continue;  // a zero-weight point counts for nothing (its loss may be NaN)
    total += share * losses(q);
    if (gradient != nullptr) total_gradient += share * gradients.col(q);
  }
  const double scale = static_cast<double>(n) / static_cast<double>(m);
  if (gradient != nullptr) *gradient = scale * total_gradient;
  return scale * total;
}

inline std::vector<Eigen::Index> all_rows(Eigen::Index n) {
  std::vector<Eigen::Index> rows(static_cast<std::size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i) rows[static_cast<std::size_t>(i)] = i;
  return rows;
}

/// The shared public face of the objectives (CRTP: one skeleton, four terms). Derived provides
/// `template <class K> double evaluate(theta, rows, gradient*, where) const` (via sum_over_points).
template <class Derived, class Scalar>
class ObjectiveBase {
 public:
  /// n: the points a mini-batch is drawn from.
  Eigen::Index samples() const { return m_data.samples(); }
  Eigen::Index dimensions() const { return m_data.dimensions(); }
  /// Entries of theta: d (per-dimension widths) or 1 (one shared width).
  Eigen::Index parameters() const { return m_data.parameters(); }
  const ObjectiveOptions& options() const { return m_data.options(); }

  /// The objective at log-widths theta.
  double value(const Eigen::VectorXd& log_widths) const {
    return derived().evaluate(log_widths, detail::all_rows(samples()), nullptr, Derived::name);
  }

  /// The objective and (out) its gradient with respect to theta.
  double value_and_gradient(const Eigen::VectorXd& log_widths, Eigen::VectorXd& gradient) const {
    return derived().evaluate(log_widths, detail::all_rows(samples()), &gradient, Derived::name);
  }

  /// The unbiased mini-batch estimate (n/|B|) sum_{i in B} p_i l_i and its gradient: the points in
  /// `rows` are each pooled against all the others. Rows may repeat.
  double batch_value_and_gradient(const Eigen::VectorXd& log_widths,
                                  const std::vector<Eigen::Index>& rows,
                                  Eigen::VectorXd& gradient) const {
    return derived().evaluate(log_widths, rows, &gradient, Derived::name);
  }

 protected:
  template <class XDerived>
  ObjectiveBase(const Eigen::MatrixBase<XDerived>& X, const Eigen::VectorXd& weights,
                const ObjectiveOptions& options, const char* where)
      : m_data(X, weights, options, where) {}

  const Derived& derived() const { return static_cast<const Derived&>(*this); }

  ObjectiveData<Scalar> m_data;  // data, weights, options
};

}  // namespace detail

/// Nadaraya–Watson regression: half the mean squared leave-one-out residual,
/// \f[ L(h) = \sum_i p_i \tfrac12 \| y_i - f_{-i}(x_i) \|^2 \f]
/// (p_i = 1/n without weights), where f_{-i} pools every training point but i. statsmodels'
/// `KernelReg.cv_loo` (local constant, unweighted) is 2 L.
///
/// A point that no other point reaches (compact kernels) is predicted by its nearest points in
/// scaled distance (Unreached::nearest_neighbour): the limit as the last key leaves the support,
/// so L stays continuous; its gradient there is zero.
///
/// \tparam Kernel  a kernel with `dlog_profile`
/// \tparam Scalar_ float or double (the pass's precision; theta, values and gradients are double)
template <class Kernel, class Scalar_ = double>
class SquaredErrorObjective
    : public detail::ObjectiveBase<SquaredErrorObjective<Kernel, Scalar_>, Scalar_> {
  using Base = detail::ObjectiveBase<SquaredErrorObjective<Kernel, Scalar_>, Scalar_>;
  friend Base;
  static_assert(detail::require_differentiable<Kernel>::value, "instantiates the check");

 public:
  using Scalar = Scalar_;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  static constexpr const char* name = "SquaredErrorObjective";

  /// \param X       inputs, n x d
  /// \param Y       outputs, n x k (a vector is one output)
  /// \param weights sample weights (n, non-negative) or empty for equal weights
  /// \param options leave-one-out, per-dimension, threads
  template <class XDerived, class YDerived>
  SquaredErrorObjective(const Eigen::MatrixBase<XDerived>& X, const Eigen::MatrixBase<YDerived>& Y,
                        const Eigen::VectorXd& weights = Eigen::VectorXd(),
                        const ObjectiveOptions& options = {})
      : Base(X, weights, options, "SquaredErrorObjective") {
    static_assert(std::is_same<typename YDerived::Scalar, Scalar>::value,
                  "Y's scalar type must be the objective's Scalar");
    const char* where = "SquaredErrorObjective";
    detail::check_not_empty(Y, "Y", where);
    detail::check_rows(Y, X.rows(), "Y", where, "'X'");
    detail::check_finite(Y, "Y", where);
    m_outputs = Y;
    m_value_columns = m_outputs.transpose();
    m_block_outputs = Matrix::Zero(detail::padded_key_count<Scalar>(Y.rows()), Y.cols());
    m_block_outputs.topRows(Y.rows()) = m_outputs;
  }

  /// The outputs, n x k.
  const Matrix& outputs() const { return m_outputs; }

 private:
  struct Term {
    using Scalar = Scalar_;
    struct State {
      SoftmaxGradientAccumulator<Scalar> moments;
      detail::NearestKeys<Scalar> nearest;
      std::vector<const Scalar*> values;  // scratch: the value columns at a block's first key
    };
    const SquaredErrorObjective& objective;
    Eigen::Index parameters;  // entries of the gradient; 0: the value only

    State start() const {
      const Eigen::Index k = objective.m_outputs.cols();
      return State{SoftmaxGradientAccumulator<Scalar>(k, parameters),
                   detail::NearestKeys<Scalar>(k),
                   std::vector<const Scalar*>(static_cast<std::size_t>(k))};
    }
    void reset(State& state) const {
      state.moments.reset();
      state.nearest.reset();
    }
    void add(State& state, Eigen::Index key, Scalar log_weight, Scalar /*r2*/,
             const Scalar* gradient) const {
      state.moments.add(log_weight, gradient, objective.m_value_columns.col(key).data());
    }
    void add_block(State& state, const detail::PairBlock<Scalar>& block,
                   const detail::BlockGradient<Scalar>& gradient, Scalar* scratch) const {
      const Matrix& outputs = objective.m_block_outputs;
      for (Eigen::Index c = 0; c < outputs.cols(); ++c) {
        state.values[static_cast<std::size_t>(c)] =
            outputs.data() + c * outputs.rows() + block.begin;
      }
      state.moments.add_block(block, block.log_weight, block.max, state.values.data(), gradient,
                              scratch);
    }
    bool reached(const State& state) const { return !state.moments.empty(); }
    void add_unreached(State& state, Eigen::Index key, Scalar r2) const {
      state.nearest.add(r2, std::exp(objective.m_data.log_shares()(key)),
                        objective.m_value_columns.col(key).data());
    }
    void finish(Eigen::Index point, const State& state, double& loss, double* gradient) const {
      const Eigen::Index k = objective.m_outputs.cols();
      for (Eigen::Index j = 0; j < parameters; ++j) gradient[j] = 0;
      if (state.moments.empty()) {
        loss = std::numeric_limits<double>::quiet_NaN();  // no other point at all: undefined
        if (state.nearest.empty()) return;
        loss = 0;
        for (Eigen::Index c = 0; c < k; ++c) {
          const double residual = static_cast<double>(objective.m_outputs(point, c)) -
                                  static_cast<double>(state.nearest.mean(c));
          loss += 0.5 * residual * residual;
        }
        return;
      }
      // f = v / s;  d f / d theta_j = C_j / s - (G_j / s) f;  d loss / d theta_j = -(y - f) . df_j
      const double sum = static_cast<double>(state.moments.scaled_sum());
      loss = 0;
      for (Eigen::Index c = 0; c < k; ++c) {
        const double prediction = static_cast<double>(state.moments.scaled_value(c)) / sum;
        const double residual = static_cast<double>(objective.m_outputs(point, c)) - prediction;
        loss += 0.5 * residual * residual;
        for (Eigen::Index j = 0; j < parameters; ++j) {
          const double slope =
              static_cast<double>(state.moments.scaled_cross(j, c)) / sum -
              static_cast<double>(state.moments.scaled_gradient(j)) / sum * prediction;
          gradient[j] -= residual * slope;
        }
      }
    }
  };

  double evaluate(const Eigen::VectorXd& theta, const std::vector<Eigen::Index>& rows,
                  Eigen::VectorXd* gradient, const char* where) const {
    const Term term{*this, gradient != nullptr ? this->parameters() : 0};
    return detail::sum_over_points<Kernel>(this->m_data, theta, rows, term, gradient, where);
  }

  Matrix m_outputs;        // Y, n x k
  Matrix m_value_columns;  // Y transposed: one contiguous column per key
  Matrix m_block_outputs;  // Y padded with zero rows to whole blocks (the blocked pass)
};

/// Parzen density, likelihood cross-validation: the mean negative leave-one-out log density,
/// \f[ L(h) = -\sum_i p_i \log \hat p_{-i}(x_i), \qquad
///     \hat p_{-i}(x) = \frac{c_d}{h_1 \cdots h_d} \sum_{k \ne i} \frac{p_k}{1 - p_i}
///     k(\|(x - x_k)/h\|^2) \f]
/// (ParzenDensity::leave_one_out_log_density). For n equal weights, statsmodels'
/// `KDEMultivariate.loo_likelihood(h, np.log)` (what its cv_ml minimises) is n L - n log(n - 1).
///
/// A point that no other point reaches (compact kernels: h below its distance to its nearest
/// neighbour) has density 0 and makes L infinite; its term's gradient is taken as zero. With
/// `leave_one_out = false` each point's own kernel is included and L -> -infinity as h -> 0.
template <class Kernel, class Scalar_ = double>
class LikelihoodObjective
    : public detail::ObjectiveBase<LikelihoodObjective<Kernel, Scalar_>, Scalar_> {
  using Base = detail::ObjectiveBase<LikelihoodObjective<Kernel, Scalar_>, Scalar_>;
  friend Base;
  static_assert(detail::require_differentiable<Kernel>::value, "instantiates the check");
  static_assert(
      kernel_traits<Kernel>::is_normalisable,
      "likelihood cross-validation needs a kernel whose profile integrates (not Constant)");

 public:
  using Scalar = Scalar_;
  static constexpr const char* name = "LikelihoodObjective";

  /// \param X       the sample, n x d
  /// \param weights sample weights (n, non-negative) or empty for equal weights
  /// \param options leave-one-out, per-dimension, threads
  template <class XDerived>
  explicit LikelihoodObjective(const Eigen::MatrixBase<XDerived>& X,
                               const Eigen::VectorXd& weights = Eigen::VectorXd(),
                               const ObjectiveOptions& options = {})
      : Base(X, weights, options, "LikelihoodObjective"),
        m_log_normaliser(kernel_traits<Kernel>::log_normaliser(static_cast<int>(X.cols()))) {}

 private:
  struct Term {
    using Scalar = Scalar_;
    using State = SoftmaxGradientAccumulator<Scalar>;
    const LikelihoodObjective& objective;
    Eigen::Index parameters;  // entries of the gradient; 0: the value only
    double log_normaliser;    // log c_d - sum_j log h_j

    State start() const { return State(0, parameters); }
    void reset(State& state) const { state.reset(); }
    void add(State& state, Eigen::Index /*key*/, Scalar log_weight, Scalar /*r2*/,
             const Scalar* gradient) const {
      state.add(log_weight, gradient, nullptr);
    }
    void add_block(State& state, const detail::PairBlock<Scalar>& block,
                   const detail::BlockGradient<Scalar>& gradient, Scalar* scratch) const {
      state.add_block(block, block.log_weight, block.max, nullptr, gradient, scratch);
    }
    bool reached(const State& /*state*/) const { return true; }  // no nearest-key fallback
    void add_unreached(State& /*state*/, Eigen::Index /*key*/, Scalar /*r2*/) const {}
    void finish(Eigen::Index point, const State& state, double& loss, double* gradient) const {
      const double slope = objective.m_data.log_width_product_slope();
      if (state.empty()) {
        loss = std::numeric_limits<double>::infinity();
        for (Eigen::Index j = 0; j < parameters; ++j) gradient[j] = 0;
        return;
      }
      const double sum = static_cast<double>(state.scaled_sum());
      // The other points hold 1 - p_i of the mass.
      const double rest =
          objective.options().leave_one_out ? std::log1p(-objective.m_data.shares()(point)) : 0.0;
      loss = -(log_normaliser + static_cast<double>(state.max_log_weight()) + std::log(sum) - rest);
      for (Eigen::Index j = 0; j < parameters; ++j) {
        gradient[j] = slope - static_cast<double>(state.scaled_gradient(j)) / sum;
      }
    }
  };

  double evaluate(const Eigen::VectorXd& theta, const std::vector<Eigen::Index>& rows,
                  Eigen::VectorXd* gradient, const char* where) const {
    this->m_data.widths(theta, where);  // checks theta before it is used below
    const Term term{*this, gradient != nullptr ? this->parameters() : 0,
                    m_log_normaliser - this->m_data.log_width_product(theta)};
    return detail::sum_over_points<Kernel>(this->m_data, theta, rows, term, gradient, where);
  }

  double m_log_normaliser;  // log c_d for the unit-width kernel
};

/// Parzen density, least-squares cross-validation for the Gaussian kernel (Rudemo 1982, Bowman
/// 1984): the integrated squared error up to a constant,
/// \f[ L(h) = \int \hat p^2 - 2 \sum_i p_i \hat p_{-i}(x_i), \qquad
///     \int \hat p^2 = \sum_{i,k} p_i p_k (K_h * K_h)(x_i - x_k), \f]
/// where the self-convolution of a Gaussian of widths h is a Gaussian of widths sqrt(2) h: in
/// scaled units its log-profile is -r2/4 with the normaliser divided by 2^(d/2). The i = k terms of
/// the first sum (p_i^2 c_d / prod(sqrt(2) h)) are added in closed form; with
/// `leave_one_out = false` both sums include the pair (i, i) and L -> -infinity as h -> 0.
/// Both sums ride on the same pass: two running-max states per query.
template <class Scalar_ = double>
class LeastSquaresObjective
    : public detail::ObjectiveBase<LeastSquaresObjective<Scalar_>, Scalar_> {
  using Base = detail::ObjectiveBase<LeastSquaresObjective<Scalar_>, Scalar_>;
  friend Base;

 public:
  using Scalar = Scalar_;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  static constexpr const char* name = "LeastSquaresObjective";

  /// \param X       the sample, n x d
  /// \param weights sample weights (n, non-negative) or empty for equal weights
  /// \param options leave-one-out, per-dimension, threads
  template <class XDerived>
  explicit LeastSquaresObjective(const Eigen::MatrixBase<XDerived>& X,
                                 const Eigen::VectorXd& weights = Eigen::VectorXd(),
                                 const ObjectiveOptions& options = {})
      : Base(X, weights, options, "LeastSquaresObjective") {}

 private:
  struct Term {
    using Scalar = Scalar_;
    struct State {
      SoftmaxGradientAccumulator<Scalar> convolution;  // sum_k p_k exp(-r2/4): the K*K pairs
      SoftmaxGradientAccumulator<Scalar> held_out;     // sum_k p_k exp(-r2/2): the LOO density
      Vector half_gradient;                            // scratch: the convolution's derivative
    };
    const LeastSquaresObjective& objective;
    Eigen::Index parameters;  // entries of the gradient; 0: the value only
    double log_normaliser;    // log of c_d / prod h (the Gaussian of widths h)

    State start() const {
      return State{SoftmaxGradientAccumulator<Scalar>(0, parameters),
                   SoftmaxGradientAccumulator<Scalar>(0, parameters), Vector::Zero(parameters)};
    }
    void reset(State& state) const {
      state.convolution.reset();
      state.held_out.reset();
    }
    void add(State& state, Eigen::Index key, Scalar log_weight, Scalar r2,
             const Scalar* gradient) const {
      state.held_out.add(log_weight, gradient, nullptr);
      // The Gaussian's -r2/2 becomes -r2/4 and its derivative u_j^2 becomes u_j^2 / 2.
      for (Eigen::Index j = 0; j < parameters; ++j)
        state.half_gradient(j) = Scalar(0.5) * gradient[j];
      state.convolution.add(objective.m_data.log_shares()(key) - Scalar(0.25) * r2,
                            state.half_gradient.data(), nullptr);
    }
    void add_block(State& state, const detail::PairBlock<Scalar>& block,
                   const detail::BlockGradient<Scalar>& gradient, Scalar* scratch) const {
      NADARAYA_ASSERT(gradient.factors == nullptr);  // the Gaussian: one constant factor
      const Eigen::Index count = block.count;
      state.held_out.add_block(block, block.log_weight, block.max, nullptr, gradient, scratch);
      // The same keys with log p_k - r2/4 and half the derivative.
      Scalar* logs = scratch + 2 * count;
      for (Eigen::Index k = 0; k < count; ++k) {
        logs[k] = block.log_weight[k] > -std::numeric_limits<Scalar>::infinity()
                      ? block.key_log_weight[k] - Scalar(0.25) * block.r2[k]
                      : -std::numeric_limits<Scalar>::infinity();
      }
      const Scalar max = detail::lane_max(logs, count, scratch + 3 * count);
      const detail::BlockGradient<Scalar> half{nullptr, Scalar(0.5) * gradient.factor,
                                               gradient.per_dimension};
      state.convolution.add_block(block, logs, max, nullptr, half, scratch);
    }
    bool reached(const State& /*state*/) const { return true; }  // no nearest-key fallback
    void add_unreached(State& /*state*/, Eigen::Index /*key*/, Scalar /*r2*/) const {}

    void finish(Eigen::Index point, const State& state, double& loss, double* gradient) const {
      const double slope = objective.m_data.log_width_product_slope();
      const double dimensions = static_cast<double>(objective.dimensions());
      const double convolution_normaliser =
          std::exp(log_normaliser - 0.5 * dimensions * std::log(2.0));
      const double share = objective.m_data.shares()(point);
      const bool leave_one_out = objective.options().leave_one_out;
      loss = 0;
      for (Eigen::Index j = 0; j < parameters; ++j) gradient[j] = 0;
      // Each part is c * exp(M) * s with d/dtheta_j = c exp(M) (G_j - slope * s).
      auto add_part = [&](const SoftmaxGradientAccumulator<Scalar>& part, double factor) {
        if (part.empty()) return;
        const double scale = factor * std::exp(static_cast<double>(part.max_log_weight()));
        const double sum = static_cast<double>(part.scaled_sum());
        loss += scale * sum;
        for (Eigen::Index j = 0; j < parameters; ++j) {
          gradient[j] += scale * (static_cast<double>(part.scaled_gradient(j)) - slope * sum);
        }
      };
      add_part(state.convolution, convolution_normaliser);
      add_part(state.held_out,
               -2.0 * std::exp(log_normaliser) / (leave_one_out ? 1.0 - share : 1.0));
      if (leave_one_out) {  // the pair (i, i) of the integral, which the pass skipped
        loss += share * convolution_normaliser;
        for (Eigen::Index j = 0; j < parameters; ++j) {
          gradient[j] -= slope * share * convolution_normaliser;
        }
      }
    }
  };

  double evaluate(const Eigen::VectorXd& theta, const std::vector<Eigen::Index>& rows,
                  Eigen::VectorXd* gradient, const char* where) const {
    this->m_data.widths(theta, where);  // checks theta before it is used below
    const Term term{*this, gradient != nullptr ? this->parameters() : 0,
                    kernel_traits<Gaussian>::log_normaliser(static_cast<int>(this->dimensions())) -
                        this->m_data.log_width_product(theta)};
    return detail::sum_over_points<Gaussian>(this->m_data, theta, rows, term, gradient, where);
  }
};

/// Nadaraya–Watson classification: the mean leave-one-out log-loss (cross-entropy) of
/// predict_proba,
/// \f[ L(h) = -\sum_i p_i \log \max(P_{-i}(c_i \mid x_i), \epsilon), \qquad
///     P_{-i}(c \mid x) = \frac{\sum_{k \ne i, c_k = c} p_k k_k(x)}{\sum_{k \ne i} p_k k_k(x)}, \f]
/// with probabilities clipped at epsilon = the machine epsilon of Scalar, as scikit-learn's
/// log_loss clips them (a clipped term has zero gradient). Each class keeps its own running-max
/// state, so log P is exact even when h is so small that the own class's share underflows.
/// A point that no other point reaches (compact kernels) takes its nearest points' class shares.
template <class Kernel, class Scalar_ = double>
class LogLossObjective : public detail::ObjectiveBase<LogLossObjective<Kernel, Scalar_>, Scalar_> {
  using Base = detail::ObjectiveBase<LogLossObjective<Kernel, Scalar_>, Scalar_>;
  friend Base;
  static_assert(detail::require_differentiable<Kernel>::value, "instantiates the check");

 public:
  using Scalar = Scalar_;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  static constexpr const char* name = "LogLossObjective";

  /// \param X       inputs, n x d
  /// \param labels  integer class labels (n, any values, at least two classes)
  /// \param weights sample weights (n, non-negative) or empty for equal weights
  /// \param options leave-one-out, per-dimension, threads
  template <class XDerived, class LabelDerived>
  LogLossObjective(const Eigen::MatrixBase<XDerived>& X,
                   const Eigen::MatrixBase<LabelDerived>& labels,
                   const Eigen::VectorXd& weights = Eigen::VectorXd(),
                   const ObjectiveOptions& options = {})
      : Base(X, weights, options, "LogLossObjective") {
    static_assert(std::is_integral<typename LabelDerived::Scalar>::value,
                  "labels must be an integer vector (e.g. Eigen::VectorXi)");
    const char* where = "LogLossObjective";
    if (labels.cols() != 1) {
      detail::fail(where, "argument 'labels' must be a column vector, got ", labels.rows(), " x ",
                   labels.cols());
    }
    detail::check_rows(labels, X.rows(), "labels", where, "'X'");
    std::vector<long long> distinct;
    for (Eigen::Index i = 0; i < labels.rows(); ++i)
      distinct.push_back(static_cast<long long>(labels(i)));
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    if (distinct.size() < 2) detail::fail(where, "argument 'labels' holds a single class");
    m_classes = static_cast<Eigen::Index>(distinct.size());
    m_codes.resize(static_cast<std::size_t>(labels.rows()));
    m_one_hot_columns = Matrix::Zero(m_classes, labels.rows());
    for (Eigen::Index i = 0; i < labels.rows(); ++i) {
      const auto found =
          std::lower_bound(distinct.begin(), distinct.end(), static_cast<long long>(labels(i)));
      const auto code = static_cast<Eigen::Index>(found - distinct.begin());
      m_codes[static_cast<std::size_t>(i)] = code;
      m_one_hot_columns(code, i) = Scalar(1);
    }
    m_block_codes =
        Matrix::Constant(detail::padded_key_count<Scalar>(labels.rows()), 1, Scalar(-1));
    for (Eigen::Index i = 0; i < labels.rows(); ++i)
      m_block_codes(i, 0) = static_cast<Scalar>(m_codes[static_cast<std::size_t>(i)]);
  }

  Eigen::Index classes() const { return m_classes; }

 private:
  struct Term {
    using Scalar = Scalar_;
    struct State {
      std::vector<SoftmaxGradientAccumulator<Scalar>> per_class;  // one running max per class
      detail::NearestKeys<Scalar> nearest;                        // class shares if unreached
    };
    const LogLossObjective& objective;
    Eigen::Index parameters;  // entries of the gradient; 0: the value only

    State start() const {
      return State{std::vector<SoftmaxGradientAccumulator<Scalar>>(
                       static_cast<std::size_t>(objective.m_classes),
                       SoftmaxGradientAccumulator<Scalar>(0, parameters)),
                   detail::NearestKeys<Scalar>(objective.m_classes)};
    }
    void reset(State& state) const {
      for (auto& part : state.per_class) part.reset();
      state.nearest.reset();
    }
    void add(State& state, Eigen::Index key, Scalar log_weight, Scalar /*r2*/,
             const Scalar* gradient) const {
      state.per_class[static_cast<std::size_t>(objective.m_codes[static_cast<std::size_t>(key)])]
          .add(log_weight, gradient, nullptr);
    }
    void add_block(State& state, const detail::PairBlock<Scalar>& block,
                   const detail::BlockGradient<Scalar>& gradient, Scalar* scratch) const {
      // One masked pass per class: each class keeps its own running maximum. (The factors of the
      // other classes' keys meet weights of exactly 0.)
      const Eigen::Index count = block.count;
      const Scalar* codes = objective.m_block_codes.data() + block.begin;
      Scalar* logs = scratch + 2 * count;
      for (std::size_t c = 0; c < state.per_class.size(); ++c) {
        const auto code = static_cast<Scalar>(c);
        for (Eigen::Index k = 0; k < count; ++k) {
          logs[k] =
              codes[k] == code ? block.log_weight[k] : -std::numeric_limits<Scalar>::infinity();
        }
        const Scalar max = detail::lane_max(logs, count, scratch + 3 * count);
        state.per_class[c].add_block(block, logs, max, nullptr, gradient, scratch);
      }
    }
    bool reached(const State& state) const {
      for (const auto& part : state.per_class) {
        if (!part.empty()) return true;
      }
      return false;
    }
    void add_unreached(State& state, Eigen::Index key, Scalar r2) const {
      state.nearest.add(r2, std::exp(objective.m_data.log_shares()(key)),
                        objective.m_one_hot_columns.col(key).data());
    }
    void finish(Eigen::Index point, const State& state, double& loss, double* gradient) const {
      const double floor = static_cast<double>(std::numeric_limits<Scalar>::epsilon());
      for (Eigen::Index j = 0; j < parameters; ++j) gradient[j] = 0;
      const Eigen::Index own = objective.m_codes[static_cast<std::size_t>(point)];
      // All classes together, in log space: log S = M + log sum_c s_c exp(M_c - M).
      double max = -std::numeric_limits<double>::infinity();
      for (const auto& part : state.per_class) {
        if (!part.empty()) max = std::max(max, static_cast<double>(part.max_log_weight()));
      }
      if (!(max > -std::numeric_limits<double>::infinity())) {
        loss = std::numeric_limits<double>::quiet_NaN();  // no other point at all: undefined
        if (state.nearest.empty()) return;
        loss = -std::log(std::max(static_cast<double>(state.nearest.mean(own)), floor));
        return;
      }
      double sum = 0;
      Eigen::VectorXd gradient_sum = Eigen::VectorXd::Zero(parameters);
      for (const auto& part : state.per_class) {
        if (part.empty()) continue;
        const double scale = std::exp(static_cast<double>(part.max_log_weight()) - max);
        sum += scale * static_cast<double>(part.scaled_sum());
        for (Eigen::Index j = 0; j < parameters; ++j) {
          gradient_sum(j) += scale * static_cast<double>(part.scaled_gradient(j));
        }
      }
      const auto& mine = state.per_class[static_cast<std::size_t>(own)];
      const double log_probability =
          mine.empty() ? -std::numeric_limits<double>::infinity()
                       : static_cast<double>(mine.max_log_weight()) +
                             std::log(static_cast<double>(mine.scaled_sum())) - max - std::log(sum);
      if (!(log_probability > std::log(floor))) {
        loss = -std::log(floor);  // clipped: flat, zero gradient
        return;
      }
      loss = -log_probability;
      // d log P / d theta_j = E_own[g_j] - E_all[g_j]
      const double own_sum = static_cast<double>(mine.scaled_sum());
      for (Eigen::Index j = 0; j < parameters; ++j) {
        gradient[j] =
            -(static_cast<double>(mine.scaled_gradient(j)) / own_sum - gradient_sum(j) / sum);
      }
    }
  };

  double evaluate(const Eigen::VectorXd& theta, const std::vector<Eigen::Index>& rows,
                  Eigen::VectorXd* gradient, const char* where) const {
    const Term term{*this, gradient != nullptr ? this->parameters() : 0};
    return detail::sum_over_points<Kernel>(this->m_data, theta, rows, term, gradient, where);
  }

  Eigen::Index m_classes = 0;         // number of distinct labels
  std::vector<Eigen::Index> m_codes;  // class index of each point (labels in increasing order)
  Matrix m_one_hot_columns;           // classes x n indicator, one contiguous column per key
  Matrix m_block_codes;  // class index of each point as a Scalar, padded with -1 (blocked pass)
};

}  // namespace nadaraya

#endif  // NADARAYA_OBJECTIVES_HPP
