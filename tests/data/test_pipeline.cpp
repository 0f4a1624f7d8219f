// ImageSet and its cache (invalidation, skip-bad), preprocessing to CHW,
// augmentation, and the DataLoader (shapes, determinism across thread counts).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <cmath>
#include <filesystem>

#include "data/image_io.h"
#include "data/loader.h"
#include "kernels/error.h"
#include "tests/data/test_util.h"
#include "train/batch_source.h"

namespace ecg::data {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::write_text;

std::vector<Sample> make_files(const TempDir& dir, int n) {
  std::vector<Sample> s;
  fs::create_directories(dir.file("NORMAL"));
  fs::create_directories(dir.file("MI"));
  for (int i = 0; i < n; ++i) {
    std::string folder = i % 2 ? "MI" : "NORMAL";
    std::string path = dir.file(folder + "/f" + std::to_string(i) + (i % 3 ? ".jpg" : ".png"));
    Image img = testing::pattern_image(40 + i, 30 + 2 * i, 3, static_cast<uint32_t>(i));
    if (i % 3)
      write_jpeg(path, img, 90);
    else
      write_png(path, img);
    s.push_back({path, i % 2 ? 2 : 0});
  }
  return s;
}

void set_mtime(const std::string& path, long sec) {
  struct timeval tv[2] = {{sec, 0}, {sec, 0}};
  ASSERT_EQ(::utimes(path.c_str(), tv), 0);
}

PreprocessOptions small(int size = 16) {
  PreprocessOptions o;
  o.size = size;
  return o;
}

TEST(ImageSet, BuildsAndDeduplicates) {
  TempDir dir("set");
  auto files = make_files(dir, 6);
  auto with_dupes = files;
  with_dupes.push_back(files[0]);
  ImageSet set = build_image_set(with_dupes, small(), false, 2);
  EXPECT_EQ(set.count(), 6u);
  EXPECT_EQ(set.pixels.size(), 6u * 16 * 16 * 3);
  EXPECT_EQ(set.indices_of(with_dupes).size(), 7u);
  // Same pixels as preprocessing one file directly.
  Image one = load_preprocessed(files[1].path, small());
  size_t k = set.indices_of({files[1]})[0];
  EXPECT_EQ(set.image(k).pixels, one.pixels);
}

TEST(ImageSet, CacheIsUsedAndInvalidated) {
  TempDir dir("cache");
  auto files = make_files(dir, 5);
  std::string cache = dir.file("images.cache");
  ImageSetReport r1;
  ImageSet a = load_image_set(files, small(), cache, false, 2, &r1);
  EXPECT_FALSE(r1.from_cache);
  EXPECT_EQ(r1.decoded, 5);
  ASSERT_TRUE(fs::exists(cache));

  ImageSetReport r2;
  ImageSet b = load_image_set(files, small(), cache, false, 2, &r2);
  EXPECT_TRUE(r2.from_cache) << r2.cache_note;
  EXPECT_EQ(r2.decoded, 0);
  EXPECT_EQ(a.pixels, b.pixels);

  // mtime change.
  set_mtime(files[2].path, 1000000000);
  ImageSetReport r3;
  load_image_set(files, small(), cache, false, 2, &r3);
  EXPECT_FALSE(r3.from_cache);
  EXPECT_NE(r3.cache_note.find("source file changed"), std::string::npos) << r3.cache_note;
  // Size change (content replaced, mtime forced back to the cached one).
  ImageSetReport r4;
  load_image_set(files, small(), cache, false, 2, &r4);
  EXPECT_TRUE(r4.from_cache);
  write_jpeg(files[2].path, testing::pattern_image(90, 70, 3), 95);
  set_mtime(files[2].path, 1000000000);
  ImageSetReport r5;
  ImageSet c = load_image_set(files, small(), cache, false, 2, &r5);
  EXPECT_FALSE(r5.from_cache);
  EXPECT_NE(a.pixels, c.pixels);
  // Settings change.
  ImageSetReport r6;
  ImageSet d = load_image_set(files, small(20), cache, false, 2, &r6);
  EXPECT_FALSE(r6.from_cache);
  EXPECT_NE(r6.cache_note.find("settings changed"), std::string::npos) << r6.cache_note;
  EXPECT_EQ(d.size, 20);
  PreprocessOptions grey = small(20);
  grey.grayscale = true;
  ImageSetReport r7;
  ImageSet e = load_image_set(files, grey, cache, false, 2, &r7);
  EXPECT_FALSE(r7.from_cache);
  EXPECT_EQ(e.channels, 1);
  // Mean/std do not change stored pixels: cache still valid.
  grey.mean = {0.5f, 0.5f, 0.5f};
  ImageSetReport r8;
  load_image_set(files, grey, cache, false, 2, &r8);
  EXPECT_TRUE(r8.from_cache);
  // A file added, a file renamed.
  auto more = files;
  more.push_back(make_files(dir, 7).back());
  ImageSetReport r9;
  load_image_set(more, grey, cache, false, 2, &r9);
  EXPECT_FALSE(r9.from_cache);
  // Damaged cache: rebuilt, not trusted.
  {
    std::string bytes = testing::read_text(cache);
    bytes[bytes.size() / 2] ^= 1;
    write_text(cache, bytes);
  }
  ImageSetReport r10;
  load_image_set(more, grey, cache, false, 2, &r10);
  EXPECT_FALSE(r10.from_cache);
  EXPECT_NE(r10.cache_note.find("checksum"), std::string::npos) << r10.cache_note;
  write_text(cache, "short");
  ImageSetReport r11;
  load_image_set(more, grey, cache, false, 2, &r11);
  EXPECT_FALSE(r11.from_cache);
  // An unwritable cache location is a note, not an error.
  ImageSetReport r12;
  ImageSet f = load_image_set(more, grey, dir.file("no/such/dir/c.bin"), false, 2, &r12);
  EXPECT_EQ(f.count(), more.size());
  EXPECT_NE(r12.cache_note.find("cache not written"), std::string::npos) << r12.cache_note;
  // No temporary files left next to the cache.
  int stray = 0;
  for (auto& f : fs::directory_iterator(dir.str()))
    stray += f.path().string().find(".tmp.") != std::string::npos;
  EXPECT_EQ(stray, 0);
}

TEST(ImageSet, BadFilesFailOrAreSkipped) {
  TempDir dir("badset");
  auto files = make_files(dir, 4);
  write_text(files[1].path, "");  // zero bytes
  write_text(files[3].path, "<html>not found</html>");
  try {
    build_image_set(files, small(), false, 1);
    ADD_FAILURE();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_TRUE(m.find(files[1].path) != std::string::npos ||
                m.find(files[3].path) != std::string::npos)
        << m;
  }
  std::string cache = dir.file("c.bin");
  EXPECT_THROW(load_image_set(files, small(), cache, false, 2), Error);
  EXPECT_FALSE(fs::exists(cache));  // a failed build writes no cache
  ImageSetReport r;
  ImageSet s = load_image_set(files, small(), cache, true, 2, &r);
  EXPECT_EQ(s.count(), 2u);
  EXPECT_EQ(r.warnings.size(), 2u);
  EXPECT_EQ(s.indices_of(files).size(), 2u);
  // From the cache, the same warnings, and without skip-bad the same error.
  ImageSetReport r2;
  load_image_set(files, small(), cache, true, 2, &r2);
  EXPECT_TRUE(r2.from_cache);
  EXPECT_EQ(r2.warnings, r.warnings);
  EXPECT_THROW(load_image_set(files, small(), cache, false, 2), Error);
}

TEST(Preprocess, ChwScalingAndNormalisation) {
  Image img(2, 2, 3);
  img.pixels = {0, 255, 51, 10, 20, 30, 40, 50, 60, 70, 80, 90};
  PreprocessOptions o = small(2);
  std::vector<float> out(12);
  image_to_chw(img, o, out.data());
  EXPECT_FLOAT_EQ(out[0], 0.f);   // R of pixel 0
  EXPECT_FLOAT_EQ(out[4], 1.f);   // G of pixel 0
  EXPECT_FLOAT_EQ(out[8], 0.2f);  // B of pixel 0
  EXPECT_FLOAT_EQ(out[1], 10 / 255.f);
  o.mean = {0.5f, 0.5f, 0.5f};
  o.stddev = {0.25f, 0.5f, 1.f};
  image_to_chw(img, o, out.data());
  EXPECT_NEAR(out[0], -2.f, 1e-6);
  EXPECT_NEAR(out[4], 1.f, 1e-6);
  EXPECT_NEAR(out[8], -0.3f, 1e-6);
  Image grey(2, 2, 1);
  grey.pixels = {0, 51, 102, 255};
  o = small(2);
  image_to_chw(grey, o, out.data());
  for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(out[c * 4 + 1], 0.2f);
}

TEST(Preprocess, StudyRecipesOnARealScan) {
  std::string path = testing::sample_dir() + "/train/HB/HB(1).jpg";
  Image a = load_preprocessed(path, PreprocessOptions::study_resnet());
  EXPECT_EQ(a.width, 224);
  EXPECT_EQ(a.channels, 3);
  PreprocessOptions full = PreprocessOptions::study_resnet();
  full.dct_scaling = false;
  Image b = load_preprocessed(path, full);
  double mad = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) mad += std::abs(a.pixels[i] - b.pixels[i]);
  mad /= a.pixels.size();
  // The 1/4-scale IDCT averages before clamping, the full decode clamps
  // ringing above white first: about +3 levels on the paper (bench/RESULTS.md).
  EXPECT_LT(mad, 6.0) << "DCT-scaled decode drifts from the full decode";
  Image g = load_preprocessed(path, PreprocessOptions::study_alexnet(64));
  EXPECT_EQ(g.width, 64);
  EXPECT_EQ(g.channels, 1);
}

