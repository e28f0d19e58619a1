#ifndef NADARAYA_DETAIL_SCALE_HPP
#define NADARAYA_DETAIL_SCALE_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>

#include "check.hpp"  // fail

namespace nadaraya {
namespace detail {

/// Column j of `data` divided by widths(j), in Scalar, into the first data.rows() rows of `out`
/// (which may have more: the objectives pad their keys). The widths are checked by the caller.
template <class Derived, class Scalar>
void divide_by_widths(const Eigen::MatrixBase<Derived>& data, const Eigen::VectorXd& widths,
                      Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& out) {
  for (Eigen::Index j = 0; j < data.cols(); ++j) {
    out.col(j).head(data.rows()) = data.col(j) / static_cast<Scalar>(widths(j));
  }
}

/// The training data divided by the widths (divide_by_widths), what the engine sees as keys:
/// fails naming the first column whose quotient overflows.
template <class Derived, class Scalar>
void scale_keys(const Eigen::MatrixBase<Derived>& data, const Eigen::VectorXd& widths,
                Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& keys, const char* where) {
  divide_by_widths(data, widths, keys);
  for (Eigen::Index j = 0; j < data.cols(); ++j) {
    if (!keys.col(j).head(data.rows()).allFinite()) {
      fail(where, "width ", widths(j), " of column ", j,
           " is too small for the magnitude of the data: X / h overflows");
    }
  }
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_SCALE_HPP
