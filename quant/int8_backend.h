// What the one int8 graph walk (quant/int8_runner.h) asks of a device: the
// steps of an Int8Model's nodes on the memory of one arena plan. Three
// backends implement it: the CPU int8 kernels (quant/int8_cpu_backend.h),
// and on the CUDA engine the int8 kernels and the FP16 path
// (quant/cuda/). The walk owns the order of the nodes, the float-fallback
// layers (which run on the host with the float path's kernels) and the
// checks of the input; a backend owns its packed weights and its arena.
//
// Node indices are those of the model given to prepare(); N is the batch
// of the current run (at most the max_batch given to prepare()).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "quant/arena_plan.h"

namespace ecg::quant {

class Int8Backend {
 public:
  virtual ~Int8Backend() = default;

  // "int8" or "fp16": what the activations hold (it names the runner in errors).
  virtual const char* precision() const = 0;
  // For reports: the CPU kernel ("avx2-maddubs", ...) or the device path
  // ("cuda-dp4a", "cuda-f32-exact", "cuda-fp16").
  virtual const char* path_name() const = 0;
  // The row tiling the arena plan may use; only a backend that runs row
  // groups (row_group below) returns anything but off().
  virtual RowTilingOptions row_tiling() const { return RowTilingOptions::off(); }
  // Packs the weights of every int8 conv/dense node and allocates the arena
  // of `plan` (planned for max_batch images). `m` must outlive the backend.
  virtual void prepare(const Int8Model& m, const ArenaPlan& plan, int max_batch) = 0;
  // Bytes of the activation arena (FP16: two per element of the plan).
  virtual int64_t arena_bytes() const = 0;
  // True where the host times each op itself (the CPU: OpTimer); a device
  // backend's launches time themselves.
  virtual bool host_op_timers() const { return false; }

  // images: float NCHW [N, 3, S, S] on the host, into tensor 0.
  virtual void input(const float* images, int N) = 0;
  // A conv node with its fused requantization, ReLU clamp and residual add.
  virtual void conv(int node, int N) = 0;
  virtual void max_pool(int node, int N) = 0;
  virtual void avg_pool(int node, int N) = 0;
  virtual void add(int node, int N) = 0;
  // The last dense layer: float logits [N, K] on the host.
  virtual void dense(int node, int N, float* logits) = 0;
  // The convolutions of a row group of the plan, band by band (only called
  // when row_tiling() allowed row groups; the default throws).
  virtual void row_group(const RowGroup& g, int64_t window_block, int N);
  // Checks the logits of a run (FP16: none may be inf, a half overflow).
  virtual void check_logits(const Tensor& logits) const { (void)logits; }

  // A tensor after the last step that wrote it, NHWC, as real values on the
  // host (int8: dequantized; FP16: the halves).
  virtual std::vector<float> tensor_values(int tensor, int N) const = 0;
  // Its quantized bytes (int8 backends; the default throws).
  virtual std::vector<int8_t> tensor_bytes(int tensor, int N) const;
  // A float-fallback conv node's result (float NCHW [N, K, P, Q] on the host,
  // its residual already added) into its output tensor, with the node's
  // activation: int8 quantizes and clamps as the int8 node would, FP16
  // applies the ReLU and rounds to half.
  virtual void store_float_output(int node, const float* y, int N) = 0;
};

// The last dense layer's int32 accumulators [N, K] to float logits, as every
// int8 backend computes them (s_in * s_w[k] * acc, in float, so that all
// backends give the same bits).
void scale_int8_logits(const Int8Model& m, int node, const int32_t* acc, int N, float* logits);

// The real values of `count` bytes of int8 tensor t (its scale and zero point).
std::vector<float> dequantize_tensor(const Int8Model& m, int t, const int8_t* bytes, int64_t count);

// A float-fallback conv node's result y (NCHW [N, K, P, Q]) as the int8
// backends store it: quantized to the output tensor's parameters (NHWC) and
// clamped like the int8 node (after its residual add, if any).
void quantize_float_output(const Int8Model& m, int node, const float* y, int N, int8_t* out);

}  // namespace ecg::quant
