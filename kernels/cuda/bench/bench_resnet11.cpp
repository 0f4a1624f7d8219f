// Times the CUDA convolutions on the ResNet-11 layers (batch 1, 224x224) on a
// real GPU: float implicit GEMM forward, and the int8 convolution on its
// exact-FP32 path and, from sm_61, its __dp4a path. Median of 20 runs after 3
// warm-ups, with CUDA events. Prints markdown rows for bench/RESULTS.md.
//
// Built and run only by tools/ci/cuda_gpu_check.sh (nvcc -x cu; a .cpp so
// that the compile matrix, which builds every .cu for sm_53 in C++14, skips
// this host program). Inputs are arbitrary bytes: the timing does not depend
// on the values, correctness is the tests' job.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernels/cuda/bench/bench_timing.h"
#include "kernels/cuda/conv2d.cuh"
#include "kernels/cuda/conv_int8.cuh"

namespace {

struct Layer {
  const char* name;
  int C, H, K, R, stride;
};
const Layer kLayers[] = {
    {"stem 3x3 3->16", 3, 224, 16, 3, 1},
    {"s0 conv1 3x3 16->16", 16, 224, 16, 3, 1},
    {"s0 conv2 3x3 16->64", 16, 224, 64, 3, 1},
    {"s0 shortcut 1x1 16->64", 16, 224, 64, 1, 1},
    {"s1 conv1 3x3/2 64->64", 64, 224, 64, 3, 2},
    {"s1 conv2 3x3 64->128", 64, 112, 128, 3, 1},
    {"s1 shortcut 1x1/2 64->128", 64, 224, 128, 1, 2},
    {"s2 conv1 3x3/2 128->128", 128, 112, 128, 3, 2},
    {"s2 conv2 3x3 128->256", 128, 56, 256, 3, 1},
    {"s2 shortcut 1x1/2 128->256", 128, 112, 256, 1, 2},
};

}  // namespace

int main() {
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, 0));
  const int cc = prop.major * 10 + prop.minor;
  std::printf("device: %s (sm_%d), %d SMs\n\n", prop.name, cc, prop.multiProcessorCount);
  std::printf("| layer | GFLOP | float ms | GFLOP/s | int8 exact-FP32 ms | int8 dp4a ms |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  double total_f = 0, total_i = 0, total_d = 0;
  for (const Layer& l : kLayers) {
    ecg::Conv2dShape s;
    s.N = 1, s.C = l.C, s.H = l.H, s.W = l.H, s.K = l.K, s.R = l.R, s.S = l.R;
    s.stride_h = s.stride_w = l.stride;
    ecg::tf_same_padding(l.H, l.R, l.stride, s.pad_top, s.pad_bottom);
    ecg::tf_same_padding(l.H, l.R, l.stride, s.pad_left, s.pad_right);
    ecg::conv2d_finalize(s);
    const size_t nx = static_cast<size_t>(s.C) * s.H * s.W,
                 nw = static_cast<size_t>(s.K) * s.C * s.R * s.S;
    const size_t ny = static_cast<size_t>(s.K) * s.P * s.Q;
    float *x, *w, *b, *y;
    CHECK(cudaMalloc(&x, nx * 4));
    CHECK(cudaMalloc(&w, nw * 4));
    CHECK(cudaMalloc(&b, s.K * 4));
    CHECK(cudaMalloc(&y, ny * 4));
    CHECK(cudaMemset(x, 0, nx * 4));
    CHECK(cudaMemset(w, 0, nw * 4));
    CHECK(cudaMemset(b, 0, s.K * 4));
    const float tf = median_ms([&] { return ecg::cuda::conv2d_forward(s, x, w, b, y, nullptr); });

    // int8: arbitrary packed weights, bias 0, one multiplier for every channel.
    ecg::cuda::ConvInt8Args a{};
    a.N = 1, a.C = s.C, a.H = s.H, a.W = s.W, a.K = s.K, a.R = s.R, a.S = s.S;
    a.stride_h = s.stride_h, a.stride_w = s.stride_w, a.pad_top = s.pad_top,
    a.pad_left = s.pad_left;
    a.P = s.P, a.Q = s.Q, a.Cp = (s.C + 3) / 4 * 4, a.zp_out = 0, a.qmin = -128, a.qmax = 127;
    signed char *x8, *w8, *y8;
    int *bias, *m0, *shift;
    const size_t nw8 = static_cast<size_t>(s.K) * s.R * s.S * a.Cp;
    CHECK(cudaMalloc(&x8, nx));
    CHECK(cudaMalloc(&w8, nw8));
    CHECK(cudaMalloc(&y8, ny));
    CHECK(cudaMalloc(&bias, s.K * 4));
    CHECK(cudaMalloc(&m0, s.K * 4));
    CHECK(cudaMalloc(&shift, s.K * 4));
    CHECK(cudaMemset(x8, 1, nx));
    CHECK(cudaMemset(w8, 1, nw8));
    CHECK(cudaMemset(bias, 0, s.K * 4));
    std::vector<int> m0h(s.K, 1 << 30), shifth(s.K, 40);
    CHECK(cudaMemcpy(m0, m0h.data(), s.K * 4, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(shift, shifth.data(), s.K * 4, cudaMemcpyHostToDevice));
    a.w = w8, a.bias = bias, a.m0 = m0, a.shift = shift;
    void* ws = nullptr;
    const long long ws_bytes =
        ecg::cuda::conv_int8_workspace_bytes(a, ecg::cuda::ConvInt8Path::kF32);
    if (ws_bytes > 0) CHECK(cudaMalloc(&ws, static_cast<size_t>(ws_bytes)));
    const float ti = median_ms([&] {
      return ecg::cuda::conv_int8(a, ecg::cuda::ConvInt8Path::kF32, cc, x8, y8, nullptr, ws,
                                  nullptr);
    });
    float td = 0;
    if (ecg::cuda::conv_int8_path_supported(ecg::cuda::ConvInt8Path::kDp4a, cc))
      td = median_ms([&] {
        return ecg::cuda::conv_int8(a, ecg::cuda::ConvInt8Path::kDp4a, cc, x8, y8, nullptr, nullptr,
                                    nullptr);
      });
    if (ws) CHECK(cudaFree(ws));
    std::printf("| %s | %.3f | %.3f | %.0f | %.3f | %.3f |\n", l.name, s.flops() / 1e9, tf,
                s.flops() / (tf * 1e6), ti, td);
    total_f += tf, total_i += ti, total_d += td;
    for (void* p : {static_cast<void*>(x), static_cast<void*>(w), static_cast<void*>(b),
                    static_cast<void*>(y), static_cast<void*>(x8), static_cast<void*>(w8),
                    static_cast<void*>(y8), static_cast<void*>(bias), static_cast<void*>(m0),
                    static_cast<void*>(shift)})
      CHECK(cudaFree(p));
  }
  std::printf("| **convolutions** | 7.26 | %.2f | | %.2f | %.2f |\n", total_f, total_i, total_d);
  return 0;
}
