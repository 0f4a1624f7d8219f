#include "data/preprocess.h"

#include <sstream>

#include "data/file_util.h"
#include "data/image_io.h"
#include "kernels/error.h"

namespace ecg::data {

std::string PreprocessOptions::pixel_key() const {
  std::ostringstream os;
  os << "size=" << size << " interp=" << (interp == Interp::Area ? "area" : "linear")
     << " grey=" << grayscale << " dct=" << dct_scaling << " resize=v1";
  return os.str();
}

PreprocessOptions PreprocessOptions::study_resnet(int size) {
  PreprocessOptions o;
  o.size = size;
  return o;
}

PreprocessOptions PreprocessOptions::study_alexnet(int size) {
  PreprocessOptions o;
  o.size = size;
  o.interp = Interp::Linear;
  o.grayscale = true;
  o.dct_scaling = false;
  return o;
}

Image preprocess_memory(const uint8_t* data, size_t size, const PreprocessOptions& opts,
                        const std::string& name) {
  ECG_CHECK(opts.size > 0 && opts.size <= 8192, "preprocess: bad size ", opts.size);
  DecodeOptions d;
  d.color = opts.grayscale ? ColorMode::Gray : ColorMode::Rgb;
  d.max_pixels = opts.max_pixels;
  if (opts.dct_scaling) d.min_width = d.min_height = opts.size;
  Image img = decode_image_memory(data, size, d, name);
  if (img.width == opts.size && img.height == opts.size) return img;
  return resize(img, opts.size, opts.size, opts.interp);
}

Image load_preprocessed(const std::string& path, const PreprocessOptions& opts) {
  std::vector<uint8_t> bytes = read_file_bytes(path);
  return preprocess_memory(bytes.data(), bytes.size(), opts, path);
}

void image_to_chw(const Image& img, const PreprocessOptions& opts, float* out) {
  const int s = opts.size;
  ECG_CHECK(img.width == s && img.height == s && (img.channels == 1 || img.channels == 3),
            "image_to_chw: image is ", img.width, "x", img.height, "x", img.channels, ", expected ",
            s, "x", s, "x1 or 3");
  const size_t plane = static_cast<size_t>(s) * s;
  const int c = img.channels;
  for (int k = 0; k < 3; ++k) {
    // One multiply-add per value: (p / 255 - mean) / std = p * a + b.
    const float a = 1.f / (255.f * opts.stddev[k]), b = -opts.mean[k] / opts.stddev[k];
    const uint8_t* src = img.pixels.data() + (c == 1 ? 0 : k);
    float* dst = out + k * plane;
    for (size_t i = 0; i < plane; ++i) dst[i] = src[i * c] * a + b;
  }
}

}  // namespace ecg::data
