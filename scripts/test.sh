#!/usr/bin/env bash
# The test suite as a user runs it (README.md's test command, after installing the packages):
# an optimised g++ build of the tests, examples and benchmarks for this machine's CPU
# (-march=native: the SIMD paths a program built here gets), -Werror on our own targets, then
# ctest: unit tests, the examples at their small sizes, the three packaging tests and a moment's
# smoke run of each benchmark. It prints the instruction set the tests ran and its own time.
#
# Environment (all optional):
#   NADARAYA_TEST_BUILD  build directory (default: build/test)
#   NADARAYA_CI_JOBS     parallel jobs for the build and ctest (default: nproc)
#   NADARAYA_NATIVE      ON (default) or OFF: baseline x86-64 instead of -march=native
#   CXX_GCC              the compiler (default: g++)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

dir="${NADARAYA_TEST_BUILD:-build/test}"
jobs="${NADARAYA_CI_JOBS:-$(nproc)}"
native="${NADARAYA_NATIVE:-ON}"
start=$(date +%s)

CXX="${CXX_GCC:-g++}" cmake -S . -B "${dir}" -DCMAKE_BUILD_TYPE=Release -DNADARAYA_WERROR=ON \
  -DNADARAYA_BUILD_BENCHMARKS=ON -DNADARAYA_NATIVE="${native}"
built=$(date +%s)
cmake --build "${dir}" -j "${jobs}"
tested=$(date +%s)
status=0
ctest --test-dir "${dir}" --output-on-failure -j "${jobs}" || status=$?
finished=$(date +%s)

# Every test executable prints the instruction set it was compiled for first; ctest keeps it.
simd="$(grep -m 1 '^SIMD: ' "${dir}/Testing/Temporary/LastTest.log" || echo 'SIMD: (not reported)')"
printf '\n%s\n' "${simd}"
printf 'scripts/test.sh: configure %d s, build %d s, ctest %d s, total %d s (%s jobs)\n' \
  $((built - start)) $((tested - built)) $((finished - tested)) $((finished - start)) "${jobs}"
exit "${status}"
