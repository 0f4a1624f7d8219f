// The int8 graph walk's CUDA int8 backend: the nodes of quant/'s Int8Model
// run by the kernels of kernels/cuda (conv_int8.cuh, pool_int8.cuh) on
// device memory, so its bytes equal the CPU backend's byte for byte
// (int8_api.h's integer rule; tested on the emulator).
//
// Weights and epilogue constants are packed once, in prepare()
// (conv_int8_pack.h), and stay on the device. Activations live in one device
// arena planned by quant::plan_arena, as on the CPU (without row tiling).
// The path is chosen from the device: __dp4a on sm_61+, the exact-FP32
// implicit GEMM on sm_53 (the Jetson Nano). The input is quantized on the
// host (it arrives as a float image there) and the last layer's int32
// accumulators come back to the host to be scaled into float logits, exactly
// as the CPU backend does. A node the quantizer left in float runs on the
// host (the walk's float fallback): its int8 input comes back, and its int8
// output goes to the device again.
//
// Needs the CUDA engine (core/cuda/engine.h); linked only into programs that
// have it (tools/cuda_device.cpp registers it for --device cuda).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "quant/int8_backend.h"
#include "quant/int8_runner.h"

namespace ecg::cuda {

// A new CUDA int8 backend (the engine is installed in prepare()).
std::unique_ptr<quant::Int8Backend> make_int8_cuda_backend();

// The walk on the CUDA int8 backend. reuse_arena as quant::Int8Runner;
// path_name() is "cuda-dp4a" or "cuda-f32-exact" (sm_53).
class Int8CudaRunner : public quant::Int8GraphRunner {
 public:
  explicit Int8CudaRunner(const quant::Int8Model& m, int max_batch = 1, bool reuse_arena = true)
      : Int8GraphRunner(m, make_int8_cuda_backend(), max_batch, reuse_arena) {}
};

}  // namespace ecg::cuda
