# cmake -DROOT=<repo> -DFOLDER=<folder> -DALLOWED=<a,b,...> -DCODE_FOLDERS=<...>
#       -DSTAMP=<file> -P EcgCheckIncludes.cmake
# Fails (one line per offending include) when a source under ROOT/FOLDER
# includes a header of a code folder that is not in ALLOWED; writes STAMP
# when all is well. See cmake/EcgFolders.cmake.
cmake_minimum_required(VERSION 3.18)
string(REPLACE "," ";" allowed "${ALLOWED}")
list(REMOVE_ITEM allowed "")
string(REPLACE "," ";" code_folders "${CODE_FOLDERS}")
file(GLOB_RECURSE sources ${ROOT}/${FOLDER}/*.h ${ROOT}/${FOLDER}/*.cpp
     ${ROOT}/${FOLDER}/*.cuh ${ROOT}/${FOLDER}/*.cu)
set(problems OFF)
foreach(src IN LISTS sources)
  file(STRINGS ${src} includes REGEX "^[ \t]*#[ \t]*include[ \t]+\"[a-z_]+/")
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]+\"([a-z_]+)/.*" "\\1" target "${line}")
    list(FIND code_folders "${target}" is_code)
    list(FIND allowed "${target}" is_allowed)
    if(is_code GREATER -1 AND is_allowed EQUAL -1)
      file(RELATIVE_PATH rel ${ROOT} ${src})
      string(STRIP "${line}" line)
      message(NOTICE "${rel}: ${line}: ${FOLDER}/ may include only ${ALLOWED}")
      set(problems ON)
    endif()
  endforeach()
endforeach()
if(problems)
  message(FATAL_ERROR "${FOLDER}/ includes a higher floor (see docs/house.md)")
endif()
file(WRITE ${STAMP} "ok\n")
