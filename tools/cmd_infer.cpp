// `ecgcnn infer --model FILE IMAGE...`: INT8 inference; preprocessing (decode,
// resize, quantize the input) is timed apart from the network, as the study did.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "cli_common.h"
#include "core/autograd.h"
#include "data/npy.h"
#include "data_sources.h"
#include "quant/int8_model.h"
#include "quant/int8_runner.h"

namespace {

struct InferCli {
  std::string model;
  std::vector<std::string> inputs;
  bool json = false;
  bool skip_bad = false;
};

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void run_infer(const InferCli& o) {
  using namespace ecg;
  ECG_CHECK(!o.model.empty(), "infer: --model FILE is required");
  ECG_CHECK(!o.inputs.empty(), "infer: give at least one image");
  quant::Int8Model m = quant::load_int8_model(o.model);
  std::unique_ptr<quant::Int8GraphRunner> runner = cli::int8_runner(m, 1);  // --device, --precision
  const double arena_mb = static_cast<double>(runner->arena_bytes()) / 1e6;
  cli::DataConfig cfg = cli::DataConfig::for_model(m.model_name);
  cfg.image_size = m.image_size;
  auto one = [&](const std::string& path) {
    double t0 = now_ms();
    Tensor x = path.size() > 4 && path.substr(path.size() - 4) == ".npy"
                   ? cli::load_npy_input(path)
                   : cli::load_image(path, cfg);
    if (x.dim() == 3) x = x.view({1, x.size(0), x.size(1), x.size(2)});
    const int S = m.image_size;
    ECG_CHECK(x.dim() == 4 && x.size(0) == 1 && x.size(1) == 3 && x.size(2) == S && x.size(3) == S,
              "'", path, "': expected a float32 array [3, ", S, ", ", S, "], got ",
              shape_str(x.shape()));
    double t1 = now_ms();
    Tensor logits = runner->run(x);
    double t2 = now_ms();
    Tensor p = softmax(logits);
    const int C = m.num_classes();
    // NaN compares false, so argmax would name class 0 with "nan%".
    for (int c = 0; c < C; ++c)
      ECG_CHECK(std::isfinite(logits.at({0, c})), "'", path,
                "': the model's output is not finite (logit ", c, " is ", logits.at({0, c}),
                "); expected a finite input");
    int best = 0;
    for (int c = 1; c < C; ++c)
      if (p.at({0, c}) > p.at({0, best})) best = c;
    std::vector<double> probs, lg;
    for (int c = 0; c < C; ++c) {
      probs.push_back(p.at({0, c}));
      lg.push_back(logits.at({0, c}));
    }
    if (!o.json)
      std::printf("%s: %s (%.1f%%)  preprocessing %.2f ms, inference %.2f ms\n", path.c_str(),
                  m.classes[best].c_str(), 100 * probs[best], t1 - t0, t2 - t1);
    return nlohmann::json::array({{{"input", path},
                                   {"class", m.classes[best]},
                                   {"class_index", best},
                                   {"probabilities", probs},
                                   {"logits", lg},
                                   {"preprocess_ms", t1 - t0},
                                   {"inference_ms", t2 - t1}}});
  };
  // The keys predict, infer and bench share (docs/house.md), latency_ms over
  // the inferences of this call; then infer's own.
  auto json_out = [&](const nlohmann::json& all, size_t skipped) {
    std::vector<double> ms;
    for (const auto& r : all)
      if (r.contains("inference_ms")) ms.push_back(r["inference_ms"].get<double>());
    nlohmann::json j = cli::run_json(m.model_name, runner->path_name(), m.image_size, 1);
    j["latency_ms"] = cli::latency_json(ms);
    j["results"] = all;
    j["skipped_count"] = skipped;
    j["planned_arena_mb"] = arena_mb;
    j["peak_rss_mb"] = ecg::cli::peak_rss_mb();
    return j;
  };
  cli::InputResults r =
      cli::for_each_input(o.inputs, o.skip_bad, one, [&](const nlohmann::json& all) {
        if (o.json) std::printf("%s\n", json_out(all, 0).dump(2).c_str());
      });
  const nlohmann::json& all = r.results;
  if (o.json) {
    std::printf("%s\n", json_out(all, r.skipped.size()).dump(2).c_str());
  } else {
    std::printf(
        "int8 kernel %s; planned arena %.2f MB; peak resident memory %.1f MB (study: 10.08 MB)\n",
        runner->path_name(), arena_mb, ecg::cli::peak_rss_mb());
  }
}

}  // namespace

void ecg_cli_infer(CLI::App& app) {
  static InferCli o;
  auto* sub = app.add_subcommand("infer", "INT8 inference on images");
  ecg::cli::add_runtime_flags(sub);
  ecg::cli::add_precision_flag(sub);
  sub->add_option("--model", o.model, "int8 model file from ecgcnn quantize");
  sub->add_option("inputs", o.inputs, "image files (or preprocessed .npy arrays)");
  sub->add_flag("--json", o.json, "print JSON");
  ecg::cli::add_skip_bad_flag(sub, o.skip_bad);
  sub->callback([] { run_infer(o); });
}
