// Host side of the FP16 convolution (kernels/cuda/conv_fp16.cuh): the int8
// runner's packed weights (conv_int8_pack.h, the same bytes) plus what the
// FP16 path needs per output channel, computed once at load time:
//
//   stage [K][2]  half2 bits (2^-e, 2^-e) and (-1152 * 2^-e, -1152 * 2^-e):
//                 the exact staging of q as q * 2^-e (conv_fp16.cuh);
//   scale [K]     m = s_w * 2^e, applied in float in the epilogue;
//   bias  [K]     the real bias s_in * s_w * bias_i32 of the int8 graph.
//
// e = -round(log2 s_w), clamped to [-5, 24] so that q * 2^-e, 1152 * 2^-e and
// (1152 + q) * 2^-e stay exact halves (|q| <= 127). Host C++ (C++17), never
// compiled by nvcc.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cuda/conv_int8_pack.h"
#include "kernels/cuda/fp16_args.h"
#include "kernels/int8_api.h"

namespace ecg::cuda {

struct ConvFp16Packed {
  ConvFp16Args args{};  // geometry and flags; device pointers filled by the caller
  std::vector<int8_t> weights;
  std::vector<uint32_t> stage;
  std::vector<float> scale, bias;
};

struct Fp16WeightScale {
  int e = 0;       // staged weight = q * 2^-e
  float m = 0.f;   // s_w = m * 2^-e
  uint32_t p = 0;  // half2 bits of (2^-e, 2^-e)
  uint32_t c = 0;  // half2 bits of (-1152 * 2^-e, -1152 * 2^-e)
};

inline Fp16WeightScale fp16_weight_scale(float s_w) {
  Fp16WeightScale r;
  if (std::isfinite(s_w) && s_w > 0.f)
    r.e = std::min(24, std::max(-5, -static_cast<int>(std::lround(std::log2(s_w)))));
  r.m = std::isfinite(s_w) ? std::ldexp(s_w, r.e) : 0.f;  // exact: a power of two
  // Half bits, exact for e in [-5, 24]: 2^-e (subnormal below 2^-14), and
  // -1152 * 2^-e = -1.125 * 2^(10 - e) (always normal).
  const uint32_t p = r.e <= 14 ? static_cast<uint32_t>(15 - r.e) << 10 : 1u << (24 - r.e);
  const uint32_t c = 0x8000u | (static_cast<uint32_t>(25 - r.e) << 10) | 0x80u;
  r.p = p | (p << 16);
  r.c = c | (c << 16);
  return r;
}

// relu: max(0, .) after the (optional) residual add. s_in: the input tensor's
// scale, w_scale: s_w per output channel (the int8 graph's).
inline ConvFp16Packed pack_conv_fp16(const int8::ConvInt8Params& p, const int8_t* w_oihw,
                                     const float* w_scale, float s_in, bool relu) {
  ConvInt8Packed i8 = ::ecg::cuda::pack_conv_int8(p, w_oihw);
  ConvFp16Packed out;
  const ConvInt8Args& s = i8.args;
  ConvFp16Args& a = out.args;
  a.N = s.N, a.C = s.C, a.H = s.H, a.W = s.W, a.K = s.K, a.R = s.R, a.S = s.S;
  a.stride_h = s.stride_h, a.stride_w = s.stride_w, a.pad_top = s.pad_top;
  a.pad_left = s.pad_left, a.P = s.P, a.Q = s.Q, a.Cp = s.Cp;
  a.relu = relu ? 1 : 0;
  a.residual = p.residual ? 1 : 0;
  a.out_float = p.output == int8::OutputMode::Int32 ? 1 : 0;
  out.weights = std::move(i8.weights);
  out.stage.resize(2 * static_cast<size_t>(s.K));
  out.scale.resize(s.K);
  out.bias.resize(s.K);
  for (int k = 0; k < s.K; ++k) {
    const Fp16WeightScale ws = fp16_weight_scale(w_scale[k]);
    out.stage[2 * k] = ws.p;
    out.stage[2 * k + 1] = ws.c;
    out.scale[k] = ws.m;
    const double b = p.bias.empty() ? 0.0 : static_cast<double>(p.bias[k]);
    out.bias[k] = static_cast<float>(b * s_in * w_scale[k]);
  }
  return out;
}

}  // namespace ecg::cuda
