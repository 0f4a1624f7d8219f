// SGEMM and convolution benchmarks of ecgcnn's own kernels (the active ISA,
// ECG_ISA to force one; SGEMM also per ISA explicitly). Names:
//   sgemm/<impl>/<n>                      square n x n x n, C = A B
//   conv_<dir>/<impl>/<layer>/N<batch>    dir = fwd | bwd_data | bwd_weights
// FLOPs per convolution direction = 2 N K P Q C R S (the forward count).
#include <algorithm>

#include "bench/kernels/bench_common.h"
#include "kernels/op_table.h"
#include "kernels/runtime.h"

namespace ecg::bench {

const std::vector<ConvLayer>& conv_layers() {
  // Every distinct convolution of ResNet-11/20/29 and AlexNet at 224 x 224.
  // Tags: r11 = all three ResNets, r20 = ResNet-20 and -29 only, alex = AlexNet.
  static const std::vector<ConvLayer> layers = {
      {"stem_3x3_3-16_224", "r11", 3, 224, 224, 16, 3, 3, 1, true},
      {"3x3_16-16_224", "r11", 16, 224, 224, 16, 3, 3, 1, true},
      {"3x3_16-64_224", "r11", 16, 224, 224, 64, 3, 3, 1, true},
      {"1x1_16-64_224", "r11", 16, 224, 224, 64, 1, 1, 1, true},
      {"3x3_64-16_224", "r20", 64, 224, 224, 16, 3, 3, 1, true},
      {"3x3s2_64-64_224", "r11", 64, 224, 224, 64, 3, 3, 2, true},
      {"3x3_64-128_112", "r11", 64, 112, 112, 128, 3, 3, 1, true},
      {"1x1s2_64-128_224", "r11", 64, 224, 224, 128, 1, 1, 2, true},
      {"3x3_128-64_112", "r20", 128, 112, 112, 64, 3, 3, 1, true},
      {"3x3s2_128-128_112", "r11", 128, 112, 112, 128, 3, 3, 2, true},
      {"3x3_128-256_56", "r11", 128, 56, 56, 256, 3, 3, 1, true},
      {"1x1s2_128-256_112", "r11", 128, 112, 112, 256, 1, 1, 2, true},
      {"3x3_256-128_56", "r20", 256, 56, 56, 128, 3, 3, 1, true},
      {"alex1_11x11s4_3-96_224", "alex", 3, 224, 224, 96, 11, 11, 4, false},
      {"alex2_11x11_96-256_27", "alex", 96, 27, 27, 256, 11, 11, 1, false},
      {"alex3_3x3_256-384_8", "alex", 256, 8, 8, 384, 3, 3, 1, false},
      {"alex4_3x3_384-384_6", "alex", 384, 6, 6, 384, 3, 3, 1, false},
      {"alex5_3x3_384-256_4", "alex", 384, 4, 4, 256, 3, 3, 1, false},
  };
  return layers;
}

Conv2dShape make_conv_shape(const ConvLayer& l, int N) {
  Conv2dShape s;
  s.N = N, s.C = l.C, s.H = l.H, s.W = l.W, s.K = l.K, s.R = l.R, s.S = l.S;
  s.stride_h = s.stride_w = l.stride;
  if (l.same) {
    tf_same_padding(l.H, l.R, l.stride, s.pad_top, s.pad_bottom);
    tf_same_padding(l.W, l.S, l.stride, s.pad_left, s.pad_right);
  }
  conv2d_finalize(s);
  return s;
}

namespace {

void bm_sgemm(benchmark::State& st, int n, SgemmFn fn) {
  Buffer a(size_t(n) * n, 1), b(size_t(n) * n, 2), c(size_t(n) * n, 3);
  for (auto _ : st) {
    fn(false, false, n, n, n, 1.f, a.p, n, b.p, n, 0.f, c.p, n);
    benchmark::ClobberMemory();
  }
  set_flop_counters(st, 2.0 * n * n * n);
}

enum class Dir { Fwd, BwdData, BwdWeights };

void bm_conv(benchmark::State& st, ConvLayer layer, int N, Dir dir, int threads) {
  const Conv2dShape s = make_conv_shape(layer, N);
  const size_t nx = size_t(s.N) * s.C * s.H * s.W, nw = size_t(s.K) * s.C * s.R * s.S;
  const size_t ny = size_t(s.N) * s.K * s.P * s.Q;
  Buffer x(nx, 1), w(nw, 2, 0.1f), b(s.K, 3), y(ny, 4), dw(nw, 5), db(s.K, 6);
  Buffer dx(dir == Dir::BwdData ? nx : 1, 7);
  set_num_threads(threads);
  auto fwd = ops().conv2d_forward.get();
  auto bwd = ops().conv2d_backward_data.get();
  auto bww = ops().conv2d_backward_weights.get();
  for (auto _ : st) {
    if (dir == Dir::Fwd)
      fwd(s, x.p, w.p, b.p, y.p);
    else if (dir == Dir::BwdData)
      bwd(s, y.p, w.p, dx.p);
    else
      bww(s, x.p, y.p, dw.p, db.p);
    benchmark::ClobberMemory();
  }
  set_num_threads(0);
  set_flop_counters(st, s.flops());
}

const char* dir_name(Dir d) {
  return d == Dir::Fwd ? "fwd" : d == Dir::BwdData ? "bwd_data" : "bwd_weights";
}

}  // namespace

void register_gemm_conv_benchmarks() {
  for (int n : {256, 1024, 2048}) {
    benchmark::RegisterBenchmark(("sgemm/ecg/" + std::to_string(n)).c_str(), bm_sgemm, n,
                                 ops().sgemm.get())
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    for (Isa isa : {Isa::Avx2, Isa::Generic}) {
      auto fn = ops().sgemm.exact(DeviceType::CPU, isa);
      if (!fn || !isa_supported(isa) || isa >= active_isa()) continue;
      benchmark::RegisterBenchmark(
          ("sgemm/ecg_" + std::string(isa_name(isa)) + "/" + std::to_string(n)).c_str(), bm_sgemm,
          n, fn)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  const int threads = num_threads();
  for (const ConvLayer& l : conv_layers())
    for (int N : {1, 16})
      for (Dir d : {Dir::Fwd, Dir::BwdData, Dir::BwdWeights}) {
        const std::string tail = "/" + l.name + "/N" + std::to_string(N);
        benchmark::RegisterBenchmark(("conv_" + std::string(dir_name(d)) + "/ecg" + tail).c_str(),
                                     bm_conv, l, N, d, threads)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
        // One-thread runs of the large layers give the two-thread scaling.
        if (N == 16 && threads > 1 && (l.name == "3x3_16-64_224" || l.name == "3x3_64-128_112"))
          benchmark::RegisterBenchmark(
              ("conv_" + std::string(dir_name(d)) + "/ecg_1thread" + tail).c_str(), bm_conv, l, N,
              d, 1)
              ->UseRealTime()
              ->Unit(benchmark::kMillisecond);
      }
}

}  // namespace ecg::bench
