#ifndef NADARAYA_OBJECTIVE_BASE_HPP
#define NADARAYA_OBJECTIVE_BASE_HPP

#include <Eigen/Core>
#include <cmath>    // std::log, std::exp
#include <cstddef>  // std::size_t
#include <limits>
#include <type_traits>
#include <vector>

#include "detail/block_log_weights.hpp"  // linear_block_log_weights, fused_dimensions
#include "detail/centre.hpp"             // weighted_centre, centre_rows
#include "detail/check.hpp"
#include "detail/driver.hpp"          // PassCut, drive, for_each_query
#include "detail/lanes.hpp"           // lane_max_of
#include "detail/nearest.hpp"         // nearest_keys, nearest_shares
#include "detail/parallel.hpp"        // resolve_threads
#include "detail/sample_weights.hpp"  // sample_weights
#include "detail/scale.hpp"           // scale_keys
#include "errors.hpp"
#include "kernel.hpp"
#include "softmax_gradient_accumulator.hpp"

namespace nadaraya {

/// \file objective_base.hpp
/// What the four objectives share (see objectives.hpp for the mathematics): their options, the
/// data they hold, the block accumulator that runs them on the engine's driver, and the public
/// face (value, gradient, mini-batches).

/// How an objective is computed.
struct ObjectiveOptions {
  bool leave_one_out = true;  ///< false: each point is also pooled against itself (naive objective)
  bool per_dimension = true;  ///< one log-width per input column; false: one shared log-width
  int threads = 0;            ///< 0: OpenMP's default; 1: serial. Results do not depend on it.
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
    check_sample(X, weights, where);
    if (options.threads < 0) {
      fail(where, "option 'threads' must be 0 (automatic) or positive, got ", options.threads);
    }
    // Normalised as the estimators' fit() does: weights near 1e308 act as their ratios.
    SampleWeights sample = sample_weights(weights, X.rows());
    m_data = centre_rows<Scalar>(X, weighted_centre(X, sample.relative));
    m_weights = std::move(sample.relative);
    m_shares = std::move(sample.shares);
    m_log_shares = sample.log_shares.template cast<Scalar>();  // -inf for a zero weight
    Eigen::Index positive = 0;
    for (Eigen::Index i = 0; i < m_log_shares.size(); ++i)
      positive += m_log_shares(i) > -std::numeric_limits<Scalar>::infinity() ? 1 : 0;
    if (options.leave_one_out && positive < 2) {
      fail(where, "leave-one-out needs at least two points of positive weight, got ", positive);
    }
  }

  Eigen::Index samples() const { return m_data.rows(); }
  Eigen::Index dimensions() const { return m_data.cols(); }
  Eigen::Index parameters() const { return m_options.per_dimension ? m_data.cols() : 1; }
  const ObjectiveOptions& options() const { return m_options; }
  const Matrix& data() const { return m_data; }
  /// The sample weights scaled so that the largest is in [1, 2); empty for equal weights.
  const Eigen::VectorXd& weights() const { return m_weights; }
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
  Eigen::VectorXd m_weights;   // sample weights, the largest scaled into [1, 2); empty for equal
  Eigen::VectorXd m_shares;    // p_i = w_i / sum w
  Vector m_log_shares;         // log p_i; -inf for zero weights
};

/// The objectives' block accumulator on the engine's driver (detail/driver.hpp): per query of an
/// item and block of keys, the squared distances and log-weights log p_k + log k(r2_k) (one pass
/// for the Gaussian in up to four dimensions), the exclusion of the query's own point, the
/// derivative factors f_k = -2 dlog_profile(r2_k) (a constant for the Gaussian), then the
/// objective's `Term` takes the block.
///
/// Term contract:
/// \code
///   using Scalar = ...;  using State = ...;             // per-query running state
///   State start() const;                                // a fresh state
///   void add_block(State&, const PairBlock<Scalar>&, const BlockGradient<Scalar>&,
///                  Scalar* scratch) const;              // scratch: 4 block.count scalars
///   void merge(State&, const State&) const;             // the state of a later key shard
///   bool reached(const State&) const;                   // false: no key reached the query
///   void add_nearest(State&, const std::vector<Index>& keys,    // compact kernels, unreached:
///                    const std::vector<double>& shares) const;  // nearest keys (nearest.hpp)
///   void finish(Index point, const State&, double& loss, double* gradient) const;
/// \endcode
template <class Kernel, class Term>
class ObjectivePass {
 public:
  using Scalar = typename Term::Scalar;
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  using State = typename Term::State;
  struct Scratch {
    Vector query_point, r2, log_weights, halves, factors, term;
  };

