// Training-time augmentation applied while converting a stored S x S image to
// the network's float [3, S, S] (see preprocess.h for the value mapping).
//
// Geometry: a rotation about the image centre plus a shift, sampled by
// inverse mapping with bilinear interpolation; source coordinates outside the
// image are clamped to the edge (Keras' fill_mode="nearest", the study's
// choice). Photometric: contrast factor about the image mean, then an
// additive brightness offset, both on the [0, 1] scale, before mean/std.
// Horizontal flip reverses time on an ECG, so it is off unless asked for.
#pragma once
#include <cstdint>

#include "core/rng.h"
#include "data/image.h"
#include "data/preprocess.h"

namespace ecg::data {

struct AugmentOptions {
  bool enabled = false;
  float max_shift = 0.10f;        // fraction of the side, each axis, uniform in [-m, m]
  float max_rotation_deg = 2.0f;  // uniform in [-r, r]
  float brightness = 0.05f;       // offset uniform in [-b, b]
  float contrast = 0.10f;         // factor uniform in [1 - c, 1 + c]
  bool hflip = false;             // with probability 1/2 when on
  // The study's ResNet recipe: shifts up to 10 % and horizontal flips only.
  static AugmentOptions study_resnet() {
    AugmentOptions o;
    o.enabled = true;
    o.max_rotation_deg = 0;
    o.brightness = 0;
    o.contrast = 0;
    o.hflip = true;
    return o;
  }
};

struct AugmentParams {
  float shift_x = 0, shift_y = 0;  // pixels
  float angle = 0;                 // radians
  float brightness = 0, contrast = 1;
  bool flip = false;
  bool identity() const {
    return shift_x == 0 && shift_y == 0 && angle == 0 && brightness == 0 && contrast == 1 && !flip;
  }
};

// Draws a fixed number of values from rng (so the stream does not depend on
// which options are on).
AugmentParams sample_augment(const AugmentOptions& opts, int size, Rng& rng);

// Stored image -> augmented float [3, S, S] at `out`.
void augment_to_chw(const Image& img, const AugmentParams& p, const PreprocessOptions& opts,
                    float* out);

}  // namespace ecg::data
