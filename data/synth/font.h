// A tiny bitmap font for the report's header, footer and lead labels.
//
// Glyphs are 5 columns by 9 rows: rows 0-6 hold capitals, digits and the
// x-height body, rows 7-8 the descenders (g, j, p, q, y). Text is drawn by
// exact area coverage of each set cell, so it scales to any size, including
// cells smaller than a pixel on the quick-run page sizes. '\x01' is a heart
// (the EDAN footer prints one before the heart rate). Unknown characters
// draw as blanks.
#pragma once
#include <string>

#include "data/synth/raster.h"

namespace ecg::data::synth {

// Draws `text` with the top of its capitals at (x, y) (pixels) and capital
// height `cap_h` (7 cell rows); `cell_aspect` scales cell width relative to
// height (text is narrower at < 1). Returns the advance width in pixels.
double draw_text(Coverage& ink, double x, double y, double cap_h, const std::string& text,
                 double cell_aspect = 0.8, float alpha = 1.0f);
double text_width(const std::string& text, double cap_h, double cell_aspect = 0.8);

}  // namespace ecg::data::synth
