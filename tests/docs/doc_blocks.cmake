# Extracts the C++ code blocks of Markdown files into translation units (see README.md here).
#
# connkit_doc_blocks(OUTPUT_DIR <dir> BASE_DIR <dir> UNITS <var> FRAGMENTS <var>
#                    PROGRAMS <var> MANIFEST <file> FILES <md>...)
#   Writes one .cpp per compiled block into OUTPUT_DIR (rewritten only when its text
#   changes, so an edit recompiles only the blocks it moved) and removes stale ones.
#   UNITS receives the units to compile, FRAGMENTS those of them that are fragments, and
#   PROGRAMS the units that define main(), to compile and link. MANIFEST lists every C++
#   block found, one a line: "<file>:<line> <kind> <unit>".
#   Each unit starts with #line, so the compiler reports errors at the Markdown file and
#   line. A mistake in the Markdown itself (an unlabeled fence, an unknown marker, a marker
#   before no C++ block, an unclosed fence) becomes a unit holding #error at that line: the
#   build fails there, as it does for a block that does not compile.

# CMake lists split on ';' (unless after '\') and never inside '[' ... ']', all common in
# C++: while a file is handled as a list of lines these four characters are replaced by
# control characters, and put back when a unit is written.
string(ASCII 1 _connkit_doc_semicolon)
string(ASCII 2 _connkit_doc_lbracket)
string(ASCII 3 _connkit_doc_rbracket)
string(ASCII 4 _connkit_doc_backslash)

