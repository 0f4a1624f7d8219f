// Scalar reference convolution: the spec every other conv kernel is checked
// against. Input NCHW, weights OIHW (K, C, R, S), output NKPQ; padding may be
// asymmetric (pad_bottom/pad_right only change P and Q). Accumulates in T.
#pragma once
#include "kernels/kernel_api.h"

namespace ecg::ref {

// Input coordinate of output position p and kernel tap r; may fall in the padding.
inline int conv_in_coord(int p, int r, int stride, int pad) {
  return p * stride - pad + r;
}

template <class T>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, const T* bias, T* y) {
  for (int n = 0; n < s.N; ++n)
    for (int k = 0; k < s.K; ++k)
      for (int p = 0; p < s.P; ++p)
        for (int q = 0; q < s.Q; ++q) {
          T acc = bias ? bias[k] : T(0);
          for (int c = 0; c < s.C; ++c)
            for (int r = 0; r < s.R; ++r) {
              int h = conv_in_coord(p, r, s.stride_h, s.pad_top);
              if (h < 0 || h >= s.H) continue;
              for (int t = 0; t < s.S; ++t) {
                int v = conv_in_coord(q, t, s.stride_w, s.pad_left);
                if (v < 0 || v >= s.W) continue;
                acc +=
                    x[((n * s.C + c) * s.H + h) * s.W + v] * w[((k * s.C + c) * s.R + r) * s.S + t];
              }
            }
          y[((n * s.K + k) * s.P + p) * s.Q + q] = acc;
        }
}

// Calls f(y_index, x_index, w_index) for every in-bounds product
// x[n,c,h,v] * w[k,c,r,t] that output y[n,k,p,q] sums, in (n, k, p, q, c, r, t)
// order: the order in which the backward references accumulate, so their
// float sums are the spec's bit for bit.
template <class F>
void for_each_conv_term(const Conv2dShape& s, F&& f) {
  for (int n = 0; n < s.N; ++n)
    for (int k = 0; k < s.K; ++k)
      for (int p = 0; p < s.P; ++p)
        for (int q = 0; q < s.Q; ++q) {
          const long yi = ((static_cast<long>(n) * s.K + k) * s.P + p) * s.Q + q;
          for (int c = 0; c < s.C; ++c)
            for (int r = 0; r < s.R; ++r) {
              int h = conv_in_coord(p, r, s.stride_h, s.pad_top);
              if (h < 0 || h >= s.H) continue;
              for (int t = 0; t < s.S; ++t) {
                int v = conv_in_coord(q, t, s.stride_w, s.pad_left);
                if (v < 0 || v >= s.W) continue;
                f(yi, ((static_cast<long>(n) * s.C + c) * s.H + h) * s.W + v,
                  ((static_cast<long>(k) * s.C + c) * s.R + r) * s.S + t);
              }
            }
        }
}

// dx[n,c,h,v] = sum over (k,r,t) with h = p*stride - pad + r of dy[n,k,p,q] * w[k,c,r,t].
template <class T>
void conv2d_backward_data(const Conv2dShape& s, const T* dy, const T* w, T* dx) {
  for (long i = 0; i < static_cast<long>(s.N) * s.C * s.H * s.W; ++i) dx[i] = T(0);
  for_each_conv_term(s, [&](long yi, long xi, long wi) { dx[xi] += dy[yi] * w[wi]; });
}

template <class T>
void conv2d_backward_weights(const Conv2dShape& s, const T* x, const T* dy, T* dw, T* db) {
  for (long i = 0; i < static_cast<long>(s.K) * s.C * s.R * s.S; ++i) dw[i] = T(0);
  if (db) {
    // Each db[k] sums its dy in (n, p, q) order, as the term loop visits them.
    for (int k = 0; k < s.K; ++k) db[k] = T(0);
    for (int n = 0; n < s.N; ++n)
      for (int k = 0; k < s.K; ++k)
        for (long pq = 0; pq < static_cast<long>(s.P) * s.Q; ++pq)
          db[k] += dy[(static_cast<long>(n) * s.K + k) * s.P * s.Q + pq];
  }
  for_each_conv_term(s, [&](long yi, long xi, long wi) { dw[wi] += dy[yi] * x[xi]; });
}

}  // namespace ecg::ref
