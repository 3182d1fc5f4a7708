# Builds the consumer programs of tests/consumer/project against the
# installed tree in PREFIX and runs them.
#   MODE=cmake:     configures project/CMakeLists.txt with CMAKE_PREFIX_PATH
#                   = PREFIX (find_package(ptychopatch CONFIG)), builds, runs.
#   MODE=pkgconfig: plain compiler command lines with the flags of
#                   `pkg-config --cflags --libs ptychopatch` (and
#                   ptychopatch-fortran), PKG_CONFIG_PATH = PREFIX's
#                   lib/pkgconfig, as docs/packaging.md shows them.
# Each program must load libptychopatch.so.0 from PREFIX (checked with ldd).
# With SANITIZE set (a sanitizer build of the library), the consumers are
# compiled and linked with -fsanitize=SANITIZE as well.
cmake_minimum_required(VERSION 3.16)

set(sanitize_flags "")
if(SANITIZE)
  set(sanitize_flags "-fsanitize=${SANITIZE} -fno-omit-frame-pointer")
endif()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    list(JOIN ARGN " " command)
    message(FATAL_ERROR "${what} failed (${rc}):\n${command}\n${out}\n${err}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

# Runs a built program; it must use the library of the installed prefix.
function(run_program program)
  find_program(LDD NAMES ldd)
  if(LDD)
    execute_process(COMMAND ${LDD} "${program}" OUTPUT_VARIABLE deps)
    if(NOT deps MATCHES "libptychopatch\\.so\\.${SOVERSION} => ([^ ]+)")
      message(FATAL_ERROR "${program} does not load libptychopatch.so.${SOVERSION}:\n${deps}")
    endif()
    get_filename_component(loaded "${CMAKE_MATCH_1}" REALPATH)
    get_filename_component(installed "${PREFIX}/${LIBDIR}/libptychopatch.so.${SOVERSION}" REALPATH)
    if(NOT loaded STREQUAL installed)
      message(FATAL_ERROR "${program} loads ${loaded}, not the installed ${installed}")
    endif()
  endif()
  run("running ${program}" "${program}")
  message(STATUS "${run_output}")
endfunction()

# RUNPATH, not the environment, must lead the programs to the installed
# library (an LD_LIBRARY_PATH would take precedence over it).
unset(ENV{LD_LIBRARY_PATH})

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

if(MODE STREQUAL "cmake")
  set(configure
    ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}" -G "${GENERATOR}"
    -DCMAKE_BUILD_TYPE=Release
    "-DCMAKE_PREFIX_PATH=${PREFIX}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    "-DCMAKE_C_COMPILER=${C_COMPILER}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
    "-DEXPECTED_PACKAGE_DIR=${PREFIX}/${LIBDIR}/cmake/ptychopatch"
    "-DEXPECTED_VERSION=${VERSION}"
    "-DCMAKE_C_FLAGS=${sanitize_flags}" "-DCMAKE_CXX_FLAGS=${sanitize_flags}"
    "-DCMAKE_EXE_LINKER_FLAGS=${sanitize_flags}")
  if(MAKE_PROGRAM)
    list(APPEND configure "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
  endif()
  if(FORTRAN)
    list(APPEND configure -DCONSUMER_FORTRAN=ON "-DCMAKE_Fortran_COMPILER=${Fortran_COMPILER}"
         "-DCMAKE_Fortran_FLAGS=${sanitize_flags}")
  endif()
  run("configuring the consumer project" ${configure})
  message(STATUS "${run_output}")
  run("building the consumer project" ${CMAKE_COMMAND} --build "${WORK_DIR}")
  set(programs consumer_c consumer_cxx)
  if(FORTRAN)
    list(APPEND programs consumer_fortran)
  endif()
  foreach(program IN LISTS programs)
    run_program("${WORK_DIR}/${program}")
  endforeach()

elseif(MODE STREQUAL "pkgconfig")
  if(NOT PKG_CONFIG)
    find_program(PKG_CONFIG NAMES pkg-config pkgconf REQUIRED)
  endif()
  # The test's ENVIRONMENT sets PKG_CONFIG_PATH; set it here too so the
  # script also runs by hand.
  set(ENV{PKG_CONFIG_PATH} "${PREFIX}/${LIBDIR}/pkgconfig")
  run("pkg-config --modversion" ${PKG_CONFIG} --modversion ptychopatch)
  string(STRIP "${run_output}" found_version)
  if(NOT found_version STREQUAL VERSION)
    message(FATAL_ERROR "pkg-config finds ptychopatch ${found_version}, expected ${VERSION}")
  endif()
  run("pkg-config --variable=libdir" ${PKG_CONFIG} --variable=libdir ptychopatch)
  string(STRIP "${run_output}" libdir)
  get_filename_component(libdir_real "${libdir}" REALPATH)
  get_filename_component(prefix_lib_real "${PREFIX}/${LIBDIR}" REALPATH)
  if(NOT libdir_real STREQUAL prefix_lib_real)
    message(FATAL_ERROR "pkg-config's libdir ${libdir} is not ${PREFIX}/${LIBDIR}")
  endif()

  # One program per language:
  #   cc  consumer.c   $(pkg-config --cflags --libs ptychopatch) -Wl,-rpath,LIBDIR
  #   c++ consumer.cpp $(pkg-config --cflags --libs ptychopatch) -Wl,-rpath,LIBDIR
  #   gfortran consumer.f90 $(pkg-config --cflags --libs ptychopatch-fortran) ...
  set(sources_c consumer.c)
  set(sources_cxx consumer.cpp)
  set(sources_fortran consumer.f90)
  separate_arguments(sanitize_list UNIX_COMMAND "${sanitize_flags}")
  foreach(language c cxx fortran)
    if(language STREQUAL "c")
      set(compiler "${C_COMPILER}")
      set(standard -std=c99)
      set(package ptychopatch)
    elseif(language STREQUAL "cxx")
      set(compiler "${CXX_COMPILER}")
      set(standard -std=c++17)
      set(package ptychopatch)
    else()
      if(NOT FORTRAN)
        continue()
      endif()
      set(compiler "${Fortran_COMPILER}")
      set(standard -std=f2008)
      set(package ptychopatch-fortran)
    endif()
    run("pkg-config --cflags --libs ${package}" ${PKG_CONFIG} --cflags --libs ${package})
    string(STRIP "${run_output}" flags)
    message(STATUS "pkg-config --cflags --libs ${package}: ${flags}")
    separate_arguments(flag_list UNIX_COMMAND "${flags}")
    set(program "${WORK_DIR}/consumer_${language}")
    # Modules (.mod) are written to the working directory: keep them in WORK_DIR.
    execute_process(COMMAND "${compiler}" ${standard} ${sanitize_list}
        "${SOURCE_DIR}/${sources_${language}}" -o "${program}" ${flag_list} "-Wl,-rpath,${libdir}"
      WORKING_DIRECTORY "${WORK_DIR}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "compiling consumer_${language} with pkg-config's flags failed:\n${out}\n${err}")
    endif()
    run_program("${program}")
  endforeach()

else()
  message(FATAL_ERROR "MODE must be cmake or pkgconfig, got '${MODE}'")
endif()
