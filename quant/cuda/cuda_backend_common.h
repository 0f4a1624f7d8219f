// What the CUDA int8 and FP16 backends (int8_cuda_backend.cpp,
// fp16_cuda_backend.cpp) share: host vectors uploaded to the engine's device
// memory, and a pool node's shape as the kernels' argument struct.
#pragma once
#include <cstdint>
#include <vector>

#include "core/allocator.h"
#include "core/tensor.h"
#include "kernels/int8_api.h"

namespace ecg::cuda {

inline Allocator& device_allocator() {
  return allocator_for(DeviceType::CUDA);
}

// A device tensor [v.size()] of dtype dt holding v's bytes.
template <class T>
Tensor upload_vector(const std::vector<T>& v, DType dt) {
  Tensor t = Tensor::empty({static_cast<int64_t>(v.size())}, dt, Device::cuda());
  if (!v.empty()) device_allocator().copy_from_host(t.raw_data(), v.data(), v.size() * sizeof(T));
  return t;
}

// PoolInt8Args or PoolFp16Args with the geometry of `s` (the rest zero).
template <class PoolArgs>
PoolArgs pool_args(const Pool2dShape& s) {
  PoolArgs a{};
  a.N = s.N, a.C = s.C, a.H = s.H, a.W = s.W, a.R = s.R, a.S = s.S;
  a.stride_h = s.stride_h, a.stride_w = s.stride_w, a.pad_top = s.pad_top;
  a.pad_left = s.pad_left, a.P = s.P, a.Q = s.Q;
  return a;
}

}  // namespace ecg::cuda
