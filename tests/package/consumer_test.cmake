# Builds and runs one consumer project of nadaraya the way a user would:  cmake -P consumer_test.cmake
# with -DMODE=find_package|add_subdirectory|fetchcontent and the variables checked below (tests/CMakeLists.txt
# passes them). find_package first installs the current build tree into ${WORK_DIR}/prefix.
cmake_minimum_required(VERSION 3.16)

foreach(_var MODE CONSUMER_SOURCE_DIR WORK_DIR NADARAYA_ROOT NADARAYA_BUILD_DIR NADARAYA_VERSION GENERATOR
             CTEST_COMMAND)
  if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
    message(FATAL_ERROR "consumer_test.cmake: -D${_var}=... is required")
  endif()
endforeach()

function(run_step what)
  message(STATUS "[${MODE}] ${what}: ${ARGN}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "[${MODE}] ${what} failed (${_rc})")
  endif()
endfunction()

set(_config_args)
if(NOT "${CONFIG}" STREQUAL "")
  set(_config_args --config "${CONFIG}")
endif()

file(REMOVE_RECURSE "${WORK_DIR}")
set(_build "${WORK_DIR}/build")
set(_configure "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${_build}" -G "${GENERATOR}"
               "-DNADARAYA_EXPECTED_VERSION=${NADARAYA_VERSION}")
foreach(_pair "MAKE_PROGRAM;CMAKE_MAKE_PROGRAM" "CXX_COMPILER;CMAKE_CXX_COMPILER" "CXX_FLAGS;CMAKE_CXX_FLAGS"
              "BUILD_TYPE;CMAKE_BUILD_TYPE" "EIGEN3_DIR;Eigen3_DIR")
  list(GET _pair 0 _from)
  list(GET _pair 1 _to)
  if(NOT "${${_from}}" STREQUAL "")
    list(APPEND _configure "-D${_to}=${${_from}}")
  endif()
endforeach()

if(MODE STREQUAL "find_package")
  set(_prefix "${WORK_DIR}/prefix")
  run_step("install" "${CMAKE_COMMAND}" --install "${NADARAYA_BUILD_DIR}" --prefix "${_prefix}" ${_config_args})
  # The files a user's find_package() and pkg-config rely on, at their documented places.
  if(NOT DEFINED INSTALL_INCLUDEDIR)
    set(INSTALL_INCLUDEDIR include)
  endif()
  if(NOT DEFINED INSTALL_DATADIR)
    set(INSTALL_DATADIR share)
  endif()
  foreach(_file ${INSTALL_INCLUDEDIR}/nadaraya/version.hpp
                ${INSTALL_DATADIR}/cmake/nadaraya/nadarayaConfig.cmake
                ${INSTALL_DATADIR}/cmake/nadaraya/nadarayaConfigVersion.cmake
                ${INSTALL_DATADIR}/cmake/nadaraya/nadarayaTargets.cmake
                ${INSTALL_DATADIR}/pkgconfig/nadaraya.pc)
    if(NOT EXISTS "${_prefix}/${_file}")
      message(FATAL_ERROR "[${MODE}] not installed: ${_file}")
    endif()
  endforeach()
  file(READ "${_prefix}/${INSTALL_DATADIR}/pkgconfig/nadaraya.pc" _pc)
  if(NOT _pc MATCHES "prefix=\\\${pcfiledir}/")
    message(FATAL_ERROR "[${MODE}] nadaraya.pc is not relocatable:\n${_pc}")
  endif()
  list(APPEND _configure "-DCMAKE_PREFIX_PATH=${_prefix}")
elseif(MODE STREQUAL "add_subdirectory" OR MODE STREQUAL "fetchcontent")
  list(APPEND _configure "-DNADARAYA_ROOT=${NADARAYA_ROOT}")
else()
  message(FATAL_ERROR "consumer_test.cmake: unknown MODE '${MODE}'")
endif()

run_step("configure" ${_configure})
run_step("build" "${CMAKE_COMMAND}" --build "${_build}" ${_config_args})
if(NOT "${CONFIG}" STREQUAL "")
  set(_ctest_config -C "${CONFIG}")
endif()
execute_process(COMMAND "${CTEST_COMMAND}" --output-on-failure ${_ctest_config}
                WORKING_DIRECTORY "${_build}" RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "[${MODE}] the consumer's test failed (${_rc})")
endif()
