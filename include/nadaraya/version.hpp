/// \file version.hpp
/// The library version: the single source of truth, parsed by CMakeLists.txt.
///
/// NADARAYA_VERSION_STRING is read by the build (keep the literal on one line, digits and dots
/// only); the numeric parts below must agree with it.
#ifndef NADARAYA_VERSION_HPP
#define NADARAYA_VERSION_HPP

/// Major version: incremented for incompatible API changes.
#define NADARAYA_VERSION_MAJOR 0
/// Minor version: incremented for backwards-compatible additions.
#define NADARAYA_VERSION_MINOR 1
/// Patch version: incremented for backwards-compatible fixes.
#define NADARAYA_VERSION_PATCH 0
/// The version as "MAJOR.MINOR.PATCH".
#define NADARAYA_VERSION_STRING "0.1.0"
/// The version as one comparable integer: MAJOR * 10000 + MINOR * 100 + PATCH.
#define NADARAYA_VERSION \
  (NADARAYA_VERSION_MAJOR * 10000 + NADARAYA_VERSION_MINOR * 100 + NADARAYA_VERSION_PATCH)

#endif  // NADARAYA_VERSION_HPP
