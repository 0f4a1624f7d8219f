// Memory-bound kernel benchmarks on ResNet-11 stage-0 activations at batch 16
// (16 x 64 x 224 x 224 = 51.4 M floats, 205 MB per tensor: far beyond cache).
// Bytes per iteration count the passes each algorithm must make, so GB/s
// compares directly with the measured scale-kernel bandwidth:
//   batch norm train: read x twice (statistics, then normalise) + write y = 3
//   batch norm eval:  read x + write y = 2; backward: read x, dy (and y when
//   fused) twice + write dx; relu fwd 2, relu bwd 3, add 3, pools read x once
//   and write y once (backward: read dy and argmax, write dx), Adam reads
//   param, grad, m, v and writes param, m, v = 7 per element.
#include "bench/kernels/bench_common.h"
#include "kernels/op_table.h"

namespace ecg::bench {

namespace {

constexpr int kN = 16, kC = 64, kHW = 224 * 224;
constexpr size_t kElems = size_t(kN) * kC * kHW;
constexpr double kTensorBytes = double(kElems) * sizeof(float);

void bm_bn_train(benchmark::State& st, bool relu) {
  Buffer x(kElems, 1), y(kElems, 2), g(kC, 3), b(kC, 4), m(kC, 5), is(kC, 6), v(kC, 7);
  BatchNormShape s{kN, kC, kHW};
  auto fn = ops().batch_norm_forward_train.get();
  for (auto _ : st) fn(s, x.p, g.p, b.p, 1e-3f, relu, y.p, m.p, is.p, v.p);
  set_byte_counters(st, 3 * kTensorBytes);
}

void bm_bn_eval(benchmark::State& st) {
  Buffer x(kElems, 1), y(kElems, 2), g(kC, 3), b(kC, 4), m(kC, 5), v(kC, 7);
  for (size_t i = 0; i < v.n; ++i) v.p[i] = 1.f;
  BatchNormShape s{kN, kC, kHW};
  auto fn = ops().batch_norm_forward_eval.get();
  for (auto _ : st) fn(s, x.p, g.p, b.p, m.p, v.p, 1e-3f, true, y.p);
  set_byte_counters(st, 2 * kTensorBytes);
}

void bm_bn_backward(benchmark::State& st, bool relu) {
  Buffer x(kElems, 1), y(kElems, 2), dy(kElems, 3), dx(kElems, 4), g(kC, 5), m(kC, 6), is(kC, 7),
      dg(kC, 8), db(kC, 9);
  BatchNormShape s{kN, kC, kHW};
  auto fn = ops().batch_norm_backward.get();
  for (auto _ : st) fn(s, x.p, y.p, dy.p, g.p, m.p, is.p, relu, dx.p, dg.p, db.p);
  set_byte_counters(st, (relu ? 7 : 5) * kTensorBytes);
}

void bm_relu(benchmark::State& st, bool backward) {
  Buffer x(kElems, 1), g(backward ? kElems : 1, 2), y(kElems, 3);
  auto f = ops().relu_forward.get();
  auto b = ops().relu_backward.get();
  for (auto _ : st) {
    if (backward)
      b(kElems, x.p, g.p, y.p);
    else
      f(kElems, x.p, y.p);
  }
  set_byte_counters(st, (backward ? 3 : 2) * kTensorBytes);
}

void bm_add(benchmark::State& st) {
  Buffer a(kElems, 1), b(kElems, 2), y(kElems, 3);
  auto f = ops().add_forward.get();
  for (auto _ : st) f(kElems, a.p, b.p, y.p);
  set_byte_counters(st, 3 * kTensorBytes);
}

Pool2dShape pool_shape(int k) {
  Pool2dShape s;
  s.N = kN, s.C = kC, s.H = 224, s.W = 224, s.R = s.S = s.stride_h = s.stride_w = k;
  pool2d_finalize(s);
  return s;
}

void bm_maxpool(benchmark::State& st, bool backward) {
  const Pool2dShape s = pool_shape(2);
  const size_t ny = size_t(s.N) * s.C * s.P * s.Q;
  Buffer x(kElems, 1), y(ny, 2), dx(kElems, 3);
  std::vector<int32_t> arg(ny);
  ops().max_pool_forward.get()(s, x.p, y.p, arg.data());
  auto f = ops().max_pool_forward.get();
  auto b = ops().max_pool_backward.get();
  for (auto _ : st) {
    if (backward)
      b(s, y.p, arg.data(), dx.p);
    else
      f(s, x.p, y.p, arg.data());
  }
  // forward: x + y + argmax; backward: dy + argmax + dx
  set_byte_counters(st, backward ? kTensorBytes * 1.5 : kTensorBytes * 1.5);
}

void bm_avgpool8(benchmark::State& st) {
  Pool2dShape s = pool_shape(8);
  s.H = s.W = 56, s.C = 256;
  pool2d_finalize(s);
  const size_t nx = size_t(s.N) * s.C * s.H * s.W, ny = size_t(s.N) * s.C * s.P * s.Q;
  Buffer x(nx, 1), y(ny, 2);
  auto f = ops().avg_pool_forward.get();
  for (auto _ : st) f(s, x.p, y.p);
  set_byte_counters(st, double(nx + ny) * sizeof(float));
}

void bm_adam(benchmark::State& st) {
  const size_t n = 6243908;  // AlexNet's parameter count
  Buffer p(n, 1), g(n, 2), m(n, 3), v(n, 4);
  for (size_t i = 0; i < n; ++i) v.p[i] = v.p[i] * v.p[i];
  AdamParams ap;
  auto f = ops().adam_update.get();
  for (auto _ : st) f(n, ap, p.p, g.p, m.p, v.p);
  set_byte_counters(st, 7.0 * n * sizeof(float));
}

void bm_sgd(benchmark::State& st) {
  const size_t n = 6243908;
  Buffer p(n, 1), g(n, 2), buf(n, 3);
  SgdParams sp;
  sp.momentum = 0.9f;
  sp.first_step = false;
  auto f = ops().sgd_update.get();
  for (auto _ : st) f(n, sp, p.p, g.p, buf.p);
  set_byte_counters(st, 5.0 * n * sizeof(float));
}

template <class F, class... Args>
void reg(const char* name, F f, Args... args) {
  benchmark::RegisterBenchmark(name, f, args...)->UseRealTime()->Unit(benchmark::kMillisecond);
}

}  // namespace

void register_memory_bound_benchmarks() {
  reg("mem/bn_train/16x64x224x224", bm_bn_train, false);
  reg("mem/bn_train_relu/16x64x224x224", bm_bn_train, true);
  reg("mem/bn_eval_relu/16x64x224x224", bm_bn_eval);
  reg("mem/bn_backward/16x64x224x224", bm_bn_backward, false);
  reg("mem/bn_backward_relu/16x64x224x224", bm_bn_backward, true);
  reg("mem/relu_fwd/16x64x224x224", bm_relu, false);
  reg("mem/relu_bwd/16x64x224x224", bm_relu, true);
  reg("mem/add/16x64x224x224", bm_add);
  reg("mem/maxpool2_fwd/16x64x224x224", bm_maxpool, false);
  reg("mem/maxpool2_bwd/16x64x224x224", bm_maxpool, true);
  reg("mem/avgpool8_fwd/16x256x56x56", bm_avgpool8);
  reg("mem/adam/6243908", bm_adam);
  reg("mem/sgd_momentum/6243908", bm_sgd);
}

}  // namespace ecg::bench
