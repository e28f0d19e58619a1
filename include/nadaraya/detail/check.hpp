#ifndef NADARAYA_DETAIL_CHECK_HPP
#define NADARAYA_DETAIL_CHECK_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <cmath>    // std::isfinite
#include <sstream>  // std::ostringstream builds the messages
#include <string>

#include "../errors.hpp"

namespace nadaraya {
namespace detail {

/// Builds "nadaraya: <where>: <what>" messages from streamable parts.
template <class... Parts>
std::string message(const char* where, const Parts&... parts) {
  std::ostringstream out;
  out << "nadaraya: " << where << ": ";
  (out << ... << parts);
  return out.str();
}

template <class... Parts>
[[noreturn]] void fail(const char* where, const Parts&... parts) {
  throw InvalidArgument(message(where, parts...));
}

template <class Derived>
void check_not_empty(const Eigen::MatrixBase<Derived>& m, const char* name, const char* where) {
  if (m.rows() == 0 || m.cols() == 0) {
    fail(where, "argument '", name, "' is empty (", m.rows(), " x ", m.cols(),
         "); it needs at least one row and one column");
  }
}

/// Throws naming the first non-finite entry (row and column) of `m`.
template <class Derived>
void check_finite(const Eigen::MatrixBase<Derived>& m, const char* name, const char* where) {
  for (Eigen::Index j = 0; j < m.cols(); ++j) {
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
      const auto value = m(i, j);
      if (!std::isfinite(static_cast<double>(value))) {
        fail(where, "argument '", name, "' has a non-finite value (", value, ") at row ", i,
             ", column ", j);
      }
    }
  }
}

template <class Derived>
void check_rows(const Eigen::MatrixBase<Derived>& m, Eigen::Index rows, const char* name,
                const char* where, const char* other) {
  if (m.rows() != rows) {
    fail(where, "argument '", name, "' has ", m.rows(), " rows but ", other, " has ", rows);
  }
}

template <class Derived>
void check_cols(const Eigen::MatrixBase<Derived>& m, Eigen::Index cols, const char* name,
                const char* where, const char* other) {
  if (m.cols() != cols) {
    fail(where, "argument '", name, "' has ", m.cols(), " columns but ", other, " has ", cols);
  }
}

/// Sample weights: one per row of the data, finite, non-negative, not all zero.
template <class Derived>
void check_weights(const Eigen::MatrixBase<Derived>& w, Eigen::Index rows, const char* where) {
  if (w.cols() != 1) {
    fail(where, "argument 'weights' must be a column vector, got ", w.rows(), " x ", w.cols());
  }
  check_rows(w, rows, "weights", where, "'X'");
  double total = 0;
  for (Eigen::Index i = 0; i < w.rows(); ++i) {
    const double value = static_cast<double>(w(i, 0));
    if (!std::isfinite(value) || value < 0) {
      fail(where, "argument 'weights' must be finite and non-negative, got ", value, " at row ", i);
    }
    total += value;
  }
  if (!(total > 0)) fail(where, "argument 'weights' sums to zero: at least one must be positive");
}

/// What every fit() and objective checks first: X non-empty and finite, and the sample weights
/// (empty: equal weights) valid for X's rows.
template <class Derived>
void check_sample(const Eigen::MatrixBase<Derived>& X, const Eigen::VectorXd& weights,
                  const char* where) {
  check_not_empty(X, "X", where);
  check_finite(X, "X", where);
  if (weights.size() != 0) check_weights(weights, X.rows(), where);
}

/// Sample weights as a double vector, after checking the shape of the expression given: converting
/// first would let Eigen reshape (or assert on) a matrix passed by mistake.
template <class Derived>
Eigen::VectorXd weights_vector(const Eigen::MatrixBase<Derived>& w, Eigen::Index rows,
                               const char* where) {
  check_weights(w, rows, where);
  // Element by element: GCC 12 reports -Warray-bounds on the packet loads of Eigen's vectorised
  // copy of a fixed Vector2d or Vector3d (AVX and AVX-512), in a branch that never runs.
  Eigen::VectorXd weights(rows);
  for (Eigen::Index i = 0; i < rows; ++i) weights(i) = static_cast<double>(w(i, 0));
  return weights;
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_CHECK_HPP
