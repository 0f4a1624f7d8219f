// The CUDA engine's text (see engine.h): included by exactly one translation
// unit per build, engine.cu (nvcc) or engine_emu.cpp (the CPU emulator),
// because the kernel headers it includes define their __global__ functions.
//
// Streams: the engine queues every kernel, copy and fill on one stream of its
// own. Copies to the host wait for it (the caller reads the bytes next);
// copies from the host wait too, because the caller may free its buffer as
// soon as the copy returns. Blocks freed to the caching allocator are reused
// by later work on the same stream, so stream order makes reuse safe without
// events. On the emulator every call completes before it returns.
//
// Errors: a failing CUDA call or launch becomes an ecg::Error naming the op
// and the CUDA error, so the CLI prints it on one line like any other error.
//
// The op-table entries keep the CPU signatures of kernels/kernel_api.h
// (device pointers in, device pointers out) and add the engine's stream.
// Not registered: sgemm (the engine's ops call no GEMM directly) and dropout
// (its mask is drawn on the host; core/ops.cpp runs it there).
#pragma once

#include "kernels/cuda/emu/cuda_compat.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/caching_allocator.h"
#include "core/cuda/engine.h"
#include "kernels/cuda/batch_norm.cuh"
#include "kernels/cuda/conv2d.cuh"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/l2_penalty.cuh"
#include "kernels/cuda/linear.cuh"
#include "kernels/cuda/pool.cuh"
#include "kernels/cuda/softmax_xent.cuh"
#include "kernels/op_table.h"

namespace ecg {
namespace cuda {
namespace engine_detail {

struct EngineState {
  std::mutex mu;
  bool installed = false;
  cudaStream_t stream = nullptr;
  int device = 0;
  int compute_capability = 0;
  std::string name;
};

inline EngineState& state() {
  static EngineState* s = new EngineState();  // leaked: tensors may outlive statics
  return *s;
}

inline cudaStream_t stream() {
  return state().stream;
}

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    fail("cuda: ", what, " failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ")");
}

// ---- the caching device allocator ------------------------------------------

// The size-class cache of core/caching_allocator.h (shared with the CPU
// allocator, bound included) over cudaMalloc/cudaFree. cudaMalloc is slow and
// synchronises the device, so a training step must not call it once the cache
// is warm. Classes are multiples of 512 bytes up to 8 KiB (cudaMalloc rounds
// small blocks up to at least that anyway), then four steps per power of two.
// Under AddressSanitizer the cache is off, as on the CPU: on the emulator
// device memory is host memory, and ASan then sees every use after free and
// overflow of a kernel against the exact allocation size.
class DeviceCachingAllocator final : public CachingAllocator {
 public:
  DeviceCachingAllocator() : CachingAllocator(512, 8192) {}

  void copy_to_host(void* dst, const void* src, size_t n) const override {
    if (n == 0) return;
    check(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, stream()), "copy to host");
    check(cudaStreamSynchronize(stream()), "copy to host (synchronize)");
  }
  void copy_from_host(void* dst, const void* src, size_t n) const override {
    if (n == 0) return;
    check(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, stream()), "copy from host");
    check(cudaStreamSynchronize(stream()), "copy from host (synchronize)");
  }
  void copy_on_device(void* dst, const void* src, size_t n) const override {
    if (n == 0) return;
    check(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, stream()), "device copy");
  }
  void memset_zero(void* dst, size_t n) const override {
    if (n == 0) return;
    check(cudaMemsetAsync(dst, 0, n, stream()), "memset");
  }

 protected:
  void* system_allocate(size_t bytes) override {
    void* p = nullptr;
    last_error_ = cudaMalloc(&p, bytes);
    if (last_error_ == cudaSuccess) return p;
    (void)cudaGetLastError();  // clear the sticky error; the cache is emptied and this retried
    return nullptr;
  }
  void system_free(void* p) override { check(cudaFree(p), "cudaFree"); }  // synchronises first
  [[noreturn]] void out_of_memory(size_t nbytes, size_t bytes_in_use) override {
    fail("out of memory allocating ", nbytes, " bytes on cuda:0 (", cudaGetErrorString(last_error_),
         "; ", bytes_in_use, " bytes in use)");
  }

 private:
  cudaError_t last_error_ = cudaSuccess;  // of the last cudaMalloc, under the cache's lock
};

