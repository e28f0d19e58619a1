// Bad input: every estimator refuses it with nadaraya::InvalidArgument (or NotFitted), both
// derived from nadaraya::Error, and the message names the function, the argument and, where it
// applies, the row and column.

#include <catch2/catch.hpp>
#include <limits>
#include <type_traits>

#include <nadaraya/nadaraya.hpp>

#include "estimators/helpers.hpp"
#include "support/reference.hpp"

using estimator_test::MessageContains;
using nadaraya::Bandwidth;
using nadaraya::InvalidArgument;
using nadaraya::NadarayaWatson;
using nadaraya::NadarayaWatsonClassifier;
using nadaraya::NotFitted;
using nadaraya::Options;
using nadaraya::ParzenDensity;
using nadaraya_test::normal_matrix;

using Density = ParzenDensity<nadaraya::Gaussian>;
using Regression = NadarayaWatson<nadaraya::Gaussian>;
using Classifier = NadarayaWatsonClassifier<nadaraya::Gaussian>;

namespace {

constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();
constexpr double infinity = std::numeric_limits<double>::infinity();

struct Data {
  Eigen::MatrixXd X = normal_matrix<double>(6, 2, 1);
  Eigen::VectorXd y = normal_matrix<double>(6, 1, 2).col(0);
  Eigen::VectorXi labels = (Eigen::VectorXi(6) << 0, 1, 0, 1, 0, 1).finished();
  Eigen::MatrixXd Q = normal_matrix<double>(4, 2, 3);
};

Eigen::MatrixXd with_entry(Eigen::MatrixXd M, Eigen::Index row, Eigen::Index col, double value) {
  M(row, col) = value;
  return M;
}

}  // namespace

TEST_CASE("errors: the exception hierarchy", "[errors]") {
  STATIC_REQUIRE(std::is_base_of<nadaraya::Error, InvalidArgument>::value);
  STATIC_REQUIRE(std::is_base_of<nadaraya::Error, NotFitted>::value);
  STATIC_REQUIRE(std::is_base_of<std::runtime_error, nadaraya::Error>::value);
  Density kde(Bandwidth::scalar(1.0));
  REQUIRE_THROWS_AS(kde.fit(Eigen::MatrixXd(0, 2)), nadaraya::Error);
  REQUIRE_THROWS_AS(kde.log_density(Eigen::MatrixXd::Zero(1, 2)), nadaraya::Error);
}

TEST_CASE("errors: empty or non-finite X", "[errors]") {
  const Data data;
  Density kde;
  Regression nw;
  Classifier classifier;

  SECTION("empty") {
    REQUIRE_THROWS_MATCHES(kde.fit(Eigen::MatrixXd(0, 2)), InvalidArgument,
                           MessageContains({"ParzenDensity::fit", "'X'", "empty", "0 x 2"}));
    REQUIRE_THROWS_MATCHES(kde.fit(Eigen::MatrixXd(3, 0)), InvalidArgument,
                           MessageContains({"'X'", "empty", "3 x 0"}));
    REQUIRE_THROWS_MATCHES(nw.fit(Eigen::MatrixXd(6, 0), data.y), InvalidArgument,
                           MessageContains({"NadarayaWatson::fit", "'X'", "empty"}));
    REQUIRE_THROWS_MATCHES(classifier.fit(Eigen::MatrixXd(6, 0), data.labels), InvalidArgument,
                           MessageContains({"NadarayaWatsonClassifier::fit", "'X'", "empty"}));
    CHECK_FALSE(kde.is_fitted());
    CHECK_FALSE(nw.is_fitted());
    CHECK_FALSE(classifier.is_fitted());
  }
  SECTION("NaN and infinity, named by row and column") {
    for (const double bad : {not_a_number, infinity, -infinity}) {
      INFO("value " << bad);
      const Eigen::MatrixXd X = with_entry(data.X, 4, 1, bad);
      const MessageContains names({"'X'", "non-finite", "row 4", "column 1"});
      REQUIRE_THROWS_MATCHES(kde.fit(X), InvalidArgument, names);
      REQUIRE_THROWS_MATCHES(kde.fit(X, Eigen::VectorXd::Ones(6)), InvalidArgument, names);
      REQUIRE_THROWS_MATCHES(nw.fit(X, data.y), InvalidArgument, names);
      REQUIRE_THROWS_MATCHES(classifier.fit(X, data.labels), InvalidArgument, names);
    }
  }
}

