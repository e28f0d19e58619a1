# Runs a program for a ctest test and checks both its exit status and its output (ctest's
# PASS_REGULAR_EXPRESSION alone ignores the exit status):
#   cmake -DPROGRAM=<exe> [-DARGS=a|b|c] [-DINPUT=<file for standard input>] [-DEXIT=<status>|nonzero]
#         [-DMATCH=<regular expression the output must match>] -P run_checked.cmake
# ARGS separates the arguments with '|' (a ';' list does not survive add_test's COMMAND).
if(NOT DEFINED PROGRAM)
  message(FATAL_ERROR "run_checked.cmake: PROGRAM is not set")
endif()
string(REPLACE "|" ";" _args "${ARGS}")
set(_input)
if(DEFINED INPUT AND NOT INPUT STREQUAL "")
  set(_input INPUT_FILE "${INPUT}")
endif()
execute_process(COMMAND "${PROGRAM}" ${_args} ${_input}
                RESULT_VARIABLE _status OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
message("${_out}${_err}")
if(NOT DEFINED EXIT)
  set(EXIT 0)
endif()
if(EXIT STREQUAL "nonzero")
  if(_status EQUAL 0 OR NOT _status MATCHES "^[0-9]+$")
    message(FATAL_ERROR "expected a non-zero exit status, got '${_status}'")
  endif()
elseif(NOT _status STREQUAL "${EXIT}")
  message(FATAL_ERROR "expected exit status ${EXIT}, got '${_status}'")
endif()
if(DEFINED MATCH AND NOT "${_out}${_err}" MATCHES "${MATCH}")
  message(FATAL_ERROR "the output does not match '${MATCH}'")
endif()
