#ifndef NADARAYA_DETAIL_PARALLEL_HPP
#define NADARAYA_DETAIL_PARALLEL_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include "../config.hpp"
#include "check.hpp"

namespace nadaraya {
namespace detail {

/// The number of threads to use for `requested` (0: OpenMP's default; without OpenMP always 1).
inline int resolve_threads(int requested, const char* where) {
  if (requested < 0)
    fail(where, "option 'threads' must be 0 (automatic) or positive, got ", requested);
#if NADARAYA_HAS_OPENMP
  return requested == 0 ? omp_get_max_threads() : requested;
#else
  return 1;
#endif
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_PARALLEL_HPP
