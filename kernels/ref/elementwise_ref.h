// Scalar reference elementwise ops over flat contiguous buffers.
#pragma once
#include <cstdint>

namespace ecg::ref {

template <class T>
void relu_forward(int64_t n, const T* x, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}

// Uses the output: y > 0 exactly where x > 0, so the input need not be kept.
template <class T>
void relu_backward(int64_t n, const T* y, const T* dy, T* dx) {
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > T(0) ? dy[i] : T(0);
}

template <class T>
void leaky_relu_forward(int64_t n, const T* x, T negative_slope, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : negative_slope * x[i];
}

// From the input (not the output): with a negative slope the output's sign
// no longer tells which side of zero x was.
template <class T>
void leaky_relu_backward(int64_t n, const T* x, const T* dy, T negative_slope, T* dx) {
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > T(0) ? dy[i] : negative_slope * dy[i];
}

template <class T>
void add_forward(int64_t n, const T* a, const T* b, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

template <class T>
void dropout_forward(int64_t n, const T* x, const uint8_t* mask, T scale, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = mask[i] ? x[i] * scale : T(0);
}

}  // namespace ecg::ref
