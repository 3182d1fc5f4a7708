# Fortran bindings (capi/fortran/ptychopatch.f90, docs/fortran.md), included
# from the top-level CMakeLists.txt when PTYCHOPATCH_FORTRAN is ON.
#
# The module holds bind(c) interfaces, parameters and bind(c) types, which
# need no object code, plus module procedures (the typed generic
# interfaces' specific procedures and the string helpers), which do: they
# are compiled into a small static library,
# libptychopatch_fortran.a (position-independent, so it can also go into a
# consumer's shared library), that links libptychopatch.so. Consumers link
# ptychopatch::fortran (CMake) or ptychopatch-fortran (pkg-config); both
# add the module directory to the include path.

# Where ptychopatch.mod is installed. A .mod file is specific to the
# compiler (and its module format version) that wrote it, so it goes under
# the library directory, not include/; packagers may point this elsewhere
# (Debian: lib/<triplet>/fortran/gfortran-mod-15).
set(PTYCHOPATCH_INSTALL_FORTRAN_MODDIR "${CMAKE_INSTALL_LIBDIR}/fortran/ptychopatch"
    CACHE STRING "Install directory of ptychopatch.mod, relative to the prefix")

set(PTYCHOPATCH_FORTRAN_MODULE_DIR "${PROJECT_BINARY_DIR}/fortran/modules")

add_library(ptychopatch_fortran STATIC capi/fortran/ptychopatch.f90)
add_library(ptychopatch::fortran ALIAS ptychopatch_fortran)
set_target_properties(ptychopatch_fortran PROPERTIES
  EXPORT_NAME fortran
  POSITION_INDEPENDENT_CODE ON
  Fortran_MODULE_DIRECTORY "${PTYCHOPATCH_FORTRAN_MODULE_DIR}")
target_include_directories(ptychopatch_fortran PUBLIC
  $<BUILD_INTERFACE:${PTYCHOPATCH_FORTRAN_MODULE_DIR}>
  $<INSTALL_INTERFACE:${PTYCHOPATCH_INSTALL_FORTRAN_MODDIR}>)
target_link_libraries(ptychopatch_fortran PUBLIC ptychopatch)
if(CMAKE_Fortran_COMPILER_ID STREQUAL "GNU")
  # The module is standard Fortran 2008 (2003 but for c_sizeof).
  target_compile_options(ptychopatch_fortran PRIVATE -std=f2008 -Wall -Wextra -pedantic)
endif()

if(PTYCHOPATCH_BUILD_EXAMPLES)
  add_executable(ptychopatch_fortran_demo capi/fortran/examples/demo_extract.f90)
  target_link_libraries(ptychopatch_fortran_demo PRIVATE ptychopatch_fortran)
endif()
