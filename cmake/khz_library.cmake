# SPDX-License-Identifier: Apache-2.0
# khz_add_library(<layer> SOURCES ... DEPS ... PRIVATE_DEPS ...)
# One static library per layer: target khz_<layer>, alias khz::<layer>, public headers in
# <layer>/include/khz/<layer>/, installed and exported.
function(khz_add_library layer)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(khz_${layer} STATIC ${ARG_SOURCES})
  add_library(khz::${layer} ALIAS khz_${layer})
  target_include_directories(khz_${layer} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  # Private dependencies are header-only or compiled in; keep them out of the exported package.
  target_link_libraries(khz_${layer} PUBLIC ${ARG_DEPS} PRIVATE $<BUILD_INTERFACE:${ARG_PRIVATE_DEPS}>)
  # Consumers need C++20 (coroutines in the public headers): carried by the exported targets.
  target_compile_features(khz_${layer} PUBLIC cxx_std_20)
  set_target_properties(khz_${layer} PROPERTIES EXPORT_NAME ${layer} OUTPUT_NAME khz_${layer})
  install(TARGETS khz_${layer} EXPORT khzTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endfunction()
