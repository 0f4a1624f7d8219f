// `ecgcnn synth`: writes a synthetic 12-lead report dataset in the study's
// folder layout (see docs/synthetic-ecg.md); with --measure, runs the
// nearest-centroid shortcut checks on any dataset folder (real or synthetic);
// with --figure, draws real scans beside synthetic pages of each class; with
// --reduce, writes a smaller copy of a folder of scans (how the repository's
// tests/data/real-scans was made from the 2213 px originals).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli_common.h"
#include "data/file_util.h"
#include "data/image_io.h"
#include "data/resize.h"
#include "data/synth/centroid.h"
#include "data/synth/dataset.h"
#include "data/synth/font.h"
#include "data/synth/page_stats.h"
#include "data/synth/raster.h"
#include "kernels/error.h"

namespace {

namespace fs = std::filesystem;
using namespace ecg::data;
using namespace ecg::data::synth;

// Files per class under DIR/<CLASS>, DIR/train/<CLASS> and DIR/test/<CLASS>
// (short folder names), sorted by path.
std::vector<std::pair<std::string, int>> list_dataset(const std::string& dir) {
  std::vector<std::pair<std::string, int>> files;
  ECG_CHECK(fs::is_directory(dir), dir, ": not a folder");
  for (const char* split : {"", "train", "test"})
    for (int c = 0; c < kNumClasses; ++c) {
      fs::path p = fs::path(dir) / split / class_folder(static_cast<EcgClass>(c));
      if (!fs::is_directory(p)) continue;
      for (const auto& e : fs::directory_iterator(p)) {
        std::string ext = e.path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
        if (e.is_regular_file() && (ext == ".jpg" || ext == ".jpeg" || ext == ".png"))
          files.emplace_back(e.path().string(), c);
      }
    }
  std::sort(files.begin(), files.end());
  ECG_CHECK(!files.empty(), dir,
            ": no images under NORMAL, HB, MI, PMI (or train/ and test/ of them)");
  return files;
}

// Decodes at the smallest DCT scale that is still at least min_width wide.
Image load_small(const std::string& path, int min_width) {
  DecodeOptions o;
  o.color = ColorMode::Rgb;
  o.min_width = min_width;
  o.min_height = min_width * kDefaultPageHeight / kDefaultPageWidth;
  return decode_image_file(path, o);
}

void measure(const std::string& dir) {
  auto files = list_dataset(dir);
  std::vector<std::vector<float>> page, band, size;
  std::vector<int> labels;
  for (const auto& f : files) {
    Image img = load_small(f.first, 256);
    page.push_back(page_feature(img));
    band.push_back(header_footer_feature(img));
    labels.push_back(f.second);
    size.push_back({static_cast<float>(fs::file_size(f.first) / 1e5)});
  }
  double a_page = nearest_centroid_cv(page, labels, 5, 42);
  double a_band = nearest_centroid_cv(band, labels, 5, 42);
  double a_size = nearest_centroid_cv(size, labels, 5, 42);
  std::printf(
      "%s: %zu images; nearest-centroid 5-fold accuracy: whole page 32x32 grey %.1f %%, "
      "header+footer bands %.1f %%, file size alone %.1f %% (chance 25 %%)\n",
      dir.c_str(), files.size(), 100 * a_page, 100 * a_band, 100 * a_size);
}

// A region of a page in millimetres (the whole page by default).
struct MmBox {
  double x0 = 0, y0 = 0, x1 = kPageWidthMm, y1 = kPageHeightMm;
};

// The box of a page at its own resolution, area-shrunk to tw x th.
Image box_thumbnail(const Image& page, const MmBox& box, int tw, int th) {
  const double s = page.width / kPageWidthMm;
  const int x0 = static_cast<int>(box.x0 * s), y0 = static_cast<int>(box.y0 * s);
  const int w = std::min(page.width - x0, static_cast<int>((box.x1 - box.x0) * s));
  const int h = std::min(page.height - y0, static_cast<int>((box.y1 - box.y0) * s));
  Image crop(w, h, 3);
  for (int y = 0; y < h; ++y)
    std::copy(page.row(y0 + y) + 3 * x0, page.row(y0 + y) + 3 * (x0 + w), crop.row(y));
  return shrink_area(crop, tw, th);
}

// One real scan of each class (left) beside a synthetic page (right), whole
// or the box `box` of both at tw pixels wide; PNG, or JPEG for .jpg names.
void figure(const std::string& out, const std::string& real_dir, uint64_t seed, double difficulty,
            const MmBox& box, int tw) {
  auto files = list_dataset(real_dir);
  const int th = static_cast<int>(std::lround(tw * (box.y1 - box.y0) / (box.x1 - box.x0)));
  const int pad = 12, label_h = 26;
  const int W = 2 * tw + 3 * pad, H = kNumClasses * (th + label_h + pad) + pad;
  Image fig(W, H, 3, 255);
  Coverage ink(W, H);
  PageOptions po;
  po.difficulty = difficulty;
  po.width = 1106;  // the main job's page width
  for (int c = 0; c < kNumClasses; ++c) {
    auto it =
        std::find_if(files.begin(), files.end(), [&](const auto& f) { return f.second == c; });
    ECG_CHECK(it != files.end(), real_dir, ": no image of class ",
              class_folder(static_cast<EcgClass>(c)));
    Image real = box_thumbnail(load_small(it->first, po.width), box, tw, th);
    SynthPage page = make_page(seed, static_cast<EcgClass>(c), 0, po);
    Image synth = box_thumbnail(page.image, box, tw, th);
    std::string finding = page.clean.territory != Territory::None
                              ? std::string(territory_name(page.clean.territory))
                              : std::string(rhythm_name(page.clean.rhythm));
    const int y0 = pad + c * (th + label_h + pad) + label_h;
    for (int k = 0; k < 2; ++k) {
      const Image& src = k == 0 ? real : synth;
      const int x0 = pad + k * (tw + pad);
      for (int y = 0; y < th; ++y)
        std::copy(src.row(y), src.row(y) + tw * 3, fig.row(y0 + y) + x0 * 3);
      std::string label =
          std::string(k == 0 ? "real: " : "synthetic: ") + class_name(static_cast<EcgClass>(c)) +
          (k == 0 ? " (" + fs::path(it->first).filename().string() + ")" : " (" + finding + ")");
      draw_text(ink, x0, y0 - label_h + 6, 14, label);
    }
  }
  composite(fig, ink, Rgb{0, 0, 0});
  std::string ext = fs::path(out).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  if (ext == ".jpg" || ext == ".jpeg")
    write_jpeg(out, fig, 85);
  else
    write_png(out, fig);
  std::printf("wrote %s (%dx%d)\n", out.c_str(), W, H);
}

// Per class and overall: mean and standard deviation of every page statistic
// (data/synth/page_stats.h) and of the JPEG quality read from the files.
void calibrate(const std::string& dir) {
  auto files = list_dataset(dir);
  std::vector<std::string> names = page_stat_names();
  names.push_back("jpeg_quality");
  const size_t k = names.size();
  // sums[c][i], squares[c][i], counts[c]; c = kNumClasses is "all".
  std::vector<std::vector<double>> sums(kNumClasses + 1, std::vector<double>(k, 0)), squares = sums;
  std::vector<int> counts(kNumClasses + 1, 0);
  for (const auto& f : files) {
    std::vector<uint8_t> bytes = read_file_bytes(f.first);
    DecodeOptions o;
    o.color = ColorMode::Rgb;
    std::vector<double> v = page_stat_values(
        measure_page_stats(decode_image_memory(bytes.data(), bytes.size(), o, f.first)));
    v.push_back(estimate_jpeg_quality(bytes));
    for (int c : {f.second, static_cast<int>(kNumClasses)}) {
      for (size_t i = 0; i < k; ++i) sums[c][i] += v[i], squares[c][i] += v[i] * v[i];
      ++counts[c];
    }
  }
  std::printf("%s: %zu pages, mean (sd) per class\n%-15s", dir.c_str(), files.size(), "");
  for (int c = 0; c <= kNumClasses; ++c)
    std::printf(" %16s", c < kNumClasses ? class_folder(static_cast<EcgClass>(c)) : "all");
  std::printf("\n");
  for (size_t i = 0; i < k; ++i) {
    std::printf("%-15s", names[i].c_str());
    for (int c = 0; c <= kNumClasses; ++c) {
      const int n = std::max(1, counts[c]);
      const double m = sums[c][i] / n, sd = std::sqrt(std::max(0.0, squares[c][i] / n - m * m));
      std::printf(" %8.3f (%5.3f)", m, sd);
    }
    std::printf("\n");
  }
}

// Copies every scan of `src` (class folders, directly or under train/ and
// test/) to dst/<split>/<CLASS>/<same name> at `width` pixels (area average,
// height keeps each scan's aspect ratio) as JPEG of the given quality.
void reduce(const std::string& src, const std::string& dst, int width, int quality) {
  auto files = list_dataset(src);
  size_t bytes = 0;
  for (const auto& f : files) {
    fs::path rel = fs::relative(f.first, src);
    if (rel.begin()->string() != "train" && rel.begin()->string() != "test")
      rel = fs::path("train") / rel;
    fs::path out = fs::path(dst) / rel.replace_extension(".jpg");
    fs::create_directories(out.parent_path());
    Image img = decode_image_file(f.first);
    const int height = static_cast<int>(std::lround(double(width) * img.height / img.width));
    write_jpeg(out.string(), resize_area(img, width, height), quality);
    bytes += fs::file_size(out);
  }
  std::printf("synth: reduced %zu scans from %s to %s (%d px wide, JPEG quality %d), %.2f MB\n",
              files.size(), src.c_str(), dst.c_str(), width, quality, bytes / 1e6);
}

}  // namespace