TEST(Augment, IdentityWhenOffAndBoundedWhenOn) {
  Image img = testing::pattern_image(32, 32, 3);
  PreprocessOptions o = small(32);
  std::vector<float> plain(3 * 32 * 32), aug(plain.size());
  image_to_chw(img, o, plain.data());
  AugmentOptions off;
  Rng rng(1);
  AugmentParams p = sample_augment(off, 32, rng);
  EXPECT_TRUE(p.identity());
  augment_to_chw(img, p, o, aug.data());
  EXPECT_EQ(plain, aug);
  AugmentOptions on;
  on.enabled = true;
  for (int i = 0; i < 50; ++i) {
    p = sample_augment(on, 32, rng);
    EXPECT_LE(std::abs(p.shift_x), 3.2f + 1e-5f);
    EXPECT_LE(std::abs(p.angle), 2.0f * 3.1416f / 180.f);
    EXPECT_FALSE(p.flip);  // off by default
    augment_to_chw(img, p, o, aug.data());
    for (float v : aug) ASSERT_TRUE(v >= 0.f && v <= 1.f);
  }
  // A pure integer shift moves pixels: out(x) = in(x - 2).
  AugmentParams shift;
  shift.shift_x = 2;
  augment_to_chw(img, shift, o, aug.data());
  EXPECT_NEAR(aug[5 * 32 + 10], plain[5 * 32 + 8], 1e-6);
  AugmentParams flip;
  flip.flip = true;
  augment_to_chw(img, flip, o, aug.data());
  EXPECT_NEAR(aug[5 * 32 + 0], plain[5 * 32 + 31], 1e-6);
}