TEST_CASE("errors: bad queries Q", "[errors]") {
  const Data data;
  Density kde(Bandwidth::scalar(1.0));
  Regression nw(Bandwidth::scalar(1.0));
  Classifier classifier(Bandwidth::scalar(1.0));
  kde.fit(data.X);
  nw.fit(data.X, data.y);
  classifier.fit(data.X, data.labels);

  SECTION("the wrong number of columns") {
    const Eigen::MatrixXd Q = Eigen::MatrixXd::Zero(4, 3);
    const MessageContains names({"'Q'", "3 columns", "'X'", "has 2"});
    REQUIRE_THROWS_MATCHES(kde.log_density(Q), InvalidArgument, names);
    REQUIRE_THROWS_MATCHES(kde.density(Q), InvalidArgument, names);
    REQUIRE_THROWS_MATCHES(kde.log_likelihood(Q), InvalidArgument, names);
    REQUIRE_THROWS_MATCHES(nw.predict(Q), InvalidArgument, names);
    REQUIRE_THROWS_MATCHES(nw.attention_weights(Q), InvalidArgument, names);
    REQUIRE_THROWS_MATCHES(nw.score(Q, Eigen::VectorXd::Zero(4)), InvalidArgument, names);
    REQUIRE_THROWS_MATCHES(classifier.predict_proba(Q), InvalidArgument, names);
    REQUIRE_THROWS_MATCHES(classifier.predict(Q), InvalidArgument, names);
    REQUIRE_THROWS_MATCHES(classifier.decision_function(Q), InvalidArgument, names);
    REQUIRE_THROWS_MATCHES(kde.log_density(Eigen::MatrixXd(0, 0)), InvalidArgument,
                           MessageContains({"'Q'", "empty"}));
  }
  SECTION("empty") {
    // Refused like an empty X (the specification; scikit-learn refuses 0 samples too).
    const Eigen::MatrixXd Q(0, 2);
    const MessageContains names({"'Q'", "empty"});
    REQUIRE_THROWS_MATCHES(kde.log_density(Q), InvalidArgument, names);
    REQUIRE_THROWS_MATCHES(nw.predict(Q), InvalidArgument, names);
    REQUIRE_THROWS_MATCHES(classifier.predict_proba(Q), InvalidArgument, names);
  }
  SECTION("NaN and infinity, named by row and column") {
    for (const double bad : {not_a_number, infinity, -infinity}) {
      INFO("value " << bad);
      const Eigen::MatrixXd Q = with_entry(data.Q, 2, 0, bad);
      const MessageContains names({"'Q'", "non-finite", "row 2", "column 0"});
      REQUIRE_THROWS_MATCHES(
          kde.log_density(Q), InvalidArgument,
          MessageContains({"ParzenDensity::log_density", "'Q'", "row 2", "column 0"}));
      REQUIRE_THROWS_MATCHES(
          nw.predict(Q), InvalidArgument,
          MessageContains({"NadarayaWatson::predict", "'Q'", "row 2", "column 0"}));
      REQUIRE_THROWS_MATCHES(nw.attention_weights(Q), InvalidArgument, names);
      REQUIRE_THROWS_MATCHES(classifier.predict_proba(Q), InvalidArgument, names);
      REQUIRE_THROWS_MATCHES(classifier.decision_function(Q), InvalidArgument, names);
    }
  }
  SECTION("too large for the bandwidth: Q / h overflows") {
    Density narrow(Bandwidth::scalar(1e-10));
    narrow.fit(data.X);
    REQUIRE_THROWS_MATCHES(narrow.log_density(Eigen::MatrixXd::Constant(1, 2, 1e300)),
                           InvalidArgument, MessageContains({"'Q'", "overflows"}));
  }
}