  /// \param keys        the scaled keys, padded to cut.padded_keys() rows
  /// \param log_weights log p_k, padded with -inf
  /// \param excluded    per query, the key it skips (-1: none)
  /// \param states      cut.shards() x m states: state shard m + q is query q over shard `shard`
  ObjectivePass(const Term& term, const PassCut& cut, const Matrix& queries, const Matrix& keys,
                const Vector& log_weights, const std::vector<Eigen::Index>& excluded,
                Eigen::Index parameters, bool per_dimension, std::vector<State>& states)
      : m_term(term),
        m_cut(cut),
        m_queries(queries),
        m_keys(keys),
        m_log_weights(log_weights),
        m_excluded(excluded),
        m_parameters(parameters),
        m_per_dimension(per_dimension),
        m_states(states) {}

  Scratch scratch() const {
    const Eigen::Index block = m_cut.block_keys();
    return Scratch{Vector(m_keys.cols()), Vector(block), Vector(block),
                   Vector(block / 2),     Vector(block), Vector(4 * block)};
  }
  void begin_item(Scratch& /*scratch*/, const PassCut::Item& /*item*/) {}
  void end_item(Scratch& /*scratch*/, const PassCut::Item& /*item*/) {}

  void add_block(Scratch& scratch, const PassCut::Item& item, Eigen::Index key0,
                 Eigen::Index length) {
    constexpr Scalar minus_infinity = -std::numeric_limits<Scalar>::infinity();
    constexpr bool linear = kernel_traits<Kernel>::has_linear_log_profile;
    const auto slope = static_cast<Scalar>(kernel_traits<Kernel>::log_profile_slope());
    const Eigen::Index padded = m_keys.rows(), d = m_keys.cols();
    const bool fused = linear && d <= fused_dimensions;
    const Scalar* weights = m_log_weights.data() + key0;
    const Scalar* columns = m_keys.data() + key0;
    Scalar* distance = scratch.r2.data();
    Scalar* logs = scratch.log_weights.data();
    Scalar* point = scratch.query_point.data();
    for (Eigen::Index t = 0; t < item.count; ++t) {
      const Eigen::Index q = item.query0 + t;
      for (Eigen::Index j = 0; j < d; ++j) point[j] = m_queries(q, j);
      Scalar max = minus_infinity;
      if (fused) {
        max = linear_block_log_weights(d, columns, padded, point, weights, slope, length, distance,
                                       logs);
      }
      // Otherwise dimension by dimension over the block: each pass reads one contiguous key
      // column; the last one also forms the log-weights where the log-profile is linear.
      for (Eigen::Index j = 0; j < d && !fused; ++j) {
        const Scalar* column = columns + j * padded;
        const Scalar coordinate = point[j];
        for (Eigen::Index k = 0; k < length; ++k) {
          const Scalar difference = coordinate - column[k];
          const Scalar square = (j == 0 ? Scalar(0) : distance[k]) + difference * difference;
          distance[k] = square;
          if (linear && j == d - 1) logs[k] = slope * square + weights[k];
        }
      }
      if constexpr (!linear) {
        for (Eigen::Index k = 0; k < length; ++k)
          logs[k] = kernel_traits<Kernel>::log_profile(distance[k]) + weights[k];
      }
      // The excluded key (leave-one-out: usually the block's maximum) is in one block per
      // query; that block's maximum is taken again without it.
      const Eigen::Index skip = m_excluded[static_cast<std::size_t>(q)];
      const bool excludes = skip >= key0 && skip < key0 + length;
      if (excludes) logs[skip - key0] = minus_infinity;
      if (!fused || excludes) max = lane_max_of(logs, length, scratch.halves.data());
      if (!(max > minus_infinity)) continue;
      const PairBlock<Scalar> block{q,       key0,  length,  logs,   max, distance,
                                    weights, point, columns, padded, d};
      m_term.add_block(m_states[static_cast<std::size_t>(item.shard * m_cut.queries() + q)], block,
                       gradient_of(block, scratch.factors.data()), scratch.term.data());
    }
  }

 private:
  BlockGradient<Scalar> gradient_of(const PairBlock<Scalar>& block, Scalar* factors) const {
    BlockGradient<Scalar> gradient{nullptr, Scalar(0), m_per_dimension};
    if constexpr (kernel_traits<Kernel>::has_linear_log_profile) {
      // d log k / d r2 is the constant slope: f_k = -2 slope for every key (r2 = 0 included, where
      // u = 0 makes the term 0 anyway).
      gradient.factor = static_cast<Scalar>(-2 * kernel_traits<Kernel>::log_profile_slope());
    } else if constexpr (kernel_traits<Kernel>::is_differentiable) {  // else: the static_assert's
                                                                      // message only
      if (m_parameters > 0) {
        for (Eigen::Index k = 0; k < block.count; ++k) {
          const Scalar r2 = block.r2[k];
          // Zero for keys that do not count (outside the support the slope may be infinite) and
          // at r2 = 0, where u_j^2 dlog_profile(r2) -> 0 (see objectives.hpp).
          factors[k] =
              block.log_weight[k] > -std::numeric_limits<Scalar>::infinity() && r2 > Scalar(0)
                  ? Scalar(-2) * Kernel::dlog_profile(r2)
                  : Scalar(0);
        }
        gradient.factors = factors;
      }
    }
    return gradient;
  }

