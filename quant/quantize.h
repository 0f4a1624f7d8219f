// Float -> int8 conversion helpers of the post-training quantizer, as plain
// functions over float arrays (the graph-level quantizer calls them):
// BatchNorm folding, per-output-channel symmetric weight quantization,
// asymmetric activation parameters, int32 bias, and the per-channel
// requantization multipliers of kernels/int8_api.h.
//
// Degenerate inputs never produce inf, NaN or a zero scale: an all-zero
// weight channel gets scale 1 (its int8 weights are all 0, so the value is
// irrelevant), an all-zero activation range gets scale 1 with zero point 0,
// and a constant range is widened to include 0 (docs/quantization.md).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/int8_api.h"

namespace ecg::quant {

// Asymmetric int8 parameters: real = scale * (q - zero_point), q in [-128, 127].
struct QParams {
  float scale = 1.f;
  int32_t zero_point = 0;
};

// Parameters covering [lo, hi], extended to contain 0 so that 0 (padding,
// ReLU's floor) is exactly representable. Non-finite bounds are ignored
// (treated as 0).
QParams choose_qparams(float lo, float hi);

// Rounds half to even, as std::nearbyint does in the default rounding mode,
// without the library call: below 2^22 in magnitude, adding 1.5 * 2^23 puts
// the value where floats are spaced 1 apart, so the addition itself rounds
// (to nearest, ties to even) and the subtraction is exact. Needs IEEE float
// arithmetic without -ffast-math (the build never uses it).
inline float round_half_even(float v) {
  constexpr float kMagic = 12582912.f;  // 1.5 * 2^23
  if (!(std::fabs(v) < 4194304.f)) return std::nearbyint(v);
  const float t = v + kMagic;
  return t - kMagic;
}
inline int8_t quantize_value(float x, QParams p) {
  const float q = round_half_even(x / p.scale) + static_cast<float>(p.zero_point);
  return static_cast<int8_t>(q < -128.f ? -128.f : (q > 127.f ? 127.f : q));
}
inline float dequantize_value(int8_t q, QParams p) {
  return p.scale * static_cast<float>(static_cast<int32_t>(q) - p.zero_point);
}

// Float NCHW (the float model's layout) to int8 NHWC (the int8 graph's), and
// back; used for the network input and for per-layer SQNR reports.
void quantize_nchw_to_nhwc(const float* x, int N, int C, int H, int W, QParams p, int8_t* y);
void dequantize_nhwc_to_nchw(const int8_t* x, int N, int C, int H, int W, QParams p, float* y);

// Folds eval-mode BatchNorm (gamma, beta, running mean/var, eps) into the
// preceding convolution or dense layer in place, in double:
//   w'[k] = w[k] * gamma[k] / sqrt(var[k] + eps)
//   b'[k] = (b[k] - mean[k]) * gamma[k] / sqrt(var[k] + eps) + beta[k]
// w is [K][per_channel] (OIHW or [out, in]); bias has K entries (a missing
// conv bias is all zeros).
void fold_batch_norm(int K, int64_t per_channel, float* w, float* bias, const float* gamma,
                     const float* beta, const float* mean, const float* var, float eps);

struct QuantizedWeights {
  std::vector<int8_t> q;     // same layout as the float weights, in [-127, 127]
  std::vector<float> scale;  // [K], real = scale[k] * q
};

// Symmetric per-output-channel: scale[k] = max|w[k]| / 127, q = round(w / scale).
// qmax = 127 for 8-bit weights, 63 for 7-bit ones (the AVX2 vpmaddubsw path
// needs no adjacent pair beyond 128 in sum; 7 bits guarantee it everywhere).
QuantizedWeights quantize_weights_per_channel(const float* w, int K, int64_t per_channel,
                                              int qmax = 127);

// int32 bias at scale s_in * s_w[k], saturated to the int32 range.
std::vector<int32_t> quantize_bias(const float* bias, int K, float s_in, const float* s_w);

// Requant[k] = make_requant(s_in * s_w[k] / s_out).
std::vector<int8::Requant> requant_multipliers(int K, float s_in, const float* s_w, float s_out);

// Signal-to-quantization-noise ratio in dB of `approx` against `ref`
// (inf-free: a zero error gives 200 dB, a zero signal with error -200 dB).
double sqnr_db(const float* ref, const float* approx, int64_t n);
double cosine_similarity(const float* a, const float* b, int64_t n);

}  // namespace ecg::quant
