# SPDX-License-Identifier: Apache-2.0
# khz_add_library(<name> SOURCES ... DEPS ... PRIVATE_DEPS ...)
# One static library per folder: target khz_<name>, alias khz::<name>, installed and exported.
# A layer (common, transport, protocol, ...) has its public headers in
# <layer>/include/khz/<layer>/, installed with it. A part of a layer in a subfolder of its own
# (transport_netpoll for transport/netpoll/, protocol_http1 for protocol/http1/, ...) is
# declared in the layer's CMakeLists.txt, has no include/ of its own, and reaches the layer's
# headers through its DEPS.
function(khz_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(khz_${name} STATIC ${ARG_SOURCES})
  add_library(khz::${name} ALIAS khz_${name})
  if(IS_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/khz/${name})
    target_include_directories(khz_${name} PUBLIC
      $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
    install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  endif()
  # Private dependencies are header-only or compiled in; keep them out of the exported package.
  target_link_libraries(khz_${name} PUBLIC ${ARG_DEPS} PRIVATE $<BUILD_INTERFACE:${ARG_PRIVATE_DEPS}>)
  # Consumers need C++20 (coroutines in the public headers): carried by the exported targets.
  target_compile_features(khz_${name} PUBLIC cxx_std_20)
  set_target_properties(khz_${name} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME khz_${name})
  install(TARGETS khz_${name} EXPORT khzTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
endfunction()

# khz_add_middleware(<name> SOURCES ... [PRIVATE_DEPS ...])
# One middleware (middleware/<name>/): target khz_mw_<name>, alias khz::mw_<name>, built on
# the app layer's public API only (it links khz::app and nothing private). Its public header is
# middleware/<name>/include/khz/middleware/<name>.h, included as <khz/middleware/<name>.h>.
function(khz_add_middleware name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PRIVATE_DEPS" ${ARGN})
  add_library(khz_mw_${name} STATIC ${ARG_SOURCES})
  add_library(khz::mw_${name} ALIAS khz_mw_${name})
  target_include_directories(khz_mw_${name} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  target_link_libraries(khz_mw_${name} PUBLIC khz::app PRIVATE $<BUILD_INTERFACE:${ARG_PRIVATE_DEPS}>)
  target_compile_features(khz_mw_${name} PUBLIC cxx_std_20)
  set_target_properties(khz_mw_${name} PROPERTIES EXPORT_NAME mw_${name} OUTPUT_NAME khz_mw_${name})
  install(TARGETS khz_mw_${name} EXPORT khzTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  # Every middleware is part of the umbrella target.
  target_link_libraries(khz INTERFACE khz_mw_${name})
endfunction()
