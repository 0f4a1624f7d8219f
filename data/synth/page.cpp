// Layout, nuisances and scanning of one report page (data/synth/page.h).
#include "data/synth/page.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "data/synth/font.h"
#include "data/synth/raster.h"
#include "kernels/error.h"

namespace ecg::data::synth {

namespace {

constexpr double kPulseStartMm = 12.3;
constexpr int kGridLeads[3][4] = {
    {kI, kAVR, kV1, kV4}, {kII, kAVL, kV2, kV5}, {kIII, kAVF, kV3, kV6}};

uint8_t u8(double v) {
  return static_cast<uint8_t>(std::lround(std::min(255.0, std::max(0.0, v))));
}

std::string two(int v) {
  char b[8];
  std::snprintf(b, sizeof b, "%02d", v);
  return b;
}

struct Nuisance {
  Rgb paper, dot, border, ink, outside;
  float dot_alpha, border_alpha, ink_alpha, ink_gain;
  double stroke;  // trace half width in mm
  double rotation, scale, shift_x_mm, shift_y_mm;
  double blur;
  int blur_passes, noise_amp, quality;
  int rhythm_lead;
  std::string id, sex, date, time;
};

// Every draw happens unconditionally and in the same order for every page.
Nuisance draw_nuisance(Rng& rng, const PageOptions& o) {
  const double d = std::min(1.0, std::max(0.0, o.difficulty));
  Nuisance n;
  // Paper and print colours randomised around what `synth --calibrate`
  // measures on the real scans (docs/synthetic-ecg.md, "Calibration"): paper
  // 255 (the scanner saturates it), grid contrast 86-96 levels at 1106 px,
  // ink about RGB 30/28/28. The ranges include the real values and reach
  // past them on both sides (domain randomisation); half the pages have
  // white paper as every real one does.
  double base = rng.chance(0.5) ? 255 : rng.uniform(244, 255);
  n.paper = {u8(base + rng.uniform(0, 2)), u8(base - rng.uniform(0, 3)),
             u8(base - rng.uniform(0, 3))};
  double dot_g = rng.uniform(85, 165);
  n.dot = {u8(dot_g + rng.uniform(10, 35)), u8(dot_g), u8(dot_g + rng.uniform(-4, 6))};
  n.dot_alpha = static_cast<float>(rng.uniform(0.6, 1.0));
  n.border = {u8(rng.uniform(225, 248)), u8(rng.uniform(140, 180)), u8(rng.uniform(150, 190))};
  n.border_alpha = static_cast<float>(rng.uniform(0.7, 1.0));
  double ink = rng.uniform(0, 5 + 30 * d);
  n.ink = {u8(ink), u8(ink), u8(ink + rng.uniform(0, 10))};
  n.ink_alpha = static_cast<float>(1.0 - rng.uniform(0, 0.03 + 0.12 * d));
  // Half width in mm. The real traces at 1106 px have a dark core (ink RGB
  // about 30/28/28 where 0.24 mm with the old blur gave 78/76/78) and sharp
  // edges; a slightly wider stroke with little blur matches both.
  n.stroke = 0.19 * rng.uniform(0.85, 1.2);
  // Coverage gain > 1 saturates the stroke's core and hardens its edges, as
  // the printer's burnt dots and the scanner's threshold do.
  n.ink_gain = static_cast<float>(rng.uniform(1.3, 2.6));
  n.outside = {u8(rng.uniform(235, 255)), 0, 0};
  n.outside.g = n.outside.b = n.outside.r;
  double sign = rng.chance(0.5) ? -1 : 1;
  // The real scans are straight (skew 0.000 deg), at the same place (grid
  // box at 8.61/35.71 mm) and sharp (10-90 % edge 0.53 mm at 1106 px, the
  // half-size resampling's own width): smaller ranges that still include
  // some tilt, shift and blur (was up to 0.5 + 1.5 d deg, sigma 1.5 mm, blur
  // 0.05-0.25 in 1-2 passes, which measured 0.98 mm edges).
  n.rotation = sign * rng.uniform(0, 0.15 + 0.6 * d);
  n.scale = rng.uniform(0.99, 1.01);
  n.shift_x_mm = rng.clipped_normal(0, 0.8, -3, 3);
  n.shift_y_mm = rng.clipped_normal(0, 0.8, -3, 3);
  n.blur = rng.uniform(0.0, 0.04 + 0.08 * d);
  n.blur_passes = 1 + (rng.chance(0.5 * d) ? 1 : 0);
  n.noise_amp = rng.below(1 + static_cast<int>(4 * d));
  int qmin = std::max(1, std::min(o.jpeg_quality_min, o.jpeg_quality_max));
  int qmax = std::min(100, std::max(o.jpeg_quality_min, o.jpeg_quality_max));
  n.quality = qmin + rng.below(qmax - qmin + 1);
  double u = rng.uniform();
  n.rhythm_lead = u < 0.7 ? kII : (u < 0.85 ? kIII : kV1);
  n.id = std::to_string(150000 + rng.below(40000));
  n.sex = rng.chance(0.55) ? "Male" : "Female";
  int year = 2019 + rng.below(3), month = 1 + rng.below(12), day = 1 + rng.below(28);
  int hour = 1 + rng.below(12), minute = rng.below(60), second = rng.below(60);
  bool pm = rng.chance(0.5);
  n.date = std::to_string(year) + "-" + two(month) + "-" + two(day);
  n.time = two(hour) + ":" + two(minute) + ":" + two(second) + (pm ? " PM" : " AM");
  return n;
}

}  // namespace

int page_height(const PageOptions& o) {
  return o.height > 0 ? o.height
                      : static_cast<int>(
                            std::lround(o.width * double(kDefaultPageHeight) / kDefaultPageWidth));
}

Image render_page(const EcgRecord& rec, Rng& rng, const PageOptions& opts, PageInfo* info) {
  const int W = opts.width, H = page_height(opts);
  ECG_CHECK(W >= 64 && H >= 48 && W <= 20000 && H <= 20000, "synth: page size ", W, "x", H,
            " out of range (64x48 to 20000x20000)");
  const Nuisance n = draw_nuisance(rng, opts);
  const double sx = W / kPageWidthMm, sy = H / kPageHeightMm;
  const double s = std::min(sx, sy);  // for strokes and text heights

  Image img(W, H, 3);
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    img.pixels[i] = n.paper.r;
    img.pixels[i + 1] = n.paper.g;
    img.pixels[i + 2] = n.paper.b;
  }
  Coverage cov(W, H);

