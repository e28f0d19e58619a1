// libFuzzer target: ParzenDensity<Kernel, Scalar> fit / log_density / density / log_likelihood /
// leave_one_out_log_density / set_bandwidth / refit on arbitrary shapes, bit patterns,
// bandwidths, weights and options. See fuzz_common.hpp for the contract checked.

#include "fuzz_common.hpp"

namespace {

using namespace nadaraya_fuzz;

template <class Kernel, class Scalar>
void run(Input& in) {
  using Estimator = nadaraya::ParzenDensity<Kernel, Scalar>;
  const Eigen::Index n = in.size(0, 12), d = in.size(0, 5);
  MatrixOf<Scalar> X = in.matrix<Scalar>(n, d);
  Eigen::VectorXd w = in.weights(n);
  const nadaraya::Options options = in.options();
  nadaraya::Bandwidth bandwidth = nadaraya::Bandwidth::silverman();
  if (!attempt([&] { bandwidth = in.bandwidth(d); })) return;

  Estimator kde(bandwidth, options);
  MatrixOf<Scalar> last_queries;  // printed with the context of a violation
  context() = [&] {
    std::cerr << "  kernel " << nadaraya::kernel_traits<Kernel>::name() << ", "
              << (sizeof(Scalar) == 4 ? "float" : "double") << ", unreached rule "
              << static_cast<int>(options.unreached) << ", threads " << options.threads << "\n";
    print("X", X);
    print("weights", w);
    if (kde.is_fitted()) print("widths", kde.bandwidth());
    print("last queries", last_queries);
  };
  NADARAYA_FUZZ_CHECK(!attempt([&] { (void)kde.log_density(X); }),
                      "log_density before fit succeeded");
  auto fit = [](Estimator& estimator, const MatrixOf<Scalar>& inputs,
                const Eigen::VectorXd& weights) {
    if (weights.size() == 0) {
      estimator.fit(inputs);
    } else {
      estimator.fit(inputs, weights);
    }
  };
  auto must_refuse = [](const MatrixOf<Scalar>& inputs, const Eigen::VectorXd& weights) {
    return inputs.rows() == 0 || inputs.cols() == 0 || !inputs.allFinite() ||
           weights_invalid(weights, inputs.rows());
  };
  const bool fitted = attempt([&] { fit(kde, X, w); });
  if (must_refuse(X, w)) NADARAYA_FUZZ_CHECK(!fitted, "fit accepted invalid input");
  if (!fitted) return;

  const bool compact = nadaraya::kernel_traits<Kernel>::is_compact;
  const bool gaussian = std::is_same<Kernel, nadaraya::Gaussian>::value;
  // -inf is the documented log density out of a compact kernel's reach. For the Gaussian it is
  // also the rounding of -r2 / 2 once r2 passes the largest finite value (the range's limit), and
  // for any kernel the rounding of a log density below minus the largest finite value.
  auto minus_inf_allowed = [&](const Reach& r, Eigen::Index q) {
    if (weights_extreme(w)) return true;
    if (r.surely_reached[static_cast<std::size_t>(q)]) return false;
    return compact || gaussian || r.log_below_range[static_cast<std::size_t>(q)] ||
           unbounded_overflow<Kernel>(r, q);
  };
  for (int step = 0; step < 6 && !in.empty(); ++step) {
    NADARAYA_FUZZ_CHECK(kde.bandwidth().size() == d && kde.bandwidth().allFinite() &&
                            kde.bandwidth().minCoeff() > 0,
                        "a resolved width is not positive and finite");
    const int operation = in.pick(0, 4);
    if (operation == 3) {  // a new bandwidth on the stored data
      nadaraya::Bandwidth next = nadaraya::Bandwidth::silverman();
      if (!attempt([&] { next = in.bandwidth(d); })) continue;
      if (attempt([&] { kde.set_bandwidth(next); })) {
        bandwidth = next;
      } else if (NADARAYA_FUZZ_KNOWN_ISSUES) {
        return;  // known issue 4: the refused bandwidth stays stored
      }
      continue;
    }
    if (operation == 4) {  // refit on new data of the same shape
      const MatrixOf<Scalar> X2 = in.matrix<Scalar>(n, d);
      const Eigen::VectorXd w2 = in.weights(n);
      VectorOf<Scalar> before;
      const bool before_ok = attempt([&] { before = kde.log_density(X); });
      if (attempt([&] { fit(kde, X2, w2); })) {
        NADARAYA_FUZZ_CHECK(!must_refuse(X2, w2), "refit accepted invalid input");
        X = X2;
        w = w2;
      } else {
        if (NADARAYA_FUZZ_KNOWN_ISSUES) return;  // known issue 4
        VectorOf<Scalar> after;
        const bool after_ok = attempt([&] { after = kde.log_density(X); });
        NADARAYA_FUZZ_CHECK(
            before_ok == after_ok &&
                (!before_ok || same_bits(MatrixOf<Scalar>(before), MatrixOf<Scalar>(after))),
            "a refit that threw changed the estimator");
      }
      continue;
    }
    if (operation == 2) {  // leave-one-out
      VectorOf<Scalar> loo;
      const bool ok = attempt([&] { loo = kde.leave_one_out_log_density(); });
      if (options.threads < 0) NADARAYA_FUZZ_CHECK(!ok, "negative threads accepted");
      if (!ok) continue;
      NADARAYA_FUZZ_CHECK(loo.size() == n, "leave-one-out has the wrong size");
      const Reach r = reach<Kernel>(X, X, kde.bandwidth(), w, true);
      check_log_density(loo, [&](Eigen::Index i) {
        bool other = false;  // another sample of positive weight
        for (Eigen::Index j = 0; j < n; ++j)
          other = other || (j != i && (w.size() == 0 || w(j) > 0));
        return !other || loo_rest_vanishes(w, i) || minus_inf_allowed(r, i);
      });
      continue;
    }
    const Eigen::Index m = in.size(0, 6), columns = in.flag() ? d : in.size(0, 6);
    const MatrixOf<Scalar> Q = in.flag() ? X : in.matrix<Scalar>(m, columns);
    const bool queries_invalid = Q.cols() != d || !Q.allFinite();
    last_queries = Q;
    VectorOf<Scalar> log_p;
    const bool ok = attempt([&] { log_p = kde.log_density(Q); });
    if (queries_invalid || options.threads < 0) {
      NADARAYA_FUZZ_CHECK(!ok, "log_density accepted invalid queries or options");
    }
    if (!ok) continue;
    NADARAYA_FUZZ_CHECK(log_p.size() == Q.rows(), "log_density has the wrong size");
    const Reach r = reach<Kernel>(Q, X, kde.bandwidth(), w, false);
    check_log_density(log_p, [&](Eigen::Index q) { return minus_inf_allowed(r, q); });
    NADARAYA_FUZZ_CHECK(same_bits(MatrixOf<Scalar>(log_p), MatrixOf<Scalar>(kde.log_density(Q))),
                        "log_density is not deterministic");
    if (operation == 0) {
      const VectorOf<Scalar> p = kde.density(Q);
      for (Eigen::Index q = 0; q < p.size(); ++q) {
        NADARAYA_FUZZ_CHECK(p(q) >= Scalar(0), "a negative or NaN density");
        // +inf only as the overflow of a density above the largest finite value.
        if (std::isinf(p(q))) {
          NADARAYA_FUZZ_CHECK(
              static_cast<double>(log_p(q)) >
                  std::log(static_cast<double>(std::numeric_limits<Scalar>::max())) - 1e-3,
              "an infinite density below the largest finite value");
        }
      }
      if (options.threads != 1) {
        nadaraya::Options serial = options;
        serial.threads = 1;
        Estimator one_thread(bandwidth, serial);
        fit(one_thread, X, w);
        NADARAYA_FUZZ_CHECK(
            same_bits(MatrixOf<Scalar>(log_p), MatrixOf<Scalar>(one_thread.log_density(Q))),
            "log densities depend on the number of threads");
      }
    } else {  // operation 1: log-likelihood, the sum of the log densities
      const Scalar total = kde.log_likelihood(Q);
      NADARAYA_FUZZ_CHECK(!std::isnan(total) && total < std::numeric_limits<Scalar>::infinity(),
                          "a NaN or +inf log-likelihood");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  context() = nullptr;
  const int kernel = in.pick(0, 255);
  const bool single_precision = in.flag();
  with_kernel(kernel, false, [&](auto k) {
    using Kernel = decltype(k);
    if constexpr (nadaraya::kernel_traits<Kernel>::is_normalisable) {
      if (single_precision) {
        run<Kernel, float>(in);
      } else {
        run<Kernel, double>(in);
      }
    }
  });
  return 0;
}
