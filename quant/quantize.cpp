// Float -> int8 conversion helpers; see quantize.h.
#include "quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/error.h"

namespace ecg::quant {

QParams choose_qparams(float lo, float hi) {
  double l = std::isfinite(lo) ? lo : 0.0, h = std::isfinite(hi) ? hi : 0.0;
  l = std::min(l, 0.0);
  h = std::max(h, 0.0);
  const double range = h - l;
  // All-zero (or vanishing) range: any finite scale represents it; 1 keeps
  // every later division finite.
  if (!(range > 1e-30)) return QParams{1.f, 0};
  const float scale = static_cast<float>(range / 255.0);
  const double zp = -128.0 - l / static_cast<double>(scale);  // lo maps to -128
  const long z = std::lround(zp);
  return QParams{scale, static_cast<int32_t>(std::min(127L, std::max(-128L, z)))};
}

// One image row per work item, channel by channel, so the reads of each
// channel plane run contiguously; the network input of a 224 px image is
// 150 k values, which one thread converts in a few hundred microseconds.
void quantize_nchw_to_nhwc(const float* x, int N, int C, int H, int W, QParams p, int8_t* y) {
  const int64_t hw = static_cast<int64_t>(H) * W;
  const int64_t rows = static_cast<int64_t>(N) * H;
#pragma omp parallel for schedule(static) if (rows * W * C >= (1 << 16))
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = row / H, h = row % H;
    int8_t* out = y + (n * hw + h * W) * C;
    for (int c = 0; c < C; ++c) {
      const float* in = x + (n * C + c) * hw + h * W;
      for (int w = 0; w < W; ++w) out[static_cast<int64_t>(w) * C + c] = quantize_value(in[w], p);
    }
  }
}

void dequantize_nhwc_to_nchw(const int8_t* x, int N, int C, int H, int W, QParams p, float* y) {
  const int64_t hw = static_cast<int64_t>(H) * W;
  for (int n = 0; n < N; ++n)
    for (int64_t i = 0; i < hw; ++i)
      for (int c = 0; c < C; ++c)
        y[(static_cast<int64_t>(n) * C + c) * hw + i] =
            dequantize_value(x[(n * hw + i) * C + c], p);
}

void fold_batch_norm(int K, int64_t per_channel, float* w, float* bias, const float* gamma,
                     const float* beta, const float* mean, const float* var, float eps) {
  for (int k = 0; k < K; ++k) {
    const double inv = static_cast<double>(gamma[k]) / std::sqrt(static_cast<double>(var[k]) + eps);
    float* wk = w + static_cast<int64_t>(k) * per_channel;
    for (int64_t i = 0; i < per_channel; ++i) wk[i] = static_cast<float>(wk[i] * inv);
    bias[k] = static_cast<float>((static_cast<double>(bias[k]) - mean[k]) * inv + beta[k]);
  }
}

QuantizedWeights quantize_weights_per_channel(const float* w, int K, int64_t per_channel,
                                              int qmax) {
  ECG_CHECK(qmax >= 1 && qmax <= 127, "quantize_weights_per_channel: qmax ", qmax,
            " outside [1, 127]");
  const double top = static_cast<double>(qmax);
  QuantizedWeights out;
  out.q.resize(static_cast<size_t>(K) * per_channel);
  out.scale.resize(K);
  for (int k = 0; k < K; ++k) {
    const float* wk = w + static_cast<int64_t>(k) * per_channel;
    double amax = 0.0;
    for (int64_t i = 0; i < per_channel; ++i)
      if (std::isfinite(wk[i])) amax = std::max(amax, std::fabs(static_cast<double>(wk[i])));
    // An all-zero channel (dead filter): scale 1, weights 0, no division by zero.
    const float scale = amax > 0.0 ? static_cast<float>(amax / top) : 1.f;
    out.scale[k] = scale;
    for (int64_t i = 0; i < per_channel; ++i) {
      const double v =
          std::isfinite(wk[i]) ? std::nearbyint(wk[i] / static_cast<double>(scale)) : 0.0;
      out.q[static_cast<size_t>(k) * per_channel + i] =
          static_cast<int8_t>(std::min(top, std::max(-top, v)));
    }
  }
  return out;
}

std::vector<int32_t> quantize_bias(const float* bias, int K, float s_in, const float* s_w) {
  std::vector<int32_t> out(K, 0);
  for (int k = 0; k < K; ++k) {
    const double s = static_cast<double>(s_in) * s_w[k];
    if (!bias || !(s > 0.0) || !std::isfinite(s) || !std::isfinite(bias[k])) continue;
    const double v = std::nearbyint(bias[k] / s);
    out[k] = static_cast<int32_t>(
        std::min<double>(std::numeric_limits<int32_t>::max(),
                         std::max<double>(std::numeric_limits<int32_t>::min(), v)));
  }
  return out;
}

std::vector<int8::Requant> requant_multipliers(int K, float s_in, const float* s_w, float s_out) {
  std::vector<int8::Requant> out(K);
  for (int k = 0; k < K; ++k)
    out[k] = int8::make_requant(static_cast<double>(s_in) * s_w[k] / static_cast<double>(s_out));
  return out;
}

double sqnr_db(const float* ref, const float* approx, int64_t n) {
  double sig = 0.0, err = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    sig += static_cast<double>(ref[i]) * ref[i];
    const double d = static_cast<double>(ref[i]) - approx[i];
    err += d * d;
  }
  if (err == 0.0) return 200.0;
  if (sig == 0.0) return -200.0;
  return std::min(200.0, std::max(-200.0, 10.0 * std::log10(sig / err)));
}

double cosine_similarity(const float* a, const float* b, int64_t n) {
  double ab = 0.0, aa = 0.0, bb = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  if (aa == 0.0 && bb == 0.0) return 1.0;
  if (aa == 0.0 || bb == 0.0) return 0.0;
  return ab / std::sqrt(aa * bb);
}

}  // namespace ecg::quant
