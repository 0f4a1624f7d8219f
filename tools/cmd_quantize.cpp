// `ecgcnn quantize --checkpoint F --calib DIR --method M --out FILE`: the
// post-training INT8 quantizer. Calibration images come from the training
// split (class-balanced by the shuffled order, no augmentation); a test split
// is refused. Prints the per-layer SQNR / cosine report, the accuracy change
// when each layer alone stays float (on the validation split the checkpoint
// held out, or on the calibration images when there is none), the stability
// of three disjoint calibration subsets, and, with --accuracy-budget, the
// layers kept in float so that the accuracy drop against float fits the
// budget. --report FILE writes all of it as JSON.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli_common.h"
#include "data_sources.h"
#include "models/checkpoint.h"
#include "models/graph_model.h"
#include "models/safetensors.h"
#include "quant/arena_plan.h"
#include "quant/quantizer.h"
#include "quant/reports.h"

namespace {

struct QuantizeCli {
  std::string checkpoint, calib, method = "auto", out = "model.int8";
  std::string report;
  int images = 200, eval_images = 300, weight_bits = 8;
  double percentile = 99.99;
  double budget = -1;  // points; < 0: no fallback
  bool sensitivity = true, stability = true, bias_correction = true;
  // An imported graph's input normalization (ImageNet: 0.485,0.456,0.406 and
  // 0.229,0.224,0.225); overrides the file's ecgcnn.mean / ecgcnn.std.
  std::vector<float> mean, stdev;
};

// Up to `limit` images of a split, with labels.
ecg::quant::LabeledImages take_images(ecg::BatchSource& src, int64_t limit) {
  using namespace ecg;
  std::vector<Tensor> images;
  std::vector<std::vector<int>> labels;
  int64_t n = 0;
  src.begin_epoch(0);
  Batch b;
  for (int64_t i = 0; n < limit && src.batch(i, b); ++i) {
    const int64_t k = std::min<int64_t>(b.images.size(0), limit - n);
    images.push_back(b.images.slice(0, 0, k).contiguous());
    labels.emplace_back(b.labels.begin(), b.labels.begin() + k);
    n += k;
  }
  if (images.empty()) return {};
  return quant::concat_images(images, labels);
}

void print_eval(const char* what, const ecg::quant::Int8Eval& e) {
  std::printf("%-34s accuracy %6.2f %%  agreement with float %6.2f %%  logits SQNR %6.2f dB\n",
              what, 100 * e.accuracy, 100 * e.agreement, e.logits_sqnr_db);
}

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
  qo.bias_correction = o.bias_correction;
  qo.weight_bits = o.weight_bits;
  LoadedCheckpoint ck = cli::load_float_model(o.checkpoint);
  if (!o.mean.empty() || !o.stdev.empty()) {
    auto* graph = dynamic_cast<GraphModel*>(ck.model.get());
    ECG_CHECK(graph, "--mean/--std: '", o.checkpoint,
              "' is one of ecgcnn's own models, which take [0, 1] images as they are");
    graph->set_input_normalization(o.mean, o.stdev);
  }
  cli::DataConfig cfg = cli::DataConfig::for_model(ck.model->config().name);
  cfg.root = o.calib;
  cfg.image_size = ck.model->config().image_size;
  cfg.augment = false;
  cfg.oversample = false;
  cfg.batch = 25;
  // The checkpoint's own split, so that its validation images stay out of calibration.
  if (ck.info.contains("data")) {
    const nlohmann::json& d = ck.info["data"];
    if (d.contains("seed")) cfg.seed = d["seed"].get<uint64_t>();
    if (d.contains("val_fraction")) cfg.val_fraction = d["val_fraction"].get<double>();
  }
  cli::DataSplits splits = cli::open_splits(cfg);
  quant::LabeledImages calib_set = take_images(*splits.train, o.images);
  ECG_CHECK(calib_set.size() > 0, "quantize: no calibration images in '", o.calib, "'");
  std::vector<Tensor> calib;
  for (int64_t i = 0; i < calib_set.size(); i += cfg.batch)
    calib.push_back(
        calib_set.images.slice(0, i, std::min(calib_set.size(), i + cfg.batch)).contiguous());
  std::fprintf(stderr, "calibrating %s on %lld images from %s (method %s)\n",
               ck.model->config().name.c_str(), static_cast<long long>(calib_set.size()),
               o.calib.c_str(), o.method.c_str());
  qo.classes = ck.info["classes"].get<std::vector<std::string>>();
  qo.preprocessing = cfg.json();
  quant::Int8Model q = quant::quantize_model(*ck.model, calib, qo);
  quant::validate_int8_model(q, o.out);  // before the reports spend minutes on it
  nlohmann::json report = {{"checkpoint", o.checkpoint},
                           {"weight_bits", o.weight_bits},
                           {"calibration_folder", o.calib},
                           {"calibration_images", calib_set.size()},
                           {"method", o.method}};

