// The INT8 graph of quant/ (quant::Int8Model) run on the CUDA engine in FP16:
// the FP16 (half2) path of sm_53 (kernels/cuda/conv_fp16.cuh, pool_fp16.cuh).
// The weights are the int8 graph's own bytes (packed once, as the int8
// runner packs them, and kept on the device as int8) with their per-channel
// scales; the activations are halves holding real values, not quantized
// bytes: the input image is rounded to half, every layer computes in half2
// with float folds (conv_fp16.cuh gives the error bound) and rounds its
// output to half once. The bias is the graph's int32 bias times its scale
// s_in * s_w; a ReLU is where the graph clamps at the real value 0 (qmin equal
// to the zero point); the int8 saturation at the top of each tensor's range
// is not applied (activations keep their real values). The logits come back
// as float.
//
// Not bit-exact with the int8 runner, by design: its results are compared
// with the float model and with a double evaluation of the same graph
// (tests/cuda_emu/test_engine_fp16.cpp). Activations live in one device arena
// planned by quant::plan_arena (two bytes per element instead of one). A node
// the quantizer left in float runs on the host, as in Int8CudaRunner.
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

class Fp16CudaRunner {
 public:
  // Needs the CUDA engine (install_engine). reuse_arena as quant::Int8Runner.
  explicit Fp16CudaRunner(const quant::Int8Model& m, int max_batch = 1, bool reuse_arena = true);
  ~Fp16CudaRunner();
  Fp16CudaRunner(const Fp16CudaRunner&) = delete;
  Fp16CudaRunner& operator=(const Fp16CudaRunner&) = delete;

  // images: float [N, 3, S, S] NCHW on any device; returns logits [N, classes] on the host.
  Tensor run(const Tensor& images);
  // A tensor after the last run(), NHWC, as floats (every value is a half).
  std::vector<float> tensor_values(int tensor_id, int batch) const;
  const char* path_name() const { return "cuda-fp16"; }
  int64_t arena_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ecg::cuda
