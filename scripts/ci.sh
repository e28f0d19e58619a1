#!/usr/bin/env bash
# The quality gates, in order, stopping at the first failure. README.md's test command is the
# gcc stage alone (scripts/test.sh); its gates command runs the others, and .ci/run runs both:
#
#   format  clang-format (the committed .clang-format) reports nothing on any C++ file in the tree
#   gcc     scripts/test.sh: optimised g++ build of the tests, examples and benchmarks for this
#           machine's CPU (-march=native) with -Werror on our own targets, and the whole ctest
#           suite (unit tests, examples, the three packaging tests, benchmark smoke runs)
#   asan    clang++ build of the tests for baseline x86-64 (so that CI runs both the native SIMD
#           paths and the baseline ones) with AddressSanitizer + UndefinedBehaviorSanitizer
#           (-fno-sanitize-recover=all) and -Werror, asserts kept (no NDEBUG); unit tests.
#           Unoptimised (-O0): at -O1 the sanitizers' instrumentation made the optimiser take five
#           times as long on the Eigen-heavy test files (12 of this stage's 15 minutes on 2 cores);
#           the two sweeps that take minutes unoptimised check a sample of their cases
#           (NADARAYA_TEST_SHORT, tests/support/short_run.hpp)
#   tsan    clang++ ThreadSanitizer build (-O0) of the test executables that hold [threads]-tagged
#           tests (all in tests/threads/, so one executable), running those tests on 2 threads.
#           libomp is not built with TSan, so OpenMP's own synchronisation is invisible to it:
#           Archer (libarcher.so from libomp-*-dev, which libomp loads automatically for TSan
#           programs) reports it to TSan, and ignore_noninstrumented_modules=1 silences accesses
#           made inside libomp itself.
#   tidy    clang-tidy (the committed .clang-tidy), through the asan and fuzz builds'
#           compile_commands.json: every check, the path-sensitive clang-analyzer-* included, on
#           scripts/tidy/instantiate.cpp (every public entry point, each kernel, float and
#           double); every check but clang-analyzer-* (minutes per Eigen-heavy file) on each test
#           and fuzz source
#   fuzz    the libFuzzer targets (fuzz/, -O1: executions per second matter here), each for
#           NADARAYA_FUZZ_RUNS inputs or NADARAYA_FUZZ_SECONDS seconds, whichever comes first,
#           NADARAYA_CI_JOBS of them at a time, starting from the committed corpus
#           fuzz/corpus/<target>/ (new inputs go to the build tree only). With a fixed seed the
#           inputs are the same on every machine (a slower one runs a prefix of them), so a gate
#           that passed once passes again: CI does not fail on a new find by chance. Explore with
#           NADARAYA_FUZZ_SEED=0 (a random seed) and longer runs, and commit what they find.
#
# Environment (all optional):
#   NADARAYA_CI_STAGES    stages to run, in the order above (default: all of them)
#   NADARAYA_CI_BUILD     build root (default: build/ci); one subdirectory per flavour
#   NADARAYA_CI_JOBS      parallel jobs for builds and clang-tidy (default: nproc)
#   NADARAYA_FUZZ_SECONDS seconds per fuzz target at most (default: 60)
#   NADARAYA_FUZZ_RUNS    inputs per fuzz target at most (default: 40000; -1: no limit)
#   NADARAYA_FUZZ_SEED    libFuzzer's seed (default: 1; 0: random)
#   CXX_GCC, CXX_CLANG, CLANG_FORMAT, CLANG_TIDY          tool overrides (g++, clang++, ...)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"

stages="${NADARAYA_CI_STAGES:-format gcc asan tsan tidy fuzz}"
build="${NADARAYA_CI_BUILD:-build/ci}"
jobs="${NADARAYA_CI_JOBS:-$(nproc)}"
fuzz_seconds="${NADARAYA_FUZZ_SECONDS:-60}"
fuzz_runs="${NADARAYA_FUZZ_RUNS:-40000}"
fuzz_seed="${NADARAYA_FUZZ_SEED:-1}"
cxx_gcc="${CXX_GCC:-g++}"
cxx_clang="${CXX_CLANG:-clang++}"
clang_format="${CLANG_FORMAT:-clang-format}"
clang_tidy="${CLANG_TIDY:-clang-tidy}"

# Sanitizer builds: assertions on (no NDEBUG); line tables come with the sanitizer flags. The tests
# unoptimised (quick to build, and short runs of the longest sweeps); the fuzzers at -O1.
sanitizer_build_type=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O0")
fuzz_build_type=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1")
# Only what the sanitizer flavours run: no examples, benchmarks or install rules; baseline x86-64.
tests_only=(-DNADARAYA_BUILD_EXAMPLES=OFF -DNADARAYA_BUILD_BENCHMARKS=OFF -DNADARAYA_INSTALL=OFF
  -DNADARAYA_TEST_SHORT=ON -DNADARAYA_NATIVE=OFF)