TEST_CASE("errors: bad outputs Y", "[errors]") {
  const Data data;
  Regression nw(Bandwidth::scalar(1.0));

  SECTION("the wrong number of rows") {
    REQUIRE_THROWS_MATCHES(nw.fit(data.X, Eigen::VectorXd::Zero(5)), InvalidArgument,
                           MessageContains({"NadarayaWatson::fit", "'Y'", "5 rows", "'X'", "6"}));
    REQUIRE_THROWS_MATCHES(nw.fit(data.X, Eigen::MatrixXd::Zero(7, 2)), InvalidArgument,
                           MessageContains({"'Y'", "7 rows", "'X'", "6"}));
  }
  SECTION("empty") {
    REQUIRE_THROWS_MATCHES(nw.fit(data.X, Eigen::MatrixXd(6, 0)), InvalidArgument,
                           MessageContains({"'Y'", "empty"}));
  }
  SECTION("NaN and infinity, named by row and column") {
    for (const double bad : {not_a_number, infinity}) {
      INFO("value " << bad);
      const Eigen::MatrixXd Y = with_entry(Eigen::MatrixXd::Zero(6, 3), 5, 2, bad);
      REQUIRE_THROWS_MATCHES(nw.fit(data.X, Y), InvalidArgument,
                             MessageContains({"'Y'", "non-finite", "row 5", "column 2"}));
    }
    CHECK_FALSE(nw.is_fitted());  // a refused fit leaves the estimator as it was
  }
  SECTION("score: Y must match Q's rows and the training outputs, and be finite") {
    nw.fit(data.X, data.y);
    REQUIRE_THROWS_MATCHES(nw.score(data.Q, Eigen::VectorXd::Zero(3)), InvalidArgument,
                           MessageContains({"NadarayaWatson::score", "'Y'", "3 rows", "'Q'", "4"}));
    REQUIRE_THROWS_MATCHES(nw.score(data.Q, Eigen::MatrixXd::Zero(4, 2)), InvalidArgument,
                           MessageContains({"'Y'", "2 columns"}));
    REQUIRE_THROWS_MATCHES(
        nw.score(data.Q, with_entry(Eigen::MatrixXd::Zero(4, 1), 1, 0, not_a_number)),
        InvalidArgument, MessageContains({"'Y'", "row 1", "column 0"}));
  }
}

TEST_CASE("errors: bad sample weights", "[errors]") {
  const Data data;
  Density kde;
  Regression nw;
  Classifier classifier;
  auto check_all = [&](const Eigen::VectorXd& w, const MessageContains& names) {
    REQUIRE_THROWS_MATCHES(kde.fit(data.X, w), InvalidArgument, names);
    REQUIRE_THROWS_MATCHES(nw.fit(data.X, data.y, w), InvalidArgument, names);
    REQUIRE_THROWS_MATCHES(classifier.fit(data.X, data.labels, w), InvalidArgument, names);
  };
  Eigen::VectorXd w = Eigen::VectorXd::Ones(6);

  SECTION("a negative weight") {
    w(3) = -1;
    check_all(w, MessageContains({"'weights'", "non-negative", "-1", "row 3"}));
  }
  SECTION("a NaN or infinite weight") {
    w(2) = not_a_number;
    check_all(w, MessageContains({"'weights'", "finite", "row 2"}));
    w(2) = infinity;
    check_all(w, MessageContains({"'weights'", "finite", "row 2"}));
  }
  SECTION("all zero") {
    check_all(Eigen::VectorXd::Zero(6), MessageContains({"'weights'", "zero"}));
  }
  SECTION("the wrong length") {
    check_all(Eigen::VectorXd::Ones(5), MessageContains({"'weights'", "5 rows", "'X'", "6"}));
    check_all(Eigen::VectorXd::Ones(7), MessageContains({"'weights'", "7 rows", "'X'", "6"}));
  }
  CHECK_FALSE(kde.is_fitted());
  CHECK_FALSE(nw.is_fitted());
  CHECK_FALSE(classifier.is_fitted());
}

