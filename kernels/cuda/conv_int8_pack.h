// Host side of the CUDA int8 convolution (kernels/cuda/conv_int8.cuh): packs
// the weights and epilogue constants of an int8::ConvInt8Params once, at load
// time, into the arrays the kernels read. Host C++ (C++17), never compiled by
// nvcc, so it may use the int8 API's types directly.
//
//   weights [K][R][S][Cp] int8, Cp = C rounded up to 4, zeros in the padding
//           channels (one 4-byte word = 4 channels of one tap, for __dp4a);
//   bias    [K] int32: bias[k] - zp_in * sum_{c,r,s} w[k,c,r,s], modulo 2^32
//           (the kernels read x = zp_in in the spatial padding, so the folded
//           term cancels exactly there);
//   m0, shift [K]: the Requant of each channel.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cuda/int8_args.h"
#include "kernels/int8_api.h"

namespace ecg::cuda {

struct ConvInt8Packed {
  ConvInt8Args args{};  // geometry and scalars; device pointers filled by the caller
  std::vector<int8_t> weights;
  std::vector<int32_t> bias, m0, shift;
};

inline ConvInt8Packed pack_conv_int8(const int8::ConvInt8Params& p, const int8_t* w_oihw) {
  const Conv2dShape& s = p.shape;
  ConvInt8Packed out;
  ConvInt8Args& a = out.args;
  a.N = s.N, a.C = s.C, a.H = s.H, a.W = s.W, a.K = s.K, a.R = s.R, a.S = s.S;
  a.stride_h = s.stride_h, a.stride_w = s.stride_w, a.pad_top = s.pad_top;
  a.pad_left = s.pad_left, a.P = s.P, a.Q = s.Q;
  a.Cp = (s.C + 3) / 4 * 4;
  a.zp_in = p.zp_in;
  a.zp_out = p.zp_out, a.qmin = p.qmin, a.qmax = p.qmax;
  a.out_int32 = p.output == int8::OutputMode::Int32 ? 1 : 0;
  a.residual = p.residual ? 1 : 0;
  a.add_zp_a = p.add.zp_a, a.add_zp_b = p.add.zp_b, a.add_mul_a = p.add.mul_a;
  a.add_mul_b = p.add.mul_b, a.add_shift = p.add.shift, a.add_zp_out = p.add.zp_out;
  a.add_qmin = p.add.qmin, a.add_qmax = p.add.qmax;

  const std::size_t row = static_cast<std::size_t>(s.R) * s.S * a.Cp;
  out.weights.assign(static_cast<std::size_t>(s.K) * row, 0);
  out.bias.resize(s.K);
  out.m0.resize(s.K);
  out.shift.resize(s.K);
  for (int k = 0; k < s.K; ++k) {
    uint32_t wsum = 0;
    for (int c = 0; c < s.C; ++c)
      for (int r = 0; r < s.R; ++r)
        for (int t = 0; t < s.S; ++t) {
          const int8_t v = w_oihw[((static_cast<std::size_t>(k) * s.C + c) * s.R + r) * s.S + t];
          out.weights[k * row + (static_cast<std::size_t>(r) * s.S + t) * a.Cp + c] = v;
          wsum += static_cast<uint32_t>(static_cast<int32_t>(v));
        }
    const uint32_t b = static_cast<uint32_t>(p.bias.empty() ? 0 : p.bias[k]);
    out.bias[k] = static_cast<int32_t>(b - static_cast<uint32_t>(p.zp_in) * wsum);
    const int8::Requant rq = p.requant.empty() ? int8::Requant{} : p.requant[k];
    out.m0[k] = rq.m0;
    out.shift[k] = rq.shift;
  }
  return out;
}

}  // namespace ecg::cuda
