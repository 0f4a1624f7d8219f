# One static library per folder of code, linked in floor order (docs/house.md).
#
# ecg_folder_library(<folder> [BELOW <lower folders...>])
# makes ecg_<folder> from the sources that the folder's CMakeLists.txt adds
# with target_sources(ecg_<folder> ...), links the libraries of the folders
# below it (and nothing above), and adds it to the umbrella `ecg`, which
# tools, tests and benchmarks link. Two guards keep the floors:
#  - the link (ECG_FLOOR_LINK_CHECK, GNU ld): ecg_<folder>_floor, a shared
#    object made of the whole library and linked with --no-undefined against
#    the libraries below it only, so a call from a lower folder into a higher
#    one is an undefined reference when it builds (part of `all`);
#  - the includes: before the library builds, cmake/EcgCheckIncludes.cmake
#    reads every source under the folder and fails the build on an include
#    of a folder not in BELOW (a header-only include would not reach the
#    linker). It reruns whenever a source of the folder changes.
set(ECG_CODE_FOLDERS kernels core layers optim data models train quant)

# Sanitizer and fuzzer builds leave their runtimes' symbols to the program.
if(CMAKE_SYSTEM_NAME STREQUAL "Linux" AND NOT ECG_SANITIZE AND NOT ECG_FUZZ)
  set(ECG_FLOOR_LINK_CHECK_DEFAULT ON)
else()
  set(ECG_FLOOR_LINK_CHECK_DEFAULT OFF)
endif()
option(ECG_FLOOR_LINK_CHECK "Link each folder's library alone against the floors below it"
       ${ECG_FLOOR_LINK_CHECK_DEFAULT})

function(ecg_folder_library folder)
  cmake_parse_arguments(ARG "" "" "BELOW" ${ARGN})
  set(lib ecg_${folder})
  add_library(${lib} STATIC)
  target_link_libraries(${lib} PUBLIC ecg_config)
  foreach(lower IN LISTS ARG_BELOW)
    target_link_libraries(${lib} PUBLIC ecg_${lower})
  endforeach()
  target_compile_options(${lib} PRIVATE ${ECG_WARNING_FLAGS})
  target_link_libraries(ecg INTERFACE ${lib})

  set(dir ${PROJECT_SOURCE_DIR}/${folder})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS
       ${dir}/*.h ${dir}/*.cpp ${dir}/*.cuh ${dir}/*.cu)
  set(stamp ${CMAKE_CURRENT_BINARY_DIR}/${lib}.includes-checked)
  list(JOIN ARG_BELOW "," below)
  set(allowed "${folder}")
  if(below)
    string(APPEND allowed ",${below}")
  endif()
  string(REPLACE ";" "," all "${ECG_CODE_FOLDERS}")
  add_custom_command(
    OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -DROOT=${PROJECT_SOURCE_DIR} -DFOLDER=${folder}
            -DALLOWED=${allowed} -DCODE_FOLDERS=${all} -DSTAMP=${stamp}
            -P ${PROJECT_SOURCE_DIR}/cmake/EcgCheckIncludes.cmake
    DEPENDS ${sources} ${PROJECT_SOURCE_DIR}/cmake/EcgCheckIncludes.cmake
    COMMENT "Checking that ${folder}/ includes only the floors below it"
    VERBATIM)
  target_sources(${lib} PRIVATE ${stamp})

  if(ECG_FLOOR_LINK_CHECK)
    add_library(${lib}_floor SHARED ${PROJECT_SOURCE_DIR}/cmake/floor_check.cpp)
    add_dependencies(${lib}_floor ${lib})
    target_link_libraries(${lib}_floor PRIVATE
      -Wl,--whole-archive $<TARGET_FILE:${lib}> -Wl,--no-whole-archive
      $<TARGET_PROPERTY:${lib},INTERFACE_LINK_LIBRARIES> -Wl,--no-undefined)
  endif()
endfunction()