// Regression, hidden (run it with `test_estimators "[regression]"`): weights given as an n x 2
// matrix must be refused. Today every fit(X, ..., weights) converts them to Eigen::VectorXd
// (`weights.template cast<double>()`) before check_weights() can look at their shape: in a debug
// build that is an Eigen assertion (abort), under NDEBUG an unchecked resize. Hidden because it
// aborts the whole run in debug builds.
TEST_CASE("errors: weights that are not a vector", "[errors][regression][.]") {
  const Data data;
  Density kde;
  Regression nw;
  Classifier classifier;
  const MessageContains names({"'weights'", "column vector"});
  CHECK_THROWS_MATCHES(kde.fit(data.X, Eigen::MatrixXd::Ones(6, 2)), InvalidArgument, names);
  CHECK_THROWS_MATCHES(nw.fit(data.X, data.y, Eigen::MatrixXd::Ones(6, 2)), InvalidArgument, names);
  CHECK_THROWS_MATCHES(classifier.fit(data.X, data.labels, Eigen::MatrixXd::Ones(6, 2)),
                       InvalidArgument, names);
}

TEST_CASE("errors: bad class labels", "[errors]") {
  const Data data;
  Classifier classifier(Bandwidth::scalar(1.0));

  SECTION("a single class") {
    REQUIRE_THROWS_MATCHES(
        classifier.fit(data.X, Eigen::VectorXi::Constant(6, 4)), InvalidArgument,
        MessageContains({"NadarayaWatsonClassifier::fit", "'labels'", "single class", "4"}));
  }
  SECTION("the wrong length") {
    REQUIRE_THROWS_MATCHES(classifier.fit(data.X, Eigen::VectorXi::Zero(5)), InvalidArgument,
                           MessageContains({"'labels'", "5 rows", "'X'", "6"}));
  }
  SECTION("not a vector") {
    REQUIRE_THROWS_MATCHES(classifier.fit(data.X, Eigen::MatrixXi::Zero(6, 2)), InvalidArgument,
                           MessageContains({"'labels'", "column vector"}));
  }
  SECTION("score with a label not seen in fit") {
    classifier.fit(data.X, data.labels);
    const Eigen::VectorXi truth = (Eigen::VectorXi(4) << 0, 5, 1, 0).finished();
    REQUIRE_THROWS_MATCHES(
        classifier.score(data.Q, truth), InvalidArgument,
        MessageContains({"NadarayaWatsonClassifier::score", "'labels'", "label 5", "row 1"}));
    REQUIRE_THROWS_MATCHES(classifier.score(data.Q, Eigen::VectorXi::Zero(3)), InvalidArgument,
                           MessageContains({"'labels'", "3 rows", "'Q'", "4"}));
    // A matrix of labels is refused, not read by its first column.
    REQUIRE_THROWS_MATCHES(
        classifier.score(data.Q, Eigen::MatrixXi::Zero(4, 2)), InvalidArgument,
        MessageContains({"NadarayaWatsonClassifier::score", "'labels'", "column vector", "4 x 2"}));
  }
  SECTION("decision_function needs exactly two classes") {
    classifier.fit(data.X, (Eigen::VectorXi(6) << 0, 1, 2, 0, 1, 2).finished());
    REQUIRE_THROWS_MATCHES(
        classifier.decision_function(data.Q), InvalidArgument,
        MessageContains({"NadarayaWatsonClassifier::decision_function", "two classes", "3"}));
    CHECK(classifier.predict_proba(data.Q).cols() == 3);  // the rest still works
  }
}