  const Term& m_term;                           // the objective's per-block and per-query rules
  const PassCut& m_cut;                         // items, blocks, shards
  const Matrix& m_queries;                      // m x d, scaled
  const Matrix& m_keys;                         // padded x d, scaled
  const Vector& m_log_weights;                  // log p_k, padded with -inf
  const std::vector<Eigen::Index>& m_excluded;  // per query, the key it skips (-1: none)
  Eigen::Index m_parameters;                    // entries of theta
  bool m_per_dimension;                         // one derivative per column, or their sum
  std::vector<State>& m_states;                 // shards x m
};

/// sum_{i in rows} p_i loss_i, scaled by n / |rows| (an unbiased estimate of the full sum; the
/// sum itself when rows are all the points), and its gradient: one pass of the rows against all
/// the keys on the engine's driver. `term.parameters` is 0 when no gradient is asked for.
template <class Kernel, class Scalar, class Term>
double sum_over_points(const ObjectiveData<Scalar>& data, const Eigen::VectorXd& theta,
                       const std::vector<Eigen::Index>& rows, const Term& term,
                       Eigen::VectorXd* gradient, const char* where) {
  static_assert(require_differentiable<Kernel>::value, "instantiates the check");
  static_assert(std::is_same<Scalar, float>::value || std::is_same<Scalar, double>::value,
                "objectives: Scalar must be float or double");
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  const Eigen::VectorXd widths = data.widths(theta, where);
  const Eigen::Index n = data.samples(), d = data.dimensions(), p = data.parameters();
  const auto m = static_cast<Eigen::Index>(rows.size());
  if (m == 0) fail(where, "argument 'rows' is empty");
  const int threads = resolve_threads(data.options().threads, where);
  const PassCut cut = PassCut::of<Scalar>(m, n, d);
  // The keys and their log-weights padded to the granule (weight zero on the padding).
  Matrix keys = Matrix::Zero(cut.padded_keys(), d);
  scale_keys(data.data(), widths, keys, where);
  Matrix queries(m, d);
  for (Eigen::Index q = 0; q < m; ++q) {
    const Eigen::Index row = rows[static_cast<std::size_t>(q)];
    if (row < 0 || row >= n)
      fail(where, "argument 'rows' has index ", row, " outside [0, ", n, ")");
    queries.row(q) = keys.row(row);
  }
  Vector log_weights =
      Vector::Constant(cut.padded_keys(), -std::numeric_limits<Scalar>::infinity());
  log_weights.head(n) = data.log_shares();
  std::vector<Eigen::Index> excluded(rows.size(), -1);
  if (data.options().leave_one_out) excluded = rows;

  using State = typename Term::State;
  std::vector<State> states(static_cast<std::size_t>(cut.shards() * m), term.start());
  ObjectivePass<Kernel, Term> pass(term, cut, queries, keys, log_weights, excluded, term.parameters,
                                   data.options().per_dimension, states);
  drive(cut, threads, pass);

  Eigen::VectorXd losses(m);
  Eigen::MatrixXd gradients(term.parameters, m);
  for_each_query(cut, threads, m, [&](Eigen::Index q) {
    State& state = states[static_cast<std::size_t>(q)];
    for (Eigen::Index shard = 1; shard < cut.shards(); ++shard)
      term.merge(state, states[static_cast<std::size_t>(shard * m + q)]);
    if constexpr (kernel_traits<Kernel>::is_compact) {
      if (!term.reached(state)) {  // no key in the support: the nearest ones stand in
        const Eigen::Index skip = excluded[static_cast<std::size_t>(q)];
        const std::vector<Eigen::Index> nearest =
            nearest_keys(queries.row(q), keys, log_weights, skip);
        if (!nearest.empty())
          term.add_nearest(state, nearest, nearest_shares(nearest, data.weights(), log_weights));
      }
    }
    term.finish(rows[static_cast<std::size_t>(q)], state, losses(q),
                gradients.data() + q * term.parameters);
  });

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
}  // namespace nadaraya

#endif  // NADARAYA_OBJECTIVE_BASE_HPP
