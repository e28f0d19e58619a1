# Compile options for nadaraya's own tests, examples and benchmarks (never for consumers).
include(CheckCXXCompilerFlag)
include(CheckCXXSourceCompiles)

# nadaraya_native_options(<var> <native>): in <var>, -march=native when <native> is true and the
# compiler accepts it (so that the tests run the SIMD paths users on this machine compile), and the
# narrow GCC 12 workaround below whenever the resulting target has AVX-512.
function(nadaraya_native_options out native)
  set(_options "")
  set(_required "")
  if(native AND NOT MSVC)
    check_cxx_compiler_flag(-march=native NADARAYA_HAS_MARCH_NATIVE)
    if(NADARAYA_HAS_MARCH_NATIVE)
      list(APPEND _options -march=native)
      set(_required -march=native)
    endif()
  endif()
  # GCC before 13 reports its own AVX-512 intrinsics (avx512fintrin.h: `__Y = __Y` in
  # _mm512_extractf64x4_pd and friends, inlined through Eigen's predux) as -Wuninitialized and
  # -Wmaybe-uninitialized: a false positive in the compiler's own header (GCC bug 105593). Those
  # two warnings are off there (as warnings they flooded the build with thousands of lines about
  # the compiler's header); -Werror keeps every other one, and the Clang builds and GCC without
  # AVX-512 keep both.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    set(CMAKE_REQUIRED_FLAGS "${_required}")
    set(CMAKE_REQUIRED_QUIET ON)
    string(MAKE_C_IDENTIFIER "NADARAYA_AVX512_${_required}" _result)
    check_cxx_source_compiles("
#ifndef __AVX512F__
#error AVX-512 is not enabled
#endif
int main() { return 0; }" ${_result})
    if(${_result})
      list(APPEND _options -Wno-uninitialized -Wno-maybe-uninitialized)
    endif()
  endif()
  set(${out} "${_options}" PARENT_SCOPE)
endfunction()