TEST_CASE("errors: use before fit throws NotFitted", "[errors]") {
  const Data data;
  const Density kde;
  const Regression nw;
  const Classifier classifier;
  const Eigen::MatrixXd& Q = data.Q;
  auto names = [](const char* where) { return MessageContains({where, "fit()"}); };

  REQUIRE_THROWS_MATCHES(kde.log_density(Q), NotFitted, names("ParzenDensity::log_density"));
  REQUIRE_THROWS_MATCHES(kde.density(Q), NotFitted, names("ParzenDensity::log_density"));
  REQUIRE_THROWS_MATCHES(kde.log_likelihood(Q), NotFitted, names("ParzenDensity::log_density"));
  REQUIRE_THROWS_MATCHES(kde.leave_one_out_log_density(), NotFitted,
                         names("ParzenDensity::leave_one_out_log_density"));
  REQUIRE_THROWS_MATCHES(kde.bandwidth(), NotFitted, names("ParzenDensity::bandwidth"));

  REQUIRE_THROWS_MATCHES(nw.predict(Q), NotFitted, names("NadarayaWatson::predict"));
  REQUIRE_THROWS_MATCHES(nw.attention_weights(Q), NotFitted,
                         names("NadarayaWatson::attention_weights"));
  REQUIRE_THROWS_MATCHES(nw.predict_leave_one_out(), NotFitted,
                         names("NadarayaWatson::predict_leave_one_out"));
  REQUIRE_THROWS_MATCHES(nw.bandwidth(), NotFitted, names("NadarayaWatson::bandwidth"));

  REQUIRE_THROWS_MATCHES(classifier.predict_proba(Q), NotFitted,
                         names("NadarayaWatsonClassifier::predict_proba"));
  REQUIRE_THROWS_MATCHES(classifier.predict(Q), NotFitted,
                         names("NadarayaWatsonClassifier::predict_proba"));
  REQUIRE_THROWS_MATCHES(classifier.decision_function(Q), NotFitted,
                         names("NadarayaWatsonClassifier::predict_proba"));
  REQUIRE_THROWS_MATCHES(classifier.predict_proba_leave_one_out(), NotFitted,
                         names("NadarayaWatsonClassifier::predict_proba_leave_one_out"));
  REQUIRE_THROWS_MATCHES(classifier.classes(), NotFitted,
                         names("NadarayaWatsonClassifier::classes"));
  REQUIRE_THROWS_MATCHES(classifier.bandwidth(), NotFitted,
                         names("NadarayaWatsonClassifier::bandwidth"));
}

// Regression: score() before fit() must say NotFitted. Today NadarayaWatson::score compares Y's
// columns with the (empty) training outputs first and throws InvalidArgument ("'Y' has 1 columns
// but the training outputs has 0"), and the classifier's score throws InvalidArgument ("label 0
// ... is not among the training classes").
TEST_CASE("errors: score before fit throws NotFitted", "[errors]") {
  const Data data;
  const Regression nw;
  const Classifier classifier;
  CHECK_THROWS_MATCHES(nw.score(data.Q, Eigen::VectorXd::Zero(4)), NotFitted,
                       MessageContains({"NadarayaWatson::score", "fit()"}));
  CHECK_THROWS_MATCHES(classifier.score(data.Q, Eigen::VectorXi::Zero(4)), NotFitted,
                       MessageContains({"NadarayaWatsonClassifier::score", "fit()"}));
}

