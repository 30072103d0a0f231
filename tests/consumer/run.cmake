# Installs connkit and builds and runs tests/consumer against the install, three ways:
#   static      the build tree under test (static libraries unless configured otherwise),
#               installed with `cmake --install`, consumed through find_package(connkit)
#   shared      this source tree built again with BUILD_SHARED_LIBS=ON (the two library
#               targets only, unoptimised), installed, consumed through find_package(connkit)
#   pkg-config  each of the two installs, consumed with `pkg-config --cflags --libs
#               connkit-cache` (which requires connkit) on the compiler's command line
# Everything uses the build tree's compiler and flags (e.g. sanitizers).
#
# -D: CONNKIT_SOURCE_DIR BUILD_DIR CONSUMER_DIR WORK_DIR LIBDIR (CMAKE_INSTALL_LIBDIR)
#     GENERATOR CXX_COMPILER BUILD_TYPE CXX_FLAGS LINKER_FLAGS VERSION SOVERSION

function(run)
  cmake_parse_arguments(RUN "" "WHAT" "COMMAND;ENV" ${ARGN})
  if(RUN_ENV)
    set(RUN_COMMAND ${CMAKE_COMMAND} -E env ${RUN_ENV} ${RUN_COMMAND})
  endif()
  execute_process(COMMAND ${RUN_COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${RUN_WHAT} failed (${rc}):\n${RUN_COMMAND}\n${out}")
  endif()
  message(STATUS "${RUN_WHAT}: ok")
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

# Fails unless `binary` loads `library` (a NEEDED entry) when `expected` is YES, or does not.
function(expect_needed binary library expected)
  execute_process(COMMAND readelf -d "${binary}" OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc)
  string(FIND "${dynamic}" "Shared library: [${library}]" at)
  if(at EQUAL -1)
    set(needed NO)
  else()
    set(needed YES)
  endif()
  if(NOT rc EQUAL 0 OR NOT needed STREQUAL expected)
    message(FATAL_ERROR "${binary}: loads ${library}: ${needed}, expected ${expected}\n${dynamic}")
  endif()
endfunction()

# Consumes the install in `prefix` through find_package, then through pkg-config.
function(consume kind prefix)
  set(build "${WORK_DIR}/consumer-${kind}")
  run(WHAT "${kind}: configuring the consumer (find_package)"
      COMMAND ${CMAKE_COMMAND} -S "${CONSUMER_DIR}" -B "${build}" -G "${GENERATOR}"
              "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_PREFIX_PATH=${prefix}"
              "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}" "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
              "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}")
  run(WHAT "${kind}: building the consumer" COMMAND ${CMAKE_COMMAND} --build "${build}")
  run(WHAT "${kind}: running the consumer" COMMAND "${build}/consumer")
  message(STATUS "  ${run_output}")
  if(kind STREQUAL "shared")
    set(shared YES)
  else()
    set(shared NO)
  endif()
  expect_needed("${build}/consumer" "libconnkit.so.${SOVERSION}" ${shared})

  # pkg-config, with the search path the README gives: <prefix>/<libdir>/pkgconfig.
  set(ENV{PKG_CONFIG_PATH} "${prefix}/${LIBDIR}/pkgconfig")
  run(WHAT "${kind}: pkg-config --modversion connkit"
      COMMAND pkg-config --modversion connkit)
  string(STRIP "${run_output}" modversion)
  if(NOT modversion STREQUAL VERSION)
    message(FATAL_ERROR "connkit.pc says version ${modversion}, the project ${VERSION}")
  endif()
  run(WHAT "${kind}: pkg-config --cflags --libs connkit-cache"
      COMMAND pkg-config --cflags --libs connkit-cache)
  separate_arguments(pc_flags UNIX_COMMAND "${run_output}")
  separate_arguments(cxx_flags UNIX_COMMAND "${CXX_FLAGS} ${LINKER_FLAGS}")
  set(program "${WORK_DIR}/consumer-${kind}-pkg-config")
  run(WHAT "${kind}: building the consumer with pkg-config's flags"
      COMMAND "${CXX_COMPILER}" -std=c++20 ${cxx_flags} "-DCONSUMER_EXPECTED_VERSION=\"${VERSION}\""
              "${CONSUMER_DIR}/main.cpp" -o "${program}" ${pc_flags})
  # pkg-config adds no run path: the dynamic loader is told where the shared install is.
  run(WHAT "${kind}: running the pkg-config consumer" COMMAND "${program}"
      ENV "LD_LIBRARY_PATH=${prefix}/${LIBDIR}")
  message(STATUS "  ${run_output}")
  expect_needed("${program}" "libconnkit_cache.so.${SOVERSION}" ${shared})
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")

# The build tree under test.
run(WHAT "static: installing the build tree"
    COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK_DIR}/static")
file(READ "${WORK_DIR}/static/${LIBDIR}/cmake/connkit/connkitTargets.cmake" targets)
if(targets MATCHES "LINK_ONLY:uring>")
  message(FATAL_ERROR "the exported targets link liburing by bare name (-luring)")
endif()
if(NOT EXISTS "${WORK_DIR}/static/include/connkit/version.hpp")
  message(FATAL_ERROR "the generated connkit/version.hpp was not installed")
endif()
# A plain install brings cache_server and its systemd unit, whose ExecStart runs the installed
# program with the pid file its PIDFile names.
if(NOT EXISTS "${WORK_DIR}/static/bin/cache_server")
  message(FATAL_ERROR "cmake --install did not install bin/cache_server")
endif()
set(unit "${WORK_DIR}/static/lib/systemd/system/cache_server.service")
if(NOT EXISTS "${unit}")
  message(FATAL_ERROR "cmake --install did not install lib/systemd/system/cache_server.service")
endif()
file(STRINGS "${unit}" exec_start REGEX "^ExecStart=")
file(STRINGS "${unit}" pid_file REGEX "^PIDFile=")
string(REGEX REPLACE "^PIDFile=" "" pid_file "${pid_file}")
if(pid_file STREQUAL "" OR NOT exec_start MATCHES "/cache_server -d -P ${pid_file} ")
  message(FATAL_ERROR "${unit}: ExecStart (${exec_start}) does not write PIDFile (${pid_file})")
endif()
run(WHAT "static: the installed cache_server runs" COMMAND "${WORK_DIR}/static/bin/cache_server" -V)
consume(static "${WORK_DIR}/static")

# A shared build of the same sources: the two libraries, no tests, examples or bench. Build
# type None (the build tree's flags, no optimisation): what is checked is the SONAME, the
# exported targets and linking, and it compiles in less of CI's time; no public header
# depends on NDEBUG, so the optimised consumer links against it as against any build.
run(WHAT "shared: configuring connkit with BUILD_SHARED_LIBS=ON"
    COMMAND ${CMAKE_COMMAND} -S "${CONNKIT_SOURCE_DIR}" -B "${WORK_DIR}/shared-build" -G "${GENERATOR}"
            -DBUILD_SHARED_LIBS=ON -DCONNKIT_BUILD_TESTS=OFF -DCONNKIT_BUILD_EXAMPLES=OFF
            -DCONNKIT_BUILD_BENCH=OFF "-DCMAKE_INSTALL_LIBDIR=${LIBDIR}"
            "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
            -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}")
run(WHAT "shared: building connkit" COMMAND ${CMAKE_COMMAND} --build "${WORK_DIR}/shared-build" -j 2)
run(WHAT "shared: installing connkit"
    COMMAND ${CMAKE_COMMAND} --install "${WORK_DIR}/shared-build" --prefix "${WORK_DIR}/shared")
foreach(library connkit connkit_cache)
  set(file "${WORK_DIR}/shared/${LIBDIR}/lib${library}.so.${VERSION}")
  execute_process(COMMAND readelf -d "${file}" OUTPUT_VARIABLE dynamic)
  string(FIND "${dynamic}" "Library soname: [lib${library}.so.${SOVERSION}]" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${file}: SONAME is not lib${library}.so.${SOVERSION}:\n${dynamic}")
  endif()
endforeach()
consume(shared "${WORK_DIR}/shared")
