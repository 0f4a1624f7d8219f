// The in-bounds taps of one convolution or pooling window, shared by the
// scalar references (kernels/ref/) and the CUDA kernels (kernels/cuda/, nvcc
// and the host emulator alike), so that the window arithmetic is written once.
//
// Output position (p, q) of a window R x S with strides and top/left padding
// covers input rows h = p*stride_h - pad_top + r and columns
// v = q*stride_w - pad_left + t; padding taps (outside [0, H) x [0, W)) are
// skipped, which is how every kernel here treats padding (never wins a max,
// adds nothing to a sum, not counted in an average's divisor).
//
// C++14 (nvcc for the Nano's CUDA 10.2 reads this too); no CUDA headers, so a
// plain host translation unit can include it.
#pragma once

#if defined(__CUDACC__)
#define ECG_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define ECG_HOST_DEVICE inline
#endif

namespace ecg {

// Calls visit(r, t, h, v) for every in-bounds tap of output (p, q), rows outer,
// columns inner. Shape: any struct with the fields R, S, stride_h, stride_w,
// pad_top, pad_left, H, W (Conv2dShape, Pool2dShape, the CUDA argument structs).
// The visitor may be a device lambda: the check that a host-device function
// calls only host-device code is off for this template (it is instantiated
// from device code only with device visitors).
#if defined(__CUDACC__)
#pragma nv_exec_check_disable
#endif
template <class Shape, class Visit>
ECG_HOST_DEVICE void for_each_window_tap(const Shape& s, int p, int q, Visit&& visit) {
  for (int r = 0; r < s.R; ++r) {
    const int h = p * s.stride_h - s.pad_top + r;
    if (h < 0 || h >= s.H) continue;
    for (int t = 0; t < s.S; ++t) {
      const int v = q * s.stride_w - s.pad_left + t;
      if (v < 0 || v >= s.W) continue;
      visit(r, t, h, v);
    }
  }
}

}  // namespace ecg
