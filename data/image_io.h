// Image decoding (JPEG via libjpeg-turbo, PNG via libpng) and encoding.
//
// Decoded images are ecg::data::Image: 8-bit, interleaved HWC, 1 channel
// (grey) or 3 channels (RGB order, not OpenCV's BGR). Every failure throws
// ecg::Error with a one-line message that starts with the file name (or
// "<memory>" for in-memory buffers): corrupt or truncated data, zero-byte
// files, unknown formats, images over the pixel limit. libjpeg's default
// error handler calls exit(); ours longjmps back and throws instead, and
// libjpeg warnings (such as a premature end of data) are errors too, so a
// truncated scan never decodes silently into grey.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "data/image.h"

namespace ecg::data {

enum class ColorMode {
  Auto,  // 1 channel for grey sources, 3 otherwise
  Gray,  // always 1 channel; colour is converted with BT.601 luma weights
  Rgb,   // always 3 channels; grey is replicated
};

struct DecodeOptions {
  ColorMode color = ColorMode::Rgb;
  // When > 0, JPEGs are decoded with libjpeg-turbo's DCT scaling (1/2, 1/4 or
  // 1/8) at the smallest scale whose output is still at least this wide and
  // this tall, which skips most of the IDCT and colour-conversion work.
  // 0 decodes at full size. PNG ignores it (no cheap reduced decode exists).
  int min_width = 0, min_height = 0;
  // Decompression-bomb guard: width*height declared in the header, checked
  // before any pixel buffer is allocated.
  int64_t max_pixels = int64_t(1) << 27;  // 134 M pixels; a scan is 3.5 M
};

enum class ImageFormat { Unknown, Jpeg, Png };

// Sniffs the magic bytes (FF D8 FF for JPEG, the 8-byte PNG signature).
ImageFormat detect_format(const uint8_t* data, size_t size);

// Header-only probe: width, height and channels of the stored image (channels
// as stored: 1, 2, 3 or 4; CMYK JPEG reports 4). Throws like the decoders.
struct ImageInfo {
  int width = 0, height = 0, channels = 0;
  ImageFormat format = ImageFormat::Unknown;
};
ImageInfo probe_image_memory(const uint8_t* data, size_t size,
                             const std::string& name = "<memory>");

Image decode_image_memory(const uint8_t* data, size_t size, const DecodeOptions& opts = {},
                          const std::string& name = "<memory>");
Image decode_image_file(const std::string& path, const DecodeOptions& opts = {});

// Format-specific entry points (decode_image_* dispatch on the magic bytes).
Image decode_jpeg(const uint8_t* data, size_t size, const DecodeOptions& opts,
                  const std::string& name);
Image decode_png(const uint8_t* data, size_t size, const DecodeOptions& opts,
                 const std::string& name);

// Encoders: img must have 1 or 3 channels. The file is written to a temporary
// name beside `path` and renamed into place (atomic); errors name `path`.
// quality: 1..100 (libjpeg scale); 4:2:0 chroma subsampling like most cameras
// and scanners, optimised Huffman tables.
void write_jpeg(const std::string& path, const Image& img, int quality);
void write_png(const std::string& path, const Image& img);
// The same encoders into memory (used by the tests and the fuzz seeds).
std::string encode_jpeg(const Image& img, int quality);
std::string encode_png(const Image& img);

// BT.601 luma (0.299, 0.587, 0.114) with 16-bit fixed-point weights that
// sum to 65536. OpenCV 4.6's cvtColor RGB2GRAY uses the same weights; its SIMD
// rounding differs on about 0.1 % of pixels by one level (tests/data/test_resize).
inline uint8_t rgb_to_gray(uint8_t r, uint8_t g, uint8_t b) {
  return static_cast<uint8_t>((19595u * r + 38470u * g + 7471u * b + 32768u) >> 16);
}
// Converts an image in place to 1 or 3 channels (no-op if it already has them).
void convert_channels(Image& img, int channels);

}  // namespace ecg::data
