// Drawing primitives and image operations of data/synth/raster.h.
#include "data/synth/raster.h"

#include <algorithm>
#include <cmath>

namespace ecg::data::synth {

namespace {
inline float clamp01(double v) {
  return static_cast<float>(v < 0 ? 0 : (v > 1 ? 1 : v));
}
// Length of [a, b) inside the pixel interval [p, p+1).
inline double overlap(double a, double b, int p) {
  return std::max(0.0, std::min(b, p + 1.0) - std::max(a, static_cast<double>(p)));
}
}  // namespace

void Coverage::fill_rect(double x0, double y0, double x1, double y1, float alpha) {
  int ix0 = std::max(0, static_cast<int>(std::floor(x0)));
  int iy0 = std::max(0, static_cast<int>(std::floor(y0)));
  int ix1 = std::min(width - 1, static_cast<int>(std::ceil(x1)) - 1);
  int iy1 = std::min(height - 1, static_cast<int>(std::ceil(y1)) - 1);
  for (int y = iy0; y <= iy1; ++y) {
    double fy = overlap(y0, y1, y);
    float* row = a.data() + static_cast<size_t>(y) * width;
    for (int x = ix0; x <= ix1; ++x) {
      float v = row[x] + static_cast<float>(fy * overlap(x0, x1, x)) * alpha;
      row[x] = v > 1.0f ? 1.0f : v;
    }
  }
}

void Coverage::segment(double x0, double y0, double x1, double y1, double hw, float alpha) {
  // Distance from each pixel centre to the segment; coverage ramps from 1 to
  // 0 across one pixel at the stroke edge.
  double r = hw + 0.5;
  int bx0 = std::max(0, static_cast<int>(std::floor(std::min(x0, x1) - r)));
  int by0 = std::max(0, static_cast<int>(std::floor(std::min(y0, y1) - r)));
  int bx1 = std::min(width - 1, static_cast<int>(std::ceil(std::max(x0, x1) + r)));
  int by1 = std::min(height - 1, static_cast<int>(std::ceil(std::max(y0, y1) + r)));
  if (bx0 > bx1 || by0 > by1) return;
  double dx = x1 - x0, dy = y1 - y0;
  double len2 = dx * dx + dy * dy;
  double inv = len2 > 1e-12 ? 1.0 / len2 : 0.0;
  // Thin strokes (below a pixel) are drawn at full width with reduced opacity
  // so that small pages keep the trace's visual weight.
  double draw_hw = std::max(hw, 0.5);
  float scale = alpha * static_cast<float>(std::min(1.0, hw / 0.5));
  for (int y = by0; y <= by1; ++y) {
    double py = y + 0.5 - y0;
    float* row = a.data() + static_cast<size_t>(y) * width;
    for (int x = bx0; x <= bx1; ++x) {
      double px = x + 0.5 - x0;
      double t = (px * dx + py * dy) * inv;
      t = t < 0 ? 0 : (t > 1 ? 1 : t);
      double ex = px - t * dx, ey = py - t * dy;
      double d2 = ex * ex + ey * ey;
      if (d2 >= r * r + 2 * r + 1) continue;
      float v = clamp01(draw_hw + 0.5 - std::sqrt(d2)) * scale;
      if (v > row[x]) row[x] = v;
    }
  }
}

void Coverage::polyline(const double* xs, const double* ys, int n, double hw, float alpha) {
  for (int i = 0; i + 1 < n; ++i) segment(xs[i], ys[i], xs[i + 1], ys[i + 1], hw, alpha);
}

void composite(Image& img, const Coverage& cov, Rgb color, float opacity) {
  const int n = img.width * img.height;
  uint8_t* p = img.pixels.data();
  const float* a = cov.a.data();
  const float cr = color.r, cg = color.g, cb = color.b;
  for (int i = 0; i < n; ++i, p += 3) {
    float t = a[i] * opacity;
    if (t <= 0.0f) continue;
    p[0] = static_cast<uint8_t>(p[0] + (cr - p[0]) * t + 0.5f);
    p[1] = static_cast<uint8_t>(p[1] + (cg - p[1]) * t + 0.5f);
    p[2] = static_cast<uint8_t>(p[2] + (cb - p[2]) * t + 0.5f);
  }
}

Image warp_similarity(const Image& src, double degrees, double scale, double shift_x,
                      double shift_y, Rgb outside) {
  const int w = src.width, h = src.height;
  Image dst(w, h, 3);
  const double th = degrees * 3.14159265358979323846 / 180.0;
  const double c = std::cos(th) / scale, s = std::sin(th) / scale;
  const double cx = 0.5 * w, cy = 0.5 * h;
  // dst(x, y) = src(R^-1 (x - centre - shift) / scale + centre); walk rows
  // incrementally in 16.16 fixed point so the inner loop has no trig or division.
  for (int y = 0; y < h; ++y) {
    double yy = y + 0.5 - cy - shift_y;
    double xx = 0.5 - cx - shift_x;
    double sx = c * xx + s * yy + cx - 0.5;
    double sy = -s * xx + c * yy + cy - 0.5;
    int64_t fx = static_cast<int64_t>(std::llround(sx * 65536.0));
    int64_t fy = static_cast<int64_t>(std::llround(sy * 65536.0));
    const int64_t dfx = static_cast<int64_t>(std::llround(c * 65536.0));
    const int64_t dfy = static_cast<int64_t>(std::llround(-s * 65536.0));
    uint8_t* out = dst.row(y);
    for (int x = 0; x < w; ++x, fx += dfx, fy += dfy, out += 3) {
      int64_t ix = fx >> 16, iy = fy >> 16;
      if (ix < 0 || iy < 0 || ix >= w - 1 || iy >= h - 1) {
        out[0] = outside.r;
        out[1] = outside.g;
        out[2] = outside.b;
        continue;
      }
      uint32_t ax = static_cast<uint32_t>(fx & 0xFFFF) >> 8,
               ay = static_cast<uint32_t>(fy & 0xFFFF) >> 8;
      const uint8_t* p0 = src.row(static_cast<int>(iy)) + ix * 3;
      const uint8_t* p1 = p0 + static_cast<size_t>(w) * 3;
      for (int ch = 0; ch < 3; ++ch) {
        uint32_t top = p0[ch] * (256 - ax) + p0[ch + 3] * ax;
        uint32_t bot = p1[ch] * (256 - ax) + p1[ch + 3] * ax;
        out[ch] = static_cast<uint8_t>((top * (256 - ay) + bot * ay + 32768) >> 16);
      }
    }
  }
  return dst;
}

void blur3(Image& img, double wf, int passes) {
  const int w = img.width, h = img.height, c = img.channels;
  const int k = static_cast<int>(std::lround(std::min(0.25, std::max(0.0, wf)) * 256));
  if (k == 0 || passes <= 0) return;
  const int mid = 256 - 2 * k;
  std::vector<uint8_t> line(static_cast<size_t>(std::max(w, h)) * c);
  for (int pass = 0; pass < passes; ++pass) {
    for (int y = 0; y < h; ++y) {  // horizontal
      uint8_t* r = img.row(y);
      std::copy(r, r + static_cast<size_t>(w) * c, line.begin());
      for (int x = 1; x + 1 < w; ++x)
        for (int ch = 0; ch < c; ++ch) {
          const uint8_t* q = &line[static_cast<size_t>(x) * c + ch];
          r[x * c + ch] = static_cast<uint8_t>((k * q[-c] + mid * q[0] + k * q[c] + 128) >> 8);
        }
    }
    // Vertical: rows at a time, so memory is read in order.
    std::vector<uint8_t> prev(img.row(0), img.row(0) + static_cast<size_t>(w) * c);
    for (int y = 1; y + 1 < h; ++y) {
      uint8_t* r = img.row(y);
      const uint8_t* nx = img.row(y + 1);
      std::copy(r, r + static_cast<size_t>(w) * c, line.begin());
      for (int i = 0; i < w * c; ++i)
        r[i] = static_cast<uint8_t>((k * prev[i] + mid * line[i] + k * nx[i] + 128) >> 8);
      std::copy(line.begin(), line.begin() + static_cast<size_t>(w) * c, prev.begin());
    }
  }
}

void add_sensor_noise(Image& img, Rng& rng, int amplitude) {
  if (amplitude <= 0) return;
  const size_t n = img.pixels.size();
  uint8_t* p = img.pixels.data();
  const int span = 2 * amplitude + 1;
  size_t i = 0;
  while (i < n) {
    uint64_t bits = rng.next();
    // Four noise values per draw: each the difference of two bytes mapped
    // to [0, span) gives a triangular distribution centred on zero.
    for (int k = 0; k < 4 && i < n; ++k, ++i) {
      int a = static_cast<int>((bits & 0xFF) * span >> 8);
      int b = static_cast<int>(((bits >> 8) & 0xFF) * span >> 8);
      bits >>= 16;
      int v = p[i] + a - b;
      p[i] = static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
    }
  }
}

}  // namespace ecg::data::synth

namespace ecg::data::synth {
Image shrink_area(const Image& src, int w, int h) {
  const int c = src.channels;
  std::vector<uint32_t> sum(static_cast<size_t>(w) * h * c, 0),
      count(static_cast<size_t>(w) * h, 0);
  for (int y = 0; y < src.height; ++y) {
    int ty = static_cast<int>(static_cast<int64_t>(y) * h / src.height);
    const uint8_t* r = src.row(y);
    for (int x = 0; x < src.width; ++x) {
      int tx = static_cast<int>(static_cast<int64_t>(x) * w / src.width);
      size_t o = static_cast<size_t>(ty) * w + tx;
      for (int ch = 0; ch < c; ++ch) sum[o * c + ch] += r[x * c + ch];
      count[o]++;
    }
  }
  Image out(w, h, c);
  for (size_t o = 0; o < count.size(); ++o)
    for (int ch = 0; ch < c; ++ch)
      out.pixels[o * c + ch] =
          static_cast<uint8_t>(count[o] ? (sum[o * c + ch] + count[o] / 2) / count[o] : 0);
  return out;
}
}  // namespace ecg::data::synth
