// One fixed int8 network, the same bytes on every machine: a ResNet-11-shaped
// chain (3-channel stem, a stage-0 block with a 1x1 shortcut and the fused
// residual add, a stride-2 block with TensorFlow 'same' padding, max and
// average pool, a dense layer with int32 output) at 20x20, run with every
// int8 kernel this CPU and build offer. Each layer's output is compared with
// the reference kernel's byte for byte, and the hash of all outputs with a
// constant recorded on x86-64 (AVX2/AVX-512 VNNI), so the aarch64 run under
// qemu (tools/ci/aarch64_qemu.sh) proves NEON = x86 = reference.
//
// Everything that feeds the kernels is portable on purpose: raw
// std::mt19937_64 words (the standard fixes its sequence; its distributions
// are not), and multipliers from make_requant/make_add_requant, whose double
// arithmetic is exact IEEE on both architectures.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/int8_api.h"

namespace {

using ecg::Conv2dShape;
using ecg::Pool2dShape;
using ecg::int8::ConvInt8Params;
using ecg::int8::Int8Kernel;

// FNV-1a over the bytes of every layer output, in order.
struct Hash {
  uint64_t h = 1469598103934665603ull;
  void add(const void* p, size_t n) {
    const unsigned char* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  }
};

int8_t rand_act(std::mt19937_64& g) {
  return static_cast<int8_t>(static_cast<uint8_t>(g() >> 56));
}
int8_t rand_weight(std::mt19937_64& g, int mag) {
  return static_cast<int8_t>(static_cast<int>((g() >> 32) % (2 * mag + 1)) - mag);
}

struct Layer {
  ConvInt8Params p;
  std::vector<int8_t> w;
};

// A conv layer with TensorFlow 'same' padding, random weights whose
// magnitude bound `wmag` keeps the outputs spread over the int8 range, a
// multiplier from plausible scales, and ReLU when `relu`.
Layer make_conv(std::mt19937_64& g, int C, int H, int K, int R, int stride, bool relu, int zp_in,
                int zp_out, int wmag) {
  Layer l;
  Conv2dShape& s = l.p.shape;
  s.C = C;
  s.H = s.W = H;
  s.K = K;
  s.R = s.S = R;
  s.stride_h = s.stride_w = stride;
  ecg::tf_same_padding(H, R, stride, s.pad_top, s.pad_bottom);
  ecg::tf_same_padding(H, R, stride, s.pad_left, s.pad_right);
  ecg::conv2d_finalize(s);
  l.w.resize(static_cast<size_t>(K) * C * R * R);
  for (int8_t& v : l.w) v = rand_weight(g, wmag);
  l.p.zp_in = zp_in;
  l.p.zp_out = zp_out;
  l.p.qmin = relu ? zp_out : -128;
  l.p.qmax = 127;
  const double fan_in = static_cast<double>(C) * R * R;
  for (int k = 0; k < K; ++k) {
    l.p.bias.push_back(static_cast<int32_t>(g() % 20001) - 10000);
    // s_in * s_w[k] / s_out: about 4 / (wmag * sqrt(fan_in)), varied per channel.
    const double m = (3.0 + static_cast<double>(g() % 1000) / 500.0) / (wmag * std::sqrt(fan_in));
    l.p.requant.push_back(ecg::int8::make_requant(m));
  }
  return l;
}

std::vector<int8_t> conv(const Layer& l, Int8Kernel k, int N, const std::vector<int8_t>& x,
                         const std::vector<int8_t>* res = nullptr) {
  const Conv2dShape& s = l.p.shape;
  std::vector<int8_t> y(static_cast<size_t>(N) * s.P * s.Q * s.K);
  ecg::int8::pack_conv_int8(l.p, l.w.data(), k)
      ->run(N, x.data(), y.data(), res ? res->data() : nullptr);
  return y;
}

// Runs the network with kernel k; returns every layer's output, in order.
std::vector<std::vector<int8_t>> run_network(Int8Kernel k) {
  std::mt19937_64 g(20261126);
  const int N = 2, H = 20;
  std::vector<std::vector<int8_t>> outs;
  std::vector<int8_t> x(static_cast<size_t>(N) * H * H * 3);
  for (int8_t& v : x) v = rand_act(g);

  Layer stem = make_conv(g, 3, H, 16, 3, 1, true, 5, -100, 127);
  outs.push_back(conv(stem, k, N, x));
  // Stage 0: y = conv2(conv1(x)), shortcut 1x1, out = ReLU(shortcut + y) fused into conv2.
  Layer c1 = make_conv(g, 16, H, 16, 3, 1, true, -100, -90, 40);
  Layer sc = make_conv(g, 16, H, 64, 1, 1, false, -100, 3, 90);
  Layer c2 = make_conv(g, 16, H, 64, 3, 1, false, -90, -7, 40);
  c2.p.residual = true;
  c2.p.add = ecg::int8::make_add_requant(0.05, -7, 0.04, 3, 0.06, -128, -128, 127);
  outs.push_back(conv(c1, k, N, outs.back()));
  const std::vector<int8_t> shortcut = conv(sc, k, N, outs[0]);
  outs.push_back(shortcut);
  outs.push_back(conv(c2, k, N, outs[1], &shortcut));
  // Stage 1: stride 2 ('same' pads 0 before, 1 after on an even size), odd channel count 24.
  Layer d1 = make_conv(g, 64, H, 24, 3, 2, true, -128, -120, 30);
  Layer d2 = make_conv(g, 24, H / 2, 40, 3, 1, false, -120, 11, 40);
  Layer dsc = make_conv(g, 64, H, 40, 1, 2, false, -128, -2, 60);
  d2.p.residual = true;
  d2.p.add = ecg::int8::make_add_requant(0.07, 11, 0.03, -2, 0.08, -128, -128, 127);
  outs.push_back(conv(d1, k, N, outs[3]));
  const std::vector<int8_t> dshort = conv(dsc, k, N, outs[3]);
  outs.push_back(dshort);
  outs.push_back(conv(d2, k, N, outs[4], &dshort));
  // Max pool 2x2/2 then average pool 5x5/5 ('same' is not needed: 10 -> 5 -> 1).
  Pool2dShape mp;
  mp.N = N;
  mp.C = 40;
  mp.H = mp.W = H / 2;
  ecg::pool2d_finalize(mp);
  std::vector<int8_t> pooled(static_cast<size_t>(N) * mp.P * mp.Q * mp.C);
  ecg::int8::max_pool_int8(mp, outs.back().data(), pooled.data());
  outs.push_back(pooled);
  Pool2dShape ap = mp;
  ap.H = ap.W = mp.P;
  ap.R = ap.S = ap.stride_h = ap.stride_w = 5;
  ecg::pool2d_finalize(ap);
  const auto app = ecg::int8::make_avg_pool_int8(ap, 0.08, -128, 0.05, -128);
  std::vector<int8_t> avg(static_cast<size_t>(N) * ap.P * ap.Q * ap.C);
  ecg::int8::avg_pool_int8(app, pooled.data(), avg.data());
  outs.push_back(avg);
  // Dense 40 -> 4 with int32 output (the dequantizing head).
  Layer fc;
  fc.p = ecg::int8::dense_int8_params(40, 4);
  fc.p.output = ecg::int8::OutputMode::Int32;
  fc.p.zp_in = -128;
  for (int j = 0; j < 4; ++j) fc.p.bias.push_back(static_cast<int32_t>(g() % 2001) - 1000);
  fc.w.resize(160);
  for (int8_t& v : fc.w) v = rand_weight(g, 127);
  std::vector<int32_t> logits(static_cast<size_t>(N) * 4);
  ecg::int8::pack_conv_int8(fc.p, fc.w.data(), k)->run(N, avg.data(), logits.data(), nullptr);
  std::vector<int8_t> bytes(logits.size() * 4);
  for (size_t i = 0; i < logits.size(); ++i)
    for (int b = 0; b < 4; ++b)  // little-endian on purpose: the hash must not depend on the host
      bytes[4 * i + b] = static_cast<int8_t>(static_cast<uint32_t>(logits[i]) >> (8 * b));
  outs.push_back(bytes);
  return outs;
}

// Recorded on x86-64 with the reference kernel; every kernel on every
// architecture must reproduce it.
constexpr uint64_t kNetworkHash = 0x9f2aec54a77e2da7ull;

TEST(Int8CrossArch, EveryKernelMatchesTheReferenceAndTheRecordedHash) {
  const auto ref = run_network(Int8Kernel::Ref);
  // The network must exercise the int8 range, not collapse to a constant.
  for (size_t l = 0; l + 1 < ref.size(); ++l) {
    int lo = 127, hi = -128;
    for (int8_t v : ref[l]) {
      lo = std::min<int>(lo, v);
      hi = std::max<int>(hi, v);
    }
    EXPECT_GE(hi - lo, 64) << "layer " << l << " output spans only [" << lo << ", " << hi << "]";
  }
  Hash want;
  for (const auto& o : ref) want.add(o.data(), o.size());
  EXPECT_EQ(want.h, kNetworkHash) << "the reference's bytes differ from the x86-64 recording";
  int tested = 0;
  for (Int8Kernel k : {Int8Kernel::Generic, Int8Kernel::Avx2, Int8Kernel::AvxVnni,
                       Int8Kernel::Avx512Vnni, Int8Kernel::Neon, Int8Kernel::NeonDot}) {
    if (!ecg::int8::int8_kernel_supported(k)) continue;
    ++tested;
    const auto got = run_network(k);
    ASSERT_EQ(got.size(), ref.size());
    for (size_t l = 0; l < ref.size(); ++l) {
      int64_t bad = 0, first = -1;
      for (size_t i = 0; i < ref[l].size(); ++i)
        if (got[l][i] != ref[l][i] && bad++ == 0) first = static_cast<int64_t>(i);
      EXPECT_EQ(bad, 0) << ecg::int8::int8_kernel_name(k) << " layer " << l << ": " << bad << " of "
                        << ref[l].size() << " bytes differ, first at " << first << " (got "
                        << int(got[l][first < 0 ? 0 : first]) << ", want "
                        << int(ref[l][first < 0 ? 0 : first]) << ")";
    }
  }
  std::printf("int8 network: %d kernels besides the reference, hash %016llx\n", tested,
              static_cast<unsigned long long>(want.h));
}

}  // namespace
