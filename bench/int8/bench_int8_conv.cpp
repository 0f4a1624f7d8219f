// Int8 convolution on ResNet-11's layer shapes at batch 1 (224x224 input),
// per int8 kernel, reported as GOP/s (2 ops per multiply-add) and as a share
// of the peak of its instructions measured by this binary at start-up (vpdpbusd
// zmm; vpmaddubsw + vpmaddwd for the AVX2 kernel); the float conv of
// the op table on the same shapes for the int8/float ratio; and the whole
// conv stack of one ResNet-11 forward pass.
//
// Run (all cores):   build-int8/bench/int8/bench_int8 --benchmark_min_time=0.3
// One thread:        ECG_BENCH_THREADS=1 build-int8/bench/int8/bench_int8
// Activations int8 NHWC, weights packed once before timing (as at load).
// Rates use the CPU time of the calling thread, not wall time: the machines
// are shared (load averages of 10 on 2 cores), and wall time there measures
// the neighbours. With OpenMP threads, the caller's CPU time includes its
// wait at the closing barrier, so it still bounds the layer's duration.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/int8_api.h"
#include "kernels/op_table.h"
#include "kernels/runtime.h"

namespace bench_int8 {
double vnni_peak_ops(int threads);
double avx2_maddubs_peak_ops(int threads);
}  // namespace bench_int8

