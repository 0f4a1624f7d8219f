// From a file on disk to the network's input: decode, resize to S x S, then
// (per batch) scale to [0, 1], optionally normalise per channel, and lay out
// as float CHW.
//
// Stored (cached) form: an 8-bit Image of S x S x C, C = 3 (RGB) or C = 1
// when `grayscale` is set; it matches what cv2.resize returns on a uint8
// image, which is also the point where the study's notebooks divided by 255.
// Network form: float [3, S, S], channel-major (CHW), value
// (pixel / 255 - mean[c]) / stddev[c]; grey images are replicated to 3 channels.
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "data/image.h"
#include "data/resize.h"

namespace ecg::data {

struct PreprocessOptions {
  int size = 224;  // output is size x size
  Interp interp = Interp::Area;
  bool grayscale = false;  // decode as grey, replicate to 3 channels (the study's AlexNet)
  // Decode JPEGs with DCT scaling (1/2, 1/4, 1/8) to the smallest scale that
  // is still >= size in both directions, then resize. About 4x faster on a
  // 2213x1572 scan; the result differs from a full decode by about one grey
  // level on average (bench/RESULTS.md). Off = full decode, as OpenCV.
  bool dct_scaling = true;
  int64_t max_pixels = int64_t(1) << 27;
  std::array<float, 3> mean{{0.f, 0.f, 0.f}};
  std::array<float, 3> stddev{{1.f, 1.f, 1.f}};

  int stored_channels() const { return grayscale ? 1 : 3; }
  // Identifies everything that changes the stored 8-bit pixels (not mean and
  // stddev, which are applied per batch); part of the cache key.
  std::string pixel_key() const;
  // The study's two recipes: ResNets colour + INTER_AREA; AlexNet grey + bilinear
  // on the full-size decode (dct_scaling off, to match cv2.imread + resize).
  static PreprocessOptions study_resnet(int size = 224);
  static PreprocessOptions study_alexnet(int size = 224);
};

// Decodes and resizes one file; throws ecg::Error naming the file.
Image load_preprocessed(const std::string& path, const PreprocessOptions& opts);
Image preprocess_memory(const uint8_t* data, size_t size, const PreprocessOptions& opts,
                        const std::string& name = "<memory>");

// Stored image (S x S x 1 or 3) -> float [3, S, S] at `out`.
void image_to_chw(const Image& img, const PreprocessOptions& opts, float* out);

}  // namespace ecg::data
