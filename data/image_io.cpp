// Format dispatch, file wrappers and channel conversion for image_io.h.
#include "data/image_io.h"

#include <cstring>

#include "data/file_util.h"
#include "kernels/error.h"

namespace ecg::data {

// Defined in jpeg_codec.cpp / png_codec.cpp.
ImageInfo probe_jpeg(const uint8_t* data, size_t size, const std::string& name);
ImageInfo probe_png(const uint8_t* data, size_t size, const std::string& name);

ImageFormat detect_format(const uint8_t* data, size_t size) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return ImageFormat::Jpeg;
  if (size >= 8 && std::memcmp(data, kPng, 8) == 0) return ImageFormat::Png;
  return ImageFormat::Unknown;
}

namespace {
[[noreturn]] void fail_unknown(const uint8_t* data, size_t size, const std::string& name) {
  if (size == 0) fail(name, ": empty file (0 bytes)");
  // Name the likely mistake: a text or HTML file saved under an image name.
  size_t printable = 0, n = size < 64 ? size : 64;
  for (size_t i = 0; i < n; ++i)
    printable += (data[i] >= 0x20 && data[i] < 0x7f) || data[i] == '\n' || data[i] == '\r' ||
                 data[i] == '\t';
  if (printable == n) fail(name, ": not an image (looks like text); expected JPEG or PNG");
  fail(name, ": unknown image format (", size, " bytes, no JPEG or PNG signature)");
}
}  // namespace

ImageInfo probe_image_memory(const uint8_t* data, size_t size, const std::string& name) {
  switch (detect_format(data, size)) {
    case ImageFormat::Jpeg:
      return probe_jpeg(data, size, name);
    case ImageFormat::Png:
      return probe_png(data, size, name);
    default:
      fail_unknown(data, size, name);
  }
}

Image decode_image_memory(const uint8_t* data, size_t size, const DecodeOptions& opts,
                          const std::string& name) {
  switch (detect_format(data, size)) {
    case ImageFormat::Jpeg:
      return decode_jpeg(data, size, opts, name);
    case ImageFormat::Png:
      return decode_png(data, size, opts, name);
    default:
      fail_unknown(data, size, name);
  }
}

Image decode_image_file(const std::string& path, const DecodeOptions& opts) {
  std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_image_memory(bytes.data(), bytes.size(), opts, path);
}

void write_jpeg(const std::string& path, const Image& img, int quality) {
  std::string bytes;
  try {
    bytes = encode_jpeg(img, quality);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
  write_file_atomic(path, bytes.data(), bytes.size());
}

void write_png(const std::string& path, const Image& img) {
  std::string bytes;
  try {
    bytes = encode_png(img);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
  write_file_atomic(path, bytes.data(), bytes.size());
}

void convert_channels(Image& img, int channels) {
  ECG_CHECK(channels == 1 || channels == 3, "convert_channels: ", channels, " channels");
  if (img.channels == channels) return;
  const size_t n = static_cast<size_t>(img.width) * img.height;
  if (img.channels == 3 && channels == 1) {
    // In place: the grey write index never passes the RGB read index.
    uint8_t* p = img.pixels.data();
    for (size_t i = 0; i < n; ++i) p[i] = rgb_to_gray(p[3 * i], p[3 * i + 1], p[3 * i + 2]);
    img.pixels.resize(n);
  } else if (img.channels == 1 && channels == 3) {
    std::vector<uint8_t> rgb(n * 3);
    for (size_t i = 0; i < n; ++i) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = img.pixels[i];
    img.pixels.swap(rgb);
  } else {
    fail("convert_channels: cannot convert ", img.channels, " to ", channels, " channels");
  }
  img.channels = channels;
}

}  // namespace ecg::data
