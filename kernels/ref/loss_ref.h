// Scalar reference losses.
// Softmax cross-entropy: loss = (1/N) * sum_n w_n * sum_c -t[n,c] * log softmax(z)[n,c],
// with w_n = sum_c t[n,c] * class_weight[c] (1 without weights). Dividing by N,
// not by sum w_n, is Keras' class_weight rule (PyTorch's weighted mean differs).
// The log-softmax subtracts the row maximum so large logits cannot overflow.
#pragma once
#include <cmath>
#include <cstdint>

namespace ecg::ref {

template <class T>
T sample_weight(int classes, const T* t, const T* class_weight) {
  if (!class_weight) return T(1);
  T w = 0;
  for (int c = 0; c < classes; ++c) w += t[c] * class_weight[c];
  return w;
}

template <class T>
T softmax_cross_entropy_forward(int N, int classes, const T* z, const T* t, const T* class_weight,
                                T* probs) {
  T total = 0;
  for (int n = 0; n < N; ++n) {
    const T* zr = z + n * classes;
    T m = zr[0];
    for (int c = 1; c < classes; ++c) m = zr[c] > m ? zr[c] : m;
    T se = 0;
    for (int c = 0; c < classes; ++c) se += std::exp(zr[c] - m);
    T lse = m + std::log(se);
    T loss = 0;
    for (int c = 0; c < classes; ++c) {
      probs[n * classes + c] = std::exp(zr[c] - lse);
      loss -= t[n * classes + c] * (zr[c] - lse);
    }
    total += sample_weight(classes, t + n * classes, class_weight) * loss;
  }
  return total / static_cast<T>(N);
}

// dz = dloss * w_n * ((sum_c t[n,c]) * p - t) / N; for probability targets sum_c t = 1.
template <class T>
void softmax_cross_entropy_backward(int N, int classes, const T* probs, const T* t,
                                    const T* class_weight, T dloss, T* dz) {
  for (int n = 0; n < N; ++n) {
    const T* tr = t + n * classes;
    T tsum = 0;
    for (int c = 0; c < classes; ++c) tsum += tr[c];
    T w = sample_weight(classes, tr, class_weight) * dloss / static_cast<T>(N);
    for (int c = 0; c < classes; ++c)
      dz[n * classes + c] = w * (tsum * probs[n * classes + c] - tr[c]);
  }
}

// lambda * sum w^2 and its gradient 2 * lambda * w * dloss.
template <class T>
T l2_penalty_forward(int64_t n, const T* w, T lambda) {
  T acc = 0;
  for (int64_t i = 0; i < n; ++i) acc += w[i] * w[i];
  return lambda * acc;
}

template <class T>
void l2_penalty_backward(int64_t n, const T* w, T lambda, T dloss, T* dw) {
  for (int64_t i = 0; i < n; ++i) dw[i] = T(2) * lambda * w[i] * dloss;
}

}  // namespace ecg::ref
