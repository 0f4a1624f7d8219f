// The engine's two GEMM paths on a real GPU: the own kernels (linear.cuh, the
// implicit GEMM of conv2d.cuh) against cuBLAS SGEMM (cublas_gemm.cuh, the
// ECG_CUDA_GEMM=cublas path), on the fully connected head and the plain-GEMM
// (1x1, stride 1) convolutions, forward, backward-data and backward-weights.
//
// Correctness first: both paths are checked against a double-precision host
// reference on a sample of outputs (every 61st, plus the last). Tolerance
// (named, derived): a float sum of k terms in any order, with or without
// FMA, lies within kRoundingTerms(k) * 2^-24 * sum|terms| of the exact sum
// ((k - 1) additions each adding at most 2^-24 of a partial sum bounded by
// sum|terms|, the products another 2^-24; +1 for the bias); a wrong layout or
// transpose misses it by orders of magnitude. Exit status 1 on any miss.
// Then the median of 20 timed runs after 3 warm-ups, CUDA events, one
// markdown row per case for bench/RESULTS.md.
//
// Built and run only by tools/ci/cuda_gpu_check.sh (nvcc -x cu ... -lcublas;
// a .cpp so that the compile matrix, which builds every .cu, skips it).
#include <cublas_v2.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "kernels/cuda/bench/bench_timing.h"
#include "kernels/cuda/conv2d.cuh"
#include "kernels/cuda/cublas_gemm.cuh"
#include "kernels/cuda/linear.cuh"

