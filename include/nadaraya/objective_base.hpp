#ifndef NADARAYA_OBJECTIVE_BASE_HPP
#define NADARAYA_OBJECTIVE_BASE_HPP

#include <Eigen/Core>
#include <algorithm>  // std::min
#include <cmath>      // std::log, std::exp
#include <cstddef>    // std::size_t
#include <limits>
#include <type_traits>
#include <utility>  // std::declval
#include <vector>

#include "detail/block_log_weights.hpp"  // linear_block_log_weights, fused_dimensions
#include "detail/driver.hpp"             // PassCut, drive, for_each_query
#include "detail/exp.hpp"                // exp_neg_flushes_from
#include "detail/key_order.hpp"          // KeyOrder: the keys along the line in one dimension
#include "detail/lanes.hpp"              // lane_max_of
#include "detail/nearest.hpp"            // nearest_keys, nearest_shares
#include "detail/parallel.hpp"           // resolve_threads
#include "detail/scale.hpp"              // scale_keys
#include "errors.hpp"
#include "kernel.hpp"
#include "objective_data.hpp"  // ObjectiveOptions, ObjectiveData
#include "softmax_gradient_accumulator.hpp"

namespace nadaraya {

/// \file objective_base.hpp
/// What the four objectives share (see objectives.hpp for the mathematics) beyond their data
/// (objective_data.hpp): the block accumulator that runs them on the engine's driver, and the
/// public face (value, gradient, mini-batches).

namespace detail {

/// Fails to compile, with a message that says what to add, for kernels without `dlog_profile`.
template <class Kernel>
struct require_differentiable {
  static_assert(kernel_traits<Kernel>::is_differentiable,
                "fitting a bandwidth needs the kernel's derivative: add `template <class Scalar> "
                "static Scalar dlog_profile(Scalar r2)` (d log k / d r2) to the kernel");
  static constexpr bool value = kernel_traits<Kernel>::is_differentiable;
};

/// Whether a Term takes a seed, `void seed(State&, Scalar max) const`: a lower bound of the
/// query's largest log-weight to start its running maximum from (valid for Terms whose sums all
/// share one maximum; see sum_over_points), and with it `add_block_below` for the blocks that lie
/// below the seed (their log-weights formed inside the sums' pass, never stored).
template <class Term, class = void>
struct takes_seeds : std::false_type {};
template <class Term>
struct takes_seeds<
    Term,
    std::void_t<decltype(std::declval<const Term&>().seed(std::declval<typename Term::State&>(),
                                                          std::declval<typename Term::Scalar>())),
                decltype(std::declval<const Term&>().add_block_below(
                    std::declval<typename Term::State&>(),
                    std::declval<const PairBlock<typename Term::Scalar>&>(),
                    std::declval<typename Term::Scalar>(),
                    std::declval<const BlockGradient<typename Term::Scalar>&>()))>>
    : std::true_type {};

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
///   void add_nearest(State&, const std::vector<Index>& keys,    // unreached (no support, or
///                    const std::vector<double>& shares) const;  // r2 overflowed): nearest keys
///   void finish(Index point, const State&, double& loss, double* gradient) const;
///   // optional, both or neither (takes_seeds): see sum_over_points
///   void seed(State&, Scalar max) const;
///   bool add_block_below(State&, const PairBlock&, Scalar slope, const BlockGradient&) const;
/// \endcode
/// Keys come in the data's key order (ObjectiveData::key_order): a Term's per-key arrays for
/// the blocks follow it; `point` in finish and the keys of add_nearest are rows.
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

