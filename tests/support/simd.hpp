// The instruction set a test executable was compiled for, as the tests report it: every test
// executable prints it first (tests/main.cpp), and the [simd] tests name it beside each branch.
#ifndef NADARAYA_TESTS_SUPPORT_SIMD_HPP
#define NADARAYA_TESTS_SUPPORT_SIMD_HPP

#include <Eigen/Core>  // Eigen::SimdInstructionSetsInUse, packet_traits
#include <sstream>
#include <string>

namespace nadaraya_test {

/// The widest vector extension the compiler targets, from its own macros.
inline const char* simd_name() {
#if defined(__AVX512F__)
  return "AVX-512";
#elif defined(__AVX2__)
  return "AVX2";
#elif defined(__AVX__)
  return "AVX";
#elif defined(__SSE2__) || defined(_M_X64)
  return "SSE2";
#elif defined(__ARM_NEON)
  return "NEON";
#else
  return "none";
#endif
}

/// Scalars per SIMD register for that extension (what Eigen's packets should hold).
template <class Scalar>
constexpr Eigen::Index expected_lanes() {
#if defined(__AVX512F__)
  return 64 / sizeof(Scalar);
#elif defined(__AVX__)
  return 32 / sizeof(Scalar);
#elif defined(__SSE2__) || defined(_M_X64) || (defined(__ARM_NEON) && defined(__aarch64__))
  return 16 / sizeof(Scalar);
#else
  return 1;
#endif
}

/// E.g. "SIMD: AVX-512 (16 float lanes, 8 double lanes), FMA; Eigen: AVX512, FMA, AVX2, ...".
inline std::string simd_description() {
  std::ostringstream out;
  out << "SIMD: " << simd_name() << " (" << Eigen::internal::packet_traits<float>::size
      << " float lanes, " << Eigen::internal::packet_traits<double>::size << " double lanes)";
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  out << ", FMA";
#endif
  out << "; Eigen: " << Eigen::SimdInstructionSetsInUse();
  return out.str();
}

}  // namespace nadaraya_test

#endif  // NADARAYA_TESTS_SUPPORT_SIMD_HPP
