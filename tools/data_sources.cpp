#include "data_sources.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include "data/file_util.h"
#include "data/image_io.h"
#include "data/loader.h"
#include "data/npy.h"
#include "data/preprocess.h"
#include "kernels/runtime.h"
#include "train/batch_source.h"

namespace ecg::cli {

namespace {

// data::LoaderBatchSource that also keeps the decoded images alive.
class SharedLoaderSource final : public data::LoaderBatchSource {
 public:
  SharedLoaderSource(std::shared_ptr<data::PreparedData> p, const std::vector<int>& indices,
                     const data::LoaderOptions& opts)
      : data::LoaderBatchSource(p->images, indices, opts), prepared_(std::move(p)) {}

 private:
  std::shared_ptr<data::PreparedData> prepared_;
};

data::PreprocessOptions preprocess_of(const DataConfig& c) {
  data::PreprocessOptions p = c.grayscale ? data::PreprocessOptions::study_alexnet(c.image_size)
                                          : data::PreprocessOptions::study_resnet(c.image_size);
  p.interp = c.resize == "bilinear" ? data::Interp::Linear : data::Interp::Area;
  return p;
}

}  // namespace

DataConfig DataConfig::for_model(const std::string& model) {
  DataConfig c;
  if (model == "alexnet") {
    c.grayscale = true;
    c.resize = "bilinear";
  }
  return c;
}

nlohmann::json DataConfig::json() const {
  return {{"root", root},
          {"image_size", image_size},
          {"grayscale", grayscale},
          {"resize", resize},
          {"val_fraction", val_fraction},
          {"test_fraction", test_fraction},
          {"oversample", oversample},
          {"augment", augment},
          {"flip", flip},
          {"val_from_test", val_from_test},
          {"seed", seed}};
}

DataSplits open_splits(const DataConfig& cfg) {
  namespace fs = std::filesystem;
  ECG_CHECK(fs::is_directory(cfg.root), "dataset folder '", cfg.root,
            "' does not exist or is not a folder");
  data::DatasetOptions d;
  d.seed = cfg.seed;
  d.test_fraction = cfg.test_fraction;
  d.val_fraction = cfg.val_from_test ? 0.0 : cfg.val_fraction;
  d.oversample = cfg.oversample;
  d.skip_bad = cfg.skip_bad;
  data::PreprocessOptions pre = preprocess_of(cfg);
  // The decoded-image cache goes to $ECG_CACHE_DIR, $XDG_CACHE_HOME/ecgcnn or
  // ~/.cache/ecgcnn, never into the dataset folder (which may be shared or
  // read-only); one file per dataset path and preprocessing.
  std::string cache;
  if (cfg.cache) {
    const char* env = std::getenv("ECG_CACHE_DIR");
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    fs::path dir = env    ? fs::path(env)
                   : xdg  ? fs::path(xdg) / "ecgcnn"
                   : home ? fs::path(home) / ".cache" / "ecgcnn"
                          : fs::temp_directory_path() / "ecgcnn";
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!ec) {
      const std::string key = fs::absolute(cfg.root).lexically_normal().string();
      char name[96];
      std::snprintf(name, sizeof name, "images-%016llx-%d-%s.bin",
                    static_cast<unsigned long long>(std::hash<std::string>{}(key)), cfg.image_size,
                    cfg.grayscale ? "grey" : "rgb");
      cache = (dir / name).string();
    }
  }
  auto prepared = std::make_shared<data::PreparedData>(
      data::prepare_data(cfg.root, d, pre, cache, num_threads()));
  if (cfg.progress && !prepared->report.cache_note.empty())
    std::fprintf(stderr, "data: %s\n", prepared->report.cache_note.c_str());
  for (const auto& w : prepared->report.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  data::LoaderOptions train_opts;
  train_opts.batch_size = cfg.batch;
  train_opts.seed = cfg.seed;
  train_opts.shuffle = true;
  train_opts.preprocess = pre;
  train_opts.augment.enabled = cfg.augment;
  train_opts.augment.hflip = cfg.flip;
  data::LoaderOptions eval_opts = data::eval_options(train_opts);
  data::LoaderOptions train_shard = train_opts, val_shard = eval_opts;
  train_shard.shard_rank = val_shard.shard_rank = cfg.shard_rank;
  train_shard.shard_count = val_shard.shard_count = cfg.shard_count;
  DataSplits s;
  s.skipped = prepared->report.warnings;
  for (const auto& n : data::class_names()) s.classes.push_back(n);
  s.train = std::make_unique<SharedLoaderSource>(prepared, prepared->train, train_shard);
  std::vector<int> val = cfg.val_from_test ? prepared->test : prepared->val;
  s.val = std::make_unique<SharedLoaderSource>(prepared, val, val_shard);
  s.test = std::make_unique<SharedLoaderSource>(prepared, prepared->test, eval_opts);
  std::vector<int> all(prepared->images.count());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  s.all = std::make_unique<SharedLoaderSource>(prepared, all, eval_opts);
  auto counts = [&](const std::vector<int>& idx) {
    std::vector<int64_t> c(s.classes.size(), 0);
    for (int i : idx) ++c[prepared->images.samples[i].label];
    return c;
  };
  auto paths = [&](const std::vector<int>& idx) {
    std::vector<std::string> v;
    for (int i : idx) v.push_back(prepared->images.samples[i].path);
    return v;
  };
  s.val_paths = paths(val);
  s.test_paths = paths(prepared->test);
  s.all_paths = paths(all);
  s.summary = {
      {"train_counts", counts(prepared->train)},
      {"val_counts", counts(val)},
      {"test_counts", counts(prepared->test)},
      {"given_test", prepared->splits.given_test},
      {"validation", cfg.val_from_test ? "test split (study recipe)" : "held out of train"},
      {"skipped_files", prepared->splits.skipped}};
  return s;
}

// An ECG report scan is thousands of pixels wide; below this a file cannot
// hold one, and the resize would invent every pixel the model sees.
constexpr int kMinImageSide = 16;

Tensor load_image(const std::string& path, const DataConfig& cfg) {
  data::PreprocessOptions pre = preprocess_of(cfg);
  const std::vector<uint8_t> bytes = data::read_file_bytes(path);
  const data::ImageInfo info = data::probe_image_memory(bytes.data(), bytes.size(), path);
  ECG_CHECK(info.width >= kMinImageSide && info.height >= kMinImageSide, "'", path, "': image is ",
            info.width, "x", info.height, " pixels, expected at least ", kMinImageSide, "x",
            kMinImageSide, " (an ECG report scan)");
  if (info.width < cfg.image_size || info.height < cfg.image_size)
    std::fprintf(stderr,
                 "warning: '%s' is %dx%d pixels, smaller than the model's %dx%d input; it is "
                 "upscaled and the result may mean little\n",
                 path.c_str(), info.width, info.height, cfg.image_size, cfg.image_size);
  data::Image img = data::preprocess_memory(bytes.data(), bytes.size(), pre, path);
  Tensor x = Tensor::empty({1, 3, cfg.image_size, cfg.image_size});
  data::image_to_chw(img, pre, x.data<float>());
  return x;
}

Tensor load_npy_input(const std::string& path) {
  Tensor x = data::read_npy(path);
  const std::vector<float> v = x.to_vector_f32();
  for (size_t i = 0; i < v.size(); ++i)
    ECG_CHECK(std::isfinite(v[i]), "'", path, "': element ", i, " is ", v[i],
              ", expected finite values");
  return x;
}

}  // namespace ecg::cli
