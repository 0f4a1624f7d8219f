// The page measurements behind `ecgcnn synth --calibrate` (issue 21): known
// synthetic nuisances are measured back, and the real scans shipped in
// tests/data/real-scans give the values docs/synthetic-ecg.md reports.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "data/file_util.h"
#include "data/image_io.h"
#include "data/synth/dataset.h"
#include "data/synth/page_stats.h"
#include "kernels/error.h"
#include "tests/source_dir.h"

using namespace ecg::data;
using namespace ecg::data::synth;
namespace fs = std::filesystem;

namespace {

double lum(const double* rgb) {
  return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
}

// Every real scan of one class folder, decoded, with its file bytes.
std::vector<std::pair<std::vector<uint8_t>, Image>> real_scans(const std::string& cls) {
  std::vector<std::pair<std::vector<uint8_t>, Image>> out;
  const fs::path dir = fs::path(ECG_SOURCE_DIR) / "tests/data/real-scans/train" / cls;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::vector<uint8_t> bytes = read_file_bytes(e.path().string());
    Image img = decode_image_memory(bytes.data(), bytes.size(), {}, e.path().string());
    out.emplace_back(std::move(bytes), std::move(img));
  }
  return out;
}

}  // namespace

TEST(PageStats, JpegQualityIsReadBackFromTheTables) {
  PageOptions o;
  o.width = 400;
  const Image img = make_page(3, EcgClass::Normal, 0, o).image;
  for (int q : {30, 55, 68, 80, 92}) {
    const std::string jpeg = encode_jpeg(img, q);
    const std::vector<uint8_t> bytes(jpeg.begin(), jpeg.end());
    EXPECT_EQ(estimate_jpeg_quality(bytes), q);
  }
  EXPECT_EQ(estimate_jpeg_quality(std::vector<uint8_t>{0x89, 'P', 'N', 'G'}), -1);
  EXPECT_EQ(estimate_jpeg_quality({}), -1);
}

// The page generator's own rotation and ink come back out of the pixels.
TEST(PageStats, SyntheticNuisancesAreMeasuredBack) {
  PageOptions o;
  o.width = 1106;
  o.difficulty = 1;  // rotations up to 0.75 degrees
  int tilted = 0;
  for (int j = 0; j < 8; ++j) {
    const SynthPage p = make_page(11, EcgClass::Normal, j, o);
    const PageStats s = measure_page_stats(p.image);
    // The rule's darkness-weighted centre resolves a fraction of a pixel.
    EXPECT_NEAR(s.skew_deg, p.info.rotation_deg, 0.03) << j;
    tilted += std::fabs(p.info.rotation_deg) > 0.3;
    EXPECT_LT(lum(s.ink), 100);
    EXPECT_GT(lum(s.paper), lum(s.grid));
    EXPECT_GT(s.trace_mm, 0.1);
    EXPECT_LT(s.trace_mm, 1.0);
    EXPECT_GT(s.qrs_mv, 0.2);
  }
  EXPECT_GT(tilted, 0) << "the check needs some visibly tilted pages";
  EXPECT_THROW(measure_page_stats(Image(1106, 786, 1)), ecg::Error);
  EXPECT_THROW(measure_page_stats(Image(100, 70, 3)), ecg::Error);
}

// ST elevation keeps the MI traces above baseline longer than the normal ones,
// on synthetic pages and on the real scans alike (the calibration's reading).
TEST(PageStats, MiTracesSpendLongerAboveBaseline) {
  PageOptions o;
  o.width = 1106;
  o.difficulty = 0;
  double synth_mi = 0, synth_normal = 0;
  for (int j = 0; j < 6; ++j) {
    synth_mi += measure_page_stats(make_page(5, EcgClass::MI, j, o).image).up_frac / 6;
    synth_normal += measure_page_stats(make_page(5, EcgClass::Normal, j, o).image).up_frac / 6;
  }
  EXPECT_GT(synth_mi, synth_normal + 0.05);
  double real_mi = 0, real_normal = 0;
  for (const auto& s : real_scans("MI")) real_mi += measure_page_stats(s.second).up_frac / 10;
  for (const auto& s : real_scans("NORMAL"))
    real_normal += measure_page_stats(s.second).up_frac / 10;
  EXPECT_GT(real_mi, real_normal + 0.05);
}

// The shipped scans: straight, white, the grid box where page.h puts it, dark
// ink, and the quality they were reduced at (tests/data/real-scans/README.md).
TEST(PageStats, RealScansLayoutAndRendering) {
  for (const char* cls : {"NORMAL", "HB", "MI", "PMI"})
    for (const auto& scan : real_scans(cls)) {
      const PageStats s = measure_page_stats(scan.second);
      EXPECT_NEAR(s.skew_deg, 0, 0.05) << cls;
      EXPECT_GT(lum(s.paper), 250) << cls;
      EXPECT_NEAR(s.margin_left_mm, kGridLeftMm, 0.3) << cls;
      EXPECT_NEAR(s.margin_top_mm, kGridTopMm, 0.3) << cls;
      EXPECT_LT(lum(s.ink), 40) << cls;
      EXPECT_EQ(estimate_jpeg_quality(scan.first), 80) << cls;
    }
}
