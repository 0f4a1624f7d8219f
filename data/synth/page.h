// One synthetic 12-lead report page, laid out like an EDAN SE-3 printout
// scanned at 200 dpi (the layout of the study's scans).
//
// Geometry is defined in millimetres on a 280.1 x 199.0 mm page, which maps to
// the scans' 2213 x 1572 pixels (7.9 px/mm); other sizes scale it. Traces run
// at 25 mm/s and 10 mm/mV: a 3x4 grid of 2.5 s segments (column k shows
// seconds 2.5k..2.5k+2.5 of its leads, as the recorder does) and a 10 s
// rhythm strip, each row preceded by a 1 mV calibration pulse.
//
// Independence of class: render_page draws every choice (paper, ink, grid
// colour, rotation, shift, blur, noise, JPEG quality, header text) from
// `page_rng` in a fixed order that never branches on the record, so these
// choices have the same distribution for every class. The one item taken
// from the record is the heart rate in the footer, which the real device
// prints from the same traces.
#pragma once
#include <string>

#include "data/image.h"
#include "data/synth/ecg_signal.h"
#include "data/synth/rng.h"

namespace ecg::data::synth {

constexpr double kPageWidthMm = 280.13;
constexpr double kPageHeightMm = 199.0;
constexpr double kGridTopMm = 35.8;      // header band is above
constexpr double kGridBottomMm = 192.0;  // footer band is below
// Grid box sides, the four rows' baselines and where the traces start, in mm
// (measured on the real scans; page_stats.cpp reads pages by them too).
constexpr double kGridLeftMm = 8.6, kGridRightMm = 275.4;
constexpr double kRowBaselineMm[4] = {59.0, 97.0, 134.9, 172.9};
constexpr double kTraceStartMm = 19.4;
constexpr double kMmPerSecond = 25.0, kMmPerMv = 10.0;
constexpr int kDefaultPageWidth = 2213;
constexpr int kDefaultPageHeight = 1572;

struct PageOptions {
  int width = kDefaultPageWidth;
  int height = 0;           // 0: keep the scans' aspect ratio
  double difficulty = 0.5;  // 0..1: scales rotation, blur, fading and noise
  // The real scans measure quality 68 (a few MI scans 51-60): see docs/synthetic-ecg.md.
  int jpeg_quality_min = 55, jpeg_quality_max = 92;
};

// Page size after applying the aspect-ratio default.
int page_height(const PageOptions& o);

struct PageInfo {
  int jpeg_quality = 90;  // drawn with the page; the writer uses it
  double rotation_deg = 0;
  int rhythm_lead = kII;
  std::string patient_id;
};

// Renders `rec` (10 s, any fs) onto a page. Throws ecg::Error for page sizes
// below 64 x 48 pixels.
Image render_page(const EcgRecord& rec, Rng& page_rng, const PageOptions& opts,
                  PageInfo* info = nullptr);

}  // namespace ecg::data::synth