  /// On the sorted line (one dimension, linear log-profile): per query a lower bound of its
  /// largest log-weight (the Term's seed), and the largest log p_k; empty `seeds`: no skipping.
  void skip_by_line(const Vector& seeds, Scalar log_max_weight) {
    m_seeds = seeds.size() > 0 ? seeds.data() : nullptr;
    m_log_max_weight = log_max_weight;
  }

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
    // The block's keys on the sorted line: the interval [first, last] (the padding aside).
    const Scalar first = columns[0];
    const Scalar last = columns[std::min(length, m_cut.keys() - key0) - 1];
    for (Eigen::Index t = 0; t < item.count; ++t) {
      const Eigen::Index q = item.query0 + t;
      const Eigen::Index skip = m_excluded[static_cast<std::size_t>(q)];
      const bool excludes = skip >= key0 && skip < key0 + length;
      State& state = m_states[static_cast<std::size_t>(item.shard * m_cut.queries() + q)];
      for (Eigen::Index j = 0; j < d; ++j) point[j] = m_queries(q, j);
      if constexpr (takes_seeds<Term>::value && linear) {
        if (m_seeds != nullptr) {
          const Scalar bound = line_interval_bound(point[0], first, last, slope, m_log_max_weight);
          // A block whose every weight flushes to 0 against the query's seed adds nothing, bit
          // for bit: the Term's state would skip it (SoftmaxGradientAccumulator::add_block).
          if (exp_neg_flushes_from(m_seeds[q] - bound)) continue;
          // A block below the seed leaves the running maximum where it is: its log-weights
          // need not be stored, nor their maximum found.
          const PairBlock<Scalar> below{q,       key0,  length,  nullptr, bound, nullptr,
                                        weights, point, columns, padded,  d};
          if (bound <= m_seeds[q] && !excludes &&
              m_term.add_block_below(state, below, slope, gradient_of(below, nullptr))) {
            continue;
          }
        }
      }
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
      if (excludes) logs[skip - key0] = minus_infinity;
      if (!fused || excludes) max = lane_max_of(logs, length, scratch.halves.data());
      if (!(max > minus_infinity)) continue;
      const PairBlock<Scalar> block{q,       key0,  length,  logs,   max, distance,
                                    weights, point, columns, padded, d};
      m_term.add_block(state, block, gradient_of(block, scratch.factors.data()),
                       scratch.term.data());
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
  const Scalar* m_seeds = nullptr;              // per query, the seed (sorted line) or null
  Scalar m_log_max_weight = 0;                  // the largest log p_k (sorted line)
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
  // The keys and their log-weights padded to the granule (weight zero on the padding), in the
  // pass's key order (detail/key_order.hpp): `position` of a row.
  const KeyOrder& order = data.key_order();
  const Vector& log_weights = data.key_log_weights();
  NADARAYA_ASSERT(log_weights.size() == cut.padded_keys());
  Matrix keys(cut.padded_keys(), d);
  keys.bottomRows(cut.padded_keys() - n).setZero();
  scale_keys(data.keys(), widths, keys, where);
  Matrix queries(m, d);
  std::vector<Eigen::Index> excluded(rows.size(), -1);
  for (Eigen::Index q = 0; q < m; ++q) {
    const Eigen::Index row = rows[static_cast<std::size_t>(q)];
    if (row < 0 || row >= n)
      fail(where, "argument 'rows' has index ", row, " outside [0, ", n, ")");
    queries.row(q) = keys.row(order.position(row));
    if (data.options().leave_one_out) excluded[static_cast<std::size_t>(q)] = order.position(row);
  }

  using State = typename Term::State;
  std::vector<State> states(static_cast<std::size_t>(cut.shards() * m), term.start());
  // On the sorted line, a Term that takes seeds starts each query from a lower bound of its
  // largest log-weight; the pass skips the blocks that flush against it and takes those below it
  // in one pass each (ObjectivePass::add_block).
  Vector seeds;
  Scalar log_max_weight = -std::numeric_limits<Scalar>::infinity();
  if constexpr (takes_seeds<Term>::value && kernel_traits<Kernel>::has_linear_log_profile) {
    if (order.sorted()) {
      const auto slope = static_cast<Scalar>(kernel_traits<Kernel>::log_profile_slope());
      seeds.resize(m);
      for (Eigen::Index q = 0; q < m; ++q) {
        seeds(q) = line_seed(keys.data(), log_weights.data(), n,
                             order.position(rows[static_cast<std::size_t>(q)]),
                             data.options().leave_one_out, slope);
        for (Eigen::Index shard = 0; shard < cut.shards(); ++shard)
          term.seed(states[static_cast<std::size_t>(shard * m + q)], seeds(q));
      }
      log_max_weight = log_weights.head(n).maxCoeff();
    }
  }
  ObjectivePass<Kernel, Term> pass(term, cut, queries, keys, log_weights, excluded, term.parameters,
                                   data.options().per_dimension, states);
  pass.skip_by_line(seeds, log_max_weight);
  drive(cut, threads, pass);

  Eigen::VectorXd losses(m);
  Eigen::MatrixXd gradients(term.parameters, m);
  for_each_query(cut, threads, m, [&](Eigen::Index q) {
    State& state = states[static_cast<std::size_t>(q)];
    for (Eigen::Index shard = 1; shard < cut.shards(); ++shard)
      term.merge(state, states[static_cast<std::size_t>(shard * m + q)]);
    // No key reached: outside a compact support, or (any kernel) every r2 overflowed, at widths
    // far below the data's spacing. The nearest keys stand in: the limit of the prediction, as
    // in the estimators (their weights alone survive there).
    if (!term.reached(state)) {
      const Eigen::Index skip = excluded[static_cast<std::size_t>(q)];
      std::vector<Eigen::Index> nearest = nearest_keys(queries.row(q), keys, log_weights, skip);
      for (Eigen::Index& key : nearest) key = order.row(key);  // the rows, as Terms index them
      if (!nearest.empty()) {
        term.add_nearest(state, nearest,
                         nearest_shares(nearest, data.weights(), data.log_shares()));
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
