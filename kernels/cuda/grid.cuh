// Grid sizing shared by the elementwise kernels: one thread per element up to
// 4096 blocks of 256, grid-stride loops beyond (a Nano holds 8 such blocks at
// once, so more blocks buy nothing but launch bookkeeping).
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"

namespace ecg {
namespace cuda {

constexpr int kElementwiseThreads = 256;

inline unsigned elementwise_blocks(long long n) {
  const long long b = (n + kElementwiseThreads - 1) / kElementwiseThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b < 4096 ? b : 4096));
}

// A kernel and its name, for launch_elementwise: ECG_KERNEL(my_kernel<true>).
#define ECG_KERNEL(...) __VA_ARGS__, #__VA_ARGS__

// Runs kernel(args...) on elementwise_blocks(n) blocks of kElementwiseThreads
// (the kernel's grid-stride loop covers n); n <= 0 launches nothing and
// succeeds. Returns the launch's error.
template <class... P, class... A>
inline cudaError_t launch_elementwise(long long n, cudaStream_t stream, void (*kernel)(P...),
                                      const char* name, A... args) {
  if (n <= 0) return cudaSuccess;
  ECG_LAUNCH_POINTER(dim3(elementwise_blocks(n)), dim3(kElementwiseThreads), 0, stream, kernel,
                     name)
  (args...);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace ecg
