// Decoders and encoders: round trips, every real sample scan, colour modes,
// DCT scaling, PNG variants, and each bad input's one-line error.
#include <gtest/gtest.h>
#include <png.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// after <cstdio>: jpeglib.h needs FILE and size_t
#include <jpeglib.h>

#include "data/file_util.h"
#include "data/image_io.h"
#include "kernels/error.h"
#include "tests/data/test_util.h"

namespace ecg::data {
namespace {

using testing::TempDir;
using testing::write_text;

double mean_abs_diff(const Image& a, const Image& b) {
  EXPECT_EQ(a.pixels.size(), b.pixels.size());
  double s = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) s += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
  return s / double(a.pixels.size());
}

// Expects decode_image_file(path) to throw an ecg::Error whose message names
// the file, contains `needle`, and fits on one line.
void expect_decode_error(const std::string& path, const std::string& needle,
                         const DecodeOptions& opts = {}) {
  try {
    decode_image_file(path, opts);
    ADD_FAILURE() << "no error for " << path;
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(ImageIo, PngRoundTripIsExact) {
  TempDir dir("png");
  for (int c : {1, 3}) {
    Image img = testing::pattern_image(37, 23, c);
    std::string path = dir.file("a" + std::to_string(c) + ".png");
    write_png(path, img);
    DecodeOptions auto_mode;
    auto_mode.color = ColorMode::Auto;
    Image back = decode_image_file(path, auto_mode);
    EXPECT_EQ(back.width, 37);
    EXPECT_EQ(back.height, 23);
    EXPECT_EQ(back.channels, c);
    EXPECT_EQ(back.pixels, img.pixels);
  }
}

TEST(ImageIo, JpegRoundTripIsClose) {
  TempDir dir("jpg");
  // Smooth colour ramps: 4:2:0 chroma subsampling keeps them nearly intact.
  Image img(64, 48, 3);
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 64; ++x) {
      img.row(y)[3 * x] = static_cast<uint8_t>(x * 4);
      img.row(y)[3 * x + 1] = static_cast<uint8_t>(y * 5);
      img.row(y)[3 * x + 2] = static_cast<uint8_t>(128 + (x - y));
    }
  std::string path = dir.file("a.jpg");
  write_jpeg(path, img, 95);
  Image back = decode_image_file(path);
  ASSERT_EQ(back.width, 64);
  ASSERT_EQ(back.height, 48);
  ASSERT_EQ(back.channels, 3);
  // 4:2:0 chroma on a pattern with hard edges: a few levels on average.
  EXPECT_LT(mean_abs_diff(img, back), 2.0);
  Image grey = testing::pattern_image(64, 48, 1);
  write_jpeg(path, grey, 95);
  DecodeOptions auto_mode;
  auto_mode.color = ColorMode::Auto;
  Image gback = decode_image_file(path, auto_mode);
  EXPECT_EQ(gback.channels, 1);
  EXPECT_LT(mean_abs_diff(grey, gback), 4.0);
  Image rgb = decode_image_file(path);  // default Rgb replicates grey
  ASSERT_EQ(rgb.channels, 3);
  EXPECT_EQ(rgb.pixels[0], rgb.pixels[1]);
}

TEST(ImageIo, WriterIsAtomicAndNamesPath) {
  TempDir dir("atomic");
  Image img = testing::pattern_image(8, 8, 3);
  write_jpeg(dir.file("x.jpg"), img, 90);
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.str())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);  // no temporary left behind
  std::string bad = dir.file("no/such/dir/x.jpg");
  try {
    write_jpeg(bad, img, 90);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos);
  }
  try {
    write_png(dir.file("y.png"), Image(4, 4, 2));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("y.png"), std::string::npos);
  }
}

TEST(ImageIo, EveryRealSampleDecodes) {
  int count = 0;
  for (auto& cls : std::filesystem::directory_iterator(testing::sample_dir() + "/train")) {
    if (!cls.is_directory()) continue;
    for (auto& f : std::filesystem::directory_iterator(cls.path())) {
      std::string path = f.path().string();
      std::vector<uint8_t> bytes = read_file_bytes(path);
      ImageInfo info = probe_image_memory(bytes.data(), bytes.size(), path);
      EXPECT_EQ(info.format, ImageFormat::Jpeg);
      EXPECT_EQ(info.width, testing::kSampleWidth) << path;
      EXPECT_EQ(info.height, testing::kSampleHeight) << path;
      DecodeOptions scaled;
      scaled.min_width = scaled.min_height = 224;
      Image img = decode_image_memory(bytes.data(), bytes.size(), scaled, path);
      // 1/4 would give 197 rows, under 224, so 1/2: ceil(1106/2) x ceil(786/2).
      EXPECT_EQ(img.width, 553) << path;
      EXPECT_EQ(img.height, 393) << path;
      EXPECT_EQ(img.channels, 3);
      ++count;
    }
  }
  EXPECT_EQ(count, 40);
}

