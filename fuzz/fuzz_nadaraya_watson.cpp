// libFuzzer target: NadarayaWatson<Kernel, Scalar> fit / predict / attention_weights /
// predict_leave_one_out / score / set_bandwidth / refit on arbitrary shapes, bit patterns,
// bandwidths, weights and options. See fuzz_common.hpp for the contract checked.

#include "fuzz_common.hpp"

namespace {

using namespace nadaraya_fuzz;

template <class Kernel, class Scalar>
void run(Input& in) {
  using Estimator = nadaraya::NadarayaWatson<Kernel, Scalar>;
  const Eigen::Index n = in.size(0, 12), d = in.size(0, 5), k = in.size(0, 3);
  // The training set as the oracle knows it (replaced when a refit succeeds).
  MatrixOf<Scalar> X = in.matrix<Scalar>(n, d);
  MatrixOf<Scalar> Y = in.matrix<Scalar>(in.flag() ? n : in.size(0, 12), k);
  Eigen::VectorXd w = in.weights(n);
  const nadaraya::Options options = in.options();
  nadaraya::Bandwidth bandwidth = nadaraya::Bandwidth::silverman();
  if (!attempt([&] { bandwidth = in.bandwidth(d); })) return;

  Estimator nw(bandwidth, options);
  MatrixOf<Scalar> last_queries;  // printed with the context of a violation
  context() = [&] {
    std::cerr << "  kernel " << nadaraya::kernel_traits<Kernel>::name() << ", "
              << (sizeof(Scalar) == 4 ? "float" : "double") << ", unreached rule "
              << static_cast<int>(options.unreached) << ", threads " << options.threads << "\n";
    print("X", X);
    print("Y", Y);
    print("weights", w);
    if (nw.is_fitted()) print("widths", nw.bandwidth());
    print("last queries", last_queries);
  };
  NADARAYA_FUZZ_CHECK(!attempt([&] { (void)nw.predict(X); }), "predict before fit succeeded");

  auto fit = [](Estimator& estimator, const MatrixOf<Scalar>& inputs,
                const MatrixOf<Scalar>& outputs, const Eigen::VectorXd& weights) {
    if (weights.size() == 0) {
      estimator.fit(inputs, outputs);
    } else {
      estimator.fit(inputs, outputs, weights);
    }
  };
  auto must_refuse = [&](const MatrixOf<Scalar>& inputs, const MatrixOf<Scalar>& outputs,
                         const Eigen::VectorXd& weights) {
    return inputs.rows() == 0 || inputs.cols() == 0 || outputs.cols() == 0 ||
           outputs.rows() != inputs.rows() || !inputs.allFinite() || !outputs.allFinite() ||
           weights_invalid(weights, inputs.rows());
  };
  const bool fitted = attempt([&] { fit(nw, X, Y, w); });
  if (must_refuse(X, Y, w)) NADARAYA_FUZZ_CHECK(!fitted, "fit accepted invalid input");
  if (!fitted) return;

  const bool compact = nadaraya::kernel_traits<Kernel>::is_compact;
  std::pair<double, double> magnitudes = output_magnitudes(Y);
  const bool nan_rule = options.unreached == nadaraya::Unreached::nan;
  for (int step = 0; step < 6 && !in.empty(); ++step) {
    NADARAYA_FUZZ_CHECK(
        nw.bandwidth().size() == d && nw.bandwidth().allFinite() && nw.bandwidth().minCoeff() > 0,
        "a resolved width is not positive and finite");
    const int operation = in.pick(0, 5);
    if (operation == 4) {  // a new bandwidth on the stored data
      nadaraya::Bandwidth next = nadaraya::Bandwidth::silverman();
      if (!attempt([&] { next = in.bandwidth(d); })) continue;
      if (attempt([&] { nw.set_bandwidth(next); })) {
        bandwidth = next;
      } else if (NADARAYA_FUZZ_KNOWN_ISSUES) {
        return;  // known issue 4: the refused bandwidth stays stored
      }
      continue;
    }
    if (operation == 5) {  // refit on new data of the same shape
      const MatrixOf<Scalar> X2 = in.matrix<Scalar>(n, d), Y2 = in.matrix<Scalar>(n, k);
      const Eigen::VectorXd w2 = in.weights(n);
      MatrixOf<Scalar> before;
      const bool before_ok = attempt([&] { before = nw.predict(X); });
      if (attempt([&] { fit(nw, X2, Y2, w2); })) {
        NADARAYA_FUZZ_CHECK(!must_refuse(X2, Y2, w2), "refit accepted invalid input");
        X = X2;
        Y = Y2;
        magnitudes = output_magnitudes(Y);
        w = w2;
      } else {
        // A failed fit leaves the estimator as it was (the strong guarantee).
        if (NADARAYA_FUZZ_KNOWN_ISSUES) return;  // known issue 4: it does not, today
        MatrixOf<Scalar> after;
        const bool after_ok = attempt([&] { after = nw.predict(X); });
        NADARAYA_FUZZ_CHECK(before_ok == after_ok && (!before_ok || same_bits(before, after)),
                            "a refit that threw changed the estimator");
      }
      continue;
    }
    if (operation == 2) {  // leave-one-out
      MatrixOf<Scalar> loo;
      const bool ok = attempt([&] { loo = nw.predict_leave_one_out(); });
      if (options.threads < 0) NADARAYA_FUZZ_CHECK(!ok, "negative threads accepted");
      if (!ok) continue;
      NADARAYA_FUZZ_CHECK(loo.rows() == n && loo.cols() == k, "leave-one-out has the wrong shape");
      const Reach r = reach<Kernel>(X, X, nw.bandwidth(), w, true);
      check_pooled(loo, Y, compact, weights_extreme(w, magnitudes.first, magnitudes.second),
                   [&](Eigen::Index i) {
                     bool other = false;  // another sample of positive weight
                     for (Eigen::Index j = 0; j < n; ++j)
                       other = other || (j != i && (w.size() == 0 || w(j) > 0));
                     if (!other || weights_extreme(w, magnitudes.first, magnitudes.second))
                       return true;
                     return nan_rule && !r.surely_reached[static_cast<std::size_t>(i)] &&
                            (compact || unbounded_overflow<Kernel>(r, i));
                   });
      continue;
    }
    // Queries: arbitrary, or the samples themselves (exact zero distances).
    const Eigen::Index m = in.size(0, 6), columns = in.flag() ? d : in.size(0, 6);
    const MatrixOf<Scalar> Q = in.flag() ? X : in.matrix<Scalar>(m, columns);
    const bool queries_invalid = Q.cols() != d || !Q.allFinite();
    last_queries = Q;
    if (operation == 3) {  // score: any value, or a library error
      const MatrixOf<Scalar> truth = in.matrix<Scalar>(in.flag() ? Q.rows() : in.size(0, 6), k);
      (void)attempt([&] { (void)nw.score(Q, truth); });
      continue;
    }
    const Reach r = queries_invalid ? Reach{} : reach<Kernel>(Q, X, nw.bandwidth(), w, false);
    auto nan_allowed = [&](Eigen::Index q) {
      return weights_extreme(w, magnitudes.first, magnitudes.second) ||
             (nan_rule && !r.surely_reached[static_cast<std::size_t>(q)] &&
              (compact || unbounded_overflow<Kernel>(r, q)));
    };
    if (operation == 0) {
      MatrixOf<Scalar> predicted;
      const bool ok = attempt([&] { predicted = nw.predict(Q); });
      if (queries_invalid || options.threads < 0) {
        NADARAYA_FUZZ_CHECK(!ok, "predict accepted invalid queries or options");
      }
      if (!ok) continue;
      NADARAYA_FUZZ_CHECK(predicted.rows() == Q.rows() && predicted.cols() == k,
                          "predict has the wrong shape");
      check_pooled(predicted, Y, compact, weights_extreme(w, magnitudes.first, magnitudes.second),
                   nan_allowed);
      // Determinism: the same call again, and on one thread, gives the same bits.
      NADARAYA_FUZZ_CHECK(same_bits(predicted, nw.predict(Q)), "predict is not deterministic");
      if (options.threads != 1) {
        nadaraya::Options serial = options;
        serial.threads = 1;
        Estimator one_thread(bandwidth, serial);
        fit(one_thread, X, Y, w);
        NADARAYA_FUZZ_CHECK(same_bits(predicted, one_thread.predict(Q)),
                            "predictions depend on the number of threads");
      }
    } else {  // operation 1: attention weights
      MatrixOf<Scalar> alpha;
      if (!attempt([&] { alpha = nw.attention_weights(Q); })) continue;
      NADARAYA_FUZZ_CHECK(!queries_invalid, "attention_weights accepted invalid queries");
      NADARAYA_FUZZ_CHECK(alpha.rows() == Q.rows() && alpha.cols() == n,
                          "attention_weights has the wrong shape");
      check_distributions(alpha, n, weights_extreme(w), nan_allowed);
      for (Eigen::Index q = 0; q < alpha.rows(); ++q) {
        for (Eigen::Index i = 0; i < n; ++i) {
          if (w.size() != 0 && w(i) == 0 && !std::isnan(alpha(q, i))) {
            NADARAYA_FUZZ_CHECK(alpha(q, i) == Scalar(0), "a zero-weight sample got attention");
          }
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
