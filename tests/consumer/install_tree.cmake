# Test fixture: installs the build into PREFIX (a fresh directory; nothing is
# rebuilt) and checks the layout of docs/packaging.md: headers, the library
# with its soname links and no build-tree RUNPATH, every dependency of the
# library resolvable (ldd), the CMake package and the pkg-config files, and
# with Fortran the module, its static library and its source.
# Usage: cmake -DBUILD_DIR= -DPREFIX= -DLIBDIR= -DINCLUDEDIR= -DVERSION=
#              -DSOVERSION= -DFORTRAN=ON|OFF [-DFMODDIR=] -P install_tree.cmake
set(problems "")
macro(problem text)
  list(APPEND problems "${text}")
endmacro()

file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${PREFIX}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc}):\n${out}\n${err}")
endif()

set(lib "${PREFIX}/${LIBDIR}")
set(expected
  "${INCLUDEDIR}/ptychopatch.h"
  "${INCLUDEDIR}/ptychopatch.hpp"
  "${LIBDIR}/libptychopatch.so.${VERSION}"
  "${LIBDIR}/cmake/ptychopatch/ptychopatchConfig.cmake"
  "${LIBDIR}/cmake/ptychopatch/ptychopatchConfigVersion.cmake"
  "${LIBDIR}/cmake/ptychopatch/ptychopatchTargets.cmake"
  "${LIBDIR}/pkgconfig/ptychopatch.pc")
if(FORTRAN)
  list(APPEND expected
    "${FMODDIR}/ptychopatch.mod"
    "${LIBDIR}/libptychopatch_fortran.a"
    "share/ptychopatch/fortran/ptychopatch.f90"
    "${LIBDIR}/pkgconfig/ptychopatch-fortran.pc")
endif()
foreach(file IN LISTS expected)
  if(NOT EXISTS "${PREFIX}/${file}" OR IS_DIRECTORY "${PREFIX}/${file}")
    problem("missing ${file}")
  endif()
endforeach()

# libptychopatch.so -> libptychopatch.so.0 -> libptychopatch.so.0.4.0
foreach(pair "libptychopatch.so:libptychopatch.so.${SOVERSION}"
             "libptychopatch.so.${SOVERSION}:libptychopatch.so.${VERSION}")
  string(REPLACE ":" ";" pair "${pair}")
  list(GET pair 0 link)
  list(GET pair 1 target)
  if(NOT IS_SYMLINK "${lib}/${link}")
    problem("${LIBDIR}/${link} is not a symbolic link")
  else()
    file(READ_SYMLINK "${lib}/${link}" points_to)
    if(NOT points_to STREQUAL target)
      problem("${LIBDIR}/${link} points to ${points_to}, expected ${target}")
    endif()
  endif()
endforeach()

# The soname, and no RUNPATH into the build tree.
find_program(OBJDUMP NAMES objdump)
if(OBJDUMP)
  execute_process(COMMAND ${OBJDUMP} -p "${lib}/libptychopatch.so.${VERSION}"
    OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc)
  if(NOT dynamic MATCHES "SONAME +libptychopatch\\.so\\.${SOVERSION}\n")
    problem("the soname of libptychopatch.so.${VERSION} is not libptychopatch.so.${SOVERSION}")
  endif()
  string(REGEX MATCHALL "(RPATH|RUNPATH) +[^\n]*" paths "${dynamic}")
  foreach(path IN LISTS paths)
    string(FIND "${path}" "${BUILD_DIR}" at)
    if(NOT at EQUAL -1)
      problem("installed library keeps a build-tree ${path}")
    endif()
  endforeach()
  string(REGEX MATCHALL "NEEDED +[^\n]*" needed "${dynamic}")
  string(REGEX REPLACE "NEEDED +" "" needed "${needed}")
  message(STATUS "libptychopatch.so.${SOVERSION} needs: ${needed}")
else()
  message(STATUS "objdump not found: soname not checked")
endif()

# Every dependency of the installed library resolves on this machine: a
# consumer needs nothing but -lptychopatch.
find_program(LDD NAMES ldd)
if(LDD)
  execute_process(COMMAND ${LDD} "${lib}/libptychopatch.so.${VERSION}"
    OUTPUT_VARIABLE resolved ERROR_VARIABLE resolved_err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR resolved MATCHES "not found")
    problem("ldd ${LIBDIR}/libptychopatch.so.${VERSION}:\n${resolved}${resolved_err}")
  endif()
else()
  message(STATUS "ldd not found: dependencies not checked")
endif()

# The package files name no build or source path: they are relocatable.
file(GLOB package_files "${lib}/cmake/ptychopatch/*.cmake" "${lib}/pkgconfig/ptychopatch*.pc")
foreach(file IN LISTS package_files)
  file(READ "${file}" text)
  string(FIND "${text}" "${BUILD_DIR}" at)
  if(NOT at EQUAL -1)
    problem("${file} refers to the build tree ${BUILD_DIR}")
  endif()
  string(FIND "${text}" "${PREFIX}" at)
  if(NOT at EQUAL -1)
    problem("${file} hard-codes the prefix (not relocatable)")
  endif()
endforeach()

if(problems)
  list(JOIN problems "\n  " text)
  message(FATAL_ERROR "installed tree in ${PREFIX}:\n  ${text}")
endif()
file(GLOB_RECURSE installed RELATIVE "${PREFIX}" LIST_DIRECTORIES false "${PREFIX}/*")
list(JOIN installed "\n  " listing)
message(STATUS "installed into ${PREFIX}:\n  ${listing}")
