// Scalar integer reference of every int8 kernel: the spec the fast kernels
// must match byte for byte (contract and arithmetic in kernels/int8_api.h).
//
// Activations int8 NHWC, conv weights int8 OIHW, output NPQK. Accumulation in
// int32 modulo 2^32: the sums run in uint32 so that a wrap (never reached by
// real layers) is defined behaviour and order-independent, exactly like the
// wrapping vpmaddwd/vpaddd and vpdpbusd adds of the SIMD kernels.
// The zero point is subtracted per term here, the obviously-right form; the
// fast kernels fold it into the bias instead, which is the same modulo 2^32.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/int8_api.h"
#include "kernels/window_taps.h"

namespace ecg::ref {

// Accumulator of output (n, p, q, k), bias included.
inline int32_t conv_int8_acc(const int8::ConvInt8Params& prm, const int8_t* w, const int8_t* x,
                             int n, int p, int q, int k) {
  const Conv2dShape& s = prm.shape;
  uint32_t acc = static_cast<uint32_t>(prm.bias.empty() ? 0 : prm.bias[k]);
  for_each_window_tap(s, p, q, [&](int r, int t, int h, int v) {
    const int8_t* xp = x + ((static_cast<int64_t>(n) * s.H + h) * s.W + v) * s.C;
    for (int c = 0; c < s.C; ++c) {
      const int32_t xv = xp[c] - prm.zp_in;
      const int32_t wv = w[((static_cast<int64_t>(k) * s.C + c) * s.R + r) * s.S + t];
      acc += static_cast<uint32_t>(xv * wv);
    }
  });
  return static_cast<int32_t>(acc);
}

// y: N*P*Q*K int8 (OutputMode::Int8) or int32 (OutputMode::Int32).
// residual: N*P*Q*K int8 when prm.residual.
inline void conv_int8(const int8::ConvInt8Params& prm, int N, const int8_t* w, const int8_t* x,
                      void* y, const int8_t* residual) {
  const Conv2dShape& s = prm.shape;
  for (int n = 0; n < N; ++n)
    for (int p = 0; p < s.P; ++p)
      for (int q = 0; q < s.Q; ++q)
        for (int k = 0; k < s.K; ++k) {
          const int64_t o = ((static_cast<int64_t>(n) * s.P + p) * s.Q + q) * s.K + k;
          const int32_t acc = conv_int8_acc(prm, w, x, n, p, q, k);
          if (prm.output == int8::OutputMode::Int32) {
            static_cast<int32_t*>(y)[o] = acc;
            continue;
          }
          int8_t v = int8::requantize(acc, prm.requant[k], prm.zp_out, prm.qmin, prm.qmax);
          if (prm.residual) v = int8::add_requantize(v, residual[o], prm.add);
          static_cast<int8_t*>(y)[o] = v;
        }
}

// Max over the in-bounds part of the window; padding never wins.
inline void max_pool_int8_row(const Pool2dShape& s, const int8_t* x, int8_t* y, int n, int p) {
  for (int q = 0; q < s.Q; ++q) {
    int8_t* out = y + ((static_cast<int64_t>(n) * s.P + p) * s.Q + q) * s.C;
    std::fill(out, out + s.C, static_cast<int8_t>(-128));
    for_each_window_tap(s, p, q, [&](int, int, int h, int v) {
      const int8_t* in = x + ((static_cast<int64_t>(n) * s.H + h) * s.W + v) * s.C;
      for (int c = 0; c < s.C; ++c) out[c] = std::max(out[c], in[c]);
    });
  }
}

// Sum of (x - zp_in) over the in-bounds window in int32, requantized with the
// multiplier of that window's element count.
inline void avg_pool_int8_row(const int8::AvgPoolInt8Params& prm, const int8_t* x, int8_t* y, int n,
                              int p) {
  const Pool2dShape& s = prm.shape;
  for (int q = 0; q < s.Q; ++q)
    for (int c = 0; c < s.C; ++c) {
      int32_t sum = 0, count = 0;
      for_each_window_tap(s, p, q, [&](int, int, int h, int v) {
        sum += x[((static_cast<int64_t>(n) * s.H + h) * s.W + v) * s.C + c] - prm.zp_in;
        ++count;
      });
      y[((static_cast<int64_t>(n) * s.P + p) * s.Q + q) * s.C + c] =
          int8::requantize(sum, prm.requant_by_count[count], prm.zp_out, prm.qmin, prm.qmax);
    }
}

inline void max_pool_int8(const Pool2dShape& s, const int8_t* x, int8_t* y) {
  for (int n = 0; n < s.N; ++n)
    for (int p = 0; p < s.P; ++p) max_pool_int8_row(s, x, y, n, p);
}

inline void avg_pool_int8(const int8::AvgPoolInt8Params& prm, const int8_t* x, int8_t* y) {
  for (int n = 0; n < prm.shape.N; ++n)
    for (int p = 0; p < prm.shape.P; ++p) avg_pool_int8_row(prm, x, y, n, p);
}

inline void add_int8(int64_t n, const int8_t* a, const int8_t* b, const int8::AddRequant& prm,
                     int8_t* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = int8::add_requantize(a[i], b[i], prm);
}

}  // namespace ecg::ref