TEST(ImageIo, FullDecodeOfOneSample) {
  Image img = decode_image_file(testing::sample_dir() + "/train/MI/MI(10).jpg");
  EXPECT_EQ(img.width, testing::kSampleWidth);
  EXPECT_EQ(img.height, testing::kSampleHeight);
  DecodeOptions grey;
  grey.color = ColorMode::Gray;
  Image g = decode_image_file(testing::sample_dir() + "/train/MI/MI(10).jpg", grey);
  EXPECT_EQ(g.channels, 1);
  // libjpeg's grey output is the Y plane; our RGB->grey uses the same weights.
  Image conv = img;
  convert_channels(conv, 1);
  EXPECT_LT(mean_abs_diff(conv, g), 2.0);
}

TEST(ImageIo, DctScalingPicksSmallestCoveringScale) {
  Image img = testing::pattern_image(400, 300, 3);
  std::string bytes = encode_jpeg(img, 90);
  auto dec = [&](int mw, int mh) {
    DecodeOptions o;
    o.min_width = mw;
    o.min_height = mh;
    return decode_image_memory(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), o);
  };
  EXPECT_EQ(dec(0, 0).width, 400);
  EXPECT_EQ(dec(50, 30).width, 50);    // 1/8
  EXPECT_EQ(dec(51, 30).width, 100);   // 1/4
  EXPECT_EQ(dec(100, 76).width, 200);  // 1/2: 300/4 = 75 < 76
  EXPECT_EQ(dec(300, 10).width, 400);  // full
}

// Writes a PNG with libpng directly, for the variants our writer never makes.
void write_png_raw(const std::string& path, int w, int h, int color_type, int bit_depth,
                   const std::vector<uint8_t>& rows_bytes, bool palette = false) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, w, h, bit_depth, color_type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (palette) {
    png_color pal[2] = {{255, 0, 0}, {0, 0, 255}};
    png_set_PLTE(png, info, pal, 2);
  }
  png_write_info(png, info);
  size_t stride = rows_bytes.size() / h;
  for (int y = 0; y < h; ++y)
    png_write_row(png, const_cast<uint8_t*>(rows_bytes.data() + y * stride));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

TEST(ImageIo, PngVariants) {
  TempDir dir("pngv");
  // RGBA: alpha dropped.
  write_png_raw(dir.file("rgba.png"), 2, 1, PNG_COLOR_TYPE_RGBA, 8,
                {10, 20, 30, 0, 40, 50, 60, 255});
  Image a = decode_image_file(dir.file("rgba.png"));
  EXPECT_EQ(a.pixels, (std::vector<uint8_t>{10, 20, 30, 40, 50, 60}));
  // Palette: indices 0, 1 -> red, blue.
  write_png_raw(dir.file("pal.png"), 2, 1, PNG_COLOR_TYPE_PALETTE, 8, {0, 1}, true);
  Image p = decode_image_file(dir.file("pal.png"));
  EXPECT_EQ(p.pixels, (std::vector<uint8_t>{255, 0, 0, 0, 0, 255}));
  // 16-bit grey, big-endian samples 0x1234 and 0xFF00: high byte kept.
  write_png_raw(dir.file("g16.png"), 2, 1, PNG_COLOR_TYPE_GRAY, 16, {0x12, 0x34, 0xFF, 0x00});
  DecodeOptions g;
  g.color = ColorMode::Gray;
  Image g16 = decode_image_file(dir.file("g16.png"), g);
  EXPECT_EQ(g16.pixels, (std::vector<uint8_t>{0x12, 0xFF}));
  // 16-bit RGB to grey.
  write_png_raw(dir.file("rgb16.png"), 1, 1, PNG_COLOR_TYPE_RGB, 16, {0xFF, 0, 0xFF, 0, 0xFF, 0});
  EXPECT_EQ(decode_image_file(dir.file("rgb16.png"), g).pixels, (std::vector<uint8_t>{255}));
  // 1-bit grey expands to 0/255, replicated to RGB.
  write_png_raw(dir.file("g1.png"), 8, 1, PNG_COLOR_TYPE_GRAY, 1, {0xA0});
  Image g1 = decode_image_file(dir.file("g1.png"));
  ASSERT_EQ(g1.channels, 3);
  EXPECT_EQ(g1.pixels[0], 255);
  EXPECT_EQ(g1.pixels[3], 0);
  EXPECT_EQ(g1.pixels[6], 255);
}

