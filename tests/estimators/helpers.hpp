// Helpers shared by the estimator tests (tests/estimators/*.cpp): kernel lists, seeded data,
// small matrix utilities and a Catch matcher for exception messages.
#ifndef NADARAYA_TESTS_ESTIMATORS_HELPERS_HPP
#define NADARAYA_TESTS_ESTIMATORS_HELPERS_HPP

#include <Eigen/Core>
#include <catch2/catch.hpp>
#include <initializer_list>
#include <string>
#include <vector>

#include <nadaraya/nadaraya.hpp>

#include "support/reference.hpp"

namespace estimator_test {

/// Calls f(Kernel{}) for every kernel that has a density.
template <class F>
void for_each_density_kernel(F&& f) {
  f(nadaraya::Gaussian{});
  f(nadaraya::Epanechnikov{});
  f(nadaraya::Uniform{});
  f(nadaraya::Triangular{});
  f(nadaraya::Biweight{});
  f(nadaraya::Triweight{});
  f(nadaraya::Cosine{});
  f(nadaraya::Laplacian{});
}

/// Calls f(Kernel{}) for the kernels with compact support.
template <class F>
void for_each_compact_kernel(F&& f) {
  f(nadaraya::Epanechnikov{});
  f(nadaraya::Uniform{});
  f(nadaraya::Triangular{});
  f(nadaraya::Biweight{});
  f(nadaraya::Triweight{});
  f(nadaraya::Cosine{});
}

template <class Scalar>
using MatrixX = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
template <class Scalar>
using VectorX = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

/// Seeded sample weights in [0.2, 2) with one zero weight (row 1), as double.
inline Eigen::VectorXd test_weights(Eigen::Index n, unsigned seed) {
  Eigen::VectorXd w = nadaraya_test::uniform_vector(n, 0.2, 2.0, seed);
  if (n > 2) w(1) = 0.0;
  return w;
}

/// M without row `row`.
template <class Derived>
Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, Derived::ColsAtCompileTime> without_row(
    const Eigen::MatrixBase<Derived>& M, Eigen::Index row) {
  Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, Derived::ColsAtCompileTime> out(
      M.rows() - 1, M.cols());
  out.topRows(row) = M.topRows(row);
  out.bottomRows(M.rows() - 1 - row) = M.bottomRows(M.rows() - 1 - row);
  return out;
}

/// Same shape and bitwise equal entries, NaN matching NaN.
template <class A, class B>
bool identical(const Eigen::MatrixBase<A>& a, const Eigen::MatrixBase<B>& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         ((a.array() == b.array()) || (a.array().isNaN() && b.array().isNaN())).all();
}

/// Matches a nadaraya::Error whose message contains every one of the given parts.
class MessageContains : public Catch::MatcherBase<nadaraya::Error> {
 public:
  MessageContains(std::initializer_list<std::string> parts) : m_parts(parts) {}

  bool match(const nadaraya::Error& error) const override {
    const std::string message = error.what();
    for (const std::string& part : m_parts) {
      if (message.find(part) == std::string::npos) return false;
    }
    return true;
  }

  std::string describe() const override {
    std::string out = "has a message containing";
    for (const std::string& part : m_parts) out += " \"" + part + "\"";
    return out;
  }

 private:
  std::vector<std::string> m_parts;
};

}  // namespace estimator_test

#endif  // NADARAYA_TESTS_ESTIMATORS_HELPERS_HPP
