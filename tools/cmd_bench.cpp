// `ecgcnn bench --model M --mode train|infer --batch B`: images/s, median and
// p99 ms per step, peak resident memory; --profile prints the per-op and
// per-layer table and writes a Chrome trace of one step.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_common.h"
#include "core/autograd.h"
#include "core/profiler.h"
#include "core/runtime.h"
#include "models/models.h"
#include "optim/optimizer.h"
#include "quant/int8_model.h"
#include "quant/quantizer.h"

namespace {

struct BenchOptions {
  std::string model = "resnet11", mode = "infer", trace = "", int8_model = "";
  int batch = 1, image_size = 224, steps = 10, warmup = 2;
  bool json = false, profile = false;
};

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void run_bench(const BenchOptions& o) {
  using namespace ecg;
  ECG_CHECK(o.mode == "train" || o.mode == "infer" || o.mode == "int8",
            "--mode: expected train, infer or int8, got '", o.mode, "'");
  ModelConfig cfg;
  cfg.name = o.model;
  cfg.image_size = o.image_size;
  auto model = build_model(cfg);
  Tensor x = Tensor::uniform({o.batch, 3, o.image_size, o.image_size}, 5, 0.0, 1.0);
  std::vector<int> labels(o.batch);
  for (int i = 0; i < o.batch; ++i) labels[i] = i % cfg.classes;
  Tensor target = one_hot(labels, cfg.classes);
  std::unique_ptr<Optimizer> opt;
  std::unique_ptr<quant::Int8Model> qmodel;
  std::unique_ptr<quant::Int8Runner> runner;
  if (o.mode == "int8") {
    // A given int8 model, or this float model quantized on random images:
    // the speed does not depend on the weights' values.
    if (!o.int8_model.empty()) {
      qmodel = std::make_unique<quant::Int8Model>(quant::load_int8_model(o.int8_model));
    } else {
      model->eval();
      quant::QuantizeOptions qo;
      qo.classes = {"Normal", "Abnormal heartbeat", "MI", "History of MI"};
      qo.calib.method = quant::CalibMethod::MinMax;
      qmodel = std::make_unique<quant::Int8Model>(quant::quantize_model(
          *model, {Tensor::uniform({2, 3, o.image_size, o.image_size}, 9, 0.0, 1.0)}, qo));
    }
    ECG_CHECK(qmodel->image_size == o.image_size, "--image-size ", o.image_size,
              " does not match the int8 model's ", qmodel->image_size);
    runner = std::make_unique<quant::Int8Runner>(*qmodel, int8::best_int8_kernel(), o.batch);
  } else if (o.mode == "train") {
    model->train();
    opt = make_optimizer("adam", model->parameters(), 1e-4);
  } else {
    model->eval();
  }
  Profiler& prof = Profiler::instance();
  std::vector<double> ms;
  for (int i = 0; i < o.warmup + o.steps; ++i) {
    bool timed = i >= o.warmup;
    if (o.profile && timed) prof.enable(true);
    prof.set_step(i);
    auto t0 = std::chrono::steady_clock::now();
    if (o.mode == "train") {
      Tensor loss = softmax_cross_entropy((*model)(x), target);
      Tensor reg = model->regularization_loss();
      if (reg.defined()) loss = add(loss, reg);
      loss.backward();
      opt->step();
      model->zero_grad();
    } else if (runner) {
      runner->run(x);
    } else {
      NoGradGuard g;
      (*model)(x);
    }
    double dt =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (timed) ms.push_back(dt);
    if (!o.json) std::fprintf(stderr, "\rstep %d/%d: %.1f ms   ", i + 1, o.warmup + o.steps, dt);
  }
  if (!o.json) std::fprintf(stderr, "\n");
  const double med = percentile(ms, 0.5);
  nlohmann::json j = {{"model", o.model},
                      {"mode", o.mode},
                      {"batch", o.batch},
                      {"image_size", o.image_size},
                      {"threads", num_threads()},
                      {"isa", isa_name(active_isa())},
                      {"steps", o.steps},
                      {"ms_per_step", med},
                      {"p99_ms", percentile(ms, 0.99)},
                      {"images_per_s", o.batch / (med / 1000.0)},
                      {"peak_rss_mb", ecg::cli::peak_rss_mb()},
                      {"allocator_peak_mb", cpu_allocator().stats().peak_bytes_in_use / 1048576.0}};
  if (runner) {
    j["int8_kernel"] = int8::int8_kernel_name(runner->kernel());
    j["planned_arena_mb"] = runner->plan().bytes / 1e6;
  }
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf(
        "%s %s, batch %d, %dx%d, %d threads, isa %s: %.2f ms/step (median of %d, p99 %.2f), "
        "%.2f images/s, peak RSS %.1f MB\n",
        o.model.c_str(), o.mode.c_str(), o.batch, o.image_size, o.image_size, num_threads(),
        isa_name(active_isa()), med, o.steps, percentile(ms, 0.99), o.batch / (med / 1000.0),
        ecg::cli::peak_rss_mb());
  }
  if (o.profile) {
    std::fprintf(stderr, "%s", prof.report().c_str());
    std::string trace = o.trace.empty() ? "ecgcnn-trace.json" : o.trace;
    prof.write_chrome_trace(trace, o.warmup);
    std::fprintf(stderr, "Chrome trace of one step written to %s (open in Perfetto)\n",
                 trace.c_str());
  }
}

}  // namespace

void ecg_cli_bench(CLI::App& app) {
  static BenchOptions o;
  auto* sub = app.add_subcommand("bench", "benchmark a model: images/s, ms/step, peak memory");
  ecg::cli::add_runtime_flags(sub);
  sub->add_option("--model", o.model, "alexnet, resnet11, resnet20, resnet29");
  sub->add_option("--mode", o.mode, "train, infer (float) or int8");
  sub->add_option("--int8-model", o.int8_model,
                  "with --mode int8: a model file (default: quantize this one)");
  sub->add_option("--batch", o.batch, "batch size")->check(CLI::Range(1, 1024));
  sub->add_option("--image-size", o.image_size, "square input size")->check(CLI::Range(8, 4096));
  sub->add_option("--steps", o.steps, "timed steps")->check(CLI::Range(1, 100000));
  sub->add_option("--warmup", o.warmup, "untimed steps first")->check(CLI::Range(0, 1000));
  sub->add_flag("--json", o.json, "print one JSON object");
  sub->add_flag("--profile", o.profile, "time every op; print tables and write a Chrome trace");
  sub->add_option("--trace", o.trace, "Chrome trace path (with --profile)");
  sub->callback([] { run_bench(o); });
}