export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"

timings=()
log() { printf '\n==> %s\n' "$*" >&2; }

# The C++ sources of the tree: tracked files plus new ones not ignored (a plain find outside git).
cxx_sources() {
  if git -C "${root}" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "${root}" ls-files --cached --others --exclude-standard -- '*.hpp' '*.cpp' |
      while IFS= read -r f; do [[ -f "${f}" ]] && printf '%s\n' "${f}"; done
  else
    find . -path ./build -prune -o \( -name '*.hpp' -o -name '*.cpp' \) -type f -print |
      sed 's|^\./||'
  fi
}

stage_format() {
  log "format: ${clang_format} --dry-run -Werror (.clang-format)"
  "${clang_format}" --version
  cxx_sources | xargs -r "${clang_format}" --dry-run -Werror --style=file
}

stage_gcc() {
  log "gcc: scripts/test.sh (Release, -march=native, -Werror, everything; the whole ctest suite)"
  NADARAYA_TEST_BUILD="${build}/gcc" NADARAYA_CI_JOBS="${jobs}" CXX_GCC="${cxx_gcc}" \
    bash scripts/test.sh
}

configure_asan() {
  CXX="${cxx_clang}" cmake -S . -B "${build}/asan" "${sanitizer_build_type[@]}" "${tests_only[@]}" \
    -DNADARAYA_WERROR=ON -DNADARAYA_SANITIZE=address,undefined -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
}

configure_fuzz() {
  CXX="${cxx_clang}" cmake -S . -B "${build}/fuzz" "${fuzz_build_type[@]}" \
    -DNADARAYA_BUILD_TESTS=OFF -DNADARAYA_BUILD_EXAMPLES=OFF -DNADARAYA_BUILD_BENCHMARKS=OFF \
    -DNADARAYA_INSTALL=OFF -DNADARAYA_BUILD_FUZZERS=ON -DNADARAYA_WERROR=ON -DNADARAYA_NATIVE=OFF \
    -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
}

stage_asan() {
  local dir="${build}/asan"
  log "asan: clang++, AddressSanitizer + UndefinedBehaviorSanitizer, -Werror; unit tests"
  configure_asan
  cmake --build "${dir}" -j "${jobs}"
  ctest --test-dir "${dir}" --output-on-failure -j "${jobs}" -L unit
}

