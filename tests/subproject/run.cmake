# Configures and builds tests/subproject (a parent project doing add_subdirectory() of the
# source tree), then checks that connkit forced nothing on it: CMAKE_BUILD_TYPE stays
# empty, the parent's ctest lists only the parent's own test, and installing the parent
# installs only the parent's program.
file(REMOVE_RECURSE "${WORK_DIR}")
execute_process(COMMAND ${CMAKE_COMMAND} -S "${PARENT_DIR}" -B "${WORK_DIR}/build"
                        -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
                        "-DCONNKIT_SOURCE_DIR=${CONNKIT_SOURCE_DIR}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the parent project failed: ${rc}")
endif()

# CMAKE_BUILD_TYPE: the parent set none, so it must still be empty.
file(STRINGS "${WORK_DIR}/build/CMakeCache.txt" build_type REGEX "^CMAKE_BUILD_TYPE:")
if(NOT build_type STREQUAL "CMAKE_BUILD_TYPE:STRING=")
  message(FATAL_ERROR "the parent's CMAKE_BUILD_TYPE was changed: ${build_type}")
endif()

execute_process(COMMAND ${CMAKE_COMMAND} --build "${WORK_DIR}/build" --target parent_app -j 2
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the parent project failed: ${rc}")
endif()

# Tests: only the parent's own, which runs the program.
execute_process(COMMAND ${CMAKE_CTEST_COMMAND} -N WORKING_DIRECTORY "${WORK_DIR}/build"
                OUTPUT_VARIABLE listed RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT listed MATCHES "Total Tests: 1\n" OR NOT listed MATCHES "parent_app")
  message(FATAL_ERROR "the parent's ctest lists more than its own test:\n${listed}")
endif()
execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --output-on-failure
                WORKING_DIRECTORY "${WORK_DIR}/build" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the parent's test failed: ${rc}")
endif()

# Install rules: no cmake_install.cmake mentions connkit's files, and installing the parent
# installs its program alone.
file(GLOB_RECURSE install_scripts "${WORK_DIR}/build/connkit/cmake_install.cmake")
foreach(script IN LISTS install_scripts)
  file(STRINGS "${script}" connkit_rules REGEX "connkit(Targets|Config)|libconnkit|include/connkit|file\\(INSTALL")
  if(connkit_rules)
    message(FATAL_ERROR "${script} installs connkit's files:\n${connkit_rules}")
  endif()
endforeach()
execute_process(COMMAND ${CMAKE_COMMAND} --install "${WORK_DIR}/build" --prefix "${WORK_DIR}/prefix"
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "installing the parent project failed: ${rc}")
endif()
file(GLOB_RECURSE installed RELATIVE "${WORK_DIR}/prefix" "${WORK_DIR}/prefix/*")
if(NOT installed STREQUAL "bin/parent_app")
  message(FATAL_ERROR "installing the parent installed more than its program: ${installed}")
endif()
message(STATUS "connkit as a subproject: build type untouched, no tests, examples or install rules")
