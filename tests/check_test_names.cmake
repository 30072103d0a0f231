# ctest: catch_discover_tests() splits a test name at ';' into names that match no test case,
# which then "pass" without running; a '[' or ']' (a CMake bracket, and a Catch2 tag in a
# test spec) glues the names after it into one. Fail if any test case of EXE has one.
# (Catch2 v2 exits with the number of test cases listed.)
execute_process(COMMAND ${EXE} --list-test-names-only OUTPUT_VARIABLE names)
if(names STREQUAL "")
  message(FATAL_ERROR "${EXE} --list-test-names-only listed nothing")
endif()
string(FIND "${names}" ";" at)
if(NOT at EQUAL -1)
  string(REGEX MATCHALL "[^\n]*;[^\n]*" bad "${names}")
  message(FATAL_ERROR "test names with ';' never run under ctest: ${bad}")
endif()
string(REGEX MATCH "[][]" bracket "${names}")
if(bracket)
  message(FATAL_ERROR "a test name holds '[' or ']', which ctest's discovery misreads")
endif()