void ecg_cli_synth(CLI::App& app) {
  auto* sub =
      app.add_subcommand("synth", "write a synthetic 12-lead ECG report dataset (JPEG pages)");
  ecg::cli::add_runtime_flags(sub);
  struct Args {
    std::string out, measure, figure, real, reduce, calibrate;
    bool detail = false;
    int quality = 85;
    SynthOptions o;
    bool quiet = false;
  };
  auto args = std::make_shared<Args>();
  sub->add_option("--out", args->out,
                  "output folder (gets train/ and test/ with NORMAL, HB, MI, PMI)");
  sub->add_option("--per-class", args->o.per_class, "pages per class (train + test)")
      ->check(CLI::Range(1, 1000000));
  sub->add_option("--seed", args->o.seed, "seed; the same seed gives the same bytes");
  sub->add_option("--width", args->o.page.width, "page width in pixels (the scans: 2213)")
      ->check(CLI::Range(64, 20000));
  sub->add_option("--height", args->o.page.height, "page height in pixels (0: scans' aspect ratio)")
      ->check(CLI::Range(0, 20000));
  sub->add_option("--test-fraction", args->o.test_fraction,
                  "fraction of each class written to test/")
      ->check(CLI::Range(0.0, 0.99));
  sub->add_option(
         "--difficulty", args->o.page.difficulty,
         "0 = textbook findings and clean scans, 1 = findings near thresholds, noisy scans")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--quality-min", args->o.page.jpeg_quality_min, "lowest JPEG quality")
      ->check(CLI::Range(1, 100));
  sub->add_option("--quality-max", args->o.page.jpeg_quality_max, "highest JPEG quality")
      ->check(CLI::Range(1, 100));
  sub->add_flag("--quiet", args->quiet, "no progress line");
  sub->add_option(
      "--measure", args->measure,
      "instead: nearest-centroid shortcut checks on a dataset folder (real or synthetic)");
  sub->add_option("--figure", args->figure,
                  "instead: write a PNG (or .jpg) of real vs synthetic pages, one per class");
  sub->add_flag("--detail", args->detail,
                "with --figure: leads V1-V6 only (139-276 x 38-145 mm of 1106 px pages)");
  sub->add_option("--real", args->real, "folder of real scans for --figure");
  sub->add_option("--calibrate", args->calibrate,
                  "instead: measure paper, grid, ink, strokes, blur, skew, margins, JPEG quality "
                  "and the digitised traces of every page of a dataset folder, per class");
  sub->add_option("--reduce", args->reduce,
                  "instead: copy the scans of this folder to --out at --width pixels, as JPEG "
                  "of --quality");
  sub->add_option("--quality", args->quality, "JPEG quality for --reduce")
      ->check(CLI::Range(1, 100));
  sub->callback([args] {
    ecg::cli::require_cpu_device("synth");
    if (!args->measure.empty()) return measure(args->measure);
    if (!args->calibrate.empty()) return calibrate(args->calibrate);
    if (!args->figure.empty()) {
      ECG_CHECK(!args->real.empty(), "synth: --figure needs --real DIR");
      MmBox box;
      if (args->detail) box = MmBox{139.0, 38.0, 276.0, 145.0};  // V1-V6 of the 3x4 grid
      return figure(args->figure, args->real, args->o.seed, args->o.page.difficulty, box,
                    args->detail ? 540 : 480);
    }
    ECG_CHECK(!args->out.empty(), "synth: --out DIR is required");
    if (!args->reduce.empty())
      return reduce(args->reduce, args->out, args->o.page.width, args->quality);
    SynthOptions o = args->o;
    o.threads = ecg::cli::global_options().threads;
    if (!args->quiet)
      o.progress = [](int done, int total) {
        if (done == total || done % 8 == 0) {
          std::fprintf(stderr, "\rsynth: %d/%d pages", done, total);
          if (done == total) std::fprintf(stderr, "\n");
        }
      };
    SynthSummary s = write_synthetic_dataset(args->out, o);
    int train = 0, test = 0;
    for (int c = 0; c < kNumClasses; ++c) train += s.train[c], test += s.test[c];
    const int pages = train + test;
    std::printf(
        "synth: wrote %d pages (train %d, test %d) to %s in %.1f s wall, %.3f s CPU per page, "
        "%.1f MB\n",
        pages, train, test, args->out.c_str(), s.seconds, s.cpu_seconds / pages, s.bytes / 1e6);
  });
}