inline Allocator& device_allocator() {
  return allocator_for(DeviceType::CUDA);
}

// Scratch memory of one op from the caching allocator (a workspace, the
// one-float loss), returned when the op is done; stream order keeps a reuse
// by the next op safe.
class Scratch {
 public:
  explicit Scratch(size_t bytes)
      : bytes_(bytes), p_(bytes ? device_allocator().allocate(bytes) : nullptr) {}
  ~Scratch() {
    if (p_) device_allocator().deallocate(p_, bytes_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T>
  T* get() const {
    return static_cast<T*>(p_);
  }

 private:
  size_t bytes_;
  void* p_;
};

// ---- op-table entries (signatures of kernels/kernel_api.h) -------------------

void conv2d_forward_op(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                       float* y) {
  check(conv2d_forward(s, x, w, bias, y, stream()), "conv2d_forward");
}

void conv2d_backward_data_op(const Conv2dShape& s, const float* dy, const float* w, float* dx) {
  check(conv2d_backward_data(s, dy, w, dx, stream()), "conv2d_backward_data");
}

void conv2d_backward_weights_op(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                                float* db) {
  const long long floats = conv2d_backward_weights_workspace(s);
  Scratch work(static_cast<size_t>(floats > 0 ? floats : 0) * sizeof(float));
  check(conv2d_backward_weights(s, x, dy, dw, db, work.get<float>(), stream()),
        "conv2d_backward_weights");
}

void batch_norm_forward_train_op(const BatchNormShape& s, const float* x, const float* gamma,
                                 const float* beta, float eps, bool fuse_relu, float* y,
                                 float* save_mean, float* save_invstd, float* batch_var) {
  check(batch_norm_forward_train(s, x, gamma, beta, eps, fuse_relu, y, save_mean, save_invstd,
                                 batch_var, stream()),
        "batch_norm_forward_train");
}

void batch_norm_forward_eval_op(const BatchNormShape& s, const float* x, const float* gamma,
                                const float* beta, const float* running_mean,
                                const float* running_var, float eps, bool fuse_relu, float* y) {
  check(batch_norm_forward_eval(s, x, gamma, beta, running_mean, running_var, eps, fuse_relu, y,
                                stream()),
        "batch_norm_forward_eval");
}

void batch_norm_backward_op(const BatchNormShape& s, const float* x, const float* y,
                            const float* dy, const float* gamma, const float* save_mean,
                            const float* save_invstd, bool fuse_relu, float* dx, float* dgamma,
                            float* dbeta) {
  check(batch_norm_backward(s, x, y, dy, gamma, save_mean, save_invstd, fuse_relu, dx, dgamma,
                            dbeta, stream()),
        "batch_norm_backward");
}

void batch_norm_update_running_op(int C, double momentum, double unbias, const float* batch_mean,
                                  const float* batch_var, float* running_mean, float* running_var) {
  check(batch_norm_update_running(C, momentum, unbias, batch_mean, batch_var, running_mean,
                                  running_var, stream()),
        "batch_norm_update_running");
}

void relu_forward_op(int64_t n, const float* x, float* y) {
  check(relu_forward(n, x, y, stream()), "relu_forward");
}

void relu_backward_op(int64_t n, const float* y, const float* dy, float* dx) {
  check(relu_backward(n, y, dy, dx, stream()), "relu_backward");
}

void leaky_relu_forward_op(int64_t n, const float* x, float negative_slope, float* y) {
  check(leaky_relu_forward(n, x, negative_slope, y, stream()), "leaky_relu_forward");
}

void leaky_relu_backward_op(int64_t n, const float* x, const float* dy, float negative_slope,
                            float* dx) {
  check(leaky_relu_backward(n, x, dy, negative_slope, dx, stream()), "leaky_relu_backward");
}

void add_forward_op(int64_t n, const float* a, const float* b, float* y) {
  check(add_forward(n, a, b, y, stream()), "add_forward");
}

void max_pool_forward_op(const Pool2dShape& s, const float* x, float* y, int32_t* argmax) {
  check(max_pool_forward(s, x, y, argmax, stream()), "max_pool_forward");
}

void max_pool_backward_op(const Pool2dShape& s, const float* dy, const int32_t* argmax, float* dx) {
  check(max_pool_backward(s, dy, argmax, dx, stream()), "max_pool_backward");
}

void avg_pool_forward_op(const Pool2dShape& s, const float* x, float* y) {
  check(avg_pool_forward(s, x, y, stream()), "avg_pool_forward");
}

void avg_pool_backward_op(const Pool2dShape& s, const float* dy, float* dx) {
  check(avg_pool_backward(s, dy, dx, stream()), "avg_pool_backward");
}

void global_avg_pool_forward_op(int N, int C, int HW, const float* x, float* y) {
  check(global_avg_pool_forward(N, C, HW, x, y, stream()), "global_avg_pool_forward");
}

void global_avg_pool_backward_op(int N, int C, int HW, const float* dy, float* dx) {
  check(global_avg_pool_backward(N, C, HW, dy, dx, stream()), "global_avg_pool_backward");
}

void linear_forward_op(int N, int in, int out, const float* x, const float* w, const float* b,
                       float* y) {
  check(linear_forward(N, in, out, x, w, b, y, stream()), "linear_forward");
}

void linear_backward_data_op(int N, int in, int out, const float* dy, const float* w, float* dx) {
  check(linear_backward_data(N, in, out, dy, w, dx, stream()), "linear_backward_data");
}

void linear_backward_weights_op(int N, int in, int out, const float* x, const float* dy, float* dw,
                                float* db) {
  check(linear_backward_weights(N, in, out, x, dy, dw, db, stream()), "linear_backward_weights");
}

// The loss is one float of device memory that comes back to the host: the
// op's contract returns it (the training loop reads it every step anyway).
float softmax_cross_entropy_forward_op(int N, int classes, const float* logits, const float* target,
                                       const float* class_weight, float* probs) {
  Scratch loss(sizeof(float));
  check(softmax_xent_forward(N, classes, logits, target, class_weight, probs, loss.get<float>(),
                             stream()),
        "softmax_cross_entropy_forward");
  float host = 0.f;
  device_allocator().copy_to_host(&host, loss.get<float>(), sizeof(float));
  return host;
}

void softmax_cross_entropy_backward_op(int N, int classes, const float* probs, const float* target,
                                       const float* class_weight, float dloss, float* dlogits) {
  check(softmax_xent_backward(N, classes, probs, target, class_weight, dloss, dlogits, stream()),
        "softmax_cross_entropy_backward");
}

// The penalty's value comes back to the host like the loss's.
float l2_penalty_forward_op(int64_t n, const float* w, float lambda) {
  Scratch value(sizeof(float));
  check(l2_penalty_forward(n, w, lambda, value.get<float>(), stream()), "l2_penalty_forward");
  float host = 0.f;
  device_allocator().copy_to_host(&host, value.get<float>(), sizeof(float));
  return host;
}

void l2_penalty_backward_op(int64_t n, const float* w, float lambda, float dloss, float* dw) {
  check(l2_penalty_backward(n, w, lambda, dloss, dw, stream()), "l2_penalty_backward");
}

void adam_update_op(int64_t n, const AdamParams& p, float* param, const float* grad, float* m,
                    float* v) {
  check(adam_update(n, p, param, grad, m, v, stream()), "adam_update");
}

void sgd_update_op(int64_t n, const SgdParams& p, float* param, const float* grad,
                   float* momentum_buf) {
  check(sgd_update(n, p, param, grad, momentum_buf, stream()), "sgd_update");
}

}  // namespace engine_detail

bool engine_installed() {
  std::lock_guard<std::mutex> lock(engine_detail::state().mu);
  return engine_detail::state().installed;
}

std::string engine_device_name() {
  return engine_detail::state().name;
}

int engine_compute_capability() {
  return engine_detail::state().compute_capability;
}

void* engine_stream_handle() {
  return static_cast<void*>(engine_detail::stream());
}

int engine_device_index() {
  return engine_detail::state().device;
}

void engine_synchronize() {
  if (engine_installed())
    engine_detail::check(cudaStreamSynchronize(engine_detail::stream()), "synchronize");
}

#if defined(ECG_CUDA_CUBLAS)
void install_cublas_gemm(OpTable& t);  // engine_cublas.cuh
#endif

bool install_engine(std::string* why) {
  using namespace engine_detail;
  EngineState& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  if (st.installed) return true;
  // ECG_CUDA_GEMM=cublas: the optional cuBLAS GEMMs (engine_cublas.cuh, GPU build only).
  const char* gemm = std::getenv("ECG_CUDA_GEMM");
  const bool cublas = gemm && std::strcmp(gemm, "cublas") == 0;
  if (gemm && *gemm && !cublas && std::strcmp(gemm, "own") != 0)
    fail("ECG_CUDA_GEMM must be 'own' or 'cublas', got '", gemm, "'");
#if !defined(ECG_CUDA_CUBLAS)
  if (cublas) fail("ECG_CUDA_GEMM=cublas: this build has no cuBLAS (only the nvcc build links it)");
#endif
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    if (why)
      *why = e != cudaSuccess ? std::string("no CUDA device found (") + cudaGetErrorString(e) + ")"
                              : std::string("no CUDA device found");
    (void)cudaGetLastError();
    return false;
  }
  // Under mpirun, the ranks of one machine take its GPUs in turn (NCCL needs
  // one GPU per rank; with fewer GPUs than ranks they share, through MPI).
  st.device = 0;
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
    if (const char* v = std::getenv(var)) {
      st.device = std::max(0, std::atoi(v)) % count;
      break;
    }
  cudaDeviceProp prop;
  check(cudaSetDevice(st.device), "cudaSetDevice");
  check(cudaGetDeviceProperties(&prop, st.device), "cudaGetDeviceProperties");
  st.compute_capability = prop.major * 10 + prop.minor;
  st.name = prop.name;
  check(cudaStreamCreateWithFlags(&st.stream, cudaStreamNonBlocking), "cudaStreamCreate");
  // Leaked on purpose, like the CPU allocator: tensors held by static
  // objects may be freed after function-local statics are destroyed.
  register_allocator(DeviceType::CUDA, new DeviceCachingAllocator());
  register_cuda_kernels(ops());
#if defined(ECG_CUDA_CUBLAS)
  if (cublas) install_cublas_gemm(ops());
#endif
  st.installed = true;
  return true;
}

}  // namespace cuda