function(_connkit_doc_decode out text)
  string(REPLACE "${_connkit_doc_semicolon}" ";" text "${text}")
  string(REPLACE "${_connkit_doc_lbracket}" "[" text "${text}")
  string(REPLACE "${_connkit_doc_rbracket}" "]" text "${text}")
  string(REPLACE "${_connkit_doc_backslash}" "\\" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# What a fragment is compiled with: the public headers and the standard headers the
# examples lean on. Whole blocks include what they use themselves.
set(_connkit_doc_prelude [=[
#include <utility>  // before any Asio header (Boost 1.74)

#include <atomic>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <connkit/connkit.hpp>

#include <connkit/cache/endpoint.hpp>
#include <connkit/cache/store.hpp>
]=])

# The text of block `id` of the current file as a translation unit (or, for a
# continuation, the text appended to its base). Reads blk_<id>_* from the caller.
function(_connkit_doc_render out id)
  set(kind "${blk_${id}_kind}")
  set(line "${blk_${id}_line}")
  set(body "${blk_${id}_body}")
  math(EXPR first "${line} + 1")  # the block's first line, after the fence
  set(where "#line ${first} \"${md}\"\n")
  if(kind STREQUAL "whole" OR kind STREQUAL "continues")
    set(text "${where}${body}")
  elseif(kind STREQUAL "namespace")
    set(text "${_connkit_doc_prelude}\n${where}${body}")
  elseif(kind STREQUAL "function")
    # The #include lines of a function-body fragment go before the function.
    set(includes "")
    set(statements "")
    set(n ${line})
    set(resync_includes TRUE)
    set(resync_statements TRUE)
    string(REGEX REPLACE "\n$" "" body "${body}")
    string(REPLACE "\n" ";" body_lines "${body}")
    foreach(l IN LISTS body_lines)
      math(EXPR n "${n} + 1")
      if(l MATCHES "^[ \t]*#[ \t]*include[ \t]")
        if(resync_includes)
          string(APPEND includes "#line ${n} \"${md}\"\n")
        endif()
        string(APPEND includes "${l}\n")
        set(resync_includes FALSE)
        set(resync_statements TRUE)
      else()
        if(resync_statements)
          string(APPEND statements "#line ${n} \"${md}\"\n")
        endif()
        string(APPEND statements "${l}\n")
        set(resync_statements FALSE)
        set(resync_includes TRUE)
      endif()
    endforeach()
    set(text "${_connkit_doc_prelude}${includes}\n[[maybe_unused]] static void connkit_doc_fragment() {\n${statements}}\n")
  else()
    set(text "#line ${line} \"${md}\"\n#error ${body}\n")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# Records an error block (compiled as an #error at `at_line`) in the caller's block list.
macro(_connkit_doc_error at_line text)
  set(blk_${count}_kind "error")
  set(blk_${count}_line ${at_line})
  set(blk_${count}_body "${text}")
  math(EXPR count "${count} + 1")
endmacro()

function(connkit_doc_blocks)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "OUTPUT_DIR;BASE_DIR;UNITS;FRAGMENTS;PROGRAMS;MANIFEST" "FILES")
  set(units "")
  set(fragments "")
  set(programs "")
  set(manifest "")
  set(written "")
  file(MAKE_DIRECTORY "${arg_OUTPUT_DIR}")

  foreach(md IN LISTS arg_FILES)
    file(RELATIVE_PATH md_name "${arg_BASE_DIR}" "${md}")
    string(MAKE_C_IDENTIFIER "${md_name}" md_stem)
    file(READ "${md}" content)
    string(REPLACE "\\" "${_connkit_doc_backslash}" content "${content}")
    string(REPLACE ";" "${_connkit_doc_semicolon}" content "${content}")
    string(REPLACE "[" "${_connkit_doc_lbracket}" content "${content}")
    string(REPLACE "]" "${_connkit_doc_rbracket}" content "${content}")
    string(REPLACE "\r" "" content "${content}")
    string(REPLACE "\n" ";" lines "${content}")

    set(count 0)          # blocks recorded in this file (C++ blocks and #error units)
    set(base "")          # the last C++ block that a `continues` block would extend
    set(in_fence FALSE)
    set(marker "")        # the marker on the line before, and its line number
    set(marker_line 0)
    set(line_no 0)
    foreach(line IN LISTS lines)
      math(EXPR line_no "${line_no} + 1")
      if(in_fence)
        if(line MATCHES "^ *([`~]+) *$" AND CMAKE_MATCH_1 MATCHES "^${fence}")
          set(in_fence FALSE)
          if(is_cpp)
            set(blk_${count}_body "${body}")
            math(EXPR count "${count} + 1")
          endif()
        elseif(is_cpp)
          # Strip the fence's own indentation (a block inside a list item).
          # (Not REGEX REPLACE: CMake's "^" matches again after each replacement.)
          string(LENGTH "${fence_indent}" indent)
          string(SUBSTRING "${line}" 0 ${indent} head)
          if(head STREQUAL fence_indent)
            string(SUBSTRING "${line}" ${indent} -1 line)
          endif()
          string(APPEND body "${line}\n")
        endif()
        continue()
      endif()

      set(previous_marker "${marker}")
      set(previous_marker_line ${marker_line})
      set(marker "")
      if(line MATCHES "^( *)(```+|~~~+) *([^ `]*)")
        set(fence_indent "${CMAKE_MATCH_1}")
        set(fence "${CMAKE_MATCH_2}")
        string(TOLOWER "${CMAKE_MATCH_3}" lang)
        set(in_fence TRUE)
        set(is_cpp FALSE)
        set(body "")
        if(lang STREQUAL "")
          _connkit_doc_error(${line_no} "unlabeled code fence: name its language, e.g. cpp, sh, or text for output and pseudo-code")
        elseif(lang MATCHES "^(cpp|c\\+\\+|cxx|cc)$")
          set(is_cpp TRUE)
          set(blk_${count}_line ${line_no})
          if(previous_marker STREQUAL "")
            set(kind "whole")
          elseif(previous_marker STREQUAL "fragment")
            set(kind "function")
          elseif(previous_marker STREQUAL "fragment: namespace")
            set(kind "namespace")
          elseif(previous_marker STREQUAL "continues")
            set(kind "continues")
            if(base STREQUAL "")
              set(kind "error")
              set(blk_${count}_body "a continues block needs a C++ block before it in the same file")
            else()
              set(blk_${count}_base ${base})
              set(blk_${base}_continued TRUE)
            endif()
          else()
            set(kind "error")
            set(blk_${count}_body "unknown marker (${previous_marker}): use fragment, fragment: namespace or continues")
          endif()
          set(blk_${count}_kind "${kind}")
          if(kind STREQUAL "error")
            math(EXPR count "${count} + 1")
            set(is_cpp FALSE)
          elseif(NOT kind STREQUAL "continues")
            set(base ${count})
          endif()
        elseif(NOT previous_marker STREQUAL "")
          _connkit_doc_error(${previous_marker_line} "the marker (${previous_marker}) is for C++ blocks, and this block is ${lang}")
        endif()
        continue()
      endif()

      if(line MATCHES "^ *<!-- *(fragment[^>]*|continues[^>]*) *--> *$")
        string(STRIP "${CMAKE_MATCH_1}" marker)
        set(marker_line ${line_no})
      endif()
      if(NOT previous_marker STREQUAL "")
        _connkit_doc_error(${previous_marker_line} "the marker (${previous_marker}) must be on the line right before a C++ code fence")
      endif()
    endforeach()
    if(in_fence)
      _connkit_doc_error(${line_no} "code fence not closed before the end of the file")
    endif()

    # One unit per block; a block that others continue is compiled with each of them only.
    if(count GREATER 0)
      math(EXPR last "${count} - 1")
      foreach(id RANGE ${last})
        set(kind "${blk_${id}_kind}")
        set(unit_name "${md_stem}_${blk_${id}_line}.cpp")
        if(blk_${id}_continued)
          string(APPEND manifest "${md_name}:${blk_${id}_line} ${kind} (compiled with each block that continues it)\n")
          continue()
        endif()
        _connkit_doc_render(text ${id})
        if(kind STREQUAL "continues")
          _connkit_doc_render(base_text ${blk_${id}_base})
          set(text "${base_text}${text}")
        endif()
        _connkit_doc_decode(text "${text}")
        set(unit "${arg_OUTPUT_DIR}/${unit_name}")
        file(WRITE "${unit}.new" "// Generated from ${md_name} by tests/docs/doc_blocks.cmake. Do not edit.\n${text}")
        file(COPY_FILE "${unit}.new" "${unit}" ONLY_IF_DIFFERENT)
        file(REMOVE "${unit}.new")
        list(APPEND written "${unit}")
        if(kind STREQUAL "error")
          string(APPEND manifest "${md_name}:${blk_${id}_line} error ${unit_name}\n")
          list(APPEND units "${unit}")
        elseif(text MATCHES "(^|\n)[ \t]*int[ \t]+main[ \t]*\\(")
          string(APPEND manifest "${md_name}:${blk_${id}_line} ${kind}+program ${unit_name}\n")
          list(APPEND programs "${unit}")
        else()
          string(APPEND manifest "${md_name}:${blk_${id}_line} ${kind} ${unit_name}\n")
          list(APPEND units "${unit}")
          if(kind STREQUAL "function" OR kind STREQUAL "namespace")
            list(APPEND fragments "${unit}")
          endif()
        endif()
      endforeach()
    endif()
    # Block variables are per file.
    foreach(id RANGE ${count})
      unset(blk_${id}_continued)
    endforeach()
  endforeach()

  file(GLOB stale "${arg_OUTPUT_DIR}/*.cpp")
  if(written)
    list(REMOVE_ITEM stale ${written})
  endif()
  if(stale)
    file(REMOVE ${stale})
  endif()
  file(WRITE "${arg_MANIFEST}.new" "${manifest}")
  file(COPY_FILE "${arg_MANIFEST}.new" "${arg_MANIFEST}" ONLY_IF_DIFFERENT)
  file(REMOVE "${arg_MANIFEST}.new")
  set(${arg_UNITS} "${units}" PARENT_SCOPE)
  set(${arg_FRAGMENTS} "${fragments}" PARENT_SCOPE)
  set(${arg_PROGRAMS} "${programs}" PARENT_SCOPE)
endfunction()
