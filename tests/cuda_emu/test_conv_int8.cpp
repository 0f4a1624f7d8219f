// CUDA int8 convolution (kernels/cuda/conv_int8.cuh) on the emulator: byte
// for byte against the scalar integer reference (kernels/ref/int8_ref.h),
// under three schedules. Built twice: as sm_53 (ECG_EMU_ARCH 530: the exact
// FP32 path; the dp4a path must be refused) and as sm_61 (610: both paths).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cuda/conv_int8.cuh"
#include "kernels/cuda/conv_int8_pack.h"
#include "kernels/ref/int8_ref.h"
#include "tests/cuda_emu/emu_testing.h"
#include "tests/cuda_emu/kernel_check.h"

namespace {

using ecg::Conv2dShape;
using ecg::cuda::ConvInt8Path;
using ecg::cuda_emu::ScheduleSpec;
using namespace ecg::cuda_emu::testing;
namespace int8 = ecg::int8;

#if defined(__CUDACC__)  // a real GPU (tools/ci/cuda_gpu_check.sh): ask it
const int kComputeCapability = [] {
  cudaDeviceProp prop{};
  return cudaGetDeviceProperties(&prop, 0) == cudaSuccess ? prop.major * 10 + prop.minor : 0;
}();
#else
constexpr int kComputeCapability = ECG_EMU_ARCH / 10;
#endif

struct Lcg {
  uint32_t s;
  int next(int lo, int hi) {  // uniform-ish in [lo, hi]
    s = s * 1664525u + 1013904223u;
    return lo + static_cast<int>((s >> 8) % static_cast<uint32_t>(hi - lo + 1));
  }
};

// M = m * 2^-n encoded as int8_api.h says (without the library's make_requant,
// which these library-free tests do not link): M0 = round(m * 2^31), t = 31 + n.
int8::Requant requant_of(double M) {
  int e = 0;
  const double m = std::frexp(M, &e);
  int8::Requant r;
  long long m0 = std::llround(m * 2147483648.0);
  int t = 31 - e;
  if (m0 == (1LL << 31)) m0 = 1LL << 30, --t;
  r.m0 = static_cast<int32_t>(m0);
  r.shift = t;
  return r;
}

struct Case {
  std::string name;
  Conv2dShape s;
  int zp_in;
  bool relu, residual, out_int32;
  bool extreme = false;  // x and w mostly -127: sums past 2^24
};

Conv2dShape shape(int N, int C, int H, int W, int K, int R, int S, int st, int pt, int pl, int pb,
                  int pr) {
  return conv_shape(N, C, H, W, K, R, S, st, st, pt, pl, pb, pr);
}

// The stem's 3 channels (bytes assembled per word), C a multiple of 4 (one
// load per word), an odd C over 4, stride 2 with TensorFlow's asymmetric
// padding, a 1x1 stride-2 shortcut, batch > 1, K over one 64-channel tile,
// a reduction of 1,152 products (over the float path's 1,024 per float sum,
// so split in two),
// residual add, ReLU clamp and int32 output, and two dense layers (1x1
// convolutions of 1x1 images, run by the warp-per-output kernel).
std::vector<Case> cases() {
  return {
      {"stem-like C3 relu", shape(2, 3, 9, 10, 16, 3, 3, 1, 1, 1, 1, 1), -128, true, false, false},
      {"C8 stride 2 same", shape(1, 8, 11, 9, 24, 3, 3, 2, 0, 0, 1, 1), 5, false, false, false},
      {"C5 residual", shape(2, 5, 7, 6, 70, 3, 3, 1, 1, 1, 1, 1), -3, true, true, false},
      {"1x1 stride 2 int32", shape(3, 12, 9, 9, 20, 1, 1, 2, 0, 0, 0, 0), 17, false, false, true},
      {"C128 split int32", shape(1, 128, 5, 5, 16, 3, 3, 1, 1, 1, 1, 1), -7, false, false, true,
       true},
      {"dense 70->4 int32", shape(3, 70, 1, 1, 4, 1, 1, 1, 0, 0, 0, 0), 9, false, false, true},
      {"dense 37->5 relu", shape(2, 37, 1, 1, 5, 1, 1, 1, 0, 0, 0, 0), -2, true, false, false}};
}

TEST(CudaEmuConvInt8, BitExactWithTheIntegerReference) {
  Lcg rng{12345u};
  for (const Case& c : tsan_subset(cases(), {0, 2})) {
    SCOPED_TRACE(c.name);
    const Conv2dShape& s = c.s;
    int8::ConvInt8Params p;
    p.shape = s;
    p.zp_in = c.zp_in;
    std::vector<int8_t> w(static_cast<std::size_t>(s.K) * s.C * s.R * s.S);
    for (auto& v : w) v = static_cast<int8_t>(rng.next(-127, 127));
    std::vector<int8_t> x(static_cast<std::size_t>(s.N) * s.H * s.W * s.C);
    for (auto& v : x) v = static_cast<int8_t>(rng.next(-128, 127));
    if (c.extreme) {
      // Odd products 127 * 127 = 16,129, 1,152 of them: 18.6 M > 2^24, where
      // float spacing is 2. The float path is exact only because it splits
      // the reduction at 1,024 products (checked: without the split this
      // case fails).
      for (auto& v : w) v = rng.next(0, 49) ? -127 : v;
      for (auto& v : x) v = rng.next(0, 49) ? -127 : v;
    }
    p.bias.resize(s.K);
    for (auto& b : p.bias) b = rng.next(-20000, 20000);
    const std::size_t ny = static_cast<std::size_t>(s.N) * s.P * s.Q * s.K;
    std::vector<int8_t> res(ny);
    for (auto& v : res) v = static_cast<int8_t>(rng.next(-128, 127));

    // Scale each channel so its outputs span int8 and some saturate.
    p.output = int8::OutputMode::Int32;
    std::vector<int32_t> acc(ny);
    ecg::ref::conv_int8(p, s.N, w.data(), x.data(), acc.data(), nullptr);
    double max_abs = 1;
    for (int32_t v : acc) max_abs = std::max(max_abs, std::fabs(static_cast<double>(v)));
    p.output = c.out_int32 ? int8::OutputMode::Int32 : int8::OutputMode::Int8;
    p.zp_out = -5;
    p.qmin = c.relu ? p.zp_out : -128;
    p.qmax = 127;
    for (int k = 0; k < s.K; ++k) p.requant.push_back(requant_of((60.0 + 7 * k) / max_abs));
    if (c.residual) {
      p.residual = true;
      p.add.zp_a = p.zp_out, p.add.zp_b = 3, p.add.mul_a = 1 << 19, p.add.mul_b = 3 << 18;
      p.add.shift = 20, p.add.zp_out = 2, p.add.qmin = -128, p.add.qmax = 127;
    }

    const std::size_t out_bytes = ny * (c.out_int32 ? 4 : 1);
    std::vector<uint8_t> want(out_bytes);
    ecg::ref::conv_int8(p, s.N, w.data(), x.data(), want.data(), res.data());

    ecg::cuda::ConvInt8Packed packed = ecg::cuda::pack_conv_int8(p, w.data());
    for (ConvInt8Path path : {ConvInt8Path::kF32, ConvInt8Path::kDp4a}) {
      const bool supported = ecg::cuda::conv_int8_path_supported(path, kComputeCapability);
      SCOPED_TRACE(path == ConvInt8Path::kF32 ? "f32 path" : "dp4a path");
      for_each_kernel_schedule([&](const ScheduleSpec&) {
        DeviceBuffer<int8_t> dw(packed.weights), dx(x), dres(res);
        DeviceBuffer<int32_t> dbias(packed.bias), dm0(packed.m0), dshift(packed.shift);
        DeviceBuffer<uint8_t> dy(out_bytes, 0xa5);
        ecg::cuda::ConvInt8Args a = packed.args;
        a.w = reinterpret_cast<const signed char*>(dw.get());
        a.bias = dbias.get(), a.m0 = dm0.get(), a.shift = dshift.get();
        const long long ws = ecg::cuda::conv_int8_workspace_bytes(a, path);
        DeviceBuffer<uint8_t> dws(static_cast<std::size_t>(ws > 0 ? ws : 1), 0xa5);
        const cudaError_t e = ecg::cuda::conv_int8(
            a, path, kComputeCapability, reinterpret_cast<const signed char*>(dx.get()), dy.get(),
            reinterpret_cast<const signed char*>(dres.get()), dws.get(), nullptr);
        if (!supported) {
          EXPECT_EQ(e, cudaErrorInvalidValue) << "dp4a launched below sm_61";
          return;
        }
        ASSERT_EQ(e, cudaSuccess);
        const std::vector<uint8_t> got = dy.to_host();
        std::size_t bad = 0, first = got.size();
        for (std::size_t i = 0; i < got.size(); ++i)
          if (got[i] != want[i]) {
            ++bad;
            first = std::min(first, i);
          }
        EXPECT_EQ(bad, 0u) << bad << " of " << got.size() << " bytes differ; first at byte "
                           << first;
      });
    }
  }
}

}  // namespace

