# pkg-config files, one per installed library: connkit.pc and connkit-cache.pc (which
# requires connkit). Written at install time, so that prefix= is the prefix installed to
# (cmake --install build --prefix P), then installed to <libdir>/pkgconfig.
#
#   PKG_CONFIG_PATH=P/<libdir>/pkgconfig pkg-config --cflags --libs connkit-cache
#
# The consumer picks the language mode itself (-std=c++20); the flags below are what
# connkit's CMake target carries besides C++20.

# -pthread: connkit's worker threads (Threads::Threads).
set(CONNKIT_PC_CFLAGS "-DBOOST_ASIO_NO_DEPRECATED -pthread")
set(CONNKIT_PC_LIBS "-pthread")
# Boost: Debian ships no boost.pc. connkit needs only the headers (Asio and Boost.System are
# header-only in 1.74), so their directory, where the compiler does not search it anyway.
foreach(dir IN LISTS Boost_INCLUDE_DIRS)
  if(NOT dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
    string(APPEND CONNKIT_PC_CFLAGS " -I${dir}")
  endif()
endforeach()
# liburing: a static libconnkit needs it on every link line (Requires); a shared one links
# it itself, so consumers need it only for static linking (Requires.private).
get_target_property(_connkit_pc_type connkit TYPE)
if(NOT CONNKIT_USES_LIBURING)
  set(CONNKIT_PC_REQUIRES "")
elseif(_connkit_pc_type STREQUAL "STATIC_LIBRARY")
  set(CONNKIT_PC_REQUIRES "Requires: liburing")
else()
  set(CONNKIT_PC_REQUIRES "Requires.private: liburing")
endif()

foreach(_connkit_pc_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_connkit_pc_dir}}")
    set(CONNKIT_PC_${_connkit_pc_dir} "${CMAKE_INSTALL_${_connkit_pc_dir}}")
  else()
    set(CONNKIT_PC_${_connkit_pc_dir} "\${prefix}/${CMAKE_INSTALL_${_connkit_pc_dir}}")
  endif()
endforeach()

set(_connkit_pc_code "")
foreach(var PROJECT_VERSION CONNKIT_PC_LIBDIR CONNKIT_PC_INCLUDEDIR CONNKIT_PC_CFLAGS
            CONNKIT_PC_LIBS CONNKIT_PC_REQUIRES)
  string(APPEND _connkit_pc_code "set(${var} [==[${${var}}]==])\n")
endforeach()
string(APPEND _connkit_pc_code "set(CONNKIT_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")\n")
foreach(pc connkit connkit-cache)
  string(APPEND _connkit_pc_code
    "configure_file([==[${CMAKE_CURRENT_LIST_DIR}/${pc}.pc.in]==] "
    "[==[${PROJECT_BINARY_DIR}/pkgconfig/${pc}.pc]==] @ONLY)\n")
endforeach()
install(CODE "${_connkit_pc_code}")
install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/connkit.pc ${PROJECT_BINARY_DIR}/pkgconfig/connkit-cache.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
