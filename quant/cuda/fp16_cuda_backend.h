// The int8 graph walk's CUDA FP16 backend: quant/'s Int8Model run in FP16,
// the half2 path of sm_53 (kernels/cuda/conv_fp16.cuh, pool_fp16.cuh).
// The weights are the int8 graph's own bytes (packed once, as the int8
// backend packs them, and kept on the device as int8) with their per-channel
// scales; the activations are halves holding real values, not quantized
// bytes: the input image is rounded to half, every layer computes in half2
// with float folds (conv_fp16.cuh gives the error bound) and rounds its
// output to half once. The bias is the graph's int32 bias times its scale
// s_in * s_w; a ReLU is where the graph clamps at the real value 0 (qmin equal
// to the zero point); the int8 saturation at the top of each tensor's range
// is not applied (activations keep their real values). The logits come back
// as float.
//
// Not bit-exact with the int8 backends, by design: its results are compared
// with the float model and with a double evaluation of the same graph
// (tests/cuda_emu/test_engine_fp16.cpp). Activations live in one device arena
// planned by quant::plan_arena (two bytes per element instead of one). A node
// the quantizer left in float runs on the host (the walk's float fallback).
//
// Needs the CUDA engine (core/cuda/engine.h), like the int8 backend.
#pragma once
#include <memory>

#include "quant/int8_backend.h"
#include "quant/int8_runner.h"

namespace ecg::cuda {

// A new CUDA FP16 backend (the engine is installed in prepare()).
std::unique_ptr<quant::Int8Backend> make_fp16_cuda_backend();

// The walk on the CUDA FP16 backend; reuse_arena as quant::Int8Runner.
// tensor_values() gives a tensor's halves as floats; path_name() is "cuda-fp16".
class Fp16CudaRunner : public quant::Int8GraphRunner {
 public:
  explicit Fp16CudaRunner(const quant::Int8Model& m, int max_batch = 1, bool reuse_arena = true)
      : Int8GraphRunner(m, make_fp16_cuda_backend(), max_batch, reuse_arena) {}
};

}  // namespace ecg::cuda
