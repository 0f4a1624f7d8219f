// `ecgcnn quantize --checkpoint F --calib DIR --method M --out FILE`: the
// post-training INT8 quantizer. Calibration images come from the training
// split (class-balanced by the shuffled order, no augmentation); a test split
// is refused. Prints the per-layer SQNR / cosine report and the file size.
#include <cstdio>
#include <filesystem>

#include "cli_common.h"
#include "data_sources.h"
#include "models/checkpoint.h"
#include "quant/quantizer.h"

namespace {

struct QuantizeCli {
  std::string checkpoint, calib, method = "auto", out = "model.int8";
  int images = 200;
  double percentile = 99.99;
};

void run_quantize(const QuantizeCli& o) {
  namespace fs = std::filesystem;
  using namespace ecg;
  ECG_CHECK(!o.checkpoint.empty() && !o.calib.empty(),
            "quantize: --checkpoint and --calib are required");
  const std::string leaf = fs::path(o.calib).lexically_normal().filename().string();
  ECG_CHECK(leaf != "test" && leaf != "TEST", "quantize: refusing to calibrate on a test split ('",
            o.calib, "'); give the dataset root or its train/ folder");
  quant::QuantizeOptions qo;
  ECG_CHECK(quant::parse_calib_method(o.method, qo.calib.method), "--method: unknown calibrator '",
            o.method, "' (expected minmax, percentile, kl, mse or auto)");
  qo.calib.percentile = o.percentile;
  LoadedCheckpoint ck = load_checkpoint(o.checkpoint);
  cli::DataConfig cfg = cli::DataConfig::for_model(ck.model->config().name);
  cfg.root = o.calib;
  cfg.image_size = ck.model->config().image_size;
  cfg.augment = false;
  cfg.oversample = false;
  cfg.batch = 25;
  cli::DataSplits splits = cli::open_splits(cfg);
  std::vector<Tensor> calib;
  int64_t n = 0;
  splits.train->begin_epoch(0);
  Batch b;
  for (int64_t i = 0; n < o.images && splits.train->batch(i, b); ++i) {
    calib.push_back(b.images);
    n += b.images.size(0);
  }
  ECG_CHECK(n > 0, "quantize: no calibration images in '", o.calib, "'");
  std::fprintf(stderr, "calibrating %s on %lld images from %s (method %s)\n",
               ck.model->config().name.c_str(), static_cast<long long>(n), o.calib.c_str(),
               o.method.c_str());
  qo.classes = ck.info["classes"].get<std::vector<std::string>>();
  qo.preprocessing = cfg.json();
  quant::Int8Model q = quant::quantize_model(*ck.model, calib, qo);
  quant::save_int8_model(o.out, q);
  Tensor sample = calib[0].slice(0, 0, std::min<int64_t>(8, calib[0].size(0))).contiguous();
  std::vector<quant::LayerReport> rows = quant::layer_report(*ck.model, q, sample);
  std::printf("%-28s %-11s %9s %9s\n", "tensor", "calibrator", "SQNR dB", "cosine");
  for (const auto& r : rows)
    std::printf("%-28s %-11s %9.2f %9.5f\n", r.tensor.c_str(), r.method.c_str(), r.sqnr_db,
                r.cosine);
  const double bytes = static_cast<double>(fs::file_size(o.out));
  quant::ArenaPlan plan = quant::plan_arena(q, 1);
  std::printf(
      "wrote %s: %.0f bytes (%.3f MB, %.3f MiB); planned arena at batch 1: %.2f MB (%.2f MB "
      "without reuse)\n",
      o.out.c_str(), bytes, bytes / 1e6, bytes / 1048576.0, plan.bytes / 1e6,
      plan.naive_bytes / 1e6);
}

}  // namespace

void ecg_cli_quantize(CLI::App& app) {
  static QuantizeCli o;
  auto* sub = app.add_subcommand("quantize", "post-training INT8 quantization of a checkpoint");
  ecg::cli::add_runtime_flags(sub);
  sub->add_option("--checkpoint", o.checkpoint, "float checkpoint (.safetensors)");
  sub->add_option("--calib", o.calib, "calibration folder: a dataset root or its train/ folder");
  sub->add_option("--method", o.method, "minmax, percentile, kl, mse or auto");
  sub->add_option("--percentile", o.percentile, "for --method percentile");
  sub->add_option("--images", o.images, "calibration images (100-500 recommended)")
      ->check(CLI::Range(1, 100000));
  sub->add_option("--out", o.out, "output int8 model file");
  sub->callback([] { run_quantize(o); });
}