  // Accuracy reports on labelled images the calibration did not see when possible.
  const bool need_eval = o.sensitivity || o.stability || o.budget >= 0;
  quant::LabeledImages eval_set;
  std::string eval_name;
  if (need_eval) {
    eval_set = take_images(*splits.val, o.eval_images);
    eval_name = "validation split";
    if (eval_set.size() == 0) {
      eval_set = calib_set;
      eval_name = "calibration images (no validation split)";
    }
    std::printf("accuracy reports on %lld images: %s\n", static_cast<long long>(eval_set.size()),
                eval_name.c_str());
    report["eval_images"] = eval_set.size();
    report["eval_set"] = eval_name;
  }
  quant::FloatReference ref;
  quant::SensitivityReport sens;
  if (need_eval) {
    ref = quant::float_reference(*ck.model, eval_set);
    std::printf("%-34s accuracy %6.2f %%\n", "float", 100 * ref.accuracy);
  }
  if (o.sensitivity || o.budget >= 0) {
    sens = quant::layer_sensitivity(q, eval_set, ref);
    print_eval("int8", sens.int8);
    std::printf("\nsensitivity: each layer alone in float, most sensitive first\n");
    std::printf("%-28s %13s %11s %11s %10s\n", "layer", "accuracy %", "change pts", "agree %",
                "logits dB");
    for (const auto& r : sens.rows)
      std::printf("%-28s %13.2f %+11.2f %11.2f %10.2f\n", r.layer.c_str(),
                  100 * r.with_float.accuracy, r.delta_points, 100 * r.with_float.agreement,
                  r.with_float.logits_sqnr_db);
    report["sensitivity"] = sens.json();
  }
  if (o.budget >= 0) {
    quant::FallbackResult fb = quant::fallback_to_budget(q, sens, eval_set, ref, o.budget);
    std::printf("\nfallback to float, accuracy budget %.2f points below float (%.2f %%):\n",
                o.budget, 100 * ref.accuracy);
    print_eval("  all int8", fb.path[0]);
    for (size_t i = 0; i < fb.tried.size(); ++i)
      print_eval(("  + " + fb.tried[i] + " in float").c_str(), fb.path[i + 1]);
    if (fb.budget_met)
      std::printf("  budget met with %zu float layer(s)\n", fb.layers.size());
    else
      std::printf(
          "  budget NOT met even with every layer in float (activation rounding alone costs "
          "%.2f points on these images); keeping the %zu layer(s) of the best accuracy seen\n",
          100 * (ref.accuracy - fb.path.back().accuracy), fb.layers.size());
    report["fallback"] = fb.json(ref.accuracy);
    q = fb.model;
    q.calibration["float_fallback"] = {{"budget_points", o.budget},
                                       {"layers", fb.layers},
                                       {"budget_met", fb.budget_met},
                                       {"eval_set", eval_name}};
  }
  if (o.stability) {
    if (calib_set.size() < 3) {
      std::printf("\nstability: skipped (%lld calibration images, need 3)\n",
                  static_cast<long long>(calib_set.size()));
    } else {
      quant::StabilityReport st =
          quant::stability_report(*ck.model, calib_set, qo, eval_set, ref, 3);
      std::printf("\nstability: calibrated on 3 disjoint subsets of %lld, %lld, %lld images\n",
                  static_cast<long long>(st.subset_images[0]),
                  static_cast<long long>(st.subset_images[1]),
                  static_cast<long long>(st.subset_images[2]));
      for (size_t i = 0; i < st.evals.size(); ++i)
        print_eval(("  subset " + std::to_string(i + 1)).c_str(), st.evals[i]);
      std::printf(
          "  spread: accuracy %.2f points, agreement %.2f points; activation scales max/min - 1 "
          "up to %.1f %% (%s)\n",
          st.accuracy_spread_points, st.agreement_spread_points, 100 * st.max_scale_spread,
          st.widest_tensor.c_str());
      report["stability"] = st.json();
      q.calibration["stability"] = {{"accuracy_spread_points", st.accuracy_spread_points},
                                    {"max_scale_spread", st.max_scale_spread}};
    }
  }
  // Everything that can fail runs before the model file is written (the
  // write itself validates the graph and goes through a temporary file), so
  // a failed run leaves no file behind.
  std::printf("\n");
  Tensor sample = calib[0].slice(0, 0, std::min<int64_t>(8, calib[0].size(0))).contiguous();
  std::vector<quant::LayerReport> rows = quant::layer_report(*ck.model, q, sample);
  std::printf("%-28s %-11s %9s %9s\n", "tensor", "calibrator", "SQNR dB", "cosine");
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& r : rows) {
    std::printf("%-28s %-11s %9.2f %9.5f\n", r.tensor.c_str(), r.method.c_str(), r.sqnr_db,
                r.cosine);
    layers.push_back({{"tensor", r.tensor},
                      {"calibrator", r.method},
                      {"sqnr_db", r.sqnr_db},
                      {"cosine", r.cosine}});
  }
  report["layers"] = layers;
  quant::save_int8_model(o.out, q);
  const double bytes = static_cast<double>(fs::file_size(o.out));
  quant::ArenaPlan plan = quant::plan_arena(q, 1, true, /*in_place_residual=*/true,
                                            quant::RowTilingOptions::per_thread());
  report["file_bytes"] = bytes;
  report["arena_bytes"] = plan.bytes;
  report["float_layers"] = q.float_nodes();
  // Per-tensor calibrator choices and observed ranges: the model file keeps
  // only the summary (quant/int8_model.h, format version 3).
  report["calibration"] = q.calibration;
  if (!o.report.empty()) {
    write_file_atomic(o.report, report.dump(2));
    std::printf("report: %s\n", o.report.c_str());
  }
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
  sub->add_option("--checkpoint", o.checkpoint,
                  "float model: checkpoint (.safetensors) or ONNX graph (.onnx)");
  sub->add_option("--calib", o.calib, "calibration folder: a dataset root or its train/ folder");
  sub->add_option("--method", o.method, "minmax, percentile, kl, mse or auto");
  sub->add_option("--percentile", o.percentile, "for --method percentile");
  sub->add_option("--images", o.images, "calibration images (100-500 recommended)")
      ->check(CLI::Range(1, 100000));
  sub->add_option("--out", o.out, "output int8 model file");
  sub->add_option("--mean", o.mean,
                  "an imported ONNX graph's per-channel input mean, R,G,B on [0, 1] images "
                  "(e.g. ImageNet's 0.485,0.456,0.406); kept in the int8 model")
      ->delimiter(',')
      ->expected(3);
  sub->add_option("--std", o.stdev,
                  "the matching per-channel standard deviations (e.g. 0.229,0.224,0.225)")
      ->delimiter(',')
      ->expected(3);
  sub->add_option("--eval-images", o.eval_images,
                  "validation images for the accuracy reports (default 300)")
      ->check(CLI::Range(1, 100000));
  sub->add_option("--accuracy-budget", o.budget,
                  "keep the most sensitive layers in float until the accuracy is at most this "
                  "many points below float (e.g. 0.5)")
      ->check(CLI::Range(0.0, 100.0));
  sub->add_flag("!--no-sensitivity", o.sensitivity, "skip the per-layer float sensitivity report");
  sub->add_flag("!--no-stability", o.stability,
                "skip the three-subset calibration stability report");
  sub->add_option("--report", o.report, "write the reports as JSON to this file");
  sub->add_option("--weight-bits", o.weight_bits,
                  "8 (default): weights in [-127, 127]; 7: in [-63, 63], which lets AVX2 CPUs "
                  "without VNNI run every convolution on the faster exact vpmaddubsw path")
      ->check(CLI::IsMember({7, 8}));
  sub->add_flag("!--no-bias-correction", o.bias_correction,
                "do not correct conv biases for the mean shift of weight rounding");
  sub->callback([] {
    ecg::cli::require_cpu_device("quantize");
    run_quantize(o);
  });
}
