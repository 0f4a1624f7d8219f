// `ecgcnn predict --checkpoint F IMAGE...`: class, probabilities and logits
// per image. `.npy` inputs are float32 arrays already preprocessed (CHW or
// NCHW), so results can be compared with another framework on identical input.
#include <cmath>
#include <cstdio>

#include "cli_common.h"
#include "core/autograd.h"
#include "data/npy.h"
#include "data_sources.h"
#include "models/checkpoint.h"

namespace {

struct PredictCli {
  std::string checkpoint;
  std::vector<std::string> inputs;
  bool json = false;
  bool skip_bad = false;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The results for one input (N of them for an [N, 3, S, S] .npy), printed
// as text unless `json`.
nlohmann::json predict_one(ecg::LoadedCheckpoint& ck, const ecg::cli::DataConfig& cfg,
                           const std::vector<std::string>& classes, const std::string& path,
                           bool json) {
  using namespace ecg;
  const int S = cfg.image_size;
  Tensor x;
  if (ends_with(path, ".npy")) {
    x = cli::load_npy_input(path);
    if (x.dim() == 3) x = x.view({1, x.size(0), x.size(1), x.size(2)});
    ECG_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) == S && x.size(3) == S, "'", path,
              "': expected a float32 array [3, ", S, ", ", S, "] or [N, 3, ", S, ", ", S, "], got ",
              shape_str(x.shape()));
  } else {
    x = cli::load_image(path, cfg);
  }
  Tensor logits = (*ck.model)(x);
  Tensor probs = softmax(logits);
  const int C = static_cast<int>(logits.size(1));
  nlohmann::json out = nlohmann::json::array();
  for (int64_t n = 0; n < logits.size(0); ++n) {
    // NaN compares false, so argmax would name class 0 with "nan%".
    for (int c = 0; c < C; ++c)
      ECG_CHECK(std::isfinite(logits.at({n, c})), "'", path, "'",
                logits.size(0) > 1 ? "[" + std::to_string(n) + "]" : std::string(),
                ": the model's output is not finite (logit ", c, " is ", logits.at({n, c}),
                "); expected a finite input");
    int best = 0;
    for (int c = 1; c < C; ++c)
      if (probs.at({n, c}) > probs.at({n, best})) best = c;
    nlohmann::json r = {
        {"input", path}, {"index", n}, {"class", classes[best]}, {"class_index", best}};
    std::vector<double> p, l;
    for (int c = 0; c < C; ++c) {
      p.push_back(probs.at({n, c}));
      l.push_back(logits.at({n, c}));
    }
    r["probabilities"] = p;
    r["logits"] = l;
    out.push_back(r);
    if (!json) {
      std::printf("%s%s: %s (%.1f%%)", path.c_str(),
                  logits.size(0) > 1 ? ("[" + std::to_string(n) + "]").c_str() : "",
                  classes[best].c_str(), 100 * p[best]);
      for (int c = 0; c < C; ++c) std::printf("  %s %.4f", classes[c].c_str(), p[c]);
      std::printf("\n");
    }
  }
  return out;
}

void run_predict(const PredictCli& o) {
  using namespace ecg;
  ECG_CHECK(!o.checkpoint.empty(), "predict: --checkpoint FILE is required");
  ECG_CHECK(!o.inputs.empty(), "predict: give at least one image or .npy file");
  LoadedCheckpoint ck = cli::load_float_model(o.checkpoint);
  cli::DataConfig cfg = cli::DataConfig::for_model(ck.model->config().name);
  cfg.image_size = ck.model->config().image_size;
  const std::vector<std::string> classes = ck.info["classes"].get<std::vector<std::string>>();
  NoGradGuard guard;
  auto print = [&](const nlohmann::json& all) {
    if (o.json) std::printf("%s\n", all.dump(2).c_str());
  };
  cli::InputResults r = cli::for_each_input(
      o.inputs, o.skip_bad,
      [&](const std::string& path) { return predict_one(ck, cfg, classes, path, o.json); }, print);
  print(r.results);
}

}  // namespace

void ecg_cli_predict(CLI::App& app) {
  static PredictCli o;
  auto* sub = app.add_subcommand("predict", "classify images (or preprocessed .npy arrays)");
  ecg::cli::add_runtime_flags(sub);
  sub->add_option("--checkpoint", o.checkpoint,
                  "float model: checkpoint (.safetensors) or ONNX graph (.onnx)");
  sub->add_option("inputs", o.inputs, "image files (.jpg, .png) or .npy arrays");
  sub->add_flag("--json", o.json, "print JSON with class, probabilities and logits");
  ecg::cli::add_skip_bad_flag(sub, o.skip_bad);
  sub->callback([] { run_predict(o); });
}
