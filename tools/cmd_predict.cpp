// `ecgcnn predict --checkpoint F IMAGE...`: class, probabilities and logits
// per image. `.npy` inputs are float32 arrays already preprocessed (CHW or
// NCHW), so results can be compared with another framework on identical input.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "cli_common.h"
#include "core/autograd.h"
#include "data/npy.h"
#include "data_sources.h"
#include "model_inspect.h"
#include "models/checkpoint.h"

namespace {

struct PredictCli {
  std::string checkpoint;
  std::vector<std::string> inputs;
  bool json = false;
  bool skip_bad = false;
  std::string dump_layer;  // --dump: a layer name as `ecgcnn summary` prints it
  std::string dump_dir = ".";
};

// The module `--dump` names, or one line naming the layer and where the
// names come from.
const ecg::Module* find_layer(ecg::Model& model, const std::string& name) {
  for (const auto& m : ecg::cli::module_paths(model))
    if (m.second == name) return m.first;
  ecg::fail("predict: --dump: no layer '", name, "' in ", model.config().name,
            " (the names are those of `ecgcnn summary --model ", model.config().name, "`)");
}

// `--dump-dir/<input file name without extension>.<layer>.npy`.
std::string dump_path(const PredictCli& o, const std::string& input) {
  const std::string stem = std::filesystem::path(input).stem().string();
  return (std::filesystem::path(o.dump_dir) / (stem + "." + o.dump_layer + ".npy")).string();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The results for one input (N of them for an [N, 3, S, S] .npy), printed
// as text unless `json`.
nlohmann::json predict_one(ecg::LoadedCheckpoint& ck, const ecg::cli::DataConfig& cfg,
                           const std::vector<std::string>& classes, const std::string& path,
                           const PredictCli& o) {
  const bool json = o.json;
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
  const auto t0 = std::chrono::steady_clock::now();
  const auto elapsed_ms = [&t0] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  Tensor logits;
  double ms = 0;
  if (o.dump_layer.empty()) {
    logits = (*ck.model)(x).to(Device::cpu());
    ms = elapsed_ms();
  } else {
    const Module* layer = find_layer(*ck.model, o.dump_layer);
    Tensor activations;
    {
      cli::ScopedOutputObserver observe([&](const Module& m, const Tensor& y) {
        if (&m == layer) activations = y;
      });
      logits = (*ck.model)(x).to(Device::cpu());
      ms = elapsed_ms();
    }
    ECG_CHECK(activations.defined(), "predict: --dump: layer '", o.dump_layer,
              "' did not run in the forward pass");
    const std::string out = dump_path(o, path);
    data::write_npy(out, activations.contiguous());
    std::fprintf(stderr, "%s: wrote %s %s to %s\n", path.c_str(), o.dump_layer.c_str(),
                 shape_str(activations.shape()).c_str(), out.c_str());
  }
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
    // The keys predict, infer and bench share (docs/house.md); latency_ms is
    // this input's forward pass (all N images of an [N, 3, S, S] array).
    nlohmann::json r =
        cli::run_json(ck.model->config().name, cli::fp32_kernel_name(), S, logits.size(0));
    r["latency_ms"] = cli::latency_json({ms});
    r["input"] = path;
    r["index"] = n;
    r["class"] = classes[best];
    r["class_index"] = best;
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
  if (!o.dump_layer.empty()) {
    find_layer(*ck.model, o.dump_layer);  // a wrong name fails before any input runs
    std::filesystem::create_directories(o.dump_dir);
  }
  NoGradGuard guard;
  auto print = [&](const nlohmann::json& all) {
    if (o.json) std::printf("%s\n", all.dump(2).c_str());
  };
  cli::InputResults r = cli::for_each_input(
      o.inputs, o.skip_bad,
      [&](const std::string& path) { return predict_one(ck, cfg, classes, path, o); }, print);
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
  sub->add_option("--dump", o.dump_layer,
                  "also write the output of this layer (a name `ecgcnn summary` prints, e.g. "
                  "stage0.block0.conv1) to DIR/<input>.<layer>.npy, float32 NCHW");
  sub->add_option("--dump-dir", o.dump_dir, "folder for --dump files (default: .)");
  sub->callback([] {
    ecg::cli::require_cpu_device("predict");
    run_predict(o);
  });
}
