// One CUDA source, two compilers.
//
// Every kernel header in kernels/cuda/ includes this file first. Under nvcc it
// pulls in the real CUDA headers and turns the ecgcnn macros into CUDA syntax;
// under g++/clang++ (no __CUDACC__) it includes the CPU emulation layer
// (emu/emu.h) that runs the same kernel bodies on fibers, one per CUDA thread.
//
// The three macros a kernel needs:
//   ECG_LAUNCH(grid, block, smem_bytes, stream, kernel)(args...)
//       = kernel<<<grid, block, smem_bytes, stream>>>(args...). The kernel
//       comes last so that template arguments with commas need no parentheses.
//   ECG_LAUNCH_POINTER(grid, block, smem_bytes, stream, kernel_pointer, name)(args...)
//       the same through a pointer to the kernel, with the kernel's name for
//       the emulator's reports (grid.cuh's launch_elementwise).
//   ECG_DYNAMIC_SHARED(T, name)   declares `T* name` pointing at the dynamic
//       shared memory of the launch (16-byte aligned).
//   ECG_CUDA_ARCH / ECG_CUDA_HAS_DP4A   the architecture of the code being
//       compiled: __CUDA_ARCH__ in nvcc's device pass, 0 in nvcc's host pass,
//       ECG_EMU_ARCH (default 530, the Jetson Nano) in the emulator.
//       sm_53 paths go under `#if !ECG_CUDA_HAS_DP4A`. __CUDA_ARCH__ itself is
//       never defined on the host: NVIDIA's headers would turn into device code.
// And one for static shared memory, because the emulator must hand every
// block fresh, poisoned storage that a plain `__shared__` local cannot get:
//   ECG_SHARED(T, name)   = `__shared__ T name;` (T may be an array type,
//       e.g. ECG_SHARED(float[16][17], tile)).
#pragma once

#if defined(__CUDACC__)

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace ecg_cuda {
// Lets ECG_SHARED take array types: identity_t<float[4][4]> name; declares an array.
template <class T>
using identity_t = T;
}  // namespace ecg_cuda

#define ECG_LAUNCH(grid, block, smem, stream, ...) __VA_ARGS__<<<grid, block, smem, stream>>>
#define ECG_LAUNCH_POINTER(grid, block, smem, stream, kernel, name) \
  (*(kernel))<<<grid, block, smem, stream>>>
#define ECG_DYNAMIC_SHARED(T, name)                                   \
  extern __shared__ __align__(16) unsigned char ecg_dynsmem_##name[]; \
  T* name = reinterpret_cast<T*>(ecg_dynsmem_##name)
#define ECG_SHARED(T, name) __shared__ ::ecg_cuda::identity_t<T> name

#if defined(__CUDA_ARCH__)
#define ECG_CUDA_ARCH __CUDA_ARCH__
#else
#define ECG_CUDA_ARCH 0  // nvcc host pass: device bodies generate no host code
#endif

#elif defined(ECG_CUDA_HOST_ONLY)

// Host code of a GPU build: a g++ translation unit beside the nvcc ones (the
// int8 runner's C++17 part, quant/cuda/int8_cuda_backend.cpp) that needs the kernels'
// argument types (kernels/cuda/int8_args.h, fast_divmod.cuh) but launches
// nothing itself. The real runtime's headers give __host__, __device__ and
// cudaError_t; ECG_LAUNCH and the shared-memory macros stay undefined, so a
// kernel header included here fails to compile instead of running elsewhere.
#include <cuda_runtime.h>

#define ECG_CUDA_ARCH 0

#else  // host compiler: the emulator

#include "kernels/cuda/emu/emu.h"

#define ECG_LAUNCH(grid, block, smem, stream, ...) \
  ::ecg::cuda_emu::make_launch(&(__VA_ARGS__), #__VA_ARGS__, grid, block, smem, stream)
#define ECG_LAUNCH_POINTER(grid, block, smem, stream, kernel, name) \
  ::ecg::cuda_emu::make_launch(kernel, name, grid, block, smem, stream)
#define ECG_DYNAMIC_SHARED(T, name) \
  T* name = reinterpret_cast<T*>(::ecg::cuda_emu::detail::dynamic_shared_memory())
#define ECG_SHARED(T, name)                                                                   \
  static char ecg_shared_site_##name;                                                         \
  ::ecg_cuda::identity_t<T>& name =                                                           \
      *static_cast<::ecg_cuda::identity_t<T>*>(::ecg::cuda_emu::detail::static_shared_memory( \
          &ecg_shared_site_##name, sizeof(T), alignof(T), #name))
#define ECG_CUDA_ARCH ECG_EMU_ARCH

#endif

#define ECG_CUDA_HAS_DP4A (ECG_CUDA_ARCH >= 610)
