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

}  // namespace cuda
}  // namespace ecg
