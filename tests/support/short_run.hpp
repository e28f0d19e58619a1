// Short test runs: the sanitizer builds of scripts/ci.sh compile the tests unoptimised (a fifth of
// the compile time of -O1 under AddressSanitizer, which is most of that stage) and so run them tens
// of times slower. They define NADARAYA_TEST_SHORT=1 (CMake: -DNADARAYA_TEST_SHORT=ON), and the
// two sweeps that take minutes unoptimised check a fixed sample of their cases (the blocked
// objective pass, tests/fitting) or skip their costliest one (d = 3 quadratures, tests/core).
// The optimised build runs every case.
#ifndef NADARAYA_TESTS_SUPPORT_SHORT_RUN_HPP
#define NADARAYA_TESTS_SUPPORT_SHORT_RUN_HPP

#ifndef NADARAYA_TEST_SHORT
#define NADARAYA_TEST_SHORT 0
#endif

namespace nadaraya_test {

constexpr bool short_run = NADARAYA_TEST_SHORT != 0;

/// Whether case `index` (0, 1, 2, ... in the sweep's own order) runs: every case, or in a short run
/// every seventh. Seven is prime to the lengths of the sweeps' inner loops (kernels, options), so
/// the sample still visits each of their values.
constexpr bool runs_case(long index) { return !short_run || index % 7 == 0; }

}  // namespace nadaraya_test

#endif  // NADARAYA_TESTS_SUPPORT_SHORT_RUN_HPP