  // Grid: a dot at every millimetre, dotted 5 mm lines (dots every 0.5 mm),
  // as the EDAN thermal printer makes it; tiny dots average to a faint
  // tint at small page sizes just as the real grid does when shrunk.
  const double dot = 0.18;
  for (double ymm = kGridTopMm; ymm <= kGridBottomMm + 1e-6; ymm += 1.0) {
    int yi = static_cast<int>(std::lround(ymm - kGridTopMm));
    for (double xmm = kGridLeftMm; xmm <= kGridRightMm + 1e-6; xmm += 0.5) {
      int xi2 = static_cast<int>(std::lround(2 * (xmm - kGridLeftMm)));
      bool on_major_row = yi % 5 == 0, on_minor_col = xi2 % 2 == 0;
      bool on_major_col = xi2 % 10 == 0;
      if (!(on_major_row || on_minor_col)) continue;
      cov.fill_rect(xmm * sx, ymm * sy, (xmm + dot) * sx, (ymm + dot) * sy);
      if (on_major_col && yi < static_cast<int>(kGridBottomMm - kGridTopMm))
        cov.fill_rect(xmm * sx, (ymm + 0.5) * sy, (xmm + dot) * sx, (ymm + 0.5 + dot) * sy);
    }
  }
  composite(img, cov, n.dot, n.dot_alpha);
  std::fill(cov.a.begin(), cov.a.end(), 0.0f);
  const double bw = 0.25;
  cov.fill_rect(kGridLeftMm * sx, kGridTopMm * sy, kGridRightMm * sx, (kGridTopMm + bw) * sy);
  cov.fill_rect(kGridLeftMm * sx, (kGridBottomMm - bw) * sy, kGridRightMm * sx, kGridBottomMm * sy);
  cov.fill_rect(kGridLeftMm * sx, kGridTopMm * sy, (kGridLeftMm + bw) * sx, kGridBottomMm * sy);
  cov.fill_rect((kGridRightMm - bw) * sx, kGridTopMm * sy, kGridRightMm * sx, kGridBottomMm * sy);
  composite(img, cov, n.border, n.border_alpha);
  std::fill(cov.a.begin(), cov.a.end(), 0.0f);

