// PNG decode/encode through libpng 1.6.
//
// libpng signals errors by longjmp to png_jmpbuf(); our error callback keeps
// the message and longjmps itself (if it returned, libpng would print to
// stderr first). As in jpeg_codec.cpp, all C++ state lives in a caller-owned
// context so the longjmp skips no destructors.
//
// Transforms: palette -> RGB, grey < 8 bit -> 8 bit, 16 bit -> 8 bit (drop the
// low byte, as OpenCV's imread does for 8-bit output), alpha dropped (also as
// imread with IMREAD_COLOR), grey -> RGB when 3 channels are wanted; colour
// -> grey is done by convert_channels() with the same BT.601 weights as JPEG.
#include <png.h>

#include <csetjmp>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "data/codec_common.h"
#include "data/image_io.h"
#include "kernels/error.h"

namespace ecg::data {
namespace {

struct PngCtx {
  const uint8_t* data = nullptr;
  size_t size = 0, pos = 0;
  const DecodeOptions* opts = nullptr;
  bool probe_only = false;
  Image out;
  ImageInfo info;
  std::vector<png_bytep> rows;
  std::string error;
  std::string encoded;  // writer output
};

void on_png_error(png_structp png, png_const_charp msg) {
  auto* ctx = static_cast<PngCtx*>(png_get_error_ptr(png));
  ctx->error = msg ? msg : "unknown libpng error";
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}  // ancillary-chunk noise

void read_from_memory(png_structp png, png_bytep dst, png_size_t n) {
  auto* ctx = static_cast<PngCtx*>(png_get_io_ptr(png));
  if (n > ctx->size - ctx->pos) png_error(png, "unexpected end of file (truncated)");
  std::memcpy(dst, ctx->data + ctx->pos, n);
  ctx->pos += n;
}

void write_to_string(png_structp png, png_bytep src, png_size_t n) {
  auto* ctx = static_cast<PngCtx*>(png_get_io_ptr(png));
  ctx->encoded.append(reinterpret_cast<const char*>(src), n);
}
void flush_nothing(png_structp) {}

bool decode_into(PngCtx& ctx) {
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_png_error, on_png_warning);
  if (!png) {
    ctx.error = "cannot create libpng reader";
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    ctx.error = "cannot create libpng info";
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, &ctx, read_from_memory);
  // Checked again below with the configured limit; this stops libpng itself
  // from accepting absurd IHDR dimensions before we look at them.
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_read_info(png, info);
  png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  int bit_depth = png_get_bit_depth(png, info);
  int color_type = png_get_color_type(png, info);
  ctx.info.width = static_cast<int>(w);
  ctx.info.height = static_cast<int>(h);
  ctx.info.channels = png_get_channels(png, info);
  ctx.info.format = ImageFormat::Png;
  int64_t pixels = int64_t(w) * h;
  if (pixels <= 0 || pixels > ctx.opts->max_pixels) {
    ctx.error = "image of " + std::to_string(w) + "x" + std::to_string(h) +
                " pixels exceeds the limit of " + std::to_string(ctx.opts->max_pixels) + " pixels";
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  if (ctx.probe_only) {
    png_destroy_read_struct(&png, &info, nullptr);
    return true;
  }
  const bool grey_source = (color_type & PNG_COLOR_MASK_COLOR) == 0;
  int want = ctx.opts->color == ColorMode::Gray  ? 1
             : ctx.opts->color == ColorMode::Rgb ? 3
                                                 : (grey_source ? 1 : 3);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (grey_source && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (bit_depth == 16) png_set_strip_16(png);
  if (color_type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
  if (grey_source && want == 3) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int channels = png_get_channels(png, info);
  if (png_get_rowbytes(png, info) != size_t(w) * channels) {
    ctx.error = "unexpected row layout after transforms";
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  try {
    ctx.out = Image(static_cast<int>(w), static_cast<int>(h), channels);
    ctx.rows.resize(h);
  } catch (const std::bad_alloc&) {
    ctx.error = "out of memory";
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  for (png_uint_32 y = 0; y < h; ++y) ctx.rows[y] = ctx.out.row(static_cast<int>(y));
  png_read_image(png, ctx.rows.data());
  png_read_end(png, nullptr);  // catches a file cut after the image data
  png_destroy_read_struct(&png, &info, nullptr);
  if (ctx.out.channels != want) convert_channels(ctx.out, want);
  return true;
}

bool encode_into(PngCtx& ctx, const Image& img) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_png_error, on_png_warning);
  if (!png) {
    ctx.error = "cannot create libpng writer";
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    ctx.error = "cannot create libpng info";
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, &ctx, write_to_string, flush_nothing);
  png_set_IHDR(png, info, static_cast<png_uint_32>(img.width), static_cast<png_uint_32>(img.height),
               8, img.channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < img.height; ++y) png_write_row(png, img.row(y));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

Image decode_png(const uint8_t* data, size_t size, const DecodeOptions& opts,
                 const std::string& name) {
  return decode_image<PngCtx>(decode_into, data, size, opts, name, "PNG");
}

ImageInfo probe_png(const uint8_t* data, size_t size, const std::string& name) {
  return probe_image<PngCtx>(decode_into, data, size, name, "PNG");
}

std::string encode_png(const Image& img) {
  check_encodable(img, "encode_png");
  PngCtx ctx;
  if (!encode_into(ctx, img)) fail("encode_png: ", ctx.error);
  return std::move(ctx.encoded);
}

}  // namespace ecg::data