# The test executables (tests/<group>/ -> test_<group>) with a [threads]-tagged test.
threaded_test_targets() {
  grep -l '\[threads\]' tests/*/*.cpp 2>/dev/null | awk -F/ '{print "test_" $2}' | sort -u
}

stage_tsan() {
  local dir="${build}/tsan" targets target
  mapfile -t targets < <(threaded_test_targets)
  if ((${#targets[@]} == 0)); then
    echo "tsan: no [threads] tests found" >&2
    return 1
  fi
  log "tsan: clang++, ThreadSanitizer + Archer; [threads] tests of ${targets[*]}"
  CXX="${cxx_clang}" cmake -S . -B "${dir}" "${sanitizer_build_type[@]}" "${tests_only[@]}" \
    -DNADARAYA_WERROR=ON -DNADARAYA_SANITIZE=thread
  cmake --build "${dir}" -j "${jobs}" --target "${targets[@]}"
  for target in "${targets[@]}"; do
    echo "+ ${target} [threads]" >&2
    TSAN_OPTIONS="ignore_noninstrumented_modules=1:halt_on_error=1:second_deadlock_stack=1" \
      OMP_NUM_THREADS=2 "${dir}/tests/${target}" '[threads]'
  done
}

# One clang-tidy run: $1 = full (every check of .clang-tidy) or light (all but the costly
# path-sensitive clang-analyzer-*), $2 = build directory with compile_commands.json, $3 = file.
tidy_one() {
  local checks=()
  [[ "$1" == light ]] && checks=(--checks=-clang-analyzer-*)
  "${CLANG_TIDY_BIN}" --quiet -p "$2" "${checks[@]}" "$3"
}

stage_tidy() {
  log "tidy: ${clang_tidy} (.clang-tidy): all checks on the library through scripts/tidy/instantiate.cpp;" \
    "all but clang-analyzer-* on the tests and fuzz targets"
  configure_asan
  configure_fuzz
  "${clang_tidy}" --version
  export -f tidy_one
  export CLANG_TIDY_BIN="${clang_tidy}"
  # The path-sensitive analysis runs on one translation unit that instantiates every public entry
  # point (HeaderFilterRegex reports what is in include/nadaraya and tests); the other checks run on
  # every translation unit of the tests and of the fuzz targets. The long job goes first.
  {
    echo "full ${build}/asan scripts/tidy/instantiate.cpp"
    find tests -name '*.cpp' -not -path 'tests/package*' -print | sort |
      sed "s|^|light ${build}/asan |"
    find fuzz -name '*.cpp' -print | sort | sed "s|^|light ${build}/fuzz |"
  } | xargs -P "${jobs}" -L 1 bash -c 'tidy_one "$@"' tidy_one
}

stage_fuzz() {
  local dir="${build}/fuzz" target
  local targets=(fuzz_parzen_density fuzz_nadaraya_watson fuzz_classifier fuzz_csv)
  log "fuzz: libFuzzer + ASan + UBSan, ${fuzz_runs} inputs or ${fuzz_seconds} s per target" \
    "(seed ${fuzz_seed}) from fuzz/corpus/"
  configure_fuzz
  cmake --build "${dir}" -j "${jobs}" --target "${targets[@]}"
  mkdir -p "${dir}/artifacts" "${dir}/logs"
  # Up to ${jobs} targets at once, each one process and one thread of libFuzzer (the library runs
  # serially unless an input asks for threads); each target's log is printed when it ends. New
  # inputs land in the scratch corpus, crashes in artifacts/.
  local -A running=()
  local failed=() pid status
  finish_one() {  # $1 = pid, $2 = its exit status
    local name="${running[$1]}"
    unset "running[$1]"
    echo "+ ${name} (exit $2):" >&2
    cat "${dir}/logs/${name}.log" >&2
    (($2 == 0)) || failed+=("${name}")
  }
  for target in "${targets[@]}"; do
    while ((${#running[@]} >= jobs)); do
      status=0
      wait -n -p pid "${!running[@]}" || status=$?
      finish_one "${pid}" "${status}"
    done
    local corpus="fuzz/corpus/${target#fuzz_}" scratch="${dir}/corpus/${target#fuzz_}"
    mkdir -p "${scratch}"
    echo "+ ${target}: $(find "${corpus}" -type f | wc -l) committed inputs" >&2
    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive "${dir}/fuzz/${target}" \
      -seed="${fuzz_seed}" -runs="${fuzz_runs}" -max_total_time="${fuzz_seconds}" \
      -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="${dir}/artifacts/${target}-" "${scratch}" "${corpus}" \
      >"${dir}/logs/${target}.log" 2>&1 &
    running[$!]="${target}"
  done
  for pid in "${!running[@]}"; do
    status=0
    wait "${pid}" || status=$?
    finish_one "${pid}" "${status}"
  done
  if ((${#failed[@]} > 0)); then
    echo "fuzz: ${failed[*]} failed (inputs in ${dir}/artifacts/)" >&2
    return 1
  fi
}

# CPU seconds (user + system) of this shell's finished children: what a stage cost, whatever
# else the machine was doing.
children_cpu() {
  local fields
  read -r -a fields <"/proc/$$/stat" || { echo 0; return; }
  # Fields 16 and 17 (cutime, cstime) in clock ticks; the name (field 2) has no spaces here.
  echo $(((fields[15] + fields[16]) / $(getconf CLK_TCK)))
}

current_stage=""
stage_start=0
stage_cpu=0
report() {
  local status=$?
  if ((status != 0)) && [[ -n "${current_stage}" ]]; then
    timings+=("${current_stage} FAILED after $(($(date +%s) - stage_start)) s wall")
    printf '  %s\n' "${timings[@]}" >&2
    echo "scripts/ci.sh: stage '${current_stage}' failed" >&2
  fi
}
trap report EXIT

run_stage() {
  current_stage="$1"
  stage_start=$(date +%s)
  stage_cpu=$(children_cpu)
  "stage_$1"  # set -e: a failing command ends the script here, and `report` names the stage
  timings+=("$(printf '%-7s %5d s wall %6d s cpu' "$1" $(($(date +%s) - stage_start)) \
    $(($(children_cpu) - stage_cpu)))")
  current_stage=""
}

total_start=$(date +%s)
for stage in ${stages}; do
  case "${stage}" in
    format | gcc | asan | tsan | tidy | fuzz) run_stage "${stage}" ;;
    *)
      echo "scripts/ci.sh: unknown stage '${stage}'" >&2
      exit 2
      ;;
  esac
done
log "all stages passed"
printf '  %s\n' "${timings[@]}" \
  "$(printf '%-7s %5d s wall %6d s cpu' total $(($(date +%s) - total_start)) "$(children_cpu)")" >&2