namespace {

// One layer of the int8 network test: parameters, weights, and the output the
// integer reference computes from the reference chain's input.
struct Int8Layer {
  int8::ConvInt8Params p;
  std::vector<int8_t> w;
  int input = -1, residual = -1;  // indices of earlier activations (-1: the image / none)
  int zp_next = 0;                // zero point of the output (after the add, if any)
};

// Parameters for a layer reading `x`: random weights and bias, multipliers set
// from the layer's own accumulators so that outputs span int8.
Int8Layer make_int8_layer(Lcg& rng, const Conv2dShape& s, int zp_in, bool relu, bool out_int32,
                          const std::vector<int8_t>& x) {
  Int8Layer l;
  l.p.shape = s;
  l.p.zp_in = zp_in;
  l.w.resize(static_cast<std::size_t>(s.K) * s.C * s.R * s.S);
  for (auto& v : l.w) v = static_cast<int8_t>(rng.next(-127, 127));
  l.p.bias.resize(s.K);
  for (auto& b : l.p.bias) b = rng.next(-5000, 5000);
  l.p.output = int8::OutputMode::Int32;
  std::vector<int32_t> acc(static_cast<std::size_t>(s.N) * s.P * s.Q * s.K);
  ecg::ref::conv_int8(l.p, s.N, l.w.data(), x.data(), acc.data(), nullptr);
  double max_abs = 1;
  for (int32_t v : acc) max_abs = std::max(max_abs, std::fabs(static_cast<double>(v)));
  l.p.output = out_int32 ? int8::OutputMode::Int32 : int8::OutputMode::Int8;
  l.p.zp_out = rng.next(-10, 10);
  l.p.qmin = relu ? l.p.zp_out : -128;
  l.p.qmax = 127;
  for (int k = 0; k < s.K; ++k) l.p.requant.push_back(requant_of((90.0 + k) / max_abs));
  return l;
}

// A small ResNet in the study's shape, int8 NHWC, batch 2 on 19x19 images:
// stem 3->8 (ReLU); block 8->16 (conv1 ReLU, 1x1 shortcut, conv2 with the
// fused residual add and ReLU); block 16->24 with stride 2 (TensorFlow's
// asymmetric padding) and a 1x1 stride-2 shortcut; dense 2400->4 to int32.
// Every activation stays on the device from layer to layer, as in an
// inference run; every one of them must equal the reference chain's bytes.
TEST(CudaEmuConvInt8, SmallResNetChainBitExact) {
  Lcg rng{777u};
  const int N = ecg::cuda_emu::race_detection() ? 1 : 2;  // ThreadSanitizer: one image
  std::vector<int8_t> image(static_cast<std::size_t>(N) * 19 * 19 * 3);
  for (auto& v : image) v = static_cast<int8_t>(rng.next(-128, 127));
  std::vector<Int8Layer> layers;
  std::vector<std::vector<int8_t>> acts;  // reference activations, one per layer
  auto add = [&](const Conv2dShape& s, int input, bool relu, bool out_int32, int residual) {
    const std::vector<int8_t>& x = input < 0 ? image : acts[input];
    const int zp_in = input < 0 ? 0 : layers[input].zp_next;
    Int8Layer l = make_int8_layer(rng, s, zp_in, relu, out_int32, x);
    l.input = input;
    l.residual = residual;
    if (residual >= 0) {
      l.p.residual = true;
      l.p.add.zp_a = l.p.zp_out, l.p.add.zp_b = layers[residual].zp_next;
      l.p.add.mul_a = 1 << 19, l.p.add.mul_b = 5 << 17, l.p.add.shift = 20;
      l.p.add.zp_out = rng.next(-4, 4), l.p.add.qmin = l.p.add.zp_out, l.p.add.qmax = 127;
    }
    const std::size_t ny = static_cast<std::size_t>(s.N) * s.P * s.Q * s.K;
    std::vector<int8_t> y(ny * (out_int32 ? 4 : 1));
    ecg::ref::conv_int8(l.p, s.N, l.w.data(), x.data(), y.data(),
                        residual >= 0 ? acts[residual].data() : nullptr);
    l.zp_next = residual >= 0 ? l.p.add.zp_out : l.p.zp_out;
    layers.push_back(l);
    acts.push_back(y);
    return static_cast<int>(layers.size()) - 1;
  };
  const int stem = add(shape(N, 3, 19, 19, 8, 3, 3, 1, 1, 1, 1, 1), -1, true, false, -1);
  const int b0c1 = add(shape(N, 8, 19, 19, 8, 3, 3, 1, 1, 1, 1, 1), stem, true, false, -1);
  const int b0sc = add(shape(N, 8, 19, 19, 16, 1, 1, 1, 0, 0, 0, 0), stem, false, false, -1);
  const int b0c2 = add(shape(N, 8, 19, 19, 16, 3, 3, 1, 1, 1, 1, 1), b0c1, false, false, b0sc);
  const int b1c1 = add(shape(N, 16, 19, 19, 16, 3, 3, 2, 1, 1, 1, 1), b0c2, true, false, -1);
  const int b1sc = add(shape(N, 16, 19, 19, 24, 1, 1, 2, 0, 0, 0, 0), b0c2, false, false, -1);
  const int b1c2 = add(shape(N, 16, 10, 10, 24, 3, 3, 1, 1, 1, 1, 1), b1c1, false, false, b1sc);
  add(shape(N, 2400, 1, 1, 4, 1, 1, 1, 0, 0, 0, 0), b1c2, false, true, -1);
  // A chain that saturated or collapsed to a constant would pass trivially.
  for (std::size_t i = 0; i + 1 < acts.size(); ++i) {
    std::vector<bool> seen(256, false);
    for (int8_t v : acts[i]) seen[static_cast<uint8_t>(v)] = true;
    EXPECT_GE(std::count(seen.begin(), seen.end(), true), 40) << "layer " << i;
  }

  for (ConvInt8Path path : {ConvInt8Path::kF32, ConvInt8Path::kDp4a}) {
    if (!ecg::cuda::conv_int8_path_supported(path, kComputeCapability)) continue;
    SCOPED_TRACE(path == ConvInt8Path::kF32 ? "f32 path" : "dp4a path");
    for_each_kernel_schedule([&](const ScheduleSpec&) {
      DeviceBuffer<int8_t> dimage(image);
      std::vector<std::unique_ptr<DeviceBuffer<int8_t>>> dacts;
      for (std::size_t i = 0; i < layers.size(); ++i) {
        const Int8Layer& l = layers[i];
        const ecg::cuda::ConvInt8Packed packed = ecg::cuda::pack_conv_int8(l.p, l.w.data());
        DeviceBuffer<int8_t> dw(packed.weights);
        DeviceBuffer<int32_t> dbias(packed.bias), dm0(packed.m0), dshift(packed.shift);
        dacts.push_back(std::make_unique<DeviceBuffer<int8_t>>(acts[i].size(), 0xa5));
        ecg::cuda::ConvInt8Args a = packed.args;
        a.w = reinterpret_cast<const signed char*>(dw.get());
        a.bias = dbias.get(), a.m0 = dm0.get(), a.shift = dshift.get();
        const long long ws = ecg::cuda::conv_int8_workspace_bytes(a, path);
        DeviceBuffer<uint8_t> dws(static_cast<std::size_t>(ws > 0 ? ws : 1));
        const int8_t* in = l.input < 0 ? dimage.get() : dacts[l.input]->get();
        const int8_t* res = l.residual < 0 ? nullptr : dacts[l.residual]->get();
        ASSERT_EQ(
            ecg::cuda::conv_int8(a, path, kComputeCapability,
                                 reinterpret_cast<const signed char*>(in), dacts[i]->get(),
                                 reinterpret_cast<const signed char*>(res), dws.get(), nullptr),
            cudaSuccess);
        EXPECT_EQ(dacts[i]->to_host(), acts[i]) << "layer " << i << " differs from the reference";
      }
    });
  }
}

}  // namespace