namespace {

using namespace ecg;

struct Layer {
  const char* name;
  int C, H, K, R, stride;
  bool residual;
};

// ResNet-11 (n = 1): stem, then one block per stage; the first block of each
// stage has the 1x1 projection shortcut. TensorFlow "same" padding throughout.
const Layer kResNet11[] = {
    {"stem_3to16_3x3", 3, 224, 16, 3, 1, false},
    {"s0_conv1_16to16_3x3", 16, 224, 16, 3, 1, false},
    {"s0_short_16to64_1x1", 16, 224, 64, 1, 1, false},
    {"s0_conv2_16to64_3x3_add", 16, 224, 64, 3, 1, true},
    {"s1_conv1_64to64_3x3s2", 64, 224, 64, 3, 2, false},
    {"s1_short_64to128_1x1s2", 64, 224, 128, 1, 2, false},
    {"s1_conv2_64to128_3x3_add", 64, 112, 128, 3, 1, true},
    {"s2_conv1_128to128_3x3s2", 128, 112, 128, 3, 2, false},
    {"s2_short_128to256_1x1s2", 128, 112, 256, 1, 2, false},
    {"s2_conv2_128to256_3x3_add", 128, 56, 256, 3, 1, true},
};

Conv2dShape shape_of(const Layer& l) {
  Conv2dShape s;
  s.C = l.C;
  s.H = s.W = l.H;
  s.K = l.K;
  s.R = s.S = l.R;
  s.stride_h = s.stride_w = l.stride;
  tf_same_padding(l.H, l.R, l.stride, s.pad_top, s.pad_bottom);
  tf_same_padding(l.H, l.R, l.stride, s.pad_left, s.pad_right);
  conv2d_finalize(s);
  return s;
}

// One benchmarked kernel: the kernel, the weight range its layers get (127:
// 8-bit; 63: 7-bit, which puts the AVX2 kernel on its vpmaddubsw path), the
// name in the benchmark's label, and the peak (ops/s) its rows are measured
// against (0: not measurable here).
struct KernelCase {
  int8::Int8Kernel kernel;
  int wmax;
  std::string label;
  double peak;
};

struct Int8Layer {
  std::unique_ptr<int8::PackedConvInt8> conv;
  std::vector<int8_t> x, y, res;
  double ops = 0;
};

Int8Layer make_int8_layer(const Layer& l, const KernelCase& kc) {
  std::mt19937 g(1);
  Int8Layer L;
  int8::ConvInt8Params p;
  p.shape = shape_of(l);
  const Conv2dShape& s = p.shape;
  p.zp_in = -3;
  p.zp_out = -5;
  p.qmin = -5;
  for (int i = 0; i < s.K; ++i) {
    p.bias.push_back(static_cast<int32_t>(g() % 2001) - 1000);
    p.requant.push_back(int8::make_requant(0.0004 * (1 + i % 3)));
  }
  if (l.residual) {
    p.residual = true;
    p.add = int8::make_add_requant(0.05, p.zp_out, 0.04, 2, 0.07, -10, -10, 127);
  }
  std::vector<int8_t> w(static_cast<size_t>(s.K) * s.C * s.R * s.S);
  for (auto& v : w)
    v = static_cast<int8_t>(static_cast<int>(g() % static_cast<unsigned>(2 * kc.wmax + 1)) -
                            kc.wmax);
  L.conv = int8::pack_conv_int8(p, w.data(), kc.kernel);
  L.x.resize(static_cast<size_t>(s.H) * s.W * s.C);
  for (auto& v : L.x) v = static_cast<int8_t>(g());
  L.y.resize(static_cast<size_t>(s.P) * s.Q * s.K);
  L.res.resize(L.y.size(), 7);
  L.ops = s.flops();
  return L;
}

void set_rate_counters(benchmark::State& st, double ops, double peak) {
  st.counters["GOP/s"] =
      benchmark::Counter(ops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (peak > 0)
    st.counters["pct_int8_peak"] =
        benchmark::Counter(ops / peak * 100.0, benchmark::Counter::kIsIterationInvariantRate);
}

void bm_int8_layer(benchmark::State& st, Layer l, KernelCase kc) {
  Int8Layer L = make_int8_layer(l, kc);
  for (auto _ : st) {
    L.conv->run(1, L.x.data(), L.y.data(), L.res.data());
    benchmark::DoNotOptimize(L.y.data());
  }
  set_rate_counters(st, L.ops, kc.peak);
}

void bm_int8_stack(benchmark::State& st, KernelCase kc) {
  std::vector<Int8Layer> layers;
  double ops = 0;
  for (const Layer& l : kResNet11) {
    layers.push_back(make_int8_layer(l, kc));
    ops += layers.back().ops;
  }
  for (auto _ : st)
    for (auto& L : layers) {
      L.conv->run(1, L.x.data(), L.y.data(), L.res.data());
      benchmark::DoNotOptimize(L.y.data());
    }
  set_rate_counters(st, ops, kc.peak);
}

// The float convolution the op table resolves to (NCHW float), same shapes.
void bm_float_layer(benchmark::State& st, Layer l) {
  const Conv2dShape s = shape_of(l);
  std::vector<float> x(static_cast<size_t>(s.C) * s.H * s.W, 0.5f),
      w(static_cast<size_t>(s.K) * s.C * s.R * s.S, 0.01f), b(s.K, 0.1f),
      y(static_cast<size_t>(s.K) * s.P * s.Q);
  auto fn = ops().conv2d_forward.get();
  for (auto _ : st) {
    fn(s, x.data(), w.data(), b.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_rate_counters(st, s.flops(), 0.0);
}

void bm_float_stack(benchmark::State& st) {
  auto fn = ops().conv2d_forward.get();
  struct F {
    Conv2dShape s;
    std::vector<float> x, w, b, y;
  };
  std::vector<F> fs;
  double flops = 0;
  for (const Layer& l : kResNet11) {
    F f;
    f.s = shape_of(l);
    f.x.assign(static_cast<size_t>(f.s.C) * f.s.H * f.s.W, 0.5f);
    f.w.assign(static_cast<size_t>(f.s.K) * f.s.C * f.s.R * f.s.S, 0.01f);
    f.b.assign(f.s.K, 0.1f);
    f.y.assign(static_cast<size_t>(f.s.K) * f.s.P * f.s.Q, 0.f);
    flops += f.s.flops();
    fs.push_back(std::move(f));
  }
  for (auto _ : st)
    for (auto& f : fs) {
      fn(f.s, f.x.data(), f.w.data(), f.b.data(), f.y.data());
      benchmark::DoNotOptimize(f.y.data());
    }
  set_rate_counters(st, flops, 0.0);
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* t = std::getenv("ECG_BENCH_THREADS")) ecg::set_num_threads(std::atoi(t));
  const int threads = ecg::num_threads();
  const double vnni_peak = bench_int8::vnni_peak_ops(threads);
  const double maddubs_peak = bench_int8::avx2_maddubs_peak_ops(threads);
  std::printf(
      "threads %d, int8 peaks (0 = not measurable here): vpdpbusd zmm %.1f GOP/s, "
      "AVX2 vpmaddubsw+vpmaddwd %.1f GOP/s\n",
      threads, vnni_peak * 1e-9, maddubs_peak * 1e-9);
  // The AVX2 kernel twice: 8-bit weights (its exact vpmaddwd path) and 7-bit
  // ones (its vpmaddubsw path). AVX-VNNI's ymm peak is not probed (no such CPU yet).
  std::vector<KernelCase> kernels;
  using K = int8::Int8Kernel;
  for (const KernelCase& kc : {KernelCase{K::Avx512Vnni, 127, "avx512-vnni", vnni_peak},
                               KernelCase{K::AvxVnni, 127, "avx-vnni", 0.0},
                               KernelCase{K::Avx2, 63, "avx2-maddubs-7bit", maddubs_peak},
                               KernelCase{K::Avx2, 127, "avx2-maddwd", maddubs_peak},
                               KernelCase{K::Generic, 127, "generic", 0.0}})
    if (int8::int8_kernel_supported(kc.kernel)) kernels.push_back(kc);
  const Isa float_isa = ops().conv2d_forward.resolved_isa();
  std::printf("float conv2d_forward resolves to isa %s\n", isa_name(float_isa));

  for (const KernelCase& kc : kernels)
    benchmark::RegisterBenchmark(("int8/" + kc.label + "/resnet11_conv_stack").c_str(),
                                 bm_int8_stack, kc)
        ->Unit(benchmark::kMillisecond);
  if (float_isa != Isa::Ref)
    benchmark::RegisterBenchmark("float/resnet11_conv_stack", bm_float_stack)
        ->Unit(benchmark::kMillisecond);
  for (const Layer& l : kResNet11) {
    for (const KernelCase& kc : kernels)
      benchmark::RegisterBenchmark(("int8/" + kc.label + "/" + l.name).c_str(), bm_int8_layer, l,
                                   kc)
          ->Unit(benchmark::kMillisecond);
    if (float_isa != Isa::Ref)
      benchmark::RegisterBenchmark(("float/" + std::string(l.name)).c_str(), bm_float_layer, l)
          ->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
