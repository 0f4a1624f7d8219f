// Page measurements for calibrating the generator (data/synth/page_stats.h).
#include "data/synth/page_stats.h"

#include <algorithm>
#include <cmath>

#include "data/synth/page.h"
#include "kernels/error.h"

namespace ecg::data::synth {

namespace {

constexpr int kInkLevel = 100;  // luminance below which a pixel is ink

struct PageView {
  const Image& img;
  double px_per_mm;
  int x(double mm) const {
    return std::clamp(static_cast<int>(std::lround(mm * px_per_mm)), 0, img.width - 1);
  }
  int y(double mm) const {
    return std::clamp(static_cast<int>(std::lround(mm * px_per_mm)), 0, img.height - 1);
  }
  const uint8_t* at(int px, int py) const { return img.row(py) + 3 * px; }
  double lum(int px, int py) const {
    const uint8_t* p = at(px, py);
    return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
  }
  bool ink(int px, int py) const { return lum(px, py) < kInkLevel; }
  bool pink(int px, int py) const {
    const uint8_t* p = at(px, py);
    return p[0] - p[1] > 12 && !ink(px, py);
  }
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

void measure_colours(const PageView& v, PageStats& s) {
  double sum[3] = {0, 0, 0}, l1 = 0, l2 = 0;
  long n = 0;
  for (int py = v.y(22); py <= v.y(33); ++py)
    for (int px = v.x(60); px <= v.x(180); ++px) {
      const uint8_t* p = v.at(px, py);
      for (int c = 0; c < 3; ++c) sum[c] += p[c];
      const double l = v.lum(px, py);
      l1 += l;
      l2 += l * l;
      ++n;
    }
  for (int c = 0; c < 3; ++c) s.paper[c] = sum[c] / n;
  const double paper_lum = l1 / n;
  s.noise = std::sqrt(std::max(0.0, l2 / n - paper_lum * paper_lum));
  // Grid: at reduced sizes the 1 mm dots blur into a tint, so the grid is
  // measured as the mean colour of every non-ink pixel of the box, the share
  // of them visibly darker than paper, and how dark the darkest 2 % are.
  double g[3] = {0, 0, 0}, k[3] = {0, 0, 0};
  long ng = 0, nk = 0, marked = 0;
  std::vector<int> hist(256, 0);
  for (int py = v.y(kGridTopMm + 2); py <= v.y(kGridBottomMm - 2); ++py)
    for (int px = v.x(kGridLeftMm + 2); px <= v.x(kGridRightMm - 2); ++px) {
      const uint8_t* p = v.at(px, py);
      const double l = v.lum(px, py);
      double* acc = l < kInkLevel ? k : g;
      for (int c = 0; c < 3; ++c) acc[c] += p[c];
      if (l < kInkLevel) {
        ++nk;
        continue;
      }
      ++ng;
      ++hist[std::clamp(static_cast<int>(l), 0, 255)];
      marked += l < paper_lum - 10;
    }
  for (int c = 0; c < 3; ++c) {
    s.grid[c] = ng ? g[c] / ng : 0;
    s.ink[c] = nk ? k[c] / nk : 0;
  }
  s.grid_fraction = ng ? double(marked) / ng : 0;
  long seen = 0, dark_sum = 0, dark_n = 0;
  for (int l = 0; l < 256 && seen < ng / 50; ++l) {
    const long take = std::min<long>(hist[l], ng / 50 - seen);
    seen += take, dark_sum += take * l, dark_n += take;
  }
  s.grid_contrast = dark_n ? paper_lum - double(dark_sum) / dark_n : 0;
}

// Vertical ink runs in the trace rows: flat trace segments give the stroke's
// thickness at half maximum; their upper edges give the blur (10-90 % width).
void measure_strokes(const PageView& v, const PageStats& s, PageStats& out) {
  const double paper = 0.299 * s.paper[0] + 0.587 * s.paper[1] + 0.114 * s.paper[2];
  const double ink = std::min(paper - 40, 0.299 * s.ink[0] + 0.587 * s.ink[1] + 0.114 * s.ink[2]);
  const double half = (paper + ink) / 2, lo = ink + 0.1 * (paper - ink),
               hi = ink + 0.9 * (paper - ink);
  std::vector<double> runs, edges;
  for (double base : kRowBaselineMm) {
    const int y0 = v.y(base - 15), y1 = v.y(base + 12);
    for (int px = v.x(kTraceStartMm + 8); px <= v.x(kTraceStartMm + 245); px += 2) {
      int py = y0;
      while (py <= y1) {
        if (v.lum(px, py) >= half) {
          ++py;
          continue;
        }
        int end = py;
        while (end <= y1 && v.lum(px, end) < half) ++end;
        const double len = (end - py) / v.px_per_mm;
        if (len < 1.0) {  // a flat stretch, not a steep QRS flank
          runs.push_back(len);
          int a = py;  // walk up from the run through the transition band
          while (a > y0 && v.lum(px, a - 1) < hi) --a;
          int b = a;
          while (b < end && v.lum(px, b) >= lo) ++b;
          edges.push_back((b - a + 1) / v.px_per_mm);
        }
        py = end + 1;
      }
    }
  }
  out.trace_mm = median(runs);
  double e = 0;
  for (double x : edges) e += x;
  out.edge_mm = edges.empty() ? 0 : e / edges.size();
}

// The header's double rule runs across the page: its row in a left and a
// right window (the row with the most ink) gives the tilt.
void measure_geometry(const PageView& v, PageStats& s) {
  // The rule is two lines 0.7 mm apart: the darkness-weighted centre of the rows
  // within 1.5 mm of the inkiest one, so that neither line alone decides.
  auto rule_row = [&](double x0_mm, double x1_mm) {
    const int y0 = v.y(12), y1 = v.y(22.5);     // "Technician :" starts at 23.6 mm
    std::vector<double> count(y1 - y0 + 1, 0);  // darkness, so a faded rule still counts
    for (int py = y0; py <= y1; ++py)
      for (int px = v.x(x0_mm); px <= v.x(x1_mm); ++px) count[py - y0] += 255 - v.lum(px, py);
    const int peak = static_cast<int>(std::max_element(count.begin(), count.end()) - count.begin());
    const double floor = *std::min_element(count.begin(), count.end());  // paper
    const int reach = static_cast<int>(std::ceil(1.5 * v.px_per_mm));
    double sum = 0, weight = 0;
    for (int i = std::max(0, peak - reach); i <= std::min<int>(count.size() - 1, peak + reach); ++i)
      sum += i * (count[i] - floor), weight += count[i] - floor;
    return y0 + (weight > 0 ? sum / weight : peak);
  };
  const double dy = rule_row(210, 250) - rule_row(70, 110);  // clear of the header text
  s.skew_deg = std::atan2(dy, 140 * v.px_per_mm) * 180 / M_PI;
  // Grid box border: the first column (row) that is pink over most of the
  // box, followed along the measured tilt.
  const double slope = dy / (140 * v.px_per_mm);
  const int top = v.y(kGridTopMm + 10), bottom = v.y(kGridBottomMm - 10),
            y_mid = (top + bottom) / 2;
  for (int px = v.x(0); px <= v.x(kGridLeftMm + 8); ++px) {
    int pink = 0;
    for (int py = top; py <= bottom; ++py) {
      const int x =
          std::clamp(px - static_cast<int>(std::lround(slope * (py - y_mid))), 0, v.img.width - 1);
      pink += v.pink(x, py) || v.ink(x, py);
    }
    if (pink > 0.6 * (bottom - top + 1)) {
      s.margin_left_mm = px / v.px_per_mm;
      break;
    }
  }
  const int left = v.x(kGridLeftMm + 30), right = v.x(kGridRightMm - 30),
            x_mid = (left + right) / 2;
  for (int py = v.y(kGridTopMm - 8); py <= v.y(kGridTopMm + 8); ++py) {
    int pink = 0;
    for (int px = left; px <= right; ++px) {
      const int y =
          std::clamp(py + static_cast<int>(std::lround(slope * (px - x_mid))), 0, v.img.height - 1);
      pink += v.pink(px, y) || v.ink(px, y);
    }
    if (pink > 0.6 * (right - left + 1)) {
      s.margin_top_mm = py / v.px_per_mm;
      break;
    }
  }
}

// One trace, digitised: for each column, the centroid of the ink within
// +-17 mm of the baseline, in mV above it (NaN where the column has no ink).
std::vector<double> digitise(const PageView& v, double base_mm, double x0_mm, double x1_mm) {
  std::vector<double> mv;
  const int y0 = v.y(base_mm - 17), y1 = v.y(base_mm + 17), base = v.y(base_mm);
  for (int px = v.x(x0_mm); px <= v.x(x1_mm); ++px) {
    double sum = 0;
    int n = 0;
    for (int py = y0; py <= y1; ++py)
      if (v.ink(px, py)) sum += py, ++n;
    mv.push_back(n ? (base - sum / n) / (v.px_per_mm * kMmPerMv) : NAN);
  }
  return mv;
}

// The most common level (0.025 mV bins): the isoelectric line of a panel.
double baseline_of(const std::vector<double>& mv) {
  std::vector<int> hist(400, 0);
  for (double x : mv)
    if (!std::isnan(x)) ++hist[std::clamp(static_cast<int>(std::floor(x / 0.025)) + 200, 0, 399)];
  const int best = static_cast<int>(std::max_element(hist.begin(), hist.end()) - hist.begin());
  return (best - 200 + 0.5) * 0.025;
}

void measure_panels(const PageView& v, PageStats& s) {
  std::vector<double> amps;
  for (int row = 0; row < 3; ++row)
    for (int col = 0; col < 4; ++col) {
      // Skip the lead label and the separator at the panel's start.
      const double x0 = kTraceStartMm + col * 2.5 * kMmPerSecond;
      std::vector<double> mv = digitise(v, kRowBaselineMm[row], x0 + 7, x0 + 61);
      const double iso = baseline_of(mv);
      double lo = 1e9, hi = -1e9;
      int up = 0, down = 0, n = 0;
      for (double x : mv) {
        if (std::isnan(x)) continue;
        lo = std::min(lo, x), hi = std::max(hi, x);
        up += x - iso >= 0.1;
        down += x - iso <= -0.1;
        ++n;
      }
      if (n == 0) continue;
      amps.push_back(hi - lo);
      s.up_frac = std::max(s.up_frac, double(up) / n);
      s.down_frac = std::max(s.down_frac, double(down) / n);
    }
  s.qrs_mv = median(amps);
}

// Beats on the rhythm strip: peaks of |signal - baseline| above half the
// strip's largest deflection, at least 0.25 s apart.
void measure_rhythm(const PageView& v, PageStats& s) {
  const double x0 = kTraceStartMm + 7, x1 = kTraceStartMm + 10 * kMmPerSecond - 1;
  std::vector<double> mv = digitise(v, kRowBaselineMm[3], x0, x1);
  const double iso = baseline_of(mv);
  double top = 0;
  for (double& x : mv) {
    x = std::isnan(x) ? 0 : std::fabs(x - iso);
    top = std::max(top, x);
  }
  const double mm_per_px = 1 / v.px_per_mm, refractory_mm = 0.25 * kMmPerSecond;
  std::vector<double> beats;  // in mm
  for (size_t i = 1; i + 1 < mv.size(); ++i) {
    if (mv[i] < 0.5 * top || mv[i] < mv[i - 1] || mv[i] < mv[i + 1]) continue;
    const double at = i * mm_per_px;
    if (!beats.empty() && at - beats.back() < refractory_mm) continue;
    beats.push_back(at);
  }
  if (beats.size() < 2) return;
  double sum = 0, sum2 = 0;
  const size_t n = beats.size() - 1;
  for (size_t i = 0; i < n; ++i) {
    const double rr = (beats[i + 1] - beats[i]) / kMmPerSecond;
    sum += rr, sum2 += rr * rr;
  }
  const double mean = sum / n;
  s.heart_rate = 60 / mean;
  s.rr_cv = std::sqrt(std::max(0.0, sum2 / n - mean * mean)) / mean;
}

}  // namespace

PageStats measure_page_stats(const Image& rgb) {
  ECG_CHECK(rgb.channels == 3 && rgb.width >= 256 && rgb.height >= 128,
            "measure_page_stats: need an RGB page at least 256 px wide, got ", rgb.width, "x",
            rgb.height, "x", rgb.channels);
  const PageView v{rgb, rgb.width / kPageWidthMm};
  PageStats s;
  measure_colours(v, s);
  measure_strokes(v, s, s);
  measure_geometry(v, s);
  measure_panels(v, s);
  measure_rhythm(v, s);
  return s;
}

int estimate_jpeg_quality(const std::vector<uint8_t>& bytes) {
  // The IJG luminance table (quality 50), in zig-zag order as stored.
  static const int kStd[64] = {16,  11, 12, 14,  12,  10,  16,  14,  13, 14,  18,  17,  16,
                               19,  24, 40, 26,  24,  22,  22,  24,  49, 35,  37,  29,  40,
                               58,  51, 61, 60,  57,  51,  56,  55,  64, 72,  92,  78,  64,
                               68,  87, 69, 55,  56,  80,  109, 81,  87, 95,  98,  103, 104,
                               103, 62, 77, 113, 121, 112, 100, 120, 92, 101, 103, 99};
  if (bytes.size() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8) return -1;
  size_t i = 2;
  while (i + 4 <= bytes.size() && bytes[i] == 0xFF) {
    const int marker = bytes[i + 1];
    const size_t len = (size_t(bytes[i + 2]) << 8) | bytes[i + 3];
    if (marker == 0xDB && i + 5 + 64 <= bytes.size() && (bytes[i + 4] >> 4) == 0) {
      const uint8_t* q = &bytes[i + 5];
      int best = -1;
      double best_err = 1e300;
      for (int quality = 1; quality <= 100; ++quality) {
        const int scale = quality < 50 ? 5000 / quality : 200 - 2 * quality;
        double err = 0;
        for (int k = 0; k < 64; ++k) {
          const int t = std::clamp((kStd[k] * scale + 50) / 100, 1, 255);
          err += std::abs(t - q[k]);
        }
        if (err < best_err) best_err = err, best = quality;
      }
      return best;
    }
    if (marker == 0xDA || len < 2) break;
    i += 2 + len;
  }
  return -1;
}

std::vector<std::string> page_stat_names() {
  return {"paper_r",  "paper_g",       "paper_b",       "noise",          "grid_r",        "grid_g",
          "grid_b",   "grid_fraction", "grid_contrast", "ink_r",          "ink_g",         "ink_b",
          "trace_mm", "edge_mm",       "skew_deg",      "margin_left_mm", "margin_top_mm", "qrs_mv",
          "up_frac",  "down_frac",     "heart_rate",    "rr_cv"};
}

std::vector<double> page_stat_values(const PageStats& s) {
  return {s.paper[0],       s.paper[1],      s.paper[2],      s.noise,         s.grid[0],
          s.grid[1],        s.grid[2],       s.grid_fraction, s.grid_contrast, s.ink[0],
          s.ink[1],         s.ink[2],        s.trace_mm,      s.edge_mm,       s.skew_deg,
          s.margin_left_mm, s.margin_top_mm, s.qrs_mv,        s.up_frac,       s.down_frac,
          s.heart_rate,     s.rr_cv};
}

}  // namespace ecg::data::synth
