// Memory-bound kernels (batch norm, ReLU, LeakyReLU, add, pools, global average pool,
// dropout, softmax cross-entropy, Adam, SGD) and the dense layer on top of the
// GEMM driver. Included by each ISA unit after gemm_driver.h; the loops are
// written so the compiler vectorises them with that unit's flags
// (`omp simd` makes float reductions vectorisable without -ffast-math).
//
// Layouts: NCHW activations, per-channel vectors of length C, flat buffers
// for elementwise ops; linear weights [out, in]. Outputs are overwritten.
// Batch-norm statistics: per-plane float partial sums of (x - shift), folded
// into double per channel; the shift (first element of the channel) keeps
// E[d^2] - E[d]^2 free of cancellation for data far from zero.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels/kernel_api.h"
#include "kernels/op_table.h"
#include "kernels/ref/batch_norm_ref.h"
#include "kernels/ref/loss_ref.h"

namespace ecg::cpu::ECG_CPU_NS {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 15;

inline int threads_for(int64_t elements) {
  return elements < kParallelMin ? 1 : std::max(1, ecg::num_threads());
}

// One axis of a pool window: output position o reads input coordinates
// origin + tap (origin = o * stride - pad); the taps [lo, hi) fall inside the
// input's extent.
struct TapsInBounds {
  int origin, lo, hi;
};
inline TapsInBounds taps_in_bounds(int o, int stride, int pad, int taps, int extent) {
  const int origin = o * stride - pad;
  return {origin, std::max(0, -origin), std::min(taps, extent - origin)};
}

inline void relu_forward(int64_t n, const float* x, float* y) {
#pragma omp parallel for simd num_threads(threads_for(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
}

inline void relu_backward(int64_t n, const float* y, const float* dy, float* dx) {
#pragma omp parallel for simd num_threads(threads_for(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > 0.f ? dy[i] : 0.f;
}

inline void leaky_relu_forward(int64_t n, const float* x, float negative_slope, float* y) {
#pragma omp parallel for simd num_threads(threads_for(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : negative_slope * x[i];
}

inline void leaky_relu_backward(int64_t n, const float* x, const float* dy, float negative_slope,
                                float* dx) {
#pragma omp parallel for simd num_threads(threads_for(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > 0.f ? dy[i] : negative_slope * dy[i];
}

inline void add_forward(int64_t n, const float* a, const float* b, float* y) {
#pragma omp parallel for simd num_threads(threads_for(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

inline void dropout_forward(int64_t n, const float* x, const uint8_t* mask, float scale, float* y) {
#pragma omp parallel for simd num_threads(threads_for(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] = mask[i] ? x[i] * scale : 0.f;
}

inline void batch_norm_forward_train(const BatchNormShape& s, const float* x, const float* gamma,
                                     const float* beta, float eps, bool fuse_relu, float* y,
                                     float* save_mean, float* save_invstd, float* batch_var) {
  const int64_t count = static_cast<int64_t>(s.N) * s.HW;
#pragma omp parallel for num_threads(threads_for(count* s.C)) schedule(dynamic, 1)
  for (int c = 0; c < s.C; ++c) {
    const float shift = x[static_cast<long>(c) * s.HW];
    double sum = 0, sq = 0;
    for (int n = 0; n < s.N; ++n) {
      const float* xp = x + (static_cast<long>(n) * s.C + c) * s.HW;
      float ps = 0.f, pq = 0.f;
#pragma omp simd reduction(+ : ps, pq)
      for (int i = 0; i < s.HW; ++i) {
        const float d = xp[i] - shift;
        ps += d;
        pq += d * d;
      }
      sum += ps;
      sq += pq;
    }
    const double mean_d = sum / count;
    double var = sq / count - mean_d * mean_d;
    if (var < 0) var = 0;
    const float mean = static_cast<float>(shift + mean_d);
    const float invstd = static_cast<float>(1.0 / std::sqrt(var + eps));
    const float scale = gamma[c] * invstd, bias = beta[c] - mean * scale;
    for (int n = 0; n < s.N; ++n) {
      const long off = (static_cast<long>(n) * s.C + c) * s.HW;
      const float* xp = x + off;
      float* yp = y + off;
      if (fuse_relu) {
#pragma omp simd
        for (int i = 0; i < s.HW; ++i) yp[i] = std::max(xp[i] * scale + bias, 0.f);
      } else {
#pragma omp simd
        for (int i = 0; i < s.HW; ++i) yp[i] = xp[i] * scale + bias;
      }
    }
    save_mean[c] = mean;
    save_invstd[c] = invstd;
    batch_var[c] = static_cast<float>(var);
  }
}

inline void batch_norm_forward_eval(const BatchNormShape& s, const float* x, const float* gamma,
                                    const float* beta, const float* running_mean,
                                    const float* running_var, float eps, bool fuse_relu, float* y) {
  const long planes = static_cast<long>(s.N) * s.C;
#pragma omp parallel for num_threads(threads_for(planes* s.HW)) schedule(static)
  for (long plane = 0; plane < planes; ++plane) {
    const int c = static_cast<int>(plane % s.C);
    const float invstd = 1.f / std::sqrt(running_var[c] + eps);
    const float scale = gamma[c] * invstd, bias = beta[c] - running_mean[c] * scale;
    const float* xp = x + plane * s.HW;
    float* yp = y + plane * s.HW;
    if (fuse_relu) {
#pragma omp simd
      for (int i = 0; i < s.HW; ++i) yp[i] = std::max(xp[i] * scale + bias, 0.f);
    } else {
#pragma omp simd
      for (int i = 0; i < s.HW; ++i) yp[i] = xp[i] * scale + bias;
    }
  }
}

inline void batch_norm_backward(const BatchNormShape& s, const float* x, const float* y,
                                const float* dy, const float* gamma, const float* save_mean,
                                const float* save_invstd, bool fuse_relu, float* dx, float* dgamma,
                                float* dbeta) {
  const int64_t count = static_cast<int64_t>(s.N) * s.HW;
#pragma omp parallel for num_threads(threads_for(count* s.C)) schedule(dynamic, 1)
  for (int c = 0; c < s.C; ++c) {
    const float mean = save_mean[c], invstd = save_invstd[c];
    double sg = 0, sgx = 0;
    for (int n = 0; n < s.N; ++n) {
      const long off = (static_cast<long>(n) * s.C + c) * s.HW;
      const float *xp = x + off, *yp = y + off, *gp = dy + off;
      float a = 0.f, b = 0.f;
      if (fuse_relu) {
#pragma omp simd reduction(+ : a, b)
        for (int i = 0; i < s.HW; ++i) {
          const float g = yp[i] > 0.f ? gp[i] : 0.f;
          a += g;
          b += g * (xp[i] - mean);
        }
      } else {
#pragma omp simd reduction(+ : a, b)
        for (int i = 0; i < s.HW; ++i) {
          a += gp[i];
          b += gp[i] * (xp[i] - mean);
        }
      }
      sg += a;
      sgx += b;
    }
    const float sum_g = static_cast<float>(sg), sum_gx = static_cast<float>(sgx * invstd);
    dbeta[c] = sum_g;
    dgamma[c] = sum_gx;
    // dx = k * (g - sum_g/M - (x - mean) * invstd * sum_gx/M), k = gamma * invstd.
    const float k = gamma[c] * invstd;
    const float mg = static_cast<float>(sg / count);
    const float mx = static_cast<float>(sgx * invstd / count) * invstd;
    for (int n = 0; n < s.N; ++n) {
      const long off = (static_cast<long>(n) * s.C + c) * s.HW;
      const float *xp = x + off, *yp = y + off, *gp = dy + off;
      float* dp = dx + off;
      if (fuse_relu) {
#pragma omp simd
        for (int i = 0; i < s.HW; ++i) {
          const float g = yp[i] > 0.f ? gp[i] : 0.f;
          dp[i] = k * (g - mg - (xp[i] - mean) * mx);
        }
      } else {
#pragma omp simd
        for (int i = 0; i < s.HW; ++i) dp[i] = k * (gp[i] - mg - (xp[i] - mean) * mx);
      }
    }
  }
}

// Max pool: padding is -inf; ties keep the first maximum (strict >), as the reference.
inline void max_pool_forward(const Pool2dShape& s, const float* x, float* y, int32_t* argmax) {
  const long planes = static_cast<long>(s.N) * s.C;
  const long HW = static_cast<long>(s.H) * s.W, PQ = static_cast<long>(s.P) * s.Q;
  const bool fast2x2 = s.R == 2 && s.S == 2 && s.stride_h == 2 && s.stride_w == 2 &&
                       s.pad_top == 0 && s.pad_left == 0 && 2 * s.P <= s.H && 2 * s.Q <= s.W;
#pragma omp parallel for num_threads(threads_for(planes* HW)) schedule(static)
  for (long plane = 0; plane < planes; ++plane) {
    const float* xp = x + plane * HW;
    float* yp = y + plane * PQ;
    int32_t* ap = argmax + plane * PQ;
    if (fast2x2) {
      // 2x2 stride 2 without padding (AlexNet): no bounds checks; the same
      // comparison order as the general loop, so ties pick the same index.
      for (int p = 0; p < s.P; ++p) {
        const float* r0 = xp + 2L * p * s.W;
        const float* r1 = r0 + s.W;
        const int row0 = 2 * p * s.W;
        // Selects instead of branches: on real data the winner is random and
        // the branchy form mispredicted about once per output.
#pragma omp simd
        for (int q = 0; q < s.Q; ++q) {
          const float a0 = r0[2 * q], a1 = r0[2 * q + 1], a2 = r1[2 * q], a3 = r1[2 * q + 1];
          float best = a0;
          int off = 0;
          const bool c1 = a1 > best;
          best = c1 ? a1 : best;
          off = c1 ? 1 : off;
          const bool c2 = a2 > best;
          best = c2 ? a2 : best;
          off = c2 ? s.W : off;
          const bool c3 = a3 > best;
          best = c3 ? a3 : best;
          off = c3 ? s.W + 1 : off;
          yp[p * s.Q + q] = best;
          ap[p * s.Q + q] = row0 + 2 * q + off;
        }
      }
      continue;
    }
    for (int p = 0; p < s.P; ++p) {
      const auto [h0, r0, r1] = taps_in_bounds(p, s.stride_h, s.pad_top, s.R, s.H);
      for (int q = 0; q < s.Q; ++q) {
        const auto [v0, t0, t1] = taps_in_bounds(q, s.stride_w, s.pad_left, s.S, s.W);
        float best = -std::numeric_limits<float>::infinity();
        int32_t best_i = -1;
        for (int r = r0; r < r1; ++r)
          for (int t = t0; t < t1; ++t) {
            const int idx = (h0 + r) * s.W + v0 + t;
            if (best_i < 0 || xp[idx] > best) {
              best = xp[idx];
              best_i = idx;
            }
          }
        yp[p * s.Q + q] = best;
        ap[p * s.Q + q] = best_i;
      }
    }
  }
}

inline void max_pool_backward(const Pool2dShape& s, const float* dy, const int32_t* argmax,
                              float* dx) {
  const long planes = static_cast<long>(s.N) * s.C;
  const long HW = static_cast<long>(s.H) * s.W, PQ = static_cast<long>(s.P) * s.Q;
#pragma omp parallel for num_threads(threads_for(planes* HW)) schedule(static)
  for (long plane = 0; plane < planes; ++plane) {
    float* dxp = dx + plane * HW;
    std::memset(dxp, 0, sizeof(float) * HW);
    const float* gp = dy + plane * PQ;
    const int32_t* ap = argmax + plane * PQ;
    for (long i = 0; i < PQ; ++i)
      if (ap[i] >= 0) dxp[ap[i]] += gp[i];
  }
}

inline void avg_pool_forward(const Pool2dShape& s, const float* x, float* y) {
  const long planes = static_cast<long>(s.N) * s.C;
  const long HW = static_cast<long>(s.H) * s.W, PQ = static_cast<long>(s.P) * s.Q;
  // Non-overlapping unpadded windows (the ResNet head's 8x8/8): sum the R
  // input rows first with unit-stride vector adds, then each S-wide group.
  // The per-window loop ran at under a third of the bandwidth.
  const bool tiled = s.stride_h == s.R && s.stride_w == s.S && s.pad_top == 0 && s.pad_left == 0 &&
                     s.P * s.R <= s.H && s.Q * s.S <= s.W && s.W <= 4096;
#pragma omp parallel for num_threads(threads_for(planes* HW)) schedule(static)
  for (long plane = 0; plane < planes; ++plane) {
    const float* xp = x + plane * HW;
    float* yp = y + plane * PQ;
    if (tiled) {
      float rows[4096];
      const int width = s.Q * s.S;
      const float inv = 1.f / static_cast<float>(s.R * s.S);
      for (int p = 0; p < s.P; ++p) {
        const float* x0 = xp + static_cast<long>(p) * s.R * s.W;
#pragma omp simd
        for (int w = 0; w < width; ++w) rows[w] = x0[w];
        for (int r = 1; r < s.R; ++r) {
          const float* xr = x0 + static_cast<long>(r) * s.W;
#pragma omp simd
          for (int w = 0; w < width; ++w) rows[w] += xr[w];
        }
        for (int q = 0; q < s.Q; ++q) {
          float acc = 0.f;
          for (int t = 0; t < s.S; ++t) acc += rows[q * s.S + t];
          yp[p * s.Q + q] = acc * inv;
        }
      }
      continue;
    }
    for (int p = 0; p < s.P; ++p) {
      const auto [h0, r0, r1] = taps_in_bounds(p, s.stride_h, s.pad_top, s.R, s.H);
      for (int q = 0; q < s.Q; ++q) {
        const auto [v0, t0, t1] = taps_in_bounds(q, s.stride_w, s.pad_left, s.S, s.W);
        float acc = 0.f;
        for (int r = r0; r < r1; ++r)
          for (int t = t0; t < t1; ++t) acc += xp[(h0 + r) * s.W + v0 + t];
        const int cnt = std::max(0, r1 - r0) * std::max(0, t1 - t0);
        yp[p * s.Q + q] = cnt ? acc / static_cast<float>(cnt) : 0.f;
      }
    }
  }
}

inline void avg_pool_backward(const Pool2dShape& s, const float* dy, float* dx) {
  const long planes = static_cast<long>(s.N) * s.C;
  const long HW = static_cast<long>(s.H) * s.W, PQ = static_cast<long>(s.P) * s.Q;
#pragma omp parallel for num_threads(threads_for(planes* HW)) schedule(static)
  for (long plane = 0; plane < planes; ++plane) {
    float* dxp = dx + plane * HW;
    std::memset(dxp, 0, sizeof(float) * HW);
    const float* gp = dy + plane * PQ;
    for (int p = 0; p < s.P; ++p) {
      const auto [h0, r0, r1] = taps_in_bounds(p, s.stride_h, s.pad_top, s.R, s.H);
      for (int q = 0; q < s.Q; ++q) {
        const auto [v0, t0, t1] = taps_in_bounds(q, s.stride_w, s.pad_left, s.S, s.W);
        const int cnt = std::max(0, r1 - r0) * std::max(0, t1 - t0);
        if (!cnt) continue;
        const float g = gp[p * s.Q + q] / static_cast<float>(cnt);
        for (int r = r0; r < r1; ++r)
          for (int t = t0; t < t1; ++t) dxp[(h0 + r) * s.W + v0 + t] += g;
      }
    }
  }
}

inline void global_avg_pool_forward(int N, int C, int HW, const float* x, float* y) {
  const long planes = static_cast<long>(N) * C;
#pragma omp parallel for num_threads(threads_for(planes* HW)) schedule(static)
  for (long plane = 0; plane < planes; ++plane) {
    const float* xp = x + plane * HW;
    float acc = 0.f;
#pragma omp simd reduction(+ : acc)
    for (int i = 0; i < HW; ++i) acc += xp[i];
    y[plane] = acc / static_cast<float>(HW);
  }
}

inline void global_avg_pool_backward(int N, int C, int HW, const float* dy, float* dx) {
  const long planes = static_cast<long>(N) * C;
#pragma omp parallel for num_threads(threads_for(planes* HW)) schedule(static)
  for (long plane = 0; plane < planes; ++plane) {
    const float g = dy[plane] / static_cast<float>(HW);
    float* dxp = dx + plane * HW;
#pragma omp simd
    for (int i = 0; i < HW; ++i) dxp[i] = g;
  }
}

// Dense layer through the SGEMM of this unit.
inline void linear_forward(int N, int in, int out, const float* x, const float* w, const float* b,
                           float* y) {
  if (b)
    for (int n = 0; n < N; ++n) std::memcpy(y + static_cast<long>(n) * out, b, sizeof(float) * out);
  sgemm(false, true, N, out, in, 1.f, x, in, w, in, b ? 1.f : 0.f, y, out);
}

inline void linear_backward_data(int N, int in, int out, const float* dy, const float* w,
                                 float* dx) {
  sgemm(false, false, N, in, out, 1.f, dy, out, w, in, 0.f, dx, in);
}

inline void linear_backward_weights(int N, int in, int out, const float* x, const float* dy,
                                    float* dw, float* db) {
  sgemm(true, false, out, in, N, 1.f, dy, out, x, in, 0.f, dw, in);
  if (db)
    for (int o = 0; o < out; ++o) {
      float acc = 0.f;
      for (int n = 0; n < N; ++n) acc += dy[static_cast<long>(n) * out + o];
      db[o] = acc;
    }
}

// Rows are tiny (the study has 4 classes): serial, exactly the reference's order.
inline float softmax_cross_entropy_forward(int N, int classes, const float* z, const float* t,
                                           const float* class_weight, float* probs) {
  float total = 0.f;
  for (int n = 0; n < N; ++n) {
    const float* zr = z + static_cast<long>(n) * classes;
    const float* tr = t + static_cast<long>(n) * classes;
    float m = zr[0];
    for (int c = 1; c < classes; ++c) m = zr[c] > m ? zr[c] : m;
    float se = 0.f;
    for (int c = 0; c < classes; ++c) se += std::exp(zr[c] - m);
    const float lse = m + std::log(se);
    float loss = 0.f, w = class_weight ? 0.f : 1.f;
    for (int c = 0; c < classes; ++c) {
      probs[static_cast<long>(n) * classes + c] = std::exp(zr[c] - lse);
      loss -= tr[c] * (zr[c] - lse);
      if (class_weight) w += tr[c] * class_weight[c];
    }
    total += w * loss;
  }
  return total / static_cast<float>(N);
}

inline void softmax_cross_entropy_backward(int N, int classes, const float* probs, const float* t,
                                           const float* class_weight, float dloss, float* dz) {
  for (int n = 0; n < N; ++n) {
    const float* tr = t + static_cast<long>(n) * classes;
    float tsum = 0.f, w = class_weight ? 0.f : 1.f;
    for (int c = 0; c < classes; ++c) {
      tsum += tr[c];
      if (class_weight) w += tr[c] * class_weight[c];
    }
    w = w * dloss / static_cast<float>(N);
    for (int c = 0; c < classes; ++c)
      dz[static_cast<long>(n) * classes + c] =
          w * (tsum * probs[static_cast<long>(n) * classes + c] - tr[c]);
  }
}

inline void adam_update(int64_t n, const AdamParams& p, float* param, const float* grad, float* m,
                        float* v) {
  const double t = static_cast<double>(p.step);
  const double bc1 = 1.0 - std::pow(static_cast<double>(p.beta1), t);
  const double bc2 = 1.0 - std::pow(static_cast<double>(p.beta2), t);
  const float b1 = p.beta1, b2 = p.beta2, eps = p.eps, lr = p.lr, wd = p.weight_decay;
  const float lr_t = static_cast<float>(p.lr * std::sqrt(bc2) / bc1);
  const float ibc1 = static_cast<float>(1.0 / bc1), ibc2 = static_cast<float>(1.0 / bc2);
  const bool decoupled = p.decoupled, keras = p.keras_eps;
#pragma omp parallel for simd num_threads(threads_for(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    float g = grad[i];
    float w = param[i];
    if (decoupled)
      w -= lr * wd * w;
    else
      g += wd * w;
    const float mi = b1 * m[i] + (1.f - b1) * g;
    const float vi = b2 * v[i] + (1.f - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    if (keras)
      w -= lr_t * mi / (std::sqrt(vi) + eps);
    else
      w -= lr * (mi * ibc1) / (std::sqrt(vi * ibc2) + eps);
    param[i] = w;
  }
}

inline void sgd_update(int64_t n, const SgdParams& p, float* param, const float* grad, float* buf) {
  const float lr = p.lr, mom = p.momentum, wd = p.weight_decay, damp = p.dampening;
  const bool first = p.first_step, nesterov = p.nesterov;
  if (mom == 0.f) {
#pragma omp parallel for simd num_threads(threads_for(n)) schedule(static)
    for (int64_t i = 0; i < n; ++i) param[i] -= lr * (grad[i] + wd * param[i]);
    return;
  }
#pragma omp parallel for simd num_threads(threads_for(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] + wd * param[i];
    const float b = first ? g : mom * buf[i] + (1.f - damp) * g;
    buf[i] = b;
    param[i] -= lr * (nesterov ? g + mom * b : b);
  }
}

// Fills one op-table level with every kernel of this unit.
inline void register_into(OpTable& t, Isa lvl) {
  const DeviceType cpu = DeviceType::CPU;
  unit_isa() = lvl;  // the Winograd cost model's level for this unit
  t.sgemm.set(cpu, lvl, &sgemm);
  t.conv2d_forward.set(cpu, lvl, &conv2d_forward);
  t.conv2d_backward_data.set(cpu, lvl, &conv2d_backward_data);
  t.conv2d_backward_weights.set(cpu, lvl, &conv2d_backward_weights);
  t.batch_norm_forward_train.set(cpu, lvl, &batch_norm_forward_train);
  t.batch_norm_forward_eval.set(cpu, lvl, &batch_norm_forward_eval);
  t.batch_norm_backward.set(cpu, lvl, &batch_norm_backward);
  t.relu_forward.set(cpu, lvl, &relu_forward);
  t.relu_backward.set(cpu, lvl, &relu_backward);
  t.leaky_relu_forward.set(cpu, lvl, &leaky_relu_forward);
  t.leaky_relu_backward.set(cpu, lvl, &leaky_relu_backward);
  t.add_forward.set(cpu, lvl, &add_forward);
  t.max_pool_forward.set(cpu, lvl, &max_pool_forward);
  t.max_pool_backward.set(cpu, lvl, &max_pool_backward);
  t.avg_pool_forward.set(cpu, lvl, &avg_pool_forward);
  t.avg_pool_backward.set(cpu, lvl, &avg_pool_backward);
  t.global_avg_pool_forward.set(cpu, lvl, &global_avg_pool_forward);
  t.global_avg_pool_backward.set(cpu, lvl, &global_avg_pool_backward);
  t.linear_forward.set(cpu, lvl, &linear_forward);
  t.linear_backward_data.set(cpu, lvl, &linear_backward_data);
  t.linear_backward_weights.set(cpu, lvl, &linear_backward_weights);
  t.dropout_forward.set(cpu, lvl, &dropout_forward);
  t.softmax_cross_entropy_forward.set(cpu, lvl, &softmax_cross_entropy_forward);
  t.softmax_cross_entropy_backward.set(cpu, lvl, &softmax_cross_entropy_backward);
  t.adam_update.set(cpu, lvl, &adam_update);
  t.sgd_update.set(cpu, lvl, &sgd_update);
  // Per-layer scalars, not hot paths: the scalar reference at every level, so
  // that the values do not depend on the ISA (C values of BN statistics; the
  // L2 penalty, one pass over a layer's weights per step).
  t.batch_norm_update_running.set(cpu, lvl, &ref::batch_norm_update_running<float>);
  t.l2_penalty_forward.set(cpu, lvl, &ref::l2_penalty_forward<float>);
  t.l2_penalty_backward.set(cpu, lvl, &ref::l2_penalty_backward<float>);
}

}  // namespace ecg::cpu::ECG_CPU_NS
