// Question 1 of "Attention Pooling by Similarity": for labels y in {-1, +1}, the Parzen estimate
// of p(x, y=+1) - p(x, y=-1) is the Nadaraya–Watson classifier times the density p(x).
//
// Two overlapping Gaussian classes in 2-D. On a grid we compute both sides of
//     f_NW(x) * p(x) = p(x, +1) - p(x, -1),
// where f_NW is the Nadaraya–Watson regression of the labels (decision_function), p is the Parzen
// density of all points, and p(x, c) = (n_c / n) * (Parzen density of class c alone). We print the
// largest difference, write the grid to parzen_vs_nadaraya_watson.csv and, with gnuplot, draw the
// decision boundary f_NW = 0 to parzen_vs_nadaraya_watson.png.
//
// Run: ./build/examples/example_parzen_vs_nadaraya_watson [points per class, default 200]

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>

#include <nadaraya/nadaraya.hpp>

#include "example_support.hpp"

using namespace nadaraya;

int main(int argc, char** argv) {
  const Eigen::Index per_class = argc > 1 ? std::stol(argv[1]) : 200;

  // Class -1 around (-1, 0), class +1 around (1, 0.5): they overlap.
  std::mt19937_64 generator(7);
  std::normal_distribution<double> normal(0.0, 1.0);
  Eigen::MatrixXd X(2 * per_class, 2);
  Eigen::VectorXi labels(2 * per_class);
  for (Eigen::Index i = 0; i < 2 * per_class; ++i) {
    const bool positive = i >= per_class;
    X(i, 0) = (positive ? 1.0 : -1.0) + normal(generator);
    X(i, 1) = (positive ? 0.5 : 0.0) + normal(generator);
    labels(i) = positive ? 1 : -1;
  }

  const Bandwidth width = Bandwidth::scalar(0.5);
  NadarayaWatsonClassifier<Gaussian> classifier(width);
  classifier.fit(X, labels);
  ParzenDensity<Gaussian> density_all(width), density_positive(width), density_negative(width);
  density_all.fit(X);
  density_positive.fit(X.bottomRows(per_class));
  density_negative.fit(X.topRows(per_class));
  const double share = 0.5;  // each class holds half the points

  // A 60 x 60 grid over [-4, 4] x [-3.5, 4].
  const Eigen::Index side = 60;
  Eigen::MatrixXd grid(side * side, 2);
  for (Eigen::Index a = 0; a < side; ++a) {
    for (Eigen::Index b = 0; b < side; ++b) {
      grid(a * side + b, 0) = -4.0 + 8.0 * static_cast<double>(a) / (side - 1);
      grid(a * side + b, 1) = -3.5 + 7.5 * static_cast<double>(b) / (side - 1);
    }
  }
  const Eigen::VectorXd decision = classifier.decision_function(grid);
  const Eigen::VectorXd p = density_all.density(grid);
  const Eigen::VectorXd joint_difference =
      share * (density_positive.density(grid) - density_negative.density(grid));
  const Eigen::VectorXd left = decision.cwiseProduct(p);

  // Relative to the largest |p(x,+1) - p(x,-1)| on the grid.
  const double scale = joint_difference.cwiseAbs().maxCoeff();
  const double largest_difference = (left - joint_difference).cwiseAbs().maxCoeff() / scale;
  const Eigen::VectorXi predicted = classifier.predict(grid);
  Eigen::Index sign_disagreements = 0;
  for (Eigen::Index g = 0; g < grid.rows(); ++g) {
    const int sign = joint_difference(g) > 0 ? 1 : -1;
    if (joint_difference(g) != 0 && predicted(g) != sign) ++sign_disagreements;
  }

  std::printf("%8s %8s %14s %14s %14s\n", "x1", "x2", "f_NW * p", "p(+) - p(-)", "difference");
  for (Eigen::Index g = 0; g < grid.rows(); g += 611) {
    std::printf("%8.3f %8.3f %14.6e %14.6e %14.2e\n", grid(g, 0), grid(g, 1), left(g),
                joint_difference(g), left(g) - joint_difference(g));
  }
  std::printf("grid points where predict() disagrees with sign(p(+) - p(-)): %ld of %ld\n",
              static_cast<long>(sign_disagreements), static_cast<long>(grid.rows()));

  example::write_csv("parzen_vs_nadaraya_watson.csv",
                     {"x1", "x2", "decision", "density", "joint_difference"},
                     {grid.col(0), grid.col(1), decision, p, joint_difference});
  const Eigen::VectorXd label_column = labels.cast<double>();
  example::write_csv("parzen_vs_nadaraya_watson_points.csv", {"x1", "x2", "label"},
                     {X.col(0), X.col(1), label_column});
  const bool drawn = example::plot("parzen_vs_nadaraya_watson.gp", R"(
set terminal pngcairo size 800,700
set output 'parzen_vs_nadaraya_watson.png'
set datafile separator ','
set title 'Nadaraya-Watson decision f_{NW}(x) = (p(x,+1) - p(x,-1)) / p(x); boundary where it is 0'
set xrange [-4:4]
set yrange [-3.5:4]
set cbrange [-1:1]
set palette defined (-1 '#9db4ff', 0 'white', 1 '#ff9d9d')
plot 'parzen_vs_nadaraya_watson.csv' skip 1 using 1:2:3 with image notitle, \
     'parzen_vs_nadaraya_watson_points.csv' skip 1 using 1:($3 > 0 ? $2 : 1/0) with points pt 7 ps 0.5 lc rgb 'red' title 'y = +1', \
     '' skip 1 using 1:($3 < 0 ? $2 : 1/0) with points pt 7 ps 0.5 lc rgb 'blue' title 'y = -1'
)");
  std::printf("wrote parzen_vs_nadaraya_watson.csv%s\n",
              drawn ? " and parzen_vs_nadaraya_watson.png" : " (install gnuplot for the picture)");
  std::printf("largest relative difference |f_NW p - (p(+) - p(-))|: %.3e\n", largest_difference);
  return largest_difference < 1e-12 && sign_disagreements == 0 ? 0 : 1;
}