TEST_CASE("errors: bad bandwidths", "[errors]") {
  const Data data;
  SECTION("Bandwidth::scalar needs 0 < h < infinity") {
    for (const double h : {0.0, -1.0, not_a_number, infinity, -infinity}) {
      INFO("h = " << h);
      REQUIRE_THROWS_MATCHES(Bandwidth::scalar(h), InvalidArgument,
                             MessageContains({"Bandwidth::scalar", "positive and finite"}));
      REQUIRE_THROWS_MATCHES(Bandwidth::scalar(h, nadaraya::WidthUnit::standard_deviation),
                             InvalidArgument,
                             MessageContains({"Bandwidth::scalar", "positive and finite"}));
    }
  }
  SECTION("Bandwidth::per_dimension: each entry, named by index") {
    REQUIRE_THROWS_MATCHES(Bandwidth::per_dimension(Eigen::Vector3d(0.5, 0.0, 1.0)),
                           InvalidArgument,
                           MessageContains({"Bandwidth::per_dimension", "positive", "index 1"}));
    REQUIRE_THROWS_MATCHES(Bandwidth::per_dimension(Eigen::Vector3d(0.5, 1.0, not_a_number)),
                           InvalidArgument, MessageContains({"index 2"}));
    REQUIRE_THROWS_MATCHES(Bandwidth::per_dimension(Eigen::VectorXd(0)), InvalidArgument,
                           MessageContains({"Bandwidth::per_dimension", "empty"}));
    REQUIRE_THROWS_MATCHES(Bandwidth::per_dimension(Eigen::Matrix2d::Ones()), InvalidArgument,
                           MessageContains({"Bandwidth::per_dimension", "vector"}));
  }
  SECTION("per_dimension with the wrong length for the data") {
    const Bandwidth three = Bandwidth::per_dimension(Eigen::Vector3d(0.5, 1.0, 2.0));
    const MessageContains names({"3 widths", "2 columns"});
    Density kde(three);
    Regression nw(three);
    Classifier classifier(three);
    REQUIRE_THROWS_MATCHES(kde.fit(data.X), InvalidArgument,
                           MessageContains({"ParzenDensity::fit", "3 widths", "2 columns"}));
    REQUIRE_THROWS_MATCHES(nw.fit(data.X, data.y), InvalidArgument, names);
    REQUIRE_THROWS_MATCHES(classifier.fit(data.X, data.labels), InvalidArgument, names);
    Regression fitted(Bandwidth::scalar(1.0));
    fitted.fit(data.X, data.y);
    REQUIRE_THROWS_MATCHES(fitted.set_bandwidth(three), InvalidArgument, names);
  }
  SECTION("a width too small for the data's spread: (X - mean) / h overflows") {
    Density kde(Bandwidth::scalar(1e-300));
    Eigen::MatrixXd X(3, 1);
    X << -1e10, 0, 1e10;
    REQUIRE_THROWS_MATCHES(kde.fit(X), InvalidArgument, MessageContains({"too small", "column 0"}));
    // Data far from the origin are centred first: only their spread counts.
    CHECK_NOTHROW(kde.fit(Eigen::MatrixXd::Constant(3, 1, 1e10)));
  }
}

TEST_CASE("errors: threads = -1", "[errors]") {
  const Data data;
  Options options;
  options.threads = -1;
  const MessageContains names({"'threads'", "-1"});
  // Refused when the options are given or when they are first used: either is fine.
  REQUIRE_THROWS_MATCHES(([&] {
                           Density kde(Bandwidth::scalar(1.0), options);
                           kde.fit(data.X);
                           return kde.log_density(data.Q);
                         }()),
                         InvalidArgument, names);
  REQUIRE_THROWS_MATCHES(([&] {
                           Density kde(Bandwidth::scalar(1.0), options);
                           kde.fit(data.X);
                           return kde.leave_one_out_log_density();
                         }()),
                         InvalidArgument, names);
  REQUIRE_THROWS_MATCHES(([&] {
                           Regression nw(Bandwidth::scalar(1.0), options);
                           nw.fit(data.X, data.y);
                           return nw.predict(data.Q);
                         }()),
                         InvalidArgument, names);
  REQUIRE_THROWS_MATCHES(([&] {
                           Classifier classifier(Bandwidth::scalar(1.0), options);
                           classifier.fit(data.X, data.labels);
                           return classifier.predict_proba(data.Q);
                         }()),
                         InvalidArgument, names);
}