namespace {

#define CHECK_BLAS(x)                                                              \
  do {                                                                             \
    cublasStatus_t s_ = (x);                                                       \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                               \
      bench_fail(__FILE__, __LINE__, "cublasStatus_t " + std::to_string(int(s_))); \
  } while (0)

double rounding_terms(long long k) {
  return static_cast<double>(k) + 2.0;
}

struct Buf {
  std::vector<float> host;
  float* dev = nullptr;
  explicit Buf(size_t n, std::mt19937* rng = nullptr) : host(n, 0.f) {
    if (rng) {
      std::uniform_real_distribution<float> u(-1.f, 1.f);
      for (float& v : host) v = u(*rng);
    }
    CHECK(cudaMalloc(&dev, std::max<size_t>(n, 1) * 4));
    CHECK(cudaMemcpy(dev, host.data(), n * 4, cudaMemcpyHostToDevice));
  }
  ~Buf() { cudaFree(dev); }
  std::vector<float> read() const {
    std::vector<float> out(host.size());
    CHECK(cudaMemcpy(out.data(), dev, out.size() * 4, cudaMemcpyDeviceToHost));
    return out;
  }
};

// One output: exact value and sum of |terms| from a term callback.
struct Ref {
  double exact = 0, abs_sum = 0;
  long long terms = 0;
  void add(double t) {
    exact += t;
    abs_sum += std::fabs(t);
    ++terms;
  }
};

// Worst |got - exact| / bound over the sampled outputs (<= 1 passes).
template <class RefFn>
double worst_ratio(const std::vector<float>& got, RefFn&& ref) {
  double worst = 0;
  auto check = [&](size_t i) {
    const Ref r = ref(i);
    const double bound = rounding_terms(r.terms) * std::ldexp(1.0, -24) * r.abs_sum + 1e-30;
    worst = std::max(worst, std::fabs(got[i] - r.exact) / bound);
  };
  for (size_t i = 0; i < got.size(); i += 61) check(i);
  if (!got.empty()) check(got.size() - 1);
  return worst;
}

int failures = 0;

void row(const char* name, double gflop, float own_ms, float blas_ms, double own_err,
         double blas_err) {
  const bool ok = own_err <= 1.0 && blas_err <= 1.0;
  failures += ok ? 0 : 1;
  std::printf("| %s | %.3f | %.3f | %.3f | %.2fx | %.3f | %.3f | %s |\n", name, gflop, own_ms,
              blas_ms, own_ms / blas_ms, own_err, blas_err, ok ? "ok" : "FAILED");
}

void bench_linear(cublasHandle_t h, const float* ones, int N, int in, int out) {
  std::mt19937 rng(1);
  Buf x(static_cast<size_t>(N) * in, &rng), w(static_cast<size_t>(out) * in, &rng), b(out, &rng),
      dy(static_cast<size_t>(N) * out, &rng);
  Buf y(static_cast<size_t>(N) * out), dx(static_cast<size_t>(N) * in),
      dw(static_cast<size_t>(out) * in), db(out);
  const double gflop = 2.0 * N * in * out * 1e-9;
  char name[96];

  auto fwd_ref = [&](size_t i) {
    Ref r;
    const size_t n = i / out, o = i % out;
    for (int k = 0; k < in; ++k) r.add(double(x.host[n * in + k]) * w.host[o * in + k]);
    r.add(b.host[o]);
    return r;
  };
  auto own_f = [&] { return ecg::cuda::linear_forward(N, in, out, x.dev, w.dev, b.dev, y.dev, 0); };
  auto blas_f = [&] {
    CHECK_BLAS(ecg::cuda::cublas_linear_forward(h, N, in, out, x.dev, w.dev, b.dev, y.dev, ones));
    return cudaGetLastError();
  };
  CHECK(own_f());
  const double e_own_f = worst_ratio(y.read(), fwd_ref);
  CHECK(blas_f());
  const double e_blas_f = worst_ratio(y.read(), fwd_ref);
  std::snprintf(name, sizeof name, "linear fwd N=%d %d->%d", N, in, out);
  row(name, gflop, median_ms(own_f), median_ms(blas_f), e_own_f, e_blas_f);

  auto bd_ref = [&](size_t i) {
    Ref r;
    const size_t n = i / in, k = i % in;
    for (int o = 0; o < out; ++o) r.add(double(dy.host[n * out + o]) * w.host[o * in + k]);
    return r;
  };
  auto own_d = [&] {
    return ecg::cuda::linear_backward_data(N, in, out, dy.dev, w.dev, dx.dev, 0);
  };
  auto blas_d = [&] {
    CHECK_BLAS(ecg::cuda::cublas_linear_backward_data(h, N, in, out, dy.dev, w.dev, dx.dev));
    return cudaGetLastError();
  };
  CHECK(own_d());
  const double e_own_d = worst_ratio(dx.read(), bd_ref);
  CHECK(blas_d());
  const double e_blas_d = worst_ratio(dx.read(), bd_ref);
  std::snprintf(name, sizeof name, "linear bwd-data N=%d %d->%d", N, in, out);
  row(name, gflop, median_ms(own_d), median_ms(blas_d), e_own_d, e_blas_d);

  auto bw_ref = [&](size_t i) {
    Ref r;
    const size_t o = i / in, k = i % in;
    for (int n = 0; n < N; ++n) r.add(double(dy.host[n * out + o]) * x.host[n * in + k]);
    return r;
  };
  auto bb_ref = [&](size_t o) {
    Ref r;
    for (int n = 0; n < N; ++n) r.add(dy.host[n * out + o]);
    return r;
  };
  auto own_w = [&] {
    return ecg::cuda::linear_backward_weights(N, in, out, x.dev, dy.dev, dw.dev, db.dev, 0);
  };
  auto blas_w = [&] {
    CHECK_BLAS(ecg::cuda::cublas_linear_backward_weights(h, N, in, out, x.dev, dy.dev, dw.dev,
                                                         db.dev, ones));
    return cudaGetLastError();
  };
  CHECK(own_w());
  const double e_own_w = std::max(worst_ratio(dw.read(), bw_ref), worst_ratio(db.read(), bb_ref));
  CHECK(blas_w());
  const double e_blas_w = std::max(worst_ratio(dw.read(), bw_ref), worst_ratio(db.read(), bb_ref));
  std::snprintf(name, sizeof name, "linear bwd-weights N=%d %d->%d", N, in, out);
  row(name, gflop, median_ms(own_w), median_ms(blas_w), e_own_w, e_blas_w);
}

void bench_conv1x1(cublasHandle_t h, const float* ones, int N, int C, int HW_side, int K) {
  ecg::Conv2dShape s;
  s.N = N, s.C = C, s.H = s.W = HW_side, s.K = K;
  ecg::conv2d_finalize(s);
  const size_t HW = static_cast<size_t>(s.P) * s.Q;
  std::mt19937 rng(2);
  Buf x(N * C * HW, &rng), w(static_cast<size_t>(K) * C, &rng), b(K, &rng), dy(N * K * HW, &rng);
  Buf y(N * K * HW), dx(N * C * HW), dw(static_cast<size_t>(K) * C), db(K);
  const long long ws = ecg::cuda::conv2d_backward_weights_workspace(s);
  Buf work(static_cast<size_t>(std::max<long long>(ws, 1)));
  const double gflop = s.flops() * 1e-9;
  char name[96];

  auto fwd_ref = [&](size_t i) {
    Ref r;
    const size_t n = i / (K * HW), k = i / HW % K, p = i % HW;
    for (int c = 0; c < C; ++c) r.add(double(w.host[k * C + c]) * x.host[(n * C + c) * HW + p]);
    r.add(b.host[k]);
    return r;
  };
  auto own_f = [&] { return ecg::cuda::conv2d_forward(s, x.dev, w.dev, b.dev, y.dev, 0); };
  auto blas_f = [&] {
    CHECK_BLAS(ecg::cuda::cublas_conv1x1_forward(h, s, x.dev, w.dev, b.dev, y.dev, ones));
    return cudaGetLastError();
  };
  CHECK(own_f());
  const double e_own_f = worst_ratio(y.read(), fwd_ref);
  CHECK(blas_f());
  const double e_blas_f = worst_ratio(y.read(), fwd_ref);
  std::snprintf(name, sizeof name, "conv 1x1 fwd N=%d %d->%d %dx%d", N, C, K, HW_side, HW_side);
  row(name, gflop, median_ms(own_f), median_ms(blas_f), e_own_f, e_blas_f);

  auto bd_ref = [&](size_t i) {
    Ref r;
    const size_t n = i / (C * HW), c = i / HW % C, p = i % HW;
    for (int k = 0; k < K; ++k) r.add(double(w.host[k * C + c]) * dy.host[(n * K + k) * HW + p]);
    return r;
  };
  auto own_d = [&] { return ecg::cuda::conv2d_backward_data(s, dy.dev, w.dev, dx.dev, 0); };
  auto blas_d = [&] {
    CHECK_BLAS(ecg::cuda::cublas_conv1x1_backward_data(h, s, dy.dev, w.dev, dx.dev));
    return cudaGetLastError();
  };
  CHECK(own_d());
  const double e_own_d = worst_ratio(dx.read(), bd_ref);
  CHECK(blas_d());
  const double e_blas_d = worst_ratio(dx.read(), bd_ref);
  std::snprintf(name, sizeof name, "conv 1x1 bwd-data N=%d %d->%d %dx%d", N, C, K, HW_side,
                HW_side);
  row(name, gflop, median_ms(own_d), median_ms(blas_d), e_own_d, e_blas_d);

  auto bw_ref = [&](size_t i) {
    Ref r;
    const size_t k = i / C, c = i % C;
    for (int n = 0; n < N; ++n)
      for (size_t p = 0; p < HW; ++p)
        r.add(double(dy.host[(n * K + k) * HW + p]) * x.host[(n * C + c) * HW + p]);
    return r;
  };
  auto bb_ref = [&](size_t k) {
    Ref r;
    for (int n = 0; n < N; ++n)
      for (size_t p = 0; p < HW; ++p) r.add(dy.host[(n * K + k) * HW + p]);
    return r;
  };
  auto own_w = [&] {
    return ecg::cuda::conv2d_backward_weights(s, x.dev, dy.dev, dw.dev, db.dev, work.dev, 0);
  };
  auto blas_w = [&] {
    CHECK_BLAS(
        ecg::cuda::cublas_conv1x1_backward_weights(h, s, x.dev, dy.dev, dw.dev, db.dev, ones));
    return cudaGetLastError();
  };
  CHECK(own_w());
  const double e_own_w = std::max(worst_ratio(dw.read(), bw_ref), worst_ratio(db.read(), bb_ref));
  CHECK(blas_w());
  const double e_blas_w = std::max(worst_ratio(dw.read(), bw_ref), worst_ratio(db.read(), bb_ref));
  std::snprintf(name, sizeof name, "conv 1x1 bwd-weights N=%d %d->%d %dx%d", N, C, K, HW_side,
                HW_side);
  row(name, gflop, median_ms(own_w), median_ms(blas_w), e_own_w, e_blas_w);
}

}  // namespace

