// JPEG decode/encode through the libjpeg API of libjpeg-turbo.
//
// libjpeg reports errors by calling error_exit(), whose default calls exit().
// We install an error manager that formats the message and longjmps back to
// the setjmp in decode_into()/encode_into(); those functions keep every C++
// object they touch in a caller-owned context struct, so nothing with a
// destructor lives in a frame that longjmp skips, and the caller turns the
// message into an ecg::Error naming the file.
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "data/codec_common.h"
#include "data/image_io.h"
#include "kernels/error.h"

// jpeglib.h needs size_t and FILE declared before it.
#include <jpeglib.h>

// jerror.h needs the JMESSAGE enum, which jpeglib.h does not expose by itself.
#include <jerror.h>

namespace ecg::data {
namespace {

struct ErrorMgr {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void on_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

// Warnings (msg_level -1) about corrupt or missing entropy data mean libjpeg
// would fill the rest of the image with grey and return success: a truncated
// scan must not train a model silently, so those become errors. Benign
// metadata warnings are ignored; trace messages (level >= 0) are dropped.
void on_emit_message(j_common_ptr cinfo, int msg_level) {
  if (msg_level >= 0) return;
  int code = cinfo->err->msg_code;
  if (code == JWRN_EXTRANEOUS_DATA || code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM ||
      code == JWRN_BOGUS_ICC)
    return;
  on_error_exit(cinfo);
}

void init_error_mgr(ErrorMgr& err) {
  jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error_exit;
  err.pub.emit_message = on_emit_message;
  err.message[0] = '\0';
}

struct DecodeCtx {
  const uint8_t* data = nullptr;
  size_t size = 0;
  const DecodeOptions* opts = nullptr;
  bool probe_only = false;
  Image out;
  ImageInfo info;
  std::vector<uint8_t> cmyk_row;
  std::vector<JSAMPROW> rows;
  std::string error;
};

int wanted_channels(ColorMode mode, int source_components) {
  switch (mode) {
    case ColorMode::Gray:
      return 1;
    case ColorMode::Rgb:
      return 3;
    case ColorMode::Auto:
    default:
      return source_components == 1 ? 1 : 3;
  }
}

// Largest DCT scaling denominator (8, 4, 2 or 1) whose output, ceil(W/d) by
// ceil(H/d), still covers the requested minimum size.
int choose_scale_denom(int w, int h, int min_w, int min_h) {
  if (min_w <= 0 && min_h <= 0) return 1;
  for (int d : {8, 4, 2}) {
    int sw = (w + d - 1) / d, sh = (h + d - 1) / d;
    if (sw >= min_w && sh >= min_h) return d;
  }
  return 1;
}

void cmyk_to_rgb_row(const uint8_t* src, uint8_t* dst, int width, bool inverted) {
  // Adobe (Photoshop) CMYK JPEGs store inverted ink values: 255 = no ink.
  for (int x = 0; x < width; ++x) {
    unsigned c = src[4 * x], m = src[4 * x + 1], y = src[4 * x + 2], k = src[4 * x + 3];
    if (!inverted) c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
    dst[3 * x] = static_cast<uint8_t>((c * k + 127) / 255);
    dst[3 * x + 1] = static_cast<uint8_t>((m * k + 127) / 255);
    dst[3 * x + 2] = static_cast<uint8_t>((y * k + 127) / 255);
  }
}

// Returns false with ctx.error set on any libjpeg error.
bool decode_into(DecodeCtx& ctx) {
  jpeg_decompress_struct cinfo;
  ErrorMgr jerr;
  cinfo.err = jpeg_std_error(&jerr.pub);
  init_error_mgr(jerr);
  if (setjmp(jerr.jump)) {
    ctx.error = jerr.message;
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, ctx.data, static_cast<unsigned long>(ctx.size));
  jpeg_read_header(&cinfo, TRUE);
  const DecodeOptions& opts = *ctx.opts;
  ctx.info.width = static_cast<int>(cinfo.image_width);
  ctx.info.height = static_cast<int>(cinfo.image_height);
  ctx.info.channels = cinfo.num_components;
  ctx.info.format = ImageFormat::Jpeg;
  int64_t pixels = int64_t(cinfo.image_width) * cinfo.image_height;
  if (pixels <= 0 || pixels > opts.max_pixels) {
    ctx.error = "image of " + std::to_string(cinfo.image_width) + "x" +
                std::to_string(cinfo.image_height) + " pixels exceeds the limit of " +
                std::to_string(opts.max_pixels) + " pixels";
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  if (ctx.probe_only) {
    jpeg_destroy_decompress(&cinfo);
    return true;
  }
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  const int channels = wanted_channels(opts.color, cinfo.num_components);
  if (cmyk)
    cinfo.out_color_space = JCS_CMYK;
  else
    cinfo.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  cinfo.scale_num = 1;
  cinfo.scale_denom = static_cast<unsigned>(
      choose_scale_denom(ctx.info.width, ctx.info.height, opts.min_width, opts.min_height));
  jpeg_start_decompress(&cinfo);
  const int w = static_cast<int>(cinfo.output_width), h = static_cast<int>(cinfo.output_height);
  try {
    ctx.out = Image(w, h, cmyk ? 3 : channels);
    if (cmyk) ctx.cmyk_row.resize(static_cast<size_t>(w) * 4);
  } catch (const std::bad_alloc&) {
    ctx.error = "out of memory for " + std::to_string(w) + "x" + std::to_string(h) + " pixels";
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  if (cmyk) {
    JSAMPROW row = ctx.cmyk_row.data();
    while (cinfo.output_scanline < cinfo.output_height) {
      int y = static_cast<int>(cinfo.output_scanline);
      jpeg_read_scanlines(&cinfo, &row, 1);
      cmyk_to_rgb_row(row, ctx.out.row(y), w, cinfo.saw_Adobe_marker);
    }
  } else {
    // Hand libjpeg all row pointers so it can emit several rows per call.
    ctx.rows.resize(static_cast<size_t>(h));
    for (int y = 0; y < h; ++y) ctx.rows[static_cast<size_t>(y)] = ctx.out.row(y);
    while (cinfo.output_scanline < cinfo.output_height) {
      JDIMENSION y = cinfo.output_scanline;
      jpeg_read_scanlines(&cinfo, ctx.rows.data() + y, cinfo.output_height - y);
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  if (cmyk && channels == 1) convert_channels(ctx.out, 1);
  return true;
}

struct EncodeCtx {
  const Image* img = nullptr;
  int quality = 90;
  unsigned char* buffer = nullptr;
  unsigned long length = 0;
  std::string error;
};

bool encode_into(EncodeCtx& ctx) {
  jpeg_compress_struct cinfo;
  ErrorMgr jerr;
  cinfo.err = jpeg_std_error(&jerr.pub);
  init_error_mgr(jerr);
  if (setjmp(jerr.jump)) {
    ctx.error = jerr.message;
    jpeg_destroy_compress(&cinfo);
    return false;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &ctx.buffer, &ctx.length);
  const Image& img = *ctx.img;
  cinfo.image_width = static_cast<JDIMENSION>(img.width);
  cinfo.image_height = static_cast<JDIMENSION>(img.height);
  cinfo.input_components = img.channels;
  cinfo.in_color_space = img.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);  // YCbCr with 2x2 chroma subsampling for colour
  jpeg_set_quality(&cinfo, ctx.quality, TRUE);
  cinfo.optimize_coding = TRUE;
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(img.row(static_cast<int>(cinfo.next_scanline)));
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return true;
}

}  // namespace

Image decode_jpeg(const uint8_t* data, size_t size, const DecodeOptions& opts,
                  const std::string& name) {
  return decode_image<DecodeCtx>(decode_into, data, size, opts, name, "JPEG");
}

ImageInfo probe_jpeg(const uint8_t* data, size_t size, const std::string& name) {
  return probe_image<DecodeCtx>(decode_into, data, size, name, "JPEG");
}

std::string encode_jpeg(const Image& img, int quality) {
  check_encodable(img, "encode_jpeg");
  ECG_CHECK(quality >= 1 && quality <= 100, "encode_jpeg: quality ", quality, " outside 1..100");
  EncodeCtx ctx;
  ctx.img = &img;
  ctx.quality = quality;
  bool ok = encode_into(ctx);
  std::string bytes;
  if (ok) bytes.assign(reinterpret_cast<const char*>(ctx.buffer), ctx.length);
  std::free(ctx.buffer);  // allocated by jpeg_mem_dest with malloc
  if (!ok) fail("encode_jpeg: ", ctx.error);
  return bytes;
}

}  // namespace ecg::data
