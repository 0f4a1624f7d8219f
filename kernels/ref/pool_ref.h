// Scalar reference pooling, NCHW. Max pooling treats padding as -infinity and
// records the flat index (h * W + w) of the first maximum inside the input
// plane; average pooling divides by the number of in-bounds elements of the
// window (TensorFlow's rule for padded windows).
#pragma once
#include <limits>

#include "kernels/kernel_api.h"

namespace ecg::ref {

template <class T>
void max_pool_forward(const Pool2dShape& s, const T* x, T* y, int32_t* argmax) {
  for (long plane = 0; plane < static_cast<long>(s.N) * s.C; ++plane) {
    const T* xp = x + plane * s.H * s.W;
    for (int p = 0; p < s.P; ++p)
      for (int q = 0; q < s.Q; ++q) {
        T best = -std::numeric_limits<T>::infinity();
        int32_t best_i = -1;
        for (int r = 0; r < s.R; ++r) {
          int h = p * s.stride_h - s.pad_top + r;
          if (h < 0 || h >= s.H) continue;
          for (int t = 0; t < s.S; ++t) {
            int v = q * s.stride_w - s.pad_left + t;
            if (v < 0 || v >= s.W) continue;
            if (best_i < 0 || xp[h * s.W + v] > best) {
              best = xp[h * s.W + v];
              best_i = h * s.W + v;
            }
          }
        }
        long o = (plane * s.P + p) * s.Q + q;
        y[o] = best;
        argmax[o] = best_i;
      }
  }
}

template <class T>
void max_pool_backward(const Pool2dShape& s, const T* dy, const int32_t* argmax, T* dx) {
  for (long i = 0; i < static_cast<long>(s.N) * s.C * s.H * s.W; ++i) dx[i] = T(0);
  for (long plane = 0; plane < static_cast<long>(s.N) * s.C; ++plane)
    for (int i = 0; i < s.P * s.Q; ++i) {
      int32_t a = argmax[plane * s.P * s.Q + i];
      if (a >= 0) dx[plane * s.H * s.W + a] += dy[plane * s.P * s.Q + i];
    }
}

inline int pool_window_count(const Pool2dShape& s, int p, int q) {
  int h0 = p * s.stride_h - s.pad_top, v0 = q * s.stride_w - s.pad_left;
  int hc = 0, vc = 0;
  for (int r = 0; r < s.R; ++r) hc += (h0 + r >= 0 && h0 + r < s.H);
  for (int t = 0; t < s.S; ++t) vc += (v0 + t >= 0 && v0 + t < s.W);
  return hc * vc;
}

template <class T>
void avg_pool_forward(const Pool2dShape& s, const T* x, T* y) {
  for (long plane = 0; plane < static_cast<long>(s.N) * s.C; ++plane) {
    const T* xp = x + plane * s.H * s.W;
    for (int p = 0; p < s.P; ++p)
      for (int q = 0; q < s.Q; ++q) {
        T acc = 0;
        for (int r = 0; r < s.R; ++r) {
          int h = p * s.stride_h - s.pad_top + r;
          if (h < 0 || h >= s.H) continue;
          for (int t = 0; t < s.S; ++t) {
            int v = q * s.stride_w - s.pad_left + t;
            if (v >= 0 && v < s.W) acc += xp[h * s.W + v];
          }
        }
        int cnt = pool_window_count(s, p, q);
        y[(plane * s.P + p) * s.Q + q] = cnt ? acc / static_cast<T>(cnt) : T(0);
      }
  }
}

template <class T>
void avg_pool_backward(const Pool2dShape& s, const T* dy, T* dx) {
  for (long i = 0; i < static_cast<long>(s.N) * s.C * s.H * s.W; ++i) dx[i] = T(0);
  for (long plane = 0; plane < static_cast<long>(s.N) * s.C; ++plane) {
    T* dxp = dx + plane * s.H * s.W;
    for (int p = 0; p < s.P; ++p)
      for (int q = 0; q < s.Q; ++q) {
        int cnt = pool_window_count(s, p, q);
        if (!cnt) continue;
        T g = dy[(plane * s.P + p) * s.Q + q] / static_cast<T>(cnt);
        for (int r = 0; r < s.R; ++r) {
          int h = p * s.stride_h - s.pad_top + r;
          if (h < 0 || h >= s.H) continue;
          for (int t = 0; t < s.S; ++t) {
            int v = q * s.stride_w - s.pad_left + t;
            if (v >= 0 && v < s.W) dxp[h * s.W + v] += g;
          }
        }
      }
  }
}

template <class T>
void global_avg_pool_forward(int N, int C, int HW, const T* x, T* y) {
  for (long plane = 0; plane < static_cast<long>(N) * C; ++plane) {
    T acc = 0;
    for (int i = 0; i < HW; ++i) acc += x[plane * HW + i];
    y[plane] = acc / static_cast<T>(HW);
  }
}

template <class T>
void global_avg_pool_backward(int N, int C, int HW, const T* dy, T* dx) {
  for (long plane = 0; plane < static_cast<long>(N) * C; ++plane)
    for (int i = 0; i < HW; ++i) dx[plane * HW + i] = dy[plane] / static_cast<T>(HW);
}

}  // namespace ecg::ref
