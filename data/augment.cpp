#include "data/augment.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/error.h"

namespace ecg::data {

AugmentParams sample_augment(const AugmentOptions& o, int size, Rng& rng) {
  const double u[6] = {rng.uniform(), rng.uniform(), rng.uniform(),
                       rng.uniform(), rng.uniform(), rng.uniform()};
  AugmentParams p;
  if (!o.enabled) return p;
  auto sym = [](double v, double m) { return static_cast<float>((2 * v - 1) * m); };
  p.shift_x = sym(u[0], o.max_shift * size);
  p.shift_y = sym(u[1], o.max_shift * size);
  p.angle = sym(u[2], o.max_rotation_deg * 3.14159265358979 / 180.0);
  p.brightness = sym(u[3], o.brightness);
  p.contrast = 1.f + sym(u[4], o.contrast);
  p.flip = o.hflip && u[5] < 0.5;
  return p;
}

void augment_to_chw(const Image& img, const AugmentParams& p, const PreprocessOptions& opts,
                    float* out) {
  if (p.identity()) {
    image_to_chw(img, opts, out);
    return;
  }
  const int s = opts.size, c = img.channels;
  ECG_CHECK(img.width == s && img.height == s && (c == 1 || c == 3), "augment_to_chw: image is ",
            img.width, "x", img.height, "x", c, ", expected ", s, "x", s);
  const size_t plane = static_cast<size_t>(s) * s;
  // Warped 8-bit-range values in [0, 255] float, HWC, then one pass maps them.
  std::vector<float> warped(plane * c);
  const float cx = 0.5f * (s - 1), cy = 0.5f * (s - 1);
  const float cs = std::cos(p.angle), sn = std::sin(p.angle);
  for (int y = 0; y < s; ++y) {
    for (int x = 0; x < s; ++x) {
      // Inverse map: output pixel -> source point (undo shift, then rotation).
      float ox = (p.flip ? (s - 1 - x) : x) - cx - p.shift_x, oy = y - cy - p.shift_y;
      float sx = cs * ox + sn * oy + cx, sy = -sn * ox + cs * oy + cy;
      sx = std::min(std::max(sx, 0.f), float(s - 1));
      sy = std::min(std::max(sy, 0.f), float(s - 1));
      int x0 = static_cast<int>(sx), y0 = static_cast<int>(sy);
      int x1 = std::min(x0 + 1, s - 1), y1 = std::min(y0 + 1, s - 1);
      float fx = sx - x0, fy = sy - y0;
      const uint8_t *r0 = img.row(y0), *r1 = img.row(y1);
      float* w = warped.data() + (static_cast<size_t>(y) * s + x) * c;
      for (int k = 0; k < c; ++k) {
        float top = r0[x0 * c + k] + fx * (r0[x1 * c + k] - r0[x0 * c + k]);
        float bot = r1[x0 * c + k] + fx * (r1[x1 * c + k] - r1[x0 * c + k]);
        w[k] = top + fy * (bot - top);
      }
    }
  }
  double sum = 0;
  for (float v : warped) sum += v;
  const float mean01 = static_cast<float>(sum / warped.size() / 255.0);
  for (int k = 0; k < 3; ++k) {
    const float inv_std = 1.f / opts.stddev[k];
    const float* src = warped.data() + (c == 1 ? 0 : k);
    float* dst = out + k * plane;
    for (size_t i = 0; i < plane; ++i) {
      float v = (src[i * c] / 255.f - mean01) * p.contrast + mean01 + p.brightness;
      v = std::min(std::max(v, 0.f), 1.f);
      dst[i] = (v - opts.mean[k]) * inv_std;
    }
  }
}

}  // namespace ecg::data
