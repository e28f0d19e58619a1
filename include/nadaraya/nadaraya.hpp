#ifndef NADARAYA_NADARAYA_HPP
#define NADARAYA_NADARAYA_HPP

/// \file nadaraya.hpp
/// The umbrella header: kernel smoothing as attention pooling by similarity.
///
/// User-settable macros (define before this include; see config.hpp):
/// - NADARAYA_ASSERT(condition): internal invariant checks, default `assert`.
/// - NADARAYA_NO_OPENMP: stay on one thread even when compiled with OpenMP.

#include "config.hpp"
#include "version.hpp"
#include "errors.hpp"
#include "kernel.hpp"
#include "kernels.hpp"
#include "bandwidth.hpp"
#include "options.hpp"
#include "accumulator.hpp"
#include "pool.hpp"
#include "objectives.hpp"
#include "sgd_options.hpp"
#include "update_policies.hpp"
#include "optimizers.hpp"
#include "fit_bandwidth.hpp"
#include "parzen_density.hpp"
#include "nadaraya_watson.hpp"
#include "nadaraya_watson_classifier.hpp"

#endif  // NADARAYA_NADARAYA_HPP
