# ctest docs.code_blocks: every C++ block of README.md and docs/*.md still compiles.
# -DBUILD_DIR=<build tree> -DCONFIG=<config> -DSOURCE_DIR=<source tree> -DMANIFEST=<blocks.txt>
cmake_minimum_required(VERSION 3.25)

# 1. Build the check. Up to date after a normal build, this costs a second; a document
#    edited since is extracted again and its blocks compiled now, errors shown here.
set(config_args "")
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build "${BUILD_DIR}" --target connkit_docs_check ${config_args}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "docs.code_blocks: a code block of README.md or docs/*.md does not compile "
                      "(the compiler names the Markdown file and line above).")
endif()

# 2. Every ```cpp / ```c++ fence was extracted: count them here independently of the
#    extraction and compare with the blocks it compiled.
file(STRINGS "${MANIFEST}" blocks)
file(GLOB docs "${SOURCE_DIR}/docs/*.md")
set(fences 0)
foreach(md "${SOURCE_DIR}/README.md" ${docs})
  file(STRINGS "${md}" lines REGEX "^ *(```+|~~~+) *([Cc][Pp][Pp]|[Cc]\\+\\+|[Cc][Xx][Xx]|[Cc][Cc])( |$)")
  list(LENGTH lines n)
  math(EXPR fences "${fences} + ${n}")
endforeach()
list(LENGTH blocks found)
string(REPLACE ";" "\n  " listing "${blocks}")
message(STATUS "C++ blocks compiled (file:line kind unit):\n  ${listing}")
if(NOT found EQUAL fences)
  message(FATAL_ERROR "docs.code_blocks: the documents have ${fences} C++ code fences, "
                      "but ${found} blocks were extracted.")
endif()
if(found EQUAL 0)
  message(FATAL_ERROR "docs.code_blocks: no C++ code block found.")
endif()
message(STATUS "docs.code_blocks: ${found} C++ blocks compile.")
