#ifndef NADARAYA_DETAIL_WEIGHTS_PASS_HPP
#define NADARAYA_DETAIL_WEIGHTS_PASS_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <cmath>  // std::exp
#include <limits>

#include "../kernel.hpp"  // kernel_traits
#include "driver.hpp"     // PassCut, drive, for_each_query

namespace nadaraya {
namespace detail {

/// The materialised attention weights (NadarayaWatson::attention_weights) as a block accumulator
/// on the driver: per item and block, log k(r2) of every pair into the m x n result, then per
/// query the softmax of log k + log w over its row.
template <class Kernel, class Scalar>
class WeightsPass {
 public:
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  struct Scratch {};

  /// \param queries     m x d, scaled
  /// \param keys        n x d, scaled
  /// \param log_weights n log sample weights (-inf: weight zero)
  /// \param weights     out: m x n
  WeightsPass(const Matrix& queries, const Matrix& keys, const Vector& log_weights, Matrix& weights)
      : m_queries(queries), m_keys(keys), m_log_weights(log_weights), m_weights(weights) {}

  Scratch scratch() const { return {}; }
  void begin_item(Scratch& /*scratch*/, const PassCut::Item& /*item*/) {}
  void end_item(Scratch& /*scratch*/, const PassCut::Item& /*item*/) {}

  void add_block(Scratch& /*scratch*/, const PassCut::Item& item, Index key0, Index length) {
    constexpr Scalar minus_infinity = -std::numeric_limits<Scalar>::infinity();
    const Index d = m_keys.cols(), end = std::min(key0 + length, m_keys.rows());
    for (Index i = key0; i < end; ++i) {
      for (Index q = item.query0; q < item.query0 + item.count; ++q) {
        Scalar r2 = 0;
        for (Index j = 0; j < d; ++j) {
          const Scalar difference = m_queries(q, j) - m_keys(i, j);
          r2 += difference * difference;
        }
        m_weights(q, i) = m_log_weights(i) == minus_infinity
                              ? minus_infinity
                              : kernel_traits<Kernel>::log_profile(r2);
      }
    }
  }

  /// Turns query q's row of log k into its weights; false when no key reaches the query (the row
  /// is left as it is, for the caller's fallback).
  bool finish(Index q) {
    constexpr Scalar minus_infinity = -std::numeric_limits<Scalar>::infinity();
    auto row = m_weights.row(q);
    // (log k - its maximum) + log w: added to a large |log k| (a tiny bandwidth), log w would be
    // rounded away and tied neighbours would lose their weights.
    const Scalar largest_log_kernel = row.maxCoeff();
    if (!(largest_log_kernel > minus_infinity)) return false;
    row = (row.array() - largest_log_kernel) + m_log_weights.transpose().array();
    const Scalar max = row.maxCoeff();
    if (!(max > minus_infinity)) return false;
    row = (row.array() - max).unaryExpr([](Scalar l) { return std::exp(l); });
    row /= row.sum();
    return true;
  }

 private:
  const Matrix& m_queries;
  const Matrix& m_keys;
  const Vector& m_log_weights;
  Matrix& m_weights;
};

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_WEIGHTS_PASS_HPP
