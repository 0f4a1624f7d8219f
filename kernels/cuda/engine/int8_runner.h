// The INT8 graph of quant/ (quant::Int8Model) on the CUDA engine: the same
// nodes as quant::Int8Runner, run by the kernels of kernels/cuda
// (conv_int8.cuh, pool_int8.cuh) on device memory, so its bytes equal the CPU
// runner's byte for byte (int8_api.h's integer rule; tested on the emulator).
//
// Weights and epilogue constants are packed once, at construction
// (conv_int8_pack.h), and stay on the device. Activations live in one device
// arena planned by quant::plan_arena, as on the CPU. The path is chosen from
// the device: __dp4a on sm_61+, the exact-FP32 implicit GEMM on sm_53 (the
// Jetson Nano). The input is quantized on the host (it arrives as a float
// image there) and the last layer's int32 accumulators come back to the host
// to be scaled into float logits, exactly as the CPU runner does. A node the
// quantizer left in float runs on the host: its int8 input comes back, the
// CPU float path runs, and its int8 output goes to the device again.
//
// Sits above quant/ (like tools/): nothing in kernels/ or quant/ depends on it.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/tensor.h"

namespace ecg::quant {
struct Int8Model;
}

namespace ecg::cuda {

class Int8CudaRunner {
 public:
  // Needs the CUDA engine (install_engine). reuse_arena as quant::Int8Runner.
  explicit Int8CudaRunner(const quant::Int8Model& m, int max_batch = 1, bool reuse_arena = true);
  ~Int8CudaRunner();
  Int8CudaRunner(const Int8CudaRunner&) = delete;
  Int8CudaRunner& operator=(const Int8CudaRunner&) = delete;

  // images: float [N, 3, S, S] NCHW on any device; returns logits [N, classes] on the host.
  Tensor run(const Tensor& images);
  // Bytes of a tensor after the last run() (bit-exactness tests).
  std::vector<int8_t> tensor_bytes(int tensor_id, int batch) const;
  // "cuda-dp4a" or "cuda-f32-exact" (sm_53), for reports.
  const char* path_name() const;
  int64_t arena_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ecg::cuda