TEST(Loader, BatchesCoverTheEpochDeterministically) {
  TempDir dir("loader");
  auto files = make_files(dir, 7);
  ImageSet set = build_image_set(files, small(), false, 2);
  std::vector<int> idx = set.indices_of(files);
  idx.push_back(idx[0]);  // a duplicate, as oversampling makes
  LoaderOptions lo;
  lo.batch_size = 3;
  lo.preprocess = small();
  lo.augment.enabled = true;
  auto run = [&](int workers, int epoch) {
    LoaderOptions l = lo;
    l.workers = workers;
    DataLoader loader(set, idx, l);
    loader.start_epoch(epoch);
    std::vector<float> all;
    std::vector<int> order;
    Batch b;
    int n = 0;
    while (loader.next(&b)) {
      EXPECT_EQ(b.number, n);
      ++n;
      EXPECT_EQ(b.images.dim(), 4);
      EXPECT_EQ(b.images.size(1), 3);
      EXPECT_EQ(b.images.size(2), 16);
      EXPECT_EQ(b.labels.size(), static_cast<size_t>(b.images.size(0)));
      for (size_t i = 0; i < b.labels.size(); ++i)
        EXPECT_EQ(b.labels[i], set.samples[static_cast<size_t>(b.indices[i])].label);
      const float* p = b.images.data<float>();
      all.insert(all.end(), p, p + b.images.numel());
      order.insert(order.end(), b.indices.begin(), b.indices.end());
    }
    EXPECT_EQ(n, 3);  // 8 samples, batch 3, last batch of 2
    EXPECT_EQ(loader.num_batches(), 3);
    auto sorted = order, want = idx;
    std::sort(sorted.begin(), sorted.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(sorted, want);
    return std::make_pair(order, all);
  };
  auto sync0 = run(0, 0), one0 = run(1, 0), three0 = run(3, 0), three1 = run(3, 1);
  EXPECT_EQ(sync0, one0);
  EXPECT_EQ(sync0, three0);
  EXPECT_NE(sync0.first, three1.first);  // a new epoch reshuffles

  // Consuming only part of an epoch, then restarting, is fine.
  DataLoader partial(set, idx, lo);
  Batch b;
  ASSERT_TRUE(partial.next(&b));
  partial.start_epoch(5);
  ASSERT_TRUE(partial.next(&b));
  // Random access (a resumed run starts mid-epoch) gives the same batches.
  {
    LoaderOptions l = lo;
    l.workers = 2;
    DataLoader loader(set, idx, l);
    loader.start_epoch(0);
    Batch b2, b0, b1;
    ASSERT_TRUE(loader.batch(2, &b2));
    ASSERT_TRUE(loader.batch(0, &b0));
    ASSERT_TRUE(loader.batch(1, &b1));
    EXPECT_FALSE(loader.batch(3, &b1));
    std::vector<int> order = b0.indices;
    order.insert(order.end(), b1.indices.begin(), b1.indices.end());
    order.insert(order.end(), b2.indices.begin(), b2.indices.end());
    EXPECT_EQ(order, sync0.first);
    const float* p = b2.images.data<float>();
    std::vector<float> last(p, p + b2.images.numel());
    EXPECT_TRUE(std::equal(last.begin(), last.end(), sync0.second.end() - last.size()));
  }
  // Through the trainer's BatchSource interface.
  {
    LoaderBatchSource src(set, idx, lo);
    EXPECT_EQ(src.num_samples(), 8);
    EXPECT_EQ(src.num_batches(), 3);
    src.begin_epoch(0);
    ecg::Batch tb;
    ASSERT_TRUE(src.batch(0, tb));
    EXPECT_EQ(tb.images.size(0), 3);
    EXPECT_EQ(tb.labels.size(), 3u);
    LoaderOptions ev = eval_options(lo);
    EXPECT_FALSE(ev.shuffle);
    EXPECT_FALSE(ev.augment.enabled);
  }
  LoaderOptions drop = lo;
  drop.drop_last = true;
  EXPECT_EQ(DataLoader(set, idx, drop).num_batches(), 2);
}

// Data parallel: the shards of every rank put together are the whole batch of
// one process, byte for byte (same order, same augmentation); uneven batches
// split n*r/R .. n*(r+1)/R.
TEST(Loader, ShardsOfEveryRankMakeTheWholeBatch) {
  TempDir dir("loader_shards");
  auto files = make_files(dir, 7);
  ImageSet set = build_image_set(files, small(), false, 2);
  std::vector<int> idx = set.indices_of(files);
  LoaderOptions lo;
  lo.batch_size = 5;  // 7 images: batches of 5 and 2
  lo.preprocess = small();
  lo.augment.enabled = true;
  DataLoader whole(set, idx, lo);
  whole.start_epoch(3);
  for (int64_t b = 0; b < whole.num_batches(); ++b) {
    Batch full;
    ASSERT_TRUE(whole.batch(b, &full));
    EXPECT_EQ(full.global_size, static_cast<int64_t>(full.labels.size()));
    for (int ranks : {2, 3}) {
      std::vector<int> indices;
      std::vector<float> pixels;
      for (int r = 0; r < ranks; ++r) {
        LoaderOptions l = lo;
        l.shard_rank = r;
        l.shard_count = ranks;
        DataLoader shard(set, idx, l);
        shard.start_epoch(3);
        Batch part;
        ASSERT_TRUE(shard.batch(b, &part));
        const int64_t n = full.global_size;
        EXPECT_EQ(part.global_size, n);
        EXPECT_EQ(static_cast<int64_t>(part.labels.size()), n * (r + 1) / ranks - n * r / ranks);
        indices.insert(indices.end(), part.indices.begin(), part.indices.end());
        if (part.images.numel() > 0) {
          const float* p = part.images.data<float>();
          pixels.insert(pixels.end(), p, p + part.images.numel());
        }
      }
      EXPECT_EQ(indices, full.indices) << "batch " << b << ", " << ranks << " ranks";
      const float* p = full.images.data<float>();
      EXPECT_TRUE(pixels == std::vector<float>(p, p + full.images.numel()))
          << "batch " << b << ", " << ranks << " ranks";
    }
  }
  LoaderOptions bad = lo;
  bad.shard_rank = 2;
  bad.shard_count = 2;
  EXPECT_THROW(DataLoader(set, idx, bad), Error);
}

TEST(Loader, PrepareDataFromAFolder) {
  TempDir dir("prepare");
  auto files = make_files(dir, 10);
  write_text(dir.file("MI/broken.jpg"), "\xFF\xD8\xFF\xE0 truncated");
  DatasetOptions d;
  d.test_fraction = 0.2;
  d.val_fraction = 0.25;
  EXPECT_THROW(prepare_data(dir.str(), d, small(), "", 2), Error);
  d.skip_bad = true;
  d.oversample = true;
  PreparedData p = prepare_data(dir.str(), d, small(), dir.file("cache.bin"), 2);
  EXPECT_EQ(p.splits.skipped, 1);
  EXPECT_EQ(p.images.count(), 10u);
  EXPECT_EQ(p.train.size() + p.val.size() + p.test.size() >= 10u, true);
  EXPECT_EQ(p.test.size(), 2u);
  for (int i : p.test)
    for (int j : p.train) EXPECT_NE(i, j);
  PreparedData again = prepare_data(dir.str(), d, small(), dir.file("cache.bin"), 2);
  EXPECT_TRUE(again.report.from_cache);
  EXPECT_NE(describe(again).find("10 images"), std::string::npos) << describe(again);
  EXPECT_EQ(again.splits.skipped, 1);
  EXPECT_EQ(again.train, p.train);
}

TEST(Loader, RealSampleEndToEnd) {
  TempDir dir("real");
  PreprocessOptions pre = small(64);
  DatasetOptions d;
  d.oversample = true;
  PreparedData p = prepare_data(testing::sample_dir(), d, pre, dir.file("cache.bin"), 2);
  EXPECT_EQ(p.images.count(), 40u);
  EXPECT_EQ(p.train.size(), 24u);
  EXPECT_EQ(p.val.size(), 8u);
  EXPECT_EQ(p.test.size(), 8u);
  EXPECT_FALSE(p.report.from_cache);
  PreparedData again = prepare_data(testing::sample_dir(), d, pre, dir.file("cache.bin"), 2);
  EXPECT_TRUE(again.report.from_cache) << again.report.cache_note;
  EXPECT_EQ(again.images.pixels, p.images.pixels);
  LoaderOptions lo;
  lo.preprocess = pre;
  lo.augment = AugmentOptions::study_resnet();
  LoaderBatchSource src(again.images, again.train, lo);
  src.begin_epoch(3);
  ecg::Batch b;
  int64_t seen = 0;
  for (int64_t i = 0; src.batch(i, b); ++i) {
    seen += b.images.size(0);
    const float* x = b.images.data<float>();
    double mean = 0;
    for (int64_t k = 0; k < b.images.numel(); ++k) mean += x[k];
    mean /= static_cast<double>(b.images.numel());
    EXPECT_GT(mean, 0.5) << "scans are mostly light paper";
  }
  EXPECT_EQ(seen, 24);
}

}  // namespace
}  // namespace ecg::data
