// libFuzzer target: NadarayaWatsonClassifier<Kernel, Scalar> fit / predict_proba / predict /
// decision_function / predict_proba_leave_one_out / score / set_bandwidth / refit on arbitrary
// shapes, bit patterns, labels, bandwidths, weights and options. See fuzz_common.hpp for the
// contract checked.

#include <algorithm>  // std::binary_search
#include <set>        // distinct labels

#include "fuzz_common.hpp"

namespace {

using namespace nadaraya_fuzz;

/// n labels: mostly a few small values (several classes), sometimes any int at all.
Eigen::VectorXi labels_of(Input& in, Eigen::Index n) {
  Eigen::VectorXi labels(n);
  const bool wide = in.flag() && in.flag();
  for (Eigen::Index i = 0; i < n; ++i) {
    labels(i) = wide ? in.pick(std::numeric_limits<int>::min(), std::numeric_limits<int>::max())
                     : in.pick(-2, 3);
  }
  return labels;
}

std::size_t distinct(const Eigen::VectorXi& labels) {
  return std::set<int>(labels.data(), labels.data() + labels.size()).size();
}

template <class Kernel, class Scalar>
void run(Input& in) {
  using Estimator = nadaraya::NadarayaWatsonClassifier<Kernel, Scalar>;
  const Eigen::Index n = in.size(0, 12), d = in.size(0, 5);
  MatrixOf<Scalar> X = in.matrix<Scalar>(n, d);
  Eigen::VectorXi labels = labels_of(in, in.flag() ? n : in.size(0, 12));
  Eigen::VectorXd w = in.weights(n);
  const nadaraya::Options options = in.options();
  nadaraya::Bandwidth bandwidth = nadaraya::Bandwidth::silverman();
  if (!attempt([&] { bandwidth = in.bandwidth(d); })) return;

  Estimator classifier(bandwidth, options);
  MatrixOf<Scalar> last_queries;  // printed with the context of a violation
  context() = [&] {
    std::cerr << "  kernel " << nadaraya::kernel_traits<Kernel>::name() << ", "
              << (sizeof(Scalar) == 4 ? "float" : "double") << ", unreached rule "
              << static_cast<int>(options.unreached) << ", threads " << options.threads << "\n";
    print("X", X);
    print("labels", labels);
    print("weights", w);
    if (classifier.is_fitted()) print("widths", classifier.bandwidth());
    print("last queries", last_queries);
  };
  NADARAYA_FUZZ_CHECK(!attempt([&] { (void)classifier.predict_proba(X); }),
                      "predict_proba before fit succeeded");
  auto fit = [](Estimator& estimator, const MatrixOf<Scalar>& inputs,
                const Eigen::VectorXi& classes, const Eigen::VectorXd& weights) {
    if (weights.size() == 0) {
      estimator.fit(inputs, classes);
    } else {
      estimator.fit(inputs, classes, weights);
    }
  };
  auto must_refuse = [](const MatrixOf<Scalar>& inputs, const Eigen::VectorXi& classes,
                        const Eigen::VectorXd& weights) {
    return inputs.rows() == 0 || inputs.cols() == 0 || !inputs.allFinite() ||
           classes.size() != inputs.rows() || distinct(classes) < 2 ||
           weights_invalid(weights, inputs.rows());
  };
  const bool fitted = attempt([&] { fit(classifier, X, labels, w); });
  if (must_refuse(X, labels, w)) NADARAYA_FUZZ_CHECK(!fitted, "fit accepted invalid input");
  if (!fitted) return;

  const bool compact = nadaraya::kernel_traits<Kernel>::is_compact;
  const bool nan_rule = options.unreached == nadaraya::Unreached::nan;
  for (int step = 0; step < 6 && !in.empty(); ++step) {
    const Eigen::VectorXi& classes = classifier.classes();
    NADARAYA_FUZZ_CHECK(static_cast<std::size_t>(classes.size()) == distinct(labels) &&
                            std::is_sorted(classes.data(), classes.data() + classes.size()),
                        "classes() is not the sorted distinct labels");
    const int operation = in.pick(0, 5);
    if (operation == 4) {  // a new bandwidth on the stored data
      nadaraya::Bandwidth next = nadaraya::Bandwidth::silverman();
      if (!attempt([&] { next = in.bandwidth(d); })) continue;
      if (attempt([&] { classifier.set_bandwidth(next); })) {
        bandwidth = next;
      } else if (NADARAYA_FUZZ_KNOWN_ISSUES) {
        return;  // known issue 4: the refused bandwidth stays stored
      }
      continue;
    }
    if (operation == 5) {  // refit on new data of the same shape
      const MatrixOf<Scalar> X2 = in.matrix<Scalar>(n, d);
      const Eigen::VectorXi labels2 = labels_of(in, n);
      const Eigen::VectorXd w2 = in.weights(n);
      MatrixOf<Scalar> before;
      const bool before_ok = attempt([&] { before = classifier.predict_proba(X); });
      if (attempt([&] { fit(classifier, X2, labels2, w2); })) {
        NADARAYA_FUZZ_CHECK(!must_refuse(X2, labels2, w2), "refit accepted invalid input");
        X = X2;
        labels = labels2;
        w = w2;
      } else {
        if (NADARAYA_FUZZ_KNOWN_ISSUES) return;  // known issue 4
        MatrixOf<Scalar> after;
        const bool after_ok = attempt([&] { after = classifier.predict_proba(X); });
        NADARAYA_FUZZ_CHECK(before_ok == after_ok && (!before_ok || same_bits(before, after)),
                            "a refit that threw changed the estimator");
      }
      continue;
    }
    if (operation == 2) {  // leave-one-out probabilities
      MatrixOf<Scalar> proba;
      const bool ok = attempt([&] { proba = classifier.predict_proba_leave_one_out(); });
      if (options.threads < 0) NADARAYA_FUZZ_CHECK(!ok, "negative threads accepted");
      if (!ok) continue;
      NADARAYA_FUZZ_CHECK(proba.rows() == n && proba.cols() == classes.size(),
                          "leave-one-out probabilities have the wrong shape");
      const Reach r = reach<Kernel>(X, X, classifier.bandwidth(), w, true);
      check_distributions(proba, n, weights_extreme(w), [&](Eigen::Index i) {
        bool other = false;
        for (Eigen::Index j = 0; j < n; ++j)
          other = other || (j != i && (w.size() == 0 || w(j) > 0));
        if (!other || weights_extreme(w)) return true;
        return nan_rule && !r.surely_reached[static_cast<std::size_t>(i)] &&
               (compact || unbounded_overflow<Kernel>(r, i));
      });
      continue;
    }
    const Eigen::Index m = in.size(0, 6), columns = in.flag() ? d : in.size(0, 6);
    const MatrixOf<Scalar> Q = in.flag() ? X : in.matrix<Scalar>(m, columns);
    const bool queries_invalid = Q.cols() != d || !Q.allFinite();
    last_queries = Q;
    if (operation == 3) {  // score: a fraction, or a library error (e.g. an unseen label)
      const Eigen::VectorXi truth = labels_of(in, in.flag() ? Q.rows() : in.size(0, 6));
      double accuracy = 0;
      if (attempt([&] { accuracy = classifier.score(Q, truth); }) && Q.rows() > 0) {
        NADARAYA_FUZZ_CHECK(accuracy >= 0 && accuracy <= 1, "an accuracy outside [0, 1]");
      }
      continue;
    }
    MatrixOf<Scalar> proba;
    const bool ok = attempt([&] { proba = classifier.predict_proba(Q); });
    if (queries_invalid || options.threads < 0) {
      NADARAYA_FUZZ_CHECK(!ok, "predict_proba accepted invalid queries or options");
    }
    if (!ok) continue;
    NADARAYA_FUZZ_CHECK(proba.rows() == Q.rows() && proba.cols() == classes.size(),
                        "predict_proba has the wrong shape");
    const Reach r = reach<Kernel>(Q, X, classifier.bandwidth(), w, false);
    auto nan_allowed = [&](Eigen::Index q) {
      return weights_extreme(w) || (nan_rule && !r.surely_reached[static_cast<std::size_t>(q)] &&
                                    (compact || unbounded_overflow<Kernel>(r, q)));
    };
    check_distributions(proba, n, weights_extreme(w), nan_allowed);
    if (operation == 0) {
      const Eigen::VectorXi predicted = classifier.predict(Q);
      NADARAYA_FUZZ_CHECK(predicted.size() == Q.rows(), "predict has the wrong size");
      for (Eigen::Index q = 0; q < predicted.size(); ++q) {
        NADARAYA_FUZZ_CHECK(
            std::binary_search(classes.data(), classes.data() + classes.size(), predicted(q)),
            "predict returned a label that is not a class");
      }
      if (options.threads != 1) {
        nadaraya::Options serial = options;
        serial.threads = 1;
        Estimator one_thread(bandwidth, serial);
        fit(one_thread, X, labels, w);
        NADARAYA_FUZZ_CHECK(same_bits(proba, one_thread.predict_proba(Q)),
                            "probabilities depend on the number of threads");
      }
    } else {  // operation 1: decision function, two classes only
      VectorOf<Scalar> decision;
      const bool decided = attempt([&] { decision = classifier.decision_function(Q); });
      NADARAYA_FUZZ_CHECK(decided == (classes.size() == 2),
                          "decision_function must work for two classes and only for two");
      if (!decided) continue;
      const double tolerance = 8.0 * static_cast<double>(n + 2) *
                               static_cast<double>(std::numeric_limits<Scalar>::epsilon());
      for (Eigen::Index q = 0; q < decision.size(); ++q) {
        const double value = static_cast<double>(decision(q));
        if (std::isnan(value)) {
          NADARAYA_FUZZ_CHECK(nan_allowed(q), "a NaN decision where one is documented");
        } else {
          NADARAYA_FUZZ_CHECK(std::abs(value) <= 1 + tolerance, "a decision outside [-1, 1]");
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  context() = nullptr;
  const int kernel = in.pick(0, 255);
  const bool single_precision = in.flag();
  with_kernel(kernel, true, [&](auto k) {
    using Kernel = decltype(k);
    if (single_precision) {
      run<Kernel, float>(in);
    } else {
      run<Kernel, double>(in);
    }
  });
  return 0;
}
