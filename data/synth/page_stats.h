// What a scanned (or synthetic) 12-lead report page shows, measured from its
// pixels, so that the generator can be calibrated against real scans with the
// same code for both (docs/synthetic-ecg.md, "Calibration"; `ecgcnn synth
// --calibrate DIR`).
//
// The page is assumed to have the EDAN SE-3 layout of page.h (grid box,
// baselines and panel positions in millimetres); the pixel scale comes from
// the image width, so any width works (the numbers are in mm, mV and 0..255
// levels). Pixel classes: "ink" has luminance < 100, "grid" is any other
// pixel of the grid box, "paper" is the blank patch right of
// "Diagnosis Information:" (x 60-180 mm, y 22-33 mm).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"

namespace ecg::data::synth {

struct PageStats {
  // Rendering.
  double paper[3] = {0, 0, 0};  // mean RGB of the blank paper patch
  double noise = 0;             // luminance standard deviation on that patch (levels)
  double grid[3] = {0, 0, 0};   // mean RGB of the grid box's non-ink pixels (the grid's tint)
  double grid_fraction = 0;     // share of them > 10 levels darker than paper
  double grid_contrast = 0;     // paper luminance minus the mean of their darkest 2 %
  double ink[3] = {0, 0, 0};    // mean RGB of ink pixels inside the grid box
  double trace_mm = 0;          // median vertical thickness of flat trace runs (half maximum)
  double edge_mm = 0;           // mean 10-90 % width of the trace's upper edges (blur)
  double skew_deg = 0;          // tilt of the header's double rule (positive: clockwise)
  double margin_left_mm = 0;    // grid box's left border from the image's left edge
  double margin_top_mm = 0;     // grid box's top border from the image's top edge
  // Signal, digitised from the trace pixels (column centroid of ink per panel).
  double qrs_mv = 0;      // median over the 12 panels of peak-to-peak amplitude
  double up_frac = 0;     // largest share of a panel's time >= 0.1 mV above its baseline
  double down_frac = 0;   // largest share of a panel's time >= 0.1 mV below its baseline
  double heart_rate = 0;  // from the rhythm strip's beats (per minute; 0 when < 2 beats)
  double rr_cv = 0;       // RR coefficient of variation on the rhythm strip
};

// Measures one decoded RGB page. Throws ecg::Error for images that are not
// 3-channel or are smaller than 256 pixels wide.
PageStats measure_page_stats(const Image& rgb);

// The IJG quality (1..100) whose luminance table is nearest to the file's
// first quantisation table, the usual estimate; -1 when `bytes` is not a
// baseline/progressive JPEG with a DQT segment.
int estimate_jpeg_quality(const std::vector<uint8_t>& bytes);

// Names and values in one order, for tables ("paper_r", ..., "rr_cv").
std::vector<std::string> page_stat_names();
std::vector<double> page_stat_values(const PageStats& s);

}  // namespace ecg::data::synth
