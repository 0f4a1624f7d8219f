# Warning, optimisation and sanitizer flags shared by every ecgcnn target.

set(ECG_WARNING_FLAGS -Wall -Wextra -Wno-unused-parameter)

# Host languages only: nvcc (ECG_CUDA) would reject these flags.
if(ECG_NATIVE)
  add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:-march=native>)
endif()

if(ECG_SANITIZE)
  # Keep frames for readable reports; no recover so the first error fails the test.
  add_compile_options(
    "$<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=address,undefined;-fno-omit-frame-pointer;-fno-sanitize-recover=all>")
  add_link_options(-fsanitize=address,undefined)
endif()

# Release: -O3 without -ffast-math; kernels must stay comparable with the reference.
set(CMAKE_CXX_FLAGS_RELEASE "-O3 -DNDEBUG" CACHE STRING "" FORCE)

# ecg_add_isa_unit(<name> FLAGS <flags...> SOURCES <files...>)
# Compiles ISA-specific translation units with their own flags into an OBJECT
# library whose objects join the `ecg_kernels` library. Runtime dispatch decides
# whether they are ever called, so the rest of the build stays portable.
function(ecg_add_isa_unit name)
  cmake_parse_arguments(ARG "" "" "FLAGS;SOURCES" ${ARGN})
  add_library(${name} OBJECT ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${ARG_FLAGS} ${ECG_WARNING_FLAGS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_definitions(${name} PRIVATE $<TARGET_PROPERTY:ecg_kernels,INTERFACE_COMPILE_DEFINITIONS>)
  if(ECG_OPENMP)
    target_link_libraries(${name} PRIVATE OpenMP::OpenMP_CXX)
  endif()
  target_sources(ecg_kernels PRIVATE $<TARGET_OBJECTS:${name}>)
endfunction()
