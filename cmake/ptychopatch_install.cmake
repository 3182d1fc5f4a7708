# `cmake --install` of the C/C++ (and Fortran) packages, included from the
# top-level CMakeLists.txt outside pip builds (docs/packaging.md):
#
#   include/ptychopatch.h, include/ptychopatch.hpp
#   lib/libptychopatch.so -> .so.0 -> .so.0.4.0      (soname libptychopatch.so.0)
#   lib/cmake/ptychopatch/ptychopatchConfig.cmake, ...ConfigVersion.cmake,
#                         ptychopatchTargets*.cmake  (ptychopatch::ptychopatch,
#                                                     ptychopatch::fortran)
#   lib/pkgconfig/ptychopatch.pc (and ptychopatch-fortran.pc)
#   with Fortran: lib/libptychopatch_fortran.a,
#                 lib/fortran/ptychopatch/ptychopatch.mod,
#                 share/ptychopatch/fortran/ptychopatch.f90 (the module's
#                 source, for other Fortran compilers)
#
# lib is CMAKE_INSTALL_LIBDIR (GNUInstallDirs). Everything installed is
# relocatable: the CMake files and the .pc files find the prefix from their
# own location, so `cmake --install build --prefix P` and DESTDIR staging
# give working packages whatever CMAKE_INSTALL_PREFIX was at configure time.
include(CMakePackageConfigHelpers)

set(PTYCHOPATCH_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/ptychopatch"
    CACHE STRING "Install directory of the CMake package files, relative to the prefix")

add_library(ptychopatch::ptychopatch ALIAS ptychopatch)

install(TARGETS ptychopatch EXPORT ptychopatchTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES include/ptychopatch.h include/ptychopatch.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(_ptp_pc_files ptychopatch)
if(TARGET ptychopatch_fortran)
  install(TARGETS ptychopatch_fortran EXPORT ptychopatchTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(FILES "${PTYCHOPATCH_FORTRAN_MODULE_DIR}/ptychopatch.mod"
    DESTINATION ${PTYCHOPATCH_INSTALL_FORTRAN_MODDIR})
  install(FILES capi/fortran/ptychopatch.f90
    DESTINATION ${CMAKE_INSTALL_DATADIR}/ptychopatch/fortran)
  list(APPEND _ptp_pc_files ptychopatch-fortran)
  set(PTYCHOPATCH_HAS_FORTRAN TRUE)
else()
  set(PTYCHOPATCH_HAS_FORTRAN FALSE)
endif()

# ---- CMake package: find_package(ptychopatch CONFIG REQUIRED)
install(EXPORT ptychopatchTargets
  NAMESPACE ptychopatch::
  DESTINATION ${PTYCHOPATCH_INSTALL_CMAKEDIR})
configure_package_config_file(cmake/ptychopatchConfig.cmake.in
  "${PROJECT_BINARY_DIR}/package/ptychopatchConfig.cmake"
  INSTALL_DESTINATION ${PTYCHOPATCH_INSTALL_CMAKEDIR})
# 0.x: the soname major is 0 and minor releases only add symbols, so any
# 0.y library serves a request for 0.x with x <= y (docs/packaging.md).
write_basic_package_version_file("${PROJECT_BINARY_DIR}/package/ptychopatchConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES "${PROJECT_BINARY_DIR}/package/ptychopatchConfig.cmake"
  "${PROJECT_BINARY_DIR}/package/ptychopatchConfigVersion.cmake"
  DESTINATION ${PTYCHOPATCH_INSTALL_CMAKEDIR})

# ---- pkg-config: ptychopatch.pc (and ptychopatch-fortran.pc)
# prefix is derived from ${pcfiledir}, the directory the .pc file is read
# from, so the files stay right under any --prefix or DESTDIR.
set(_ptp_pc_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
if(IS_ABSOLUTE "${_ptp_pc_dir}")
  message(FATAL_ERROR "ptychopatch's pkg-config files need a relative CMAKE_INSTALL_LIBDIR, "
                      "got ${CMAKE_INSTALL_LIBDIR}")
endif()
file(RELATIVE_PATH _ptp_pc_up "/prefix/${_ptp_pc_dir}" "/prefix")
set(PTYCHOPATCH_PC_PREFIX "\${pcfiledir}/${_ptp_pc_up}")
foreach(_ptp_dir_var LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_ptp_dir_var}}")
    set(PTYCHOPATCH_PC_${_ptp_dir_var} "${CMAKE_INSTALL_${_ptp_dir_var}}")
  else()
    set(PTYCHOPATCH_PC_${_ptp_dir_var} "\${prefix}/${CMAKE_INSTALL_${_ptp_dir_var}}")
  endif()
endforeach()
set(PTYCHOPATCH_PC_FMODDIR "\${prefix}/${PTYCHOPATCH_INSTALL_FORTRAN_MODDIR}")
foreach(_ptp_pc IN LISTS _ptp_pc_files)
  configure_file("cmake/${_ptp_pc}.pc.in" "${PROJECT_BINARY_DIR}/package/${_ptp_pc}.pc" @ONLY)
  install(FILES "${PROJECT_BINARY_DIR}/package/${_ptp_pc}.pc" DESTINATION ${_ptp_pc_dir})
endforeach()
