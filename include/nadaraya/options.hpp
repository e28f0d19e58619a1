#ifndef NADARAYA_OPTIONS_HPP
#define NADARAYA_OPTIONS_HPP

namespace nadaraya {

/// What a query gets when no key reaches it (possible only with compact kernels, or with every
/// weight zero): the Nadaraya–Watson ratio is then 0/0.
enum class Unreached {
  nan,               ///< NaN predictions and probabilities (the default: the honest answer)
  nearest_neighbour  ///< the (weighted) mean of the nearest keys' values in scaled distance
};

/// Options shared by the estimators.
struct Options {
  Unreached unreached = Unreached::nan;  ///< outcome for queries that no key reaches
  int threads = 0;                       ///< 0: OpenMP's default; 1: serial
};

}  // namespace nadaraya

#endif  // NADARAYA_OPTIONS_HPP
