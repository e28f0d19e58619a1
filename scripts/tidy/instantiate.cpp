// A translation unit for clang-tidy's path-sensitive checks (clang-analyzer-*): it instantiates
// every public entry point of the estimators for each built-in kernel in float and double, so
// that the analyser walks the library's code paths once, without the cost of the test
// framework's macros (scripts/ci.sh, stage `tidy`). Never built: only analysed.

#include <Eigen/Core>

#include <nadaraya/nadaraya.hpp>

namespace {

template <class Kernel, class Scalar>
void use_estimators() {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  const Matrix X = Matrix::Random(20, 2), Y = Matrix::Random(20, 1), Q = Matrix::Random(5, 2);
  Eigen::VectorXi labels(20);
  for (Eigen::Index i = 0; i < labels.size(); ++i) labels(i) = static_cast<int>(i % 2);
  const Eigen::VectorXd weights = Eigen::VectorXd::Ones(20);
  const nadaraya::Options options{nadaraya::Unreached::nearest_neighbour, 1};

  nadaraya::NadarayaWatson<Kernel, Scalar> nw(nadaraya::Bandwidth::scalar(0.5), options);
  nw.fit(X, Y, weights);
  (void)nw.predict(Q);
  (void)nw.attention_weights(Q);
  (void)nw.predict_leave_one_out();
  (void)nw.score(Q, Matrix(Y.topRows(5)));
  nw.set_bandwidth(nadaraya::Bandwidth::per_dimension(Eigen::Vector2d(0.5, 0.7)));

  nadaraya::NadarayaWatsonClassifier<Kernel, Scalar> classifier(nadaraya::Bandwidth::scott());
  classifier.fit(X, labels, weights);
  (void)classifier.predict_proba(Q);
  (void)classifier.predict(Q);
  (void)classifier.decision_function(Q);
  (void)classifier.predict_proba_leave_one_out();
  (void)classifier.score(Q, Eigen::VectorXi(labels.head(5)));

  if constexpr (nadaraya::kernel_traits<Kernel>::is_normalisable) {
    nadaraya::ParzenDensity<Kernel, Scalar> kde;
    kde.fit(X, weights);
    (void)kde.log_density(Q);
    (void)kde.density(Q);
    (void)kde.log_likelihood(Q);
    (void)kde.leave_one_out_log_density();
  }
}

template <class Scalar>
void use_all_kernels() {
  use_estimators<nadaraya::Gaussian, Scalar>();
  use_estimators<nadaraya::Epanechnikov, Scalar>();
  use_estimators<nadaraya::Uniform, Scalar>();
  use_estimators<nadaraya::Triangular, Scalar>();
  use_estimators<nadaraya::Biweight, Scalar>();
  use_estimators<nadaraya::Triweight, Scalar>();
  use_estimators<nadaraya::Cosine, Scalar>();
  use_estimators<nadaraya::Laplacian, Scalar>();
  use_estimators<nadaraya::Constant, Scalar>();
}

}  // namespace

int main() {
  try {
    use_all_kernels<float>();
    use_all_kernels<double>();
  } catch (const nadaraya::Error&) {
    return 1;
  }
  return 0;
}
