// nvcc translation unit of the float convolution kernels (text in
// conv2d.cuh, shared with the CPU emulator). Non-inline entry points so that
// the compile matrix reports every kernel's registers and shared memory.
#include "kernels/cuda/conv2d.cuh"

namespace ecg {
namespace cuda {

cudaError_t conv2d_forward_entry(const Conv2dShape& s, const float* x, const float* w,
                                 const float* bias, float* y, cudaStream_t stream) {
  return conv2d_forward(s, x, w, bias, y, stream);
}

cudaError_t conv2d_forward_fused_entry(const Conv2dShape& s, const float* x, const float* w,
                                       const float* scale, const float* bias, const float* residual,
                                       bool relu, float* y, cudaStream_t stream) {
  return conv2d_forward_fused(s, x, w, scale, bias, residual, relu, y, stream);
}

cudaError_t conv2d_backward_data_entry(const Conv2dShape& s, const float* dy, const float* w,
                                       float* dx, cudaStream_t stream) {
  return conv2d_backward_data(s, dy, w, dx, stream);
}

cudaError_t conv2d_backward_weights_entry(const Conv2dShape& s, const float* x, const float* dy,
                                          float* dw, float* db, float* workspace,
                                          cudaStream_t stream) {
  return conv2d_backward_weights(s, x, dy, dw, db, workspace, stream);
}

}  // namespace cuda
}  // namespace ecg