// Declared in kernels/op_table.h: the CUDA column of the op table, one entry per
// op that kernels/cuda implements (at the lowest ISA level, so that every CPU
// level finds it).
void register_cuda_kernels(OpTable& t) {
  using namespace cuda::engine_detail;
  const DeviceType d = DeviceType::CUDA;
  const Isa any = Isa::Ref;
  t.conv2d_forward.set(d, any, conv2d_forward_op);
  t.conv2d_backward_data.set(d, any, conv2d_backward_data_op);
  t.conv2d_backward_weights.set(d, any, conv2d_backward_weights_op);
  t.batch_norm_forward_train.set(d, any, batch_norm_forward_train_op);
  t.batch_norm_forward_eval.set(d, any, batch_norm_forward_eval_op);
  t.batch_norm_backward.set(d, any, batch_norm_backward_op);
  t.batch_norm_update_running.set(d, any, batch_norm_update_running_op);
  t.relu_forward.set(d, any, relu_forward_op);
  t.relu_backward.set(d, any, relu_backward_op);
  t.leaky_relu_forward.set(d, any, leaky_relu_forward_op);
  t.leaky_relu_backward.set(d, any, leaky_relu_backward_op);
  t.add_forward.set(d, any, add_forward_op);
  t.max_pool_forward.set(d, any, max_pool_forward_op);
  t.max_pool_backward.set(d, any, max_pool_backward_op);
  t.avg_pool_forward.set(d, any, avg_pool_forward_op);
  t.avg_pool_backward.set(d, any, avg_pool_backward_op);
  t.global_avg_pool_forward.set(d, any, global_avg_pool_forward_op);
  t.global_avg_pool_backward.set(d, any, global_avg_pool_backward_op);
  t.linear_forward.set(d, any, linear_forward_op);
  t.linear_backward_data.set(d, any, linear_backward_data_op);
  t.linear_backward_weights.set(d, any, linear_backward_weights_op);
  t.softmax_cross_entropy_forward.set(d, any, softmax_cross_entropy_forward_op);
  t.softmax_cross_entropy_backward.set(d, any, softmax_cross_entropy_backward_op);
  t.l2_penalty_forward.set(d, any, l2_penalty_forward_op);
  t.l2_penalty_backward.set(d, any, l2_penalty_backward_op);
  t.adam_update.set(d, any, adam_update_op);
  t.sgd_update.set(d, any, sgd_update_op);
}

}  // namespace ecg
