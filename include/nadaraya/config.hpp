#ifndef NADARAYA_CONFIG_HPP
#define NADARAYA_CONFIG_HPP

/// \file config.hpp
/// Macros a user may set before including any nadaraya header.
///
/// - `NADARAYA_ASSERT(condition)`: checks internal invariants (never user input, which always
///   throws). Defaults to `assert`, so it disappears under `NDEBUG`.
/// - `NADARAYA_NO_OPENMP`: run on one thread even when the translation unit is compiled with
///   OpenMP enabled.

#ifndef NADARAYA_ASSERT
#include <cassert>  // assert
#define NADARAYA_ASSERT(condition) assert(condition)
#endif

#if defined(_OPENMP) && !defined(NADARAYA_NO_OPENMP)
#define NADARAYA_HAS_OPENMP 1
#include <omp.h>  // omp_get_max_threads
#else
#define NADARAYA_HAS_OPENMP 0
#endif

/// Inlining that the vectorised loops depend on (the scalar exponential inside a loop over lane
/// arrays): left to its heuristics, GCC 12 stopped inlining it where one translation unit
/// instantiates many such loops, and the loop ran as scalar calls, ten times slower.
#if defined(__GNUC__) || defined(__clang__)
#define NADARAYA_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define NADARAYA_ALWAYS_INLINE inline
#endif

#endif  // NADARAYA_CONFIG_HPP