// Builds a CMYK JPEG with libjpeg: one pixel colour, optionally with the
// Adobe marker and inverted values as Photoshop writes them.
std::string cmyk_jpeg(uint8_t c, uint8_t m, uint8_t y, uint8_t k, bool adobe) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  jpeg_mem_dest(&cinfo, &buf, &len);
  cinfo.image_width = 16;
  cinfo.image_height = 16;
  cinfo.input_components = 4;
  cinfo.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&cinfo);
  jpeg_set_colorspace(&cinfo, JCS_CMYK);  // no YCCK transform: exact samples
  cinfo.write_Adobe_marker = adobe ? TRUE : FALSE;
  jpeg_set_quality(&cinfo, 100, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  std::vector<uint8_t> row(16 * 4);
  for (int x = 0; x < 16; ++x) {
    row[4 * x] = adobe ? 255 - c : c;
    row[4 * x + 1] = adobe ? 255 - m : m;
    row[4 * x + 2] = adobe ? 255 - y : y;
    row[4 * x + 3] = adobe ? 255 - k : k;
  }
  while (cinfo.next_scanline < 16) {
    JSAMPROW r = row.data();
    jpeg_write_scanlines(&cinfo, &r, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::string out(reinterpret_cast<char*>(buf), len);
  std::free(buf);
  return out;
}

TEST(ImageIo, CmykJpeg) {
  // Ink: no cyan, full magenta, half yellow, no black -> RGB (255, 0, 128).
  for (bool adobe : {true, false}) {
    std::string bytes = cmyk_jpeg(0, 255, 127, 0, adobe);
    auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
    ImageInfo info = probe_image_memory(p, bytes.size());
    EXPECT_EQ(info.channels, 4);
    Image img = decode_image_memory(p, bytes.size());
    ASSERT_EQ(img.channels, 3);
    EXPECT_NEAR(img.pixels[0], 255, 2) << adobe;
    EXPECT_NEAR(img.pixels[1], 0, 2) << adobe;
    EXPECT_NEAR(img.pixels[2], 128, 2) << adobe;
    DecodeOptions g;
    g.color = ColorMode::Gray;
    Image grey = decode_image_memory(p, bytes.size(), g);
    ASSERT_EQ(grey.channels, 1);
    EXPECT_NEAR(grey.pixels[0], rgb_to_gray(255, 0, 128), 2);
  }
}

TEST(ImageIo, BadInputsGiveOneLineErrorsNamingTheFile) {
  TempDir dir("bad");
  // Zero bytes.
  write_text(dir.file("empty.jpg"), "");
  expect_decode_error(dir.file("empty.jpg"), "empty file");
  // A text file named .jpg.
  write_text(dir.file("notes.jpg"), "this is not an image\nat all\n");
  expect_decode_error(dir.file("notes.jpg"), "looks like text");
  // Missing file.
  expect_decode_error(dir.file("missing.jpg"), "cannot open");
  // A directory named .jpg.
  std::filesystem::create_directories(dir.file("dir.jpg"));
  expect_decode_error(dir.file("dir.jpg"), "not a regular file");
  // Truncated JPEG and PNG.
  Image img = testing::pattern_image(64, 64, 3);
  std::string jpg = encode_jpeg(img, 90);
  write_text(dir.file("trunc.jpg"), jpg.substr(0, jpg.size() / 2));
  expect_decode_error(dir.file("trunc.jpg"), "invalid JPEG");
  write_text(dir.file("header-only.jpg"), jpg.substr(0, 20));
  expect_decode_error(dir.file("header-only.jpg"), "invalid JPEG");
  std::string png = encode_png(img);
  write_text(dir.file("trunc.png"), png.substr(0, png.size() / 2));
  expect_decode_error(dir.file("trunc.png"), "invalid PNG");
  write_text(dir.file("noend.png"), png.substr(0, png.size() - 6));
  expect_decode_error(dir.file("noend.png"), "invalid PNG");
  // Corrupt entropy data in the middle of a JPEG.
  std::string corrupt = jpg;
  for (size_t i = corrupt.size() / 2; i < corrupt.size() / 2 + 64; ++i) corrupt[i] = '\xFF';
  write_text(dir.file("corrupt.jpg"), corrupt);
  expect_decode_error(dir.file("corrupt.jpg"), "invalid JPEG");
  // PNG with a damaged CRC in IHDR.
  std::string badcrc = png;
  badcrc[29] ^= 0x55;
  write_text(dir.file("crc.png"), badcrc);
  expect_decode_error(dir.file("crc.png"), "invalid PNG");
  // Pixel limit (decompression bomb): a small file declaring many pixels.
  DecodeOptions limited;
  limited.max_pixels = 64 * 63;
  write_text(dir.file("bomb.jpg"), jpg);
  expect_decode_error(dir.file("bomb.jpg"), "exceeds the limit", limited);
  write_text(dir.file("bomb.png"), png);
  expect_decode_error(dir.file("bomb.png"), "exceeds the limit", limited);
  // Unreadable file (skipped as root, who can read anything).
  if (::geteuid() != 0) {
    write_text(dir.file("secret.jpg"), jpg);
    ::chmod(dir.file("secret.jpg").c_str(), 0);
    expect_decode_error(dir.file("secret.jpg"), "cannot open");
  }
}

}  // namespace
}  // namespace ecg::data