int main() {
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (sm_%d%d)\n\n", prop.name, prop.major, prop.minor);
  cublasHandle_t h;
  CHECK_BLAS(cublasCreate(&h));
  CHECK_BLAS(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));  // FP32, as the engine's handle
  const size_t max_ones = 224 * 224;
  std::vector<float> ones_host(max_ones, 1.f);
  float* ones = nullptr;
  CHECK(cudaMalloc(&ones, max_ones * 4));
  CHECK(cudaMemcpy(ones, ones_host.data(), max_ones * 4, cudaMemcpyHostToDevice));

  std::printf(
      "| case | GFLOP | own ms | cuBLAS ms | own/cuBLAS | own err/bound | cuBLAS err/bound | |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---|\n");
  // The ResNet-11 head (global pool -> 256 -> 4 classes) and a wide one.
  bench_linear(h, ones, 16, 256, 4);
  bench_linear(h, ones, 16, 12544, 4);
  bench_linear(h, ones, 64, 1024, 1000);
  // ResNet-11's stride-1 shortcut (stage 0, 16 -> 64 at full size), batch 1 and 16.
  bench_conv1x1(h, ones, 1, 16, 224, 64);
  bench_conv1x1(h, ones, 16, 16, 112, 64);
  bench_conv1x1(h, ones, 16, 128, 56, 256);
  CHECK(cudaFree(ones));
  CHECK_BLAS(cublasDestroy(h));
  std::printf("\nbench_cublas: %d case(s) outside the rounding bound\n", failures);
  return failures ? 1 : 0;
}
