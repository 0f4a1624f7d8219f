// Anti-aliased drawing into coverage maps, and the whole-page image operations
// the synthetic scanner applies (compositing, rotation, blur, sensor noise).
//
// Conventions: pixel (x, y) covers the square [x, x+1) x [y, y+1); coordinates
// are in pixels as doubles. A Coverage holds ink opacity in [0, 1] per pixel;
// overlapping strokes combine by max, which is how a thermal print head
// behaves (a dot is burnt or not, ink does not pile up). Images are
// ecg::data::Image, 8-bit RGB, HWC.
#pragma once
#include <cstdint>
#include <vector>

#include "data/image.h"
#include "data/synth/rng.h"

namespace ecg::data::synth {

struct Coverage {
  int width = 0, height = 0;
  std::vector<float> a;  // row-major, width * height
  Coverage() = default;
  Coverage(int w, int h) : width(w), height(h), a(static_cast<size_t>(w) * h, 0.0f) {}

  // Exact area coverage of the axis-aligned rectangle [x0,x1) x [y0,y1), times
  // alpha, added (clamped at 1) so that abutting rectangles, such as the cells
  // of a glyph, leave no seam.
  void fill_rect(double x0, double y0, double x1, double y1, float alpha = 1.0f);
  // A round-capped segment of the given half width (anti-aliased over one pixel).
  void segment(double x0, double y0, double x1, double y1, double half_width, float alpha = 1.0f);
  // Joined segments through n points.
  void polyline(const double* xs, const double* ys, int n, double half_width, float alpha = 1.0f);
};

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

// Paints `color` over `img` with coverage * opacity as the blend weight.
void composite(Image& img, const Coverage& cov, Rgb color, float opacity = 1.0f);

// The inverse of a small similarity transform (rotation about the image centre
// by `degrees`, scale, then shift in pixels), sampled bilinearly; pixels that
// come from outside the page get `outside`.
Image warp_similarity(const Image& src, double degrees, double scale, double shift_x,
                      double shift_y, Rgb outside);

// Separable [w, 1-2w, w] blur applied `passes` times (w in [0, 0.25]).
void blur3(Image& img, double w, int passes);

// Adds zero-mean triangular noise of +-amplitude levels to every channel.
void add_sensor_noise(Image& img, Rng& rng, int amplitude);

}  // namespace ecg::data::synth

namespace ecg::data::synth {
// Area-average downscale (any channel count) to w x h; each source pixel goes
// to the output cell containing its centre. For figures and thumbnails.
Image shrink_area(const Image& src, int w, int h);
}  // namespace ecg::data::synth
