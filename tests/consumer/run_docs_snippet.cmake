# The Fortran consumer of docs/fortran.md, tested as written: the first
# ```cmake block of the page (its "Link" section) becomes CMakeLists.txt and
# the program of its "Example" section (the first ```fortran block that
# starts with `program`) app.f90; the project is configured against the
# installed prefix alone (CMAKE_PREFIX_PATH), built, and app is run.
#   POLICIES=none: the snippet's cmake_minimum_required line is removed
#   first, so the project sets no policy at all; the package's config file
#   must not depend on the consumer's policies (it used IN_LIST, which
#   fails without CMP0057).
# The configuration must not warn from the package's own files.
# Usage: cmake -DDOC= -DPREFIX= -DLIBDIR= -DWORK_DIR= -DGENERATOR= [-DMAKE_PROGRAM=]
#              -DFortran_COMPILER= [-DSANITIZE=] [-DPOLICIES=none] -P run_docs_snippet.cmake
cmake_minimum_required(VERSION 3.16)

file(READ "${DOC}" doc)
if(NOT doc MATCHES "```cmake\n([^`]*)```")
  message(FATAL_ERROR "${DOC} has no ```cmake block")
endif()
set(snippet "${CMAKE_MATCH_1}")
if(NOT doc MATCHES "```fortran\n(program [^`]*)```")
  message(FATAL_ERROR "${DOC} has no ```fortran block starting with a program")
endif()
set(program "${CMAKE_MATCH_1}")
if(NOT snippet MATCHES "add_executable\\(app app\\.f90\\)")
  message(FATAL_ERROR "the first ```cmake block of ${DOC} no longer builds app.f90 "
                      "(add_executable(app app.f90)); update this test:\n${snippet}")
endif()
if(POLICIES STREQUAL "none")
  string(REGEX REPLACE "cmake_minimum_required\\([^)]*\\)[^\n]*\n" "" snippet "${snippet}")
  if(snippet MATCHES "cmake_(minimum_required|policy)")
    message(FATAL_ERROR "could not remove the policy settings of the snippet:\n${snippet}")
  endif()
endif()

set(source "${WORK_DIR}/source")
set(build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${source}")
file(WRITE "${source}/CMakeLists.txt" "${snippet}")
file(WRITE "${source}/app.f90" "${program}")
message(STATUS "CMakeLists.txt from ${DOC}:\n${snippet}")

set(sanitize_flags "")
if(SANITIZE)
  set(sanitize_flags "-fsanitize=${SANITIZE} -fno-omit-frame-pointer")
endif()
set(configure ${CMAKE_COMMAND} -S "${source}" -B "${build}" -G "${GENERATOR}"
    "-DCMAKE_PREFIX_PATH=${PREFIX}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    "-DCMAKE_Fortran_COMPILER=${Fortran_COMPILER}" "-DCMAKE_Fortran_FLAGS=${sanitize_flags}"
    "-DCMAKE_EXE_LINKER_FLAGS=${sanitize_flags}")
if(MAKE_PROGRAM)
  list(APPEND configure "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
execute_process(COMMAND ${configure} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the docs/fortran.md snippet failed (${rc}):\n${out}\n${err}")
endif()
# A warning or error raised in the package's files names them.
if("${out}${err}" MATCHES "ptychopatch(Config|ConfigVersion|Targets)[^ ]*\\.cmake")
  message(FATAL_ERROR "the package's files warned while configuring the snippet:\n${out}\n${err}")
endif()
message(STATUS "${err}")

# The package found is the installed one.
file(STRINGS "${build}/CMakeCache.txt" found REGEX "^ptychopatch_DIR:")
string(REGEX REPLACE "^[^=]*=" "" found "${found}")
get_filename_component(found "${found}" REALPATH)
get_filename_component(expected "${PREFIX}/${LIBDIR}/cmake/ptychopatch" REALPATH)
if(NOT found STREQUAL expected)
  message(FATAL_ERROR "the snippet found ptychopatch in ${found}, expected ${expected}")
endif()

execute_process(COMMAND ${CMAKE_COMMAND} --build "${build}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the docs/fortran.md example failed (${rc}):\n${out}\n${err}")
endif()

# RUNPATH, not the environment, leads app to the installed library.
unset(ENV{LD_LIBRARY_PATH})
execute_process(COMMAND "${build}/app" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the docs/fortran.md example failed (${rc}):\n${out}\n${err}")
endif()
message(STATUS "app: ${out}${err}")
