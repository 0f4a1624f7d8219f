#include "data/resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/error.h"

namespace ecg::data {
namespace {

void check_sizes(const Image& src, int out_w, int out_h, const char* what) {
  ECG_CHECK(!src.empty() && src.width > 0 && src.height > 0, what, ": empty source image");
  ECG_CHECK(src.channels >= 1 && src.channels <= 4, what, ": ", src.channels, " channels");
  ECG_CHECK(out_w > 0 && out_h > 0, what, ": bad output size ", out_w, "x", out_h);
}

inline uint8_t round_u8(float v) {
  // lrintf rounds half to even under the default rounding mode, like cvRound.
  long r = std::lrintf(v);
  return static_cast<uint8_t>(r < 0 ? 0 : r > 255 ? 255 : r);
}

struct Tap {
  int src;
  float weight;
};

// Area weights along one axis: output cell d covers source [d*s, (d+1)*s).
// Partial source pixels below a 1e-3 overlap are dropped, as OpenCV does, so
// that float noise in d*s does not add zero-weight taps.
std::vector<std::vector<Tap>> area_taps(int src_size, int dst_size) {
  const double scale = double(src_size) / dst_size;
  std::vector<std::vector<Tap>> taps(static_cast<size_t>(dst_size));
  for (int d = 0; d < dst_size; ++d) {
    double f1 = d * scale, f2 = f1 + scale;
    double cell = std::min(scale, src_size - f1);
    int s1 = static_cast<int>(std::ceil(f1)), s2 = static_cast<int>(std::floor(f2));
    s2 = std::min(s2, src_size - 1);
    s1 = std::min(s1, s2);
    auto& t = taps[static_cast<size_t>(d)];
    if (s1 - f1 > 1e-3) t.push_back({s1 - 1, static_cast<float>((s1 - f1) / cell)});
    for (int s = s1; s < s2; ++s) t.push_back({s, static_cast<float>(1.0 / cell)});
    if (f2 - s2 > 1e-3)
      t.push_back({s2, static_cast<float>(std::min(std::min(f2 - s2, 1.0), cell) / cell)});
  }
  return taps;
}

}  // namespace

namespace {
// Area taps of one axis flattened: output d uses taps [first[d], first[d+1]).
struct FlatTaps {
  std::vector<int> first, src;
  std::vector<float> weight;
};

FlatTaps flatten(const std::vector<std::vector<Tap>>& taps, int channels) {
  FlatTaps f;
  f.first.push_back(0);
  for (const auto& t : taps) {
    for (const Tap& tap : t) {
      f.src.push_back(tap.src * channels);  // byte offset in a row
      f.weight.push_back(tap.weight);
    }
    f.first.push_back(static_cast<int>(f.src.size()));
  }
  return f;
}

// Horizontal pass of one source row; the channel count is a template
// parameter so the per-channel loop unrolls (the pass is most of the resize).
template <int C>
void area_row(const uint8_t* s, const FlatTaps& xt, int out_w, float* out) {
  for (int dx = 0; dx < out_w; ++dx) {
    float sum[C] = {};
    for (int t = xt.first[static_cast<size_t>(dx)]; t < xt.first[static_cast<size_t>(dx) + 1];
         ++t) {
      const uint8_t* p = s + xt.src[static_cast<size_t>(t)];
      const float w = xt.weight[static_cast<size_t>(t)];
      for (int k = 0; k < C; ++k) sum[k] += w * p[k];
    }
    for (int k = 0; k < C; ++k) out[static_cast<size_t>(dx) * C + k] = sum[k];
  }
}

void area_row_any(const uint8_t* s, const FlatTaps& xt, int out_w, int c, float* out) {
  switch (c) {
    case 1:
      return area_row<1>(s, xt, out_w, out);
    case 2:
      return area_row<2>(s, xt, out_w, out);
    case 3:
      return area_row<3>(s, xt, out_w, out);
    default:
      return area_row<4>(s, xt, out_w, out);
  }
}
}  // namespace

Image resize_area(const Image& src, int out_w, int out_h) {
  check_sizes(src, out_w, out_h, "resize_area");
  if (out_w > src.width || out_h > src.height) return resize_bilinear(src, out_w, out_h);
  const int c = src.channels;
  const FlatTaps xt = flatten(area_taps(src.width, out_w), c);
  const auto yt = area_taps(src.height, out_h);
  Image dst(out_w, out_h, c);
  // Separable: horizontal pass of each needed source row into a float row,
  // then a weighted sum of those rows. A source row feeds at most two output
  // rows, so the row cache below holds the previous row's pass for reuse.
  std::vector<float> hrow(static_cast<size_t>(out_w) * c), acc(hrow.size());
  std::vector<float> cached(hrow.size());
  int cached_row = -1;
  for (int dy = 0; dy < out_h; ++dy) {
    std::fill(acc.begin(), acc.end(), 0.f);
    for (const Tap& ty : yt[static_cast<size_t>(dy)]) {
      if (ty.src != cached_row) {
        area_row_any(src.row(ty.src), xt, out_w, c, hrow.data());
        cached.swap(hrow);
        cached_row = ty.src;
      }
      const float* h = cached.data();
      for (size_t i = 0; i < acc.size(); ++i) acc[i] += ty.weight * h[i];
    }
    uint8_t* d = dst.row(dy);
    for (size_t i = 0; i < acc.size(); ++i) d[i] = round_u8(acc[i]);
  }
  return dst;
}

namespace {
constexpr int kCoefBits = 11;  // OpenCV's INTER_RESIZE_COEF_BITS
constexpr int kCoefScale = 1 << kCoefBits;

struct LinearTap {
  int s0, s1;
  int w0, w1;  // fixed point, kCoefScale = 1.0
};

std::vector<LinearTap> linear_taps(int src_size, int dst_size) {
  const double scale = double(src_size) / dst_size;
  std::vector<LinearTap> taps(static_cast<size_t>(dst_size));
  for (int d = 0; d < dst_size; ++d) {
    float f = static_cast<float>((d + 0.5) * scale - 0.5);
    int s = static_cast<int>(std::floor(f));
    f -= s;
    if (s < 0) f = 0, s = 0;
    if (s >= src_size - 1) f = 0, s = src_size - 1;
    LinearTap t;
    t.s0 = s;
    t.s1 = std::min(s + 1, src_size - 1);
    t.w0 = static_cast<int>(std::lrintf((1.f - f) * kCoefScale));
    t.w1 = static_cast<int>(std::lrintf(f * kCoefScale));
    taps[static_cast<size_t>(d)] = t;
  }
  return taps;
}
}  // namespace

Image resize_bilinear(const Image& src, int out_w, int out_h) {
  check_sizes(src, out_w, out_h, "resize_bilinear");
  const int c = src.channels;
  const auto xt = linear_taps(src.width, out_w);
  const auto yt = linear_taps(src.height, out_h);
  Image dst(out_w, out_h, c);
  const size_t n = static_cast<size_t>(out_w) * c;
  std::vector<int> row0(n), row1(n);
  int have0 = -1, have1 = -1;
  auto horizontal = [&](int sy, std::vector<int>& out) {
    const uint8_t* s = src.row(sy);
    for (int dx = 0; dx < out_w; ++dx) {
      const LinearTap& t = xt[static_cast<size_t>(dx)];
      const uint8_t* p0 = s + static_cast<size_t>(t.s0) * c;
      const uint8_t* p1 = s + static_cast<size_t>(t.s1) * c;
      for (int k = 0; k < c; ++k)
        out[static_cast<size_t>(dx) * c + k] = p0[k] * t.w0 + p1[k] * t.w1;
    }
  };
  for (int dy = 0; dy < out_h; ++dy) {
    const LinearTap& t = yt[static_cast<size_t>(dy)];
    if (have0 != t.s0) {
      if (have1 == t.s0) {
        row0.swap(row1);
        std::swap(have0, have1);
      } else {
        horizontal(t.s0, row0);
        have0 = t.s0;
      }
    }
    if (have1 != t.s1) {
      horizontal(t.s1, row1);
      have1 = t.s1;
    }
    // OpenCV's vectorised vertical step: drop 4 bits, multiply-high by the
    // 11-bit weights (>> 16), add, then round away the last 2 bits. Total
    // shift 22 = 2 * kCoefBits.
    uint8_t* d = dst.row(dy);
    for (size_t i = 0; i < n; ++i) {
      int v = ((t.w0 * (row0[i] >> 4)) >> 16) + ((t.w1 * (row1[i] >> 4)) >> 16);
      v = (v + 2) >> 2;
      d[i] = static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
    }
  }
  return dst;
}

Image resize(const Image& src, int out_w, int out_h, Interp interp) {
  return interp == Interp::Area ? resize_area(src, out_w, out_h)
                                : resize_bilinear(src, out_w, out_h);
}

}  // namespace ecg::data
