// One training step of a small residual network through the CUDA kernels on
// the emulator, against the same chain of kernels/ref: stem conv + BN + ReLU,
// a block (conv + BN + ReLU, conv + BN, 1x1 shortcut, add, ReLU), global
// average pool, linear, softmax cross-entropy; then the whole backward pass.
// Every gradient, the logits and the loss are compared.
//
// Tolerance (one factor, named, with its reason): over a chain of ~25 kernels
// the float error of a result depends on how the network amplifies rounding,
// which no per-kernel bound captures. The reference chain run in float and in
// double measures that amplification (its float-vs-double spread); the GPU
// chain is another float evaluation with other summation orders, so each of
// its elements must lie within kChainSpreadFactor times the largest spread of
// its tensor from the double result. A floor of 64 u times the tensor's
// largest magnitude covers tensors the float reference happens to get
// (almost) exactly.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cuda/batch_norm.cuh"
#include "kernels/cuda/conv2d.cuh"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/linear.cuh"
#include "kernels/cuda/pool.cuh"
#include "kernels/cuda/softmax_xent.cuh"
#include "kernels/ref/batch_norm_ref.h"
#include "kernels/ref/conv2d_ref.h"
#include "kernels/ref/elementwise_ref.h"
#include "kernels/ref/linear_ref.h"
#include "kernels/ref/loss_ref.h"
#include "kernels/ref/pool_ref.h"
#include "tests/cuda_emu/emu_testing.h"
#include "tests/cuda_emu/kernel_check.h"

