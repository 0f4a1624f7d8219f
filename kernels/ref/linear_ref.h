// Scalar reference dense layer: y[N,out] = x[N,in] * W[out,in]^T + b.
#pragma once

namespace ecg::ref {

template <class T>
void linear_forward(int N, int in, int out, const T* x, const T* w, const T* b, T* y) {
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < out; ++o) {
      T acc = b ? b[o] : T(0);
      for (int i = 0; i < in; ++i) acc += x[n * in + i] * w[o * in + i];
      y[n * out + o] = acc;
    }
}

template <class T>
void linear_backward_data(int N, int in, int out, const T* dy, const T* w, T* dx) {
  for (int n = 0; n < N; ++n)
    for (int i = 0; i < in; ++i) {
      T acc = 0;
      for (int o = 0; o < out; ++o) acc += dy[n * out + o] * w[o * in + i];
      dx[n * in + i] = acc;
    }
}

template <class T>
void linear_backward_weights(int N, int in, int out, const T* x, const T* dy, T* dw, T* db) {
  for (int o = 0; o < out; ++o) {
    for (int i = 0; i < in; ++i) {
      T acc = 0;
      for (int n = 0; n < N; ++n) acc += dy[n * out + o] * x[n * in + i];
      dw[o * in + i] = acc;
    }
    if (db) {
      T acc = 0;
      for (int n = 0; n < N; ++n) acc += dy[n * out + o];
      db[o] = acc;
    }
  }
}

}  // namespace ecg::ref
