// libFuzzer target: any byte string given to the decoders either decodes or
// throws ecg::Error; never a crash, a leak, an exit() from libjpeg, or an
// allocation beyond the pixel limit. Each input is decoded in colour and grey,
// with and without DCT scaling, then resized, to reach the conversions too.
#include <cstddef>
#include <cstdint>

#include "data/image_io.h"
#include "data/resize.h"
#include "kernels/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ecg::data;
  const ColorMode modes[] = {ColorMode::Rgb, ColorMode::Gray, ColorMode::Auto};
  for (int variant = 0; variant < 3; ++variant) {
    DecodeOptions o;
    o.color = modes[variant];
    o.max_pixels = int64_t(1) << 22;  // keeps each run fast and small
    if (variant == 1) o.min_width = o.min_height = 16;
    try {
      ImageInfo info = probe_image_memory(data, size);
      (void)info;
      Image img = decode_image_memory(data, size, o);
      if (img.channels == 1 || img.channels == 3) {
        Image small = resize_area(img, 7, 5);
        Image big = resize_bilinear(img, 9, 11);
        (void)small;
        (void)big;
      }
    } catch (const ecg::Error&) {
    }
  }
  return 0;
}
