// Quick start: Nadaraya–Watson regression of y = 2 sin(x) + x + noise, the textbook example of
// attention pooling by similarity. Fits on 1000 points and learns the kernel width by stochastic
// gradient descent on the leave-one-out loss (one line: fit_bandwidth), then compares its error
// on 1000 held-out points with fixed widths and Silverman's rule of thumb.
//
// Run: ./build/examples/example_quickstart

#include <cmath>
#include <cstdio>
#include <random>
#include <utility>

#include <nadaraya/nadaraya.hpp>

namespace {

// y = 2 sin(x) + x + noise_sd * N(0, 1), with x ~ N(0, 1).
void make_data(Eigen::Index n, double noise_sd, std::mt19937_64& generator, Eigen::MatrixXd& x,
               Eigen::VectorXd& y) {
  std::normal_distribution<double> normal(0.0, 1.0);
  x.resize(n, 1);
  y.resize(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    x(i, 0) = normal(generator);
    y(i) = 2 * std::sin(x(i, 0)) + x(i, 0) + noise_sd * normal(generator);
  }
}

double mean_squared_error(const Eigen::MatrixXd& predicted, const Eigen::VectorXd& truth) {
  return (predicted.col(0) - truth).squaredNorm() / static_cast<double>(truth.size());
}

}  // namespace

int main() {
  std::mt19937_64 generator(42);
  Eigen::MatrixXd x_train, x_test;
  Eigen::VectorXd y_train, y_test;
  make_data(1000, 0.5, generator, x_train, y_train);
  make_data(1000, 0.5, generator, x_test, y_test);

  std::printf("%-26s %10s %16s\n", "bandwidth", "width", "held-out MSE");
  for (const auto& [name, bandwidth] : {std::pair<const char*, nadaraya::Bandwidth>{
                                            "scalar 0.002", nadaraya::Bandwidth::scalar(0.002)},
                                        {"Silverman's rule", nadaraya::Bandwidth::silverman()},
                                        {"scalar 1.0", nadaraya::Bandwidth::scalar(1.0)}}) {
    nadaraya::NadarayaWatson<nadaraya::Gaussian> model(bandwidth);
    model.fit(x_train, y_train);
    std::printf("%-26s %10.4f %16.4f\n", name, model.bandwidth()(0),
                mean_squared_error(model.predict(x_test), y_test));
  }

  // The width learned by SGD on the leave-one-out loss, starting from Silverman's rule.
  nadaraya::NadarayaWatson<nadaraya::Gaussian> nw;
  nw.fit(x_train, y_train);
  const nadaraya::FitReport report = nw.fit_bandwidth();
  const double learned_error = mean_squared_error(nw.predict(x_test), y_test);
  std::printf("%-26s %10.4f %16.4f\n", "leave-one-out SGD", nw.bandwidth()(0), learned_error);
  std::printf("(fit: %ld SGD steps over %ld epochs, %s; leave-one-out loss %.4f -> %.4f)\n",
              static_cast<long>(report.steps), static_cast<long>(report.epochs),
              nadaraya::to_string(report.reason), report.objective.front(),
              report.final_objective());

  // The noise variance (0.25) is the best any estimator can reach.
  std::printf("learned width %.4f: held-out MSE %.4f (noise variance 0.25)\n", nw.bandwidth()(0),
              learned_error);
  return 0;
}