TEST_CASE("errors: the engine pool() refuses mismatched shapes", "[errors]") {
  const Eigen::MatrixXd keys = normal_matrix<double>(5, 2, 11);
  const Eigen::MatrixXd values = normal_matrix<double>(5, 3, 12);
  const Eigen::MatrixXd queries = normal_matrix<double>(4, 2, 13);
  const Eigen::VectorXd no_weights;
  nadaraya::PoolOptions loo;
  loo.leave_one_out = true;
  using nadaraya::Gaussian;

  REQUIRE_THROWS_MATCHES(
      nadaraya::pool<Gaussian>(Eigen::MatrixXd::Zero(4, 3), keys, values, no_weights),
      InvalidArgument, MessageContains({"'queries'", "3 columns", "'keys'", "2"}));
  REQUIRE_THROWS_MATCHES(
      nadaraya::pool<Gaussian>(queries, keys, Eigen::MatrixXd::Zero(6, 3), no_weights),
      InvalidArgument, MessageContains({"pool", "'values'", "6 rows", "'keys'", "5"}));
  REQUIRE_THROWS_MATCHES(nadaraya::pool<Gaussian>(queries, keys, values, Eigen::VectorXd::Zero(4)),
                         InvalidArgument, MessageContains({"'key_log_weights'", "4 rows", "5"}));
  REQUIRE_THROWS_MATCHES(nadaraya::pool<Gaussian>(queries, keys, values, no_weights, loo),
                         InvalidArgument,
                         MessageContains({"leave_one_out", "4 queries", "5 keys"}));
  REQUIRE_THROWS_MATCHES(
      nadaraya::pool<Gaussian>(queries, Eigen::MatrixXd(0, 2), Eigen::MatrixXd(0, 3), no_weights),
      InvalidArgument, MessageContains({"'keys'", "empty"}));
  Eigen::VectorXd log_weights = Eigen::VectorXd::Zero(5);
  log_weights(2) = infinity;
  REQUIRE_THROWS_MATCHES(nadaraya::pool<Gaussian>(queries, keys, values, log_weights),
                         InvalidArgument, MessageContains({"'key_log_weights'", "row 2"}));
  log_weights(2) = not_a_number;
  REQUIRE_THROWS_MATCHES(nadaraya::pool<Gaussian>(queries, keys, values, log_weights),
                         InvalidArgument, MessageContains({"'key_log_weights'", "row 2"}));
  REQUIRE_THROWS_MATCHES(
      nadaraya::pool<Gaussian>(with_entry(queries, 3, 1, not_a_number), keys, values, no_weights),
      InvalidArgument, MessageContains({"'queries'", "row 3", "column 1"}));
  REQUIRE_THROWS_MATCHES(
      nadaraya::pool<Gaussian>(queries, with_entry(keys, 0, 0, infinity), values, no_weights),
      InvalidArgument, MessageContains({"'keys'", "row 0", "column 0"}));
  REQUIRE_THROWS_MATCHES(
      nadaraya::pool<Gaussian>(queries, keys, with_entry(values, 4, 2, not_a_number), no_weights),
      InvalidArgument, MessageContains({"'values'", "row 4", "column 2"}));
  nadaraya::PoolOptions bad_threads;
  bad_threads.threads = -1;
  REQUIRE_THROWS_MATCHES(nadaraya::pool<Gaussian>(queries, keys, values, no_weights, bad_threads),
                         InvalidArgument, MessageContains({"'threads'", "-1"}));
  // -infinity log-weights are allowed (a key of weight zero), and the shapes above work when right.
  log_weights(2) = -infinity;
  const nadaraya::PoolResult<double> ok =
      nadaraya::pool<Gaussian>(queries, keys, values, log_weights);
  CHECK(ok.mean.rows() == 4);
  CHECK(ok.mean.cols() == 3);
  CHECK(ok.log_sum.allFinite());
}
