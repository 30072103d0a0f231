# Warnings for connkit's own targets only; consumers never inherit them.
# -Werror only when CONNKIT_WERROR is on (CI: `make test WERROR=ON`), never baked in here.
option(CONNKIT_WERROR "Treat warnings as errors on connkit's own targets" OFF)
function(connkit_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(CONNKIT_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
