// The one int8 graph walk: runs an Int8Model's nodes in order on a backend
// (quant/int8_backend.h): the CPU int8 kernels, or on the CUDA engine its
// int8 kernels or the FP16 path. The walk plans the arena, quantizes the
// input through the backend, calls one backend step per node (a row group
// of the plan as one step), and runs the float-fallback layers on the host
// with the float path's kernels: dequantized input(s) -> float conv or dense
// -> (+ residual) -> the backend stores the result with the node's
// activation. The logits come back as float [N, classes] on the host.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/int8_api.h"
#include "quant/arena_plan.h"
#include "quant/int8_backend.h"
#include "quant/int8_cpu_backend.h"
#include "quant/int8_model.h"

namespace ecg::quant {

class Int8GraphRunner {
 public:
  // reuse_arena=false gives every tensor its own bytes, so all of them can be
  // read after run() (per-layer reports, bit-exactness tests); true plans
  // with lifetimes, in-place residual adds and the backend's row tiling.
  // `m` must outlive the runner.
  Int8GraphRunner(const Int8Model& m, std::unique_ptr<Int8Backend> backend, int max_batch = 1,
                  bool reuse_arena = true);
  // Virtual: make_int8_runner hands out an Int8Runner (which adds members)
  // through a pointer to this class.
  virtual ~Int8GraphRunner() = default;
  Int8GraphRunner(const Int8GraphRunner&) = delete;
  Int8GraphRunner& operator=(const Int8GraphRunner&) = delete;

  // images: float [N, 3, S, S] NCHW (already preprocessed) on any device;
  // returns logits [N, classes] on the host.
  Tensor run(const Tensor& images);
  // Quantized bytes of a tensor after the last run() (int8 backends).
  std::vector<int8_t> tensor_bytes(int tensor_id, int batch) const {
    return backend_->tensor_bytes(tensor_id, batch);
  }
  // A tensor after the last run(), NHWC, as real values.
  std::vector<float> tensor_values(int tensor_id, int batch) const {
    return backend_->tensor_values(tensor_id, batch);
  }
  const ArenaPlan& plan() const { return plan_; }
  const Int8Model& model() const { return model_; }
  // The backend's kernel or device path, for reports.
  const char* path_name() const { return backend_->path_name(); }
  int64_t arena_bytes() const { return backend_->arena_bytes(); }

 private:
  const Int8Model& model_;
  std::unique_ptr<Int8Backend> backend_;
  int max_batch_;
  ArenaPlan plan_;

  void run_node(int i, int N, float* logits);
  void run_float_node(int i, int N, float* logits);
};

// The graph on the CPU's int8 kernels (weights packed once for `kernel`),
// with row tiling (by default one slab per thread) when the arena is reused.
class Int8Runner : public Int8GraphRunner {
 public:
  Int8Runner(const Int8Model& m, int8::Int8Kernel kernel = int8::best_int8_kernel(),
             int max_batch = 1, bool reuse_arena = true,
             const RowTilingOptions& rt = RowTilingOptions::per_thread());
  int8::Int8Kernel kernel() const { return kernel_; }

 private:
  int8::Int8Kernel kernel_;
};

// Where an int8 model runs: the device ("cpu", "cuda") and the arithmetic
// ("int8", or "fp16" on cuda), as the CLI's --device and --precision name them.
struct Int8Target {
  std::string device = "cpu";
  std::string precision = "int8";
};

// Backends other than the CPU's int8 kernels are registered by the program
// that links them (tools/cuda_device.cpp registers the CUDA engine's), so a
// build without CUDA links without them.
using Int8BackendFactory = std::unique_ptr<Int8Backend> (*)();
void register_int8_backend(const Int8Target& target, Int8BackendFactory factory);

// The runner for `target`: {"cpu", "int8"} is the CPU's best int8 kernel
// (row tiling, arena reuse); any other target must have been registered, or
// it is an error naming the device.
std::unique_ptr<Int8GraphRunner> make_int8_runner(const Int8Model& m, const Int8Target& target,
                                                  int max_batch = 1);

}  // namespace ecg::quant
