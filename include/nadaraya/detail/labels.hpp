#ifndef NADARAYA_DETAIL_LABELS_HPP
#define NADARAYA_DETAIL_LABELS_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <algorithm>    // std::sort, std::unique, std::lower_bound
#include <cstddef>      // std::size_t
#include <type_traits>  // std::is_integral
#include <vector>

#include "check.hpp"  // fail, check_rows

namespace nadaraya {
namespace detail {

/// Class labels as codes: what the classifier and the log-loss objective pool.
template <class Label>
struct LabelCodes {
  std::vector<Label> classes;       ///< the distinct labels, increasing
  std::vector<Eigen::Index> codes;  ///< each label's index in `classes`
};

/// Each label's index among `classes` (`count` distinct labels, increasing); throws on a label
/// that is not among them.
template <class Label, class Derived>
std::vector<Eigen::Index> label_codes(const Eigen::MatrixBase<Derived>& labels,
                                      const Label* classes, std::size_t count, const char* where) {
  std::vector<Eigen::Index> codes(static_cast<std::size_t>(labels.rows()));
  const Label* end = classes + count;
  for (Eigen::Index i = 0; i < labels.rows(); ++i) {
    const auto label = static_cast<Label>(labels(i));
    const Label* found = std::lower_bound(classes, end, label);
    if (found == end || *found != label) {
      fail(where, "argument 'labels' has label ", label, " at row ", i,
           ", which is not among the training classes");
    }
    codes[static_cast<std::size_t>(i)] = found - classes;
  }
  return codes;
}

/// Labels are an integer column: a matrix with more columns is refused, not read by its first.
template <class Derived>
void check_label_column(const Eigen::MatrixBase<Derived>& labels, const char* where) {
  static_assert(std::is_integral<typename Derived::Scalar>::value,
                "labels must be an integer vector (e.g. Eigen::VectorXi)");
  if (labels.cols() != 1) {
    fail(where, "argument 'labels' must be a column vector, got ", labels.rows(), " x ",
         labels.cols());
  }
}

/// Checks training labels (an integer column, one per row of X, at least two classes) and codes
/// them. `Label` is the type they are compared in.
template <class Label, class Derived>
LabelCodes<Label> encode_labels(const Eigen::MatrixBase<Derived>& labels, Eigen::Index rows,
                                const char* where) {
  check_label_column(labels, where);
  check_rows(labels, rows, "labels", where, "'X'");
  LabelCodes<Label> result;
  for (Eigen::Index i = 0; i < labels.rows(); ++i)
    result.classes.push_back(static_cast<Label>(labels(i)));
  std::sort(result.classes.begin(), result.classes.end());
  result.classes.erase(std::unique(result.classes.begin(), result.classes.end()),
                       result.classes.end());
  if (result.classes.size() < 2) {
    if (result.classes.empty()) fail(where, "argument 'labels' is empty");
    fail(where, "argument 'labels' holds a single class (", result.classes[0],
         "): a classifier needs at least two");
  }
  result.codes = label_codes(labels, result.classes.data(), result.classes.size(), where);
  return result;
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_LABELS_HPP