  // Ink: traces, pulses, separators, labels, header, footer.
  const double hw = n.stroke * s;
  std::vector<double> xs, ys;
  auto trace = [&](int lead, double t0, double t1, double x0_mm, double base_mm) {
    int i0 = static_cast<int>(std::lround(t0 * rec.fs));
    int i1 = std::min(rec.samples - 1, static_cast<int>(std::lround(t1 * rec.fs)));
    xs.clear();
    ys.clear();
    for (int i = i0; i <= i1; ++i) {
      xs.push_back((x0_mm + (i / rec.fs - t0) * kMmPerSecond) * sx);
      ys.push_back((base_mm - rec.mv[lead][i] * kMmPerMv) * sy);
    }
    cov.polyline(xs.data(), ys.data(), static_cast<int>(xs.size()), hw, n.ink_alpha);
  };
  const double label_cap = 2.6 * s;
  for (int row = 0; row < 4; ++row) {
    const double b = kRowBaselineMm[row];
    const double px[6] = {kPulseStartMm,     kPulseStartMm + 1, kPulseStartMm + 1,
                          kPulseStartMm + 4, kPulseStartMm + 4, kPulseStartMm + 5};
    const double py[6] = {b, b, b - 10, b - 10, b, b};
    double pxs[6], pys[6];
    for (int k = 0; k < 6; ++k) {
      pxs[k] = px[k] * sx;
      pys[k] = py[k] * sy;
    }
    cov.polyline(pxs, pys, 6, hw, n.ink_alpha);
    if (row < 3) {
      for (int col = 0; col < 4; ++col) {
        int lead = kGridLeads[row][col];
        double x0 = kTraceStartMm + col * 2.5 * kMmPerSecond;
        trace(lead, col * 2.5, col * 2.5 + 2.5, x0, b);
        draw_text(cov, (x0 + (col == 0 ? 0.8 : 0.3)) * sx, (b - 4.0) * sy, label_cap,
                  lead_name(lead), 0.8, n.ink_alpha);
      }
    } else {
      trace(n.rhythm_lead, 0, 10.0, kTraceStartMm, b);
      draw_text(cov, (kTraceStartMm + 0.8) * sx, (b - 4.0) * sy, label_cap,
                lead_name(n.rhythm_lead), 0.8, n.ink_alpha);
    }
  }
  for (int col = 1; col < 4; ++col) {
    double x = (kTraceStartMm + col * 2.5 * kMmPerSecond) * sx;
    cov.segment(x, (kRowBaselineMm[0] - 6.3) * sy, x, (kRowBaselineMm[2] + 5.1) * sy, 0.9 * hw,
                n.ink_alpha);
  }

  // Header and footer, positions from the scans.
  auto text = [&](double x_mm, double top_mm, double cap_mm, const std::string& t) {
    draw_text(cov, x_mm * sx, top_mm * sy, cap_mm * s, t, 0.8, n.ink_alpha);
  };
  const std::string title = "ECG REPORT";
  text(140.5 - text_width(title, 3.6) / 2, 3.0, 3.6, title);
  const double c1 = 2.3;
  text(8.9, 9.3, c1, "ID : " + n.id);
  text(40.5, 9.3, c1, "Years");
  text(56.5, 9.3, c1, n.sex);
  text(78.5, 9.3, c1, "cm");
  text(97.0, 9.3, c1, "kg");
  text(115.2, 9.3, c1, "/");
  text(121.5, 9.3, c1, "mmHg");
  text(138.7, 9.3, c1, "Race:Unknown");
  text(168.9, 9.3, c1, "Room No.:");
  text(192.9, 9.3, c1, "Department:");
  text(8.9, 13.6, c1, "Exam.Room:");
  text(38.5, 13.6, c1, "Medication:");
  cov.fill_rect(0, 17.2 * sy, 272.0 * sx, 17.45 * sy, n.ink_alpha);
  cov.fill_rect(0, 17.9 * sy, 272.0 * sx, 18.35 * sy, n.ink_alpha);
  text(8.9, 19.3, c1, "Diagnosis Information:");
  text(197.0, 23.6, c1, "Technician :");
  text(197.0, 27.9, c1, "Ref-Phys. :");
  text(197.0, 32.2, c1, "Report Confirmed by:");
  char hr[16];
  std::snprintf(hr, sizeof hr, "%d", static_cast<int>(std::lround(rec.heart_rate_bpm)));
  text(8.9, 194.6, 2.1,
       std::string("0.67~25Hz  AC50  25mm/s  10mm/mV  4*2.5s+1r  \x01") + hr +
           "   SE-3  V1.0  SEMIP  V1.7");
  text(227.0, 194.6, 2.1, n.date + "  " + n.time);
  for (float& a : cov.a) a = std::min(1.0f, a * n.ink_gain);
  composite(img, cov, n.ink);

  // The scanner: a slightly rotated, shifted and scaled copy, then optics
  // blur and sensor noise. The JPEG quality is applied by the writer.
  Image scanned =
      warp_similarity(img, n.rotation, n.scale, n.shift_x_mm * sx, n.shift_y_mm * sy, n.outside);
  blur3(scanned, n.blur * std::min(1.0, s / 2.0 + 0.2), n.blur_passes);
  add_sensor_noise(scanned, rng, n.noise_amp);
  if (info) {
    info->jpeg_quality = n.quality;
    info->rotation_deg = n.rotation;
    info->rhythm_lead = n.rhythm_lead;
    info->patient_id = n.id;
  }
  return scanned;
}

}  // namespace ecg::data::synth
