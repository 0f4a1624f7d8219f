// An 8-bit image in memory: interleaved rows (HWC), channels 1 (grey) or 3 (RGB).
// The decoders in data/ produce it and the synthetic generator draws into it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ecg::data {

struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;  // height * width * channels bytes, row-major HWC

  Image() = default;
  Image(int w, int h, int c, uint8_t fill = 0)
      : width(w), height(h), channels(c), pixels(static_cast<size_t>(w) * h * c, fill) {}
  uint8_t* row(int y) { return pixels.data() + static_cast<size_t>(y) * width * channels; }
  const uint8_t* row(int y) const {
    return pixels.data() + static_cast<size_t>(y) * width * channels;
  }
  bool empty() const { return pixels.empty(); }
};

}  // namespace ecg::data
