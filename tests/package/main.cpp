// A user's first program against nadaraya, built by the packaging tests
// (tests/package*/CMakeLists.txt) after find_package(nadaraya), add_subdirectory(nadaraya) or
// FetchContent. Exit code 0 means success.
#include <nadaraya/version.hpp>

// ---- umbrella header: once include/nadaraya/nadaraya.hpp exists this include is active, and the
// ---- "fit a model" block in main() below is the place to exercise it.
#if __has_include(<nadaraya/nadaraya.hpp>)
#include <nadaraya/nadaraya.hpp>
#endif

#include <Eigen/Core>

#include <cstdio>   // std::printf, std::fprintf
#include <cstring>  // std::strlen, std::strcmp

int main() {
  if (std::strlen(NADARAYA_VERSION_STRING) == 0) {
    std::fprintf(stderr, "NADARAYA_VERSION_STRING is empty\n");
    return 1;
  }
#ifdef NADARAYA_EXPECTED_VERSION
  if (std::strcmp(NADARAYA_VERSION_STRING, NADARAYA_EXPECTED_VERSION) != 0) {
    std::fprintf(stderr, "header says %s, the package says %s\n", NADARAYA_VERSION_STRING,
                 NADARAYA_EXPECTED_VERSION);
    return 1;
  }
#endif

  // Eigen comes in through nadaraya::nadaraya's usage requirements.
  const Eigen::MatrixXd x = Eigen::MatrixXd::Ones(3, 2);
  if (x.sum() != 6.0) {
    std::fprintf(stderr, "Eigen is not usable\n");
    return 1;
  }

  // ---- fit a model here (needs <nadaraya/nadaraya.hpp>) ----

  std::printf("nadaraya %s with Eigen %d.%d.%d: ok\n", NADARAYA_VERSION_STRING, EIGEN_WORLD_VERSION,
              EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION);
  return 0;
}
