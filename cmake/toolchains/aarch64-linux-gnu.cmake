# Cross-compiling ecgcnn for 64-bit ARM Linux (the Jetson Nano's Cortex-A57,
# any ARMv8.0-A core) from an x86-64 Debian/Ubuntu host with
# g++-aarch64-linux-gnu. Usage:
#   cmake -S . -B build-arm -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
#
# Libraries (libjpeg, libpng, GoogleTest) come from Debian's arm64 packages
# installed side by side with the host's (multiarch: dpkg --add-architecture
# arm64). They live in /usr/lib/aarch64-linux-gnu, which CMake searches on its
# own once it has read the library architecture from the cross compiler, so no
# sysroot is set: a sysroot would re-root /usr/lib and hide them.
#
# The result runs on the board, or here under qemu-aarch64 with the arm64
# runtime from multiarch (libc6, libstdc++6, libgomp1 :arm64) and no -L: see
# tools/ci/aarch64_qemu.sh for why the cross toolchain's own glibc must not be
# mixed in.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(ECG_CROSS_PREFIX aarch64-linux-gnu- CACHE STRING "Cross compiler prefix")
set(CMAKE_C_COMPILER ${ECG_CROSS_PREFIX}gcc)
set(CMAKE_CXX_COMPILER ${ECG_CROSS_PREFIX}g++)

# Baseline ARMv8.0-A: the build then runs on the A57. The SDOT path is its own
# unit compiled with +dotprod and chosen at run time from HWCAP_ASIMDDP.
set(CMAKE_C_FLAGS_INIT "-march=armv8-a")
set(CMAKE_CXX_FLAGS_INIT "-march=armv8-a")

# Programs (code generators, the host's cmake helpers) from the host; never
# an x86 library or header config from the host's own arch directories.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)

# Test binaries cannot run on the host directly: gtest_discover_tests and
# try_run go through qemu when it is there.
find_program(ECG_QEMU_AARCH64 qemu-aarch64)
if(ECG_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${ECG_QEMU_AARCH64})
endif()