namespace {

using ecg::BatchNormShape;
using ecg::Conv2dShape;
using ecg::cuda_emu::ScheduleSpec;
using namespace ecg::cuda_emu::testing;

constexpr double kChainSpreadFactor = 16;
constexpr int kN = 2, kC0 = 3, kH = 10, kC1 = 4, kC2 = 8, kClasses = 4;
constexpr float kEps = 1e-3f;

Conv2dShape conv(int C, int K, int R) {
  Conv2dShape s;
  s.N = kN, s.C = C, s.H = kH, s.W = kH, s.K = K, s.R = R, s.S = R;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = R / 2;
  ecg::conv2d_finalize(s);
  return s;
}

using Tensors = std::map<std::string, std::vector<double>>;

struct Inputs {
  std::map<std::string, std::vector<float>> t;
  Inputs() {
    const Conv2dShape s0 = conv(kC0, kC1, 3), s1 = conv(kC1, kC1, 3), ss = conv(kC1, kC2, 1),
                      s2 = conv(kC1, kC2, 3);
    unsigned seed = 300;
    auto add = [&](const char* name, std::size_t n, float lo, float hi) {
      t[name] = fill_uniform(n, ++seed, lo, hi);
    };
    add("x", static_cast<std::size_t>(kN) * kC0 * kH * kH, -1.f, 1.f);
    add("w0", static_cast<std::size_t>(s0.K) * s0.C * 9, -0.5f, 0.5f);
    add("w1", static_cast<std::size_t>(s1.K) * s1.C * 9, -0.5f, 0.5f);
    add("ws", static_cast<std::size_t>(ss.K) * ss.C, -0.5f, 0.5f);
    add("w2", static_cast<std::size_t>(s2.K) * s2.C * 9, -0.5f, 0.5f);
    for (const char* b : {"b0", "b1"}) add(b, kC1, -0.1f, 0.1f);
    for (const char* b : {"bs", "b2"}) add(b, kC2, -0.1f, 0.1f);
    add("g0", kC1, 0.5f, 1.5f), add("g1", kC1, 0.5f, 1.5f), add("g2", kC2, 0.5f, 1.5f);
    add("be0", kC1, -0.2f, 0.2f), add("be1", kC1, -0.2f, 0.2f), add("be2", kC2, -0.2f, 0.2f);
    add("wf", static_cast<std::size_t>(kClasses) * kC2, -0.5f, 0.5f);
    add("bf", kClasses, -0.1f, 0.1f);
    std::vector<float> target(static_cast<std::size_t>(kN) * kClasses, 0.f);
    for (int n = 0; n < kN; ++n) target[n * kClasses + (n * 3 + 1) % kClasses] = 1.f;
    t["t"] = target;
  }
};

// The reference chain in T (float or double).
template <class T>
Tensors reference_step(const Inputs& in) {
  std::map<std::string, std::vector<T>> p;
  for (const auto& kv : in.t) p[kv.first] = std::vector<T>(kv.second.begin(), kv.second.end());
  const Conv2dShape s0 = conv(kC0, kC1, 3), s1 = conv(kC1, kC1, 3), ss = conv(kC1, kC2, 1),
                    s2 = conv(kC1, kC2, 3);
  const int HW = kH * kH;
  const BatchNormShape bn1{kN, kC1, HW}, bn2{kN, kC2, HW};
  auto vec = [](std::size_t n) { return std::vector<T>(n); };
  const std::size_t n1 = static_cast<std::size_t>(kN) * kC1 * HW, n2 = n1 / kC1 * kC2;
  std::vector<T> a0 = vec(n1), y0 = vec(n1), a1 = vec(n1), y1 = vec(n1), sc = vec(n2), a2 = vec(n2),
                 y2 = vec(n2), z = vec(n2), r = vec(n2);
  std::vector<T> m0 = vec(kC1), i0 = vec(kC1), v0 = vec(kC1), m1 = vec(kC1), i1 = vec(kC1),
                 v1 = vec(kC1), m2 = vec(kC2), i2 = vec(kC2), v2 = vec(kC2);
  namespace ref = ecg::ref;
  ref::conv2d_forward(s0, p["x"].data(), p["w0"].data(), p["b0"].data(), a0.data());
  ref::batch_norm_forward_train(bn1, a0.data(), p["g0"].data(), p["be0"].data(), T(kEps), true,
                                y0.data(), m0.data(), i0.data(), v0.data());
  ref::conv2d_forward(s1, y0.data(), p["w1"].data(), p["b1"].data(), a1.data());
  ref::batch_norm_forward_train(bn1, a1.data(), p["g1"].data(), p["be1"].data(), T(kEps), true,
                                y1.data(), m1.data(), i1.data(), v1.data());
  ref::conv2d_forward(ss, y0.data(), p["ws"].data(), p["bs"].data(), sc.data());
  ref::conv2d_forward(s2, y1.data(), p["w2"].data(), p["b2"].data(), a2.data());
  ref::batch_norm_forward_train(bn2, a2.data(), p["g2"].data(), p["be2"].data(), T(kEps), false,
                                y2.data(), m2.data(), i2.data(), v2.data());
  ref::add_forward<T>(n2, y2.data(), sc.data(), z.data());
  ref::relu_forward<T>(n2, z.data(), r.data());
  std::vector<T> g = vec(kN * kC2), logits = vec(kN * kClasses), probs = vec(kN * kClasses);
  ref::global_avg_pool_forward(kN, kC2, HW, r.data(), g.data());
  ref::linear_forward(kN, kC2, kClasses, g.data(), p["wf"].data(), p["bf"].data(), logits.data());
  const T loss = ref::softmax_cross_entropy_forward<T>(kN, kClasses, logits.data(), p["t"].data(),
                                                       nullptr, probs.data());
  // Backward.
  std::vector<T> dlogits = vec(kN * kClasses), dg = vec(kN * kC2), dwf = vec(kClasses * kC2),
                 dbf = vec(kClasses), dr = vec(n2), dz = vec(n2), da2 = vec(n2), dy1 = vec(n1),
                 da1 = vec(n1), dy0a = vec(n1), dy0b = vec(n1), dy0 = vec(n1), da0 = vec(n1);
  Tensors out;
  auto keep = [&](const char* name, const std::vector<T>& v) {
    out[name] = std::vector<double>(v.begin(), v.end());
  };
  ref::softmax_cross_entropy_backward<T>(kN, kClasses, probs.data(), p["t"].data(), nullptr, T(1),
                                         dlogits.data());
  ref::linear_backward_data(kN, kC2, kClasses, dlogits.data(), p["wf"].data(), dg.data());
  ref::linear_backward_weights(kN, kC2, kClasses, g.data(), dlogits.data(), dwf.data(), dbf.data());
  ref::global_avg_pool_backward(kN, kC2, HW, dg.data(), dr.data());
  ref::relu_backward<T>(n2, r.data(), dr.data(), dz.data());
  std::vector<T> dg2 = vec(kC2), dbe2 = vec(kC2), dw2 = vec(s2.K * s2.C * 9), db2 = vec(kC2);
  ref::batch_norm_backward(bn2, a2.data(), y2.data(), dz.data(), p["g2"].data(), m2.data(),
                           i2.data(), false, da2.data(), dg2.data(), dbe2.data());
  ref::conv2d_backward_data(s2, da2.data(), p["w2"].data(), dy1.data());
  ref::conv2d_backward_weights(s2, y1.data(), da2.data(), dw2.data(), db2.data());
  std::vector<T> dg1 = vec(kC1), dbe1 = vec(kC1), dw1 = vec(s1.K * s1.C * 9), db1 = vec(kC1);
  ref::batch_norm_backward(bn1, a1.data(), y1.data(), dy1.data(), p["g1"].data(), m1.data(),
                           i1.data(), true, da1.data(), dg1.data(), dbe1.data());
  ref::conv2d_backward_data(s1, da1.data(), p["w1"].data(), dy0a.data());
  ref::conv2d_backward_weights(s1, y0.data(), da1.data(), dw1.data(), db1.data());
  std::vector<T> dws = vec(ss.K * ss.C), dbs = vec(kC2);
  ref::conv2d_backward_data(ss, dz.data(), p["ws"].data(), dy0b.data());
  ref::conv2d_backward_weights(ss, y0.data(), dz.data(), dws.data(), dbs.data());
  ref::add_forward<T>(n1, dy0a.data(), dy0b.data(), dy0.data());
  std::vector<T> dg0 = vec(kC1), dbe0 = vec(kC1), dw0 = vec(s0.K * s0.C * 9), db0 = vec(kC1);
  ref::batch_norm_backward(bn1, a0.data(), y0.data(), dy0.data(), p["g0"].data(), m0.data(),
                           i0.data(), true, da0.data(), dg0.data(), dbe0.data());
  ref::conv2d_backward_weights(s0, p["x"].data(), da0.data(), dw0.data(), db0.data());
  keep("logits", logits), keep("dwf", dwf), keep("dbf", dbf), keep("dgamma2", dg2);
  keep("dbeta2", dbe2), keep("dw2", dw2), keep("db2", db2), keep("dgamma1", dg1);
  keep("dbeta1", dbe1), keep("dw1", dw1), keep("db1", db1), keep("dws", dws), keep("dbs", dbs);
  keep("dgamma0", dg0), keep("dbeta0", dbe0), keep("dw0", dw0), keep("db0", db0);
  out["loss"] = {static_cast<double>(loss)};
  return out;
}

Tensors gpu_step(const Inputs& in) {
  std::map<std::string, std::unique_ptr<DeviceBuffer<float>>> p;
  for (const auto& kv : in.t) p[kv.first] = std::make_unique<DeviceBuffer<float>>(kv.second);
  auto P = [&](const char* name) { return p.at(name)->get(); };
  std::map<std::string, std::unique_ptr<DeviceBuffer<float>>> buf;
  auto B = [&](const char* name, std::size_t n) {
    auto& b = buf[name];
    if (!b) b = std::make_unique<DeviceBuffer<float>>(n, 0xff);
    return b->get();
  };
  const Conv2dShape s0 = conv(kC0, kC1, 3), s1 = conv(kC1, kC1, 3), ss = conv(kC1, kC2, 1),
                    s2 = conv(kC1, kC2, 3);
  const int HW = kH * kH;
  const BatchNormShape bn1{kN, kC1, HW}, bn2{kN, kC2, HW};
  const std::size_t n1 = static_cast<std::size_t>(kN) * kC1 * HW, n2 = n1 / kC1 * kC2;
  namespace cu = ecg::cuda;
  auto ok = [](cudaError_t e) { EXPECT_EQ(e, cudaSuccess); };
  ok(cu::conv2d_forward(s0, P("x"), P("w0"), P("b0"), B("a0", n1), nullptr));
  ok(cu::batch_norm_forward_train(bn1, B("a0", n1), P("g0"), P("be0"), kEps, true, B("y0", n1),
                                  B("m0", kC1), B("i0", kC1), B("v0", kC1), nullptr));
  ok(cu::conv2d_forward(s1, B("y0", n1), P("w1"), P("b1"), B("a1", n1), nullptr));
  ok(cu::batch_norm_forward_train(bn1, B("a1", n1), P("g1"), P("be1"), kEps, true, B("y1", n1),
                                  B("m1", kC1), B("i1", kC1), B("v1", kC1), nullptr));
  ok(cu::conv2d_forward(ss, B("y0", n1), P("ws"), P("bs"), B("sc", n2), nullptr));
  ok(cu::conv2d_forward(s2, B("y1", n1), P("w2"), P("b2"), B("a2", n2), nullptr));
  ok(cu::batch_norm_forward_train(bn2, B("a2", n2), P("g2"), P("be2"), kEps, false, B("y2", n2),
                                  B("m2", kC2), B("i2", kC2), B("v2", kC2), nullptr));
  ok(cu::add_forward(n2, B("y2", n2), B("sc", n2), B("z", n2), nullptr));
  ok(cu::relu_forward(n2, B("z", n2), B("r", n2), nullptr));
  ok(cu::global_avg_pool_forward(kN, kC2, HW, B("r", n2), B("g", kN * kC2), nullptr));
  ok(cu::linear_forward(kN, kC2, kClasses, B("g", kN * kC2), P("wf"), P("bf"),
                        B("logits", kN * kClasses), nullptr));
  ok(cu::softmax_xent_forward(kN, kClasses, B("logits", kN * kClasses), P("t"), nullptr,
                              B("probs", kN * kClasses), B("loss", 1), nullptr));
  // Backward.
  ok(cu::softmax_xent_backward(kN, kClasses, B("probs", kN * kClasses), P("t"), nullptr, 1.f,
                               B("dlogits", kN * kClasses), nullptr));
  ok(cu::linear_backward_data(kN, kC2, kClasses, B("dlogits", kN * kClasses), P("wf"),
                              B("dg", kN * kC2), nullptr));
  ok(cu::linear_backward_weights(kN, kC2, kClasses, B("g", kN * kC2), B("dlogits", kN * kClasses),
                                 B("dwf", kClasses * kC2), B("dbf", kClasses), nullptr));
  ok(cu::global_avg_pool_backward(kN, kC2, HW, B("dg", kN * kC2), B("dr", n2), nullptr));
  ok(cu::relu_backward(n2, B("r", n2), B("dr", n2), B("dz", n2), nullptr));
  ok(cu::batch_norm_backward(bn2, B("a2", n2), B("y2", n2), B("dz", n2), P("g2"), B("m2", kC2),
                             B("i2", kC2), false, B("da2", n2), B("dgamma2", kC2), B("dbeta2", kC2),
                             nullptr));
  auto bwd_weights = [&](const Conv2dShape& s, float* x, float* dy, const char* dw,
                         const char* db) {
    const long long ws = cu::conv2d_backward_weights_workspace(s);
    DeviceBuffer<float> work(static_cast<std::size_t>(ws > 0 ? ws : 1));
    ok(cu::conv2d_backward_weights(s, x, dy, B(dw, static_cast<std::size_t>(s.K) * s.C * s.R * s.S),
                                   B(db, s.K), work.get(), nullptr));
  };
  ok(cu::conv2d_backward_data(s2, B("da2", n2), P("w2"), B("dy1", n1), nullptr));
  bwd_weights(s2, B("y1", n1), B("da2", n2), "dw2", "db2");
  ok(cu::batch_norm_backward(bn1, B("a1", n1), B("y1", n1), B("dy1", n1), P("g1"), B("m1", kC1),
                             B("i1", kC1), true, B("da1", n1), B("dgamma1", kC1), B("dbeta1", kC1),
                             nullptr));
  ok(cu::conv2d_backward_data(s1, B("da1", n1), P("w1"), B("dy0a", n1), nullptr));
  bwd_weights(s1, B("y0", n1), B("da1", n1), "dw1", "db1");
  ok(cu::conv2d_backward_data(ss, B("dz", n2), P("ws"), B("dy0b", n1), nullptr));
  bwd_weights(ss, B("y0", n1), B("dz", n2), "dws", "dbs");
  ok(cu::add_forward(n1, B("dy0a", n1), B("dy0b", n1), B("dy0", n1), nullptr));
  ok(cu::batch_norm_backward(bn1, B("a0", n1), B("y0", n1), B("dy0", n1), P("g0"), B("m0", kC1),
                             B("i0", kC1), true, B("da0", n1), B("dgamma0", kC1), B("dbeta0", kC1),
                             nullptr));
  bwd_weights(s0, P("x"), B("da0", n1), "dw0", "db0");
  Tensors out;
  for (const char* name :
       {"logits", "loss", "dwf", "dbf", "dgamma2", "dbeta2", "dw2", "db2", "dgamma1", "dbeta1",
        "dw1", "db1", "dws", "dbs", "dgamma0", "dbeta0", "dw0", "db0"}) {
    const std::vector<float> h = buf.at(name)->to_host();
    out[name] = std::vector<double>(h.begin(), h.end());
  }
  return out;
}

TEST(CudaEmuTrainingChain, OneStepOfASmallResNetMatchesTheReferenceChain) {
  const Inputs in;
  const Tensors exact = reference_step<double>(in), rounded = reference_step<float>(in);
  for_each_kernel_schedule([&](const ScheduleSpec&) {
    const Tensors got = gpu_step(in);
    for (const auto& kv : exact) {
      const std::vector<double>& want = kv.second;
      const std::vector<double>& f = rounded.at(kv.first);
      double spread = 0, magnitude = 0;
      for (std::size_t i = 0; i < want.size(); ++i) {
        spread = std::max(spread, std::fabs(f[i] - want[i]));
        magnitude = std::max(magnitude, std::fabs(want[i]));
      }
      const double bound = kChainSpreadFactor * spread + 64 * kFloatUnitRoundoff * magnitude;
      const std::vector<double>& g = got.at(kv.first);
      expect_close(std::vector<float>(g.begin(), g.end()), want, bound, kv.first);
    }
  });
}

}  // namespace
