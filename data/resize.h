// 8-bit image resizing that reproduces OpenCV's cv2.resize on uint8 images.
//
// Input and output are ecg::data::Image (HWC, any channel count 1..4); the
// output has the same channel count. Results are rounded to the nearest
// integer (ties to even, as OpenCV's cvRound) and saturated to 0..255.
//
// Area (cv2.INTER_AREA): each output pixel is the average of the source
// rectangle it covers, with fractional weights for partly covered source
// pixels; accumulation in float. Used for shrinking in both directions; when
// either direction enlarges, OpenCV switches to a bilinear-like rule and so do
// we (resize_bilinear).
//
// Linear (cv2.INTER_LINEAR, the cv2.resize default): half-pixel-centre
// bilinear sampling, source coordinate (d + 0.5) * scale - 0.5, clamped at the
// borders, with 11-bit fixed-point weights and the same rounding steps as
// OpenCV's SIMD path, so outputs match it to within one level (the tests show
// how often exactly). Note that it samples only 2x2 source pixels, so a large
// shrink aliases; the study's AlexNet used it on full-size scans anyway.
#pragma once
#include "data/image.h"

namespace ecg::data {

enum class Interp { Area, Linear };

Image resize_area(const Image& src, int out_w, int out_h);
Image resize_bilinear(const Image& src, int out_w, int out_h);
Image resize(const Image& src, int out_w, int out_h, Interp interp);

}  // namespace ecg::data
