// What the JPEG and PNG codecs share outside their library calls: how a
// decode or probe is started and reported, and which images an encoder
// accepts. Kept in one place so both codecs word their errors alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "data/image_io.h"
#include "kernels/error.h"

namespace ecg::data {

// A probe reads the header only, so the pixel limit must not refuse it.
inline DecodeOptions probe_options() {
  DecodeOptions opts;
  opts.max_pixels = INT64_MAX;
  return opts;
}

// Fills the codec's context and runs its decoder; format names the codec in
// the error ("JPEG", "PNG"). ctx keeps &opts, so opts must outlive ctx.
template <class Ctx, class DecodeInto>
void decode_or_fail(Ctx& ctx, DecodeInto decode_into, const uint8_t* data, size_t size,
                    const DecodeOptions& opts, bool probe_only, const std::string& name,
                    const char* format) {
  ctx.data = data;
  ctx.size = size;
  ctx.opts = &opts;
  ctx.probe_only = probe_only;
  if (!decode_into(ctx)) fail(name, ": invalid ", format, ": ", ctx.error);
}

// The codecs' decode_jpeg/decode_png: an empty file is refused before the
// library sees it, so its message names the cause rather than libjpeg's.
template <class Ctx, class DecodeInto>
Image decode_image(DecodeInto decode_into, const uint8_t* data, size_t size,
                   const DecodeOptions& opts, const std::string& name, const char* format) {
  if (size == 0) fail(name, ": empty file (0 bytes)");
  Ctx ctx;
  decode_or_fail(ctx, decode_into, data, size, opts, false, name, format);
  return std::move(ctx.out);
}

// The codecs' probe_jpeg/probe_png.
template <class Ctx, class DecodeInto>
ImageInfo probe_image(DecodeInto decode_into, const uint8_t* data, size_t size,
                      const std::string& name, const char* format) {
  const DecodeOptions opts = probe_options();
  Ctx ctx;
  decode_or_fail(ctx, decode_into, data, size, opts, true, name, format);
  return ctx.info;
}

// who is the encoder's name, which starts each message.
inline void check_encodable(const Image& img, const char* who) {
  ECG_CHECK(img.channels == 1 || img.channels == 3, who, ": image has ", img.channels,
            " channels; expected 1 or 3");
  ECG_CHECK(img.width > 0 && img.height > 0 &&
                img.pixels.size() == size_t(img.width) * img.height * img.channels,
            who, ": bad image ", img.width, "x", img.height, "x", img.channels);
}

}  // namespace ecg::data
