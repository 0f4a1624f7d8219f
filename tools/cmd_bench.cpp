// `ecgcnn bench --model M --mode train|infer|int8 --batch B`: latency per step
// (min, median, mean, p99, max, stddev, as benchmark_model and trtexec print
// them), the load time and the first inference apart, images/s, peak
// resident memory; --profile prints the per-op and per-layer table and writes
// a Chrome trace of one step. `--int8-model F` benchmarks that file: its image
// size and network come from it, and no float model is built, so the memory
// figures are the int8 path's own.
//
// --device-report prints the study's deployment table (model size,
// preprocessing, average and p99 inference, images/s, CPU usage, RAM in use,
// peak program memory, OS, cores, total RAM) as text, or inside the JSON
// object with --json, so a Jetson Nano run compares like with like with the
// study's TFLite figures. It defaults to --mode int8.
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>

#include "cli_common.h"
#include "cli_profile.h"
#include "core/autograd.h"
#include "core/profiler.h"
#include "data/image_io.h"
#include "data/preprocess.h"
#include "data/synth/dataset.h"
#include "kernels/runtime.h"
#include "models/checkpoint.h"
#include "models/graph_model.h"
#include "models/models.h"
#include "optim/optimizer.h"
#include "quant/int8_model.h"
#include "quant/int8_runner.h"
#include "quant/quantizer.h"

namespace {

struct BenchOptions {
  std::string model = "resnet11", mode = "infer", trace = "", int8_model = "";
  std::string checkpoint;         // a float model file instead of --model's name
  bool image_size_given = false;  // else an int8 model file's own size is used
  bool model_given = false;
  int batch = 1, image_size = 224, steps = 10, warmup = 2;
  bool json = false, profile = false;
  std::string profile_out, roofline;  // --profile-out FILE.json|.csv, --roofline FILE.svg
  bool device_report = false;
  std::string image;  // --device-report: the scan whose preprocessing is timed
};

// Seconds of CPU (user + system) this process has used.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// A field of /proc/self/status or /proc/meminfo in MB ("VmRSS:", "MemTotal:").
double proc_kb_field_mb(const char* file, const char* key) {
  std::ifstream f(file);
  std::string line;
  const size_t n = std::char_traits<char>::length(key);
  while (std::getline(f, line))
    if (line.compare(0, n, key) == 0) return std::stod(line.substr(n)) / 1024.0;
  return 0;
}

// Median milliseconds of reading one scan from memory and turning it into the
// model's input (decode, INTER_AREA resize, CHW floats): the study's
// "preprocessing". Without --image, a synthetic 2213-pixel-wide report page,
// JPEG-encoded like the scans.
double preprocessing_ms(const std::string& image, int size) {
  using namespace ecg;
  std::string bytes;
  if (!image.empty()) {
    std::ifstream f(image, std::ios::binary);
    ECG_CHECK(f.good(), "--image: cannot read ", image);
    bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  } else {
    const auto page =
        data::synth::make_page(7, data::synth::EcgClass::Normal, 0, data::synth::PageOptions{});
    bytes = data::encode_jpeg(page.image, 90);
  }
  data::PreprocessOptions po;
  po.size = size;
  std::vector<float> chw(static_cast<size_t>(3) * size * size);
  std::vector<double> ms;
  for (int i = 0; i < 11; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const data::Image img =
        data::preprocess_memory(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), po);
    data::image_to_chw(img, po, chw.data());
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// What the steps run: a float model (train or infer), or an int8 runner over
// a given file or over this float model quantized on random images (the
// speed does not depend on the weights' values).
struct BenchSetup {
  std::string model_name;
  std::shared_ptr<ecg::Model> model;
  std::unique_ptr<ecg::Optimizer> opt;
  std::unique_ptr<ecg::quant::Int8Model> qmodel;
  std::unique_ptr<ecg::quant::Int8GraphRunner> runner;
  ecg::Tensor x, target;
  double model_mb = 0;
  double load_ms = 0;  // reading or building the model and preparing the runner
};

// The size of the int8 model file: the given one, or this model saved.
double int8_file_mb(const BenchOptions& o, const ecg::quant::Int8Model& q) {
  std::string path = o.int8_model;
  if (path.empty()) {
    path = "ecgcnn-device-report-" + std::to_string(getpid()) + ".ecg8";
    ecg::quant::save_int8_model(path, q);
  }
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  const double mb = static_cast<double>(f.tellg()) / 1e6;
  if (o.int8_model.empty()) std::remove(path.c_str());
  return mb;
}

// --int8-model: the file alone, no float model; its image size unless
// --image-size says otherwise, which must then match.
void setup_int8_file(BenchOptions& o, BenchSetup& b) {
  using namespace ecg;
  b.qmodel = std::make_unique<quant::Int8Model>(quant::load_int8_model(o.int8_model));
  if (o.image_size_given)
    ECG_CHECK(b.qmodel->image_size == o.image_size, "--image-size ", o.image_size,
              " does not match the int8 model's ", b.qmodel->image_size, " (", o.int8_model,
              "); leave --image-size out to use the model's");
  o.image_size = b.qmodel->image_size;
  b.model_name = b.qmodel->model_name;
}

// --checkpoint: the float model file (a checkpoint or an ONNX graph) with its
// own name and image size.
std::shared_ptr<ecg::Model> load_checkpoint_model(BenchOptions& o) {
  using namespace ecg;
  std::shared_ptr<Model> m = cli::load_float_model(o.checkpoint).model;
  ECG_CHECK(!o.image_size_given || o.image_size == m->config().image_size, "--image-size ",
            o.image_size, " differs from '", o.checkpoint, "' (", m->config().image_size, " px)");
  o.model = m->config().name;
  o.image_size = m->config().image_size;
  return m;
}

// One training step, each part under the profiler row it belongs to: the
// layers (forward and backward), "loss", "optimizer" (update, zero_grad).
void train_step(ecg::Module& model, ecg::Optimizer& opt, const ecg::Tensor& x,
                const ecg::Tensor& target) {
  using namespace ecg;
  Tensor logits = model(x), loss;
  {
    LayerScope scope("loss", LayerScope::Absolute);
    loss = softmax_cross_entropy(logits, target);
    Tensor reg = model.regularization_loss();
    if (reg.defined()) loss = add(loss, reg);
  }
  loss.backward();
  opt.step();
  {
    PhaseScope phase("update");
    LayerScope scope("optimizer", LayerScope::Absolute);
    model.zero_grad();
  }
  loss.item();  // waits for a device to finish the step
}

// Output shapes of the int8 model's nodes by layer name, for the shape column.
std::map<std::string, std::string> int8_layer_shapes(const ecg::quant::Int8Model& m, int batch) {
  std::map<std::string, std::string> out;
  for (const auto& n : m.nodes) {
    if (n.kind == ecg::quant::NodeKind::Dense) {  // writes the logits, not an arena tensor
      out[n.name] = "[" + std::to_string(batch) + ", " + std::to_string(n.conv.shape.K) + "]";
      continue;
    }
    if (n.output < 0 || n.output >= static_cast<int>(m.tensors.size())) continue;
    const auto& t = m.tensors[n.output];
    out[n.name] = "[" + std::to_string(batch) + ", " + std::to_string(t.C) + ", " +
                  std::to_string(t.H) + ", " + std::to_string(t.W) + "]";
  }
  return out;
}

// --profile: the report, the rows file, the trace and the roofline of the
// one profiled step (the first timed one).
void write_bench_profile(const BenchOptions& o, const ecg::ProfilePeaks& peaks, ecg::Module* model,
                         const ecg::quant::Int8Model* qmodel) {
  ecg::cli::ProfileOutputs out;
  out.trace = o.trace.empty() ? "ecgcnn-trace.json" : o.trace;
  out.rows = o.profile_out;
  out.roofline = o.roofline;
  const auto shapes = qmodel ? int8_layer_shapes(*qmodel, o.batch)
                             : ecg::cli::layer_shapes(*model, o.batch, o.image_size);
  ecg::cli::write_profile_outputs(peaks, shapes, out, o.warmup,
                                  o.model + " " + o.mode + ", batch " + std::to_string(o.batch) +
                                      ", " + std::to_string(o.image_size) + " px");
}

BenchSetup setup_bench(BenchOptions& o) {
  using namespace ecg;
  cli::check_profile_outputs({o.trace, o.profile_out, o.roofline});
  ECG_CHECK(o.mode == "train" || o.mode == "infer" || o.mode == "int8",
            "--mode: expected train, infer or int8, got '", o.mode, "'");
  ECG_CHECK(o.int8_model.empty() || o.mode == "int8", "--int8-model needs --mode int8");
  if (o.mode == "train") cli::default_training_to_direct_convolution();
  BenchSetup b;
  const auto t0 = std::chrono::steady_clock::now();
  b.model_name = o.model;
  if (!o.checkpoint.empty()) {
    b.model = load_checkpoint_model(o);
    b.model_name = o.model;
    ECG_CHECK(o.mode != "train" || !dynamic_cast<GraphModel*>(b.model.get()), "--mode train: '",
              o.checkpoint, "' is an imported ONNX graph, which runs inference only");
  } else if (!o.int8_model.empty()) {
    setup_int8_file(o, b);
  } else {
    ModelConfig cfg;
    cfg.name = o.model;
    cfg.image_size = o.image_size;
    b.model = build_model(cfg);
  }
  b.x = Tensor::uniform({o.batch, 3, o.image_size, o.image_size}, 5, 0.0, 1.0);
  if (o.mode == "int8") {
    if (!b.qmodel) {
      b.model->eval();
      quant::QuantizeOptions qo;
      qo.classes = {"Normal", "Abnormal heartbeat", "MI", "History of MI"};
      qo.calib.method = quant::CalibMethod::MinMax;
      b.qmodel = std::make_unique<quant::Int8Model>(quant::quantize_model(
          *b.model, {Tensor::uniform({2, 3, o.image_size, o.image_size}, 9, 0.0, 1.0)}, qo));
    }
    b.runner = cli::int8_runner(*b.qmodel, o.batch);
    b.load_ms = ms_since(t0);
    if (o.device_report) b.model_mb = int8_file_mb(o, *b.qmodel);
    return b;
  }
  // The output's width (an imported graph's config may not name its classes).
  const int classes =
      static_cast<int>(b.model->infer({1, 3, o.image_size, o.image_size}, nullptr, "")[1]);
  std::vector<int> labels(o.batch);
  for (int i = 0; i < o.batch; ++i) labels[i] = i % classes;
  b.target = one_hot(labels, classes);
  if (o.mode == "train") {
    b.model->train();
    b.opt = make_optimizer("adam", b.model->parameters(), 1e-4);
  } else {
    b.model->eval();
  }
  // --device: weights and the input where the steps run.
  b.model->to(cli::selected_device());
  b.x = b.x.to(cli::selected_device());
  b.load_ms = ms_since(t0);
  // Float weights as a file would hold them: 4 bytes per parameter.
  int64_t params = 0;
  for (const Tensor* t : b.model->parameters()) params += t->numel();
  b.model_mb = 4.0 * static_cast<double>(params) / 1e6;
  return b;
}

void run_step(BenchSetup& b) {
  using namespace ecg;
  if (b.opt) {
    train_step(*b.model, *b.opt, b.x, b.target);
  } else if (b.runner) {
    b.runner->run(b.x);
  } else {
    NoGradGuard g;
    (*b.model)(b.x).to(Device::cpu());  // waits for a device to finish the step
  }
}

struct StepTimes {
  std::vector<double> ms;  // the timed steps
  double first_ms = 0;     // the very first step (cold caches, first allocations)
  double cpu_s = 0;        // CPU seconds of the timed steps
};

StepTimes time_steps(const BenchOptions& o, BenchSetup& b) {
  using namespace ecg;
  Profiler& prof = Profiler::instance();
  StepTimes t;
  double cpu_s = cpu_seconds();  // reset after the warm-up steps
  for (int i = 0; i < o.warmup + o.steps; ++i) {
    bool timed = i >= o.warmup;
    const bool profiled = o.profile && i == o.warmup;  // the one step profiled
    prof.enable(profiled);
    prof.set_step(i);
    const double t0_us = prof.now_us();
    const auto t0 = std::chrono::steady_clock::now();
    run_step(b);
    const double dt = ms_since(t0);
    if (i == 0) t.first_ms = dt;
    if (timed) t.ms.push_back(dt);
    if (profiled) {
      prof.record_step(i, t0_us, prof.now_us() - t0_us);
      prof.enable(false);
    }
    if (i + 1 == o.warmup) cpu_s = cpu_seconds();
    if (!o.json) std::fprintf(stderr, "\rstep %d/%d: %.1f ms   ", i + 1, o.warmup + o.steps, dt);
  }
  if (!o.json) std::fprintf(stderr, "\n");
  t.cpu_s = cpu_seconds() - cpu_s;
  return t;
}

nlohmann::json device_report_json(const BenchOptions& o, const BenchSetup& b, const StepTimes& t) {
  using namespace ecg;
  const double mean = std::accumulate(t.ms.begin(), t.ms.end(), 0.0) / t.ms.size();
  const double loop_s = std::accumulate(t.ms.begin(), t.ms.end(), 0.0) / 1000.0;
  utsname un{};
  uname(&un);
  // Memory first: the timing of preprocessing below synthesises a report
  // page, which a deployment never does.
  const double in_use_mb = proc_kb_field_mb("/proc/self/status", "VmRSS:");
  const double peak_mb = ecg::cli::peak_rss_mb();
  return {{"model_size_mb", b.model_mb},
          {"preprocessing_ms", preprocessing_ms(o.image, o.image_size)},
          {"inference_avg_ms", mean / o.batch},
          {"inference_p99_ms", percentile(t.ms, 0.99) / o.batch},
          {"images_per_s", o.batch / (mean / 1000.0)},
          {"cpu_usage_percent", loop_s > 0 ? 100.0 * t.cpu_s / loop_s : 0.0},
          {"ram_in_use_mb", in_use_mb},
          {"peak_program_memory_mb", peak_mb},
          {"os", std::string(un.sysname) + " " + un.release + " " + un.machine},
          {"cores", hardware_threads()},
          {"total_ram_mb", proc_kb_field_mb("/proc/meminfo", "MemTotal:")},
          {"load_ms", b.load_ms},
          {"first_inference_ms", t.first_ms},
          {"float_model_built", static_cast<bool>(b.model)},
          {"model_source", o.mode != "int8"       ? "float model"
                           : o.int8_model.empty() ? "quantized in this process"
                                                  : o.int8_model}};
}

void print_device_report(const BenchOptions& o, const nlohmann::json& d,
                         const std::string& kernel) {
  std::printf("device report (%s %s, batch %d, %d timed runs, %d threads, kernel %s)\n",
              d["model"].get<std::string>().c_str(), o.mode.c_str(), o.batch, o.steps,
              ecg::num_threads(), kernel.c_str());
  std::printf("  model size              %.2f MB\n", d["model_size_mb"].get<double>());
  std::printf("  load                    %.2f ms\n", d["load_ms"].get<double>());
  std::printf("  first inference         %.2f ms\n", d["first_inference_ms"].get<double>());
  std::printf("  preprocessing           %.2f ms\n", d["preprocessing_ms"].get<double>());
  std::printf("  inference (average)     %.2f ms\n", d["inference_avg_ms"].get<double>());
  std::printf("  inference (p99)         %.2f ms\n", d["inference_p99_ms"].get<double>());
  std::printf("  images/s                %.2f\n", d["images_per_s"].get<double>());
  std::printf("  CPU usage               %.0f %% (of one core)\n",
              d["cpu_usage_percent"].get<double>());
  std::printf("  RAM in use              %.1f MB\n", d["ram_in_use_mb"].get<double>());
  std::printf("  peak program memory     %.1f MB\n", d["peak_program_memory_mb"].get<double>());
  if (d["float_model_built"].get<bool>() && o.mode == "int8")
    std::printf(
        "                          (includes building and quantizing the float model; "
        "--int8-model FILE gives the deployment figure)\n");
  std::printf("  OS                      %s\n", d["os"].get<std::string>().c_str());
  std::printf("  cores                   %d\n", d["cores"].get<int>());
  std::printf("  total RAM               %.0f MB\n", d["total_ram_mb"].get<double>());
}

// The latency line and the summary, as benchmark_model and trtexec print them.
void print_summary(const BenchOptions& o, const nlohmann::json& j) {
  const auto& l = j["latency_ms"];
  std::printf(
      "%s %s, batch %d, %dx%d, %d threads, isa %s, kernel %s: %.2f ms/step (median of %d), "
      "%.2f images/s, peak RSS %.1f MB\n",
      j["model"].get<std::string>().c_str(), o.mode.c_str(), o.batch, o.image_size, o.image_size,
      j["threads"].get<int>(), j["isa"].get<std::string>().c_str(),
      j["kernel"].get<std::string>().c_str(), l["median"].get<double>(), o.steps,
      j["images_per_s"].get<double>(), j["peak_rss_mb"].get<double>());
  std::printf(
      "  latency ms: min %.3f  median %.3f  mean %.3f  p99 %.3f  max %.3f  stddev %.3f\n"
      "  load %.2f ms, first inference %.2f ms (before %d warm-up and %d timed steps)\n",
      l["min"].get<double>(), l["median"].get<double>(), l["mean"].get<double>(),
      l["p99"].get<double>(), l["max"].get<double>(), l["stddev"].get<double>(),
      j["load_ms"].get<double>(), j["first_inference_ms"].get<double>(), o.warmup, o.steps);
}

void run_bench(BenchOptions o) {
  using namespace ecg;
  BenchSetup b = setup_bench(o);
  ProfilePeaks peaks;
  // The probes measure this CPU: on another device a percentage of them would mislead.
  if (o.profile && cli::selected_device().type == DeviceType::CPU)
    peaks = cli::measure_profile_peaks();
  const StepTimes t = time_steps(o, b);
  const std::string kernel = b.runner ? b.runner->path_name() : cli::fp32_kernel_name();
  nlohmann::json j = cli::run_json(b.model_name, kernel, o.image_size, o.batch);
  j["mode"] = o.mode;
  j["latency_ms"] = cli::latency_json(t.ms);
  const double med = j["latency_ms"]["median"].get<double>();
  j["load_ms"] = b.load_ms;
  j["first_inference_ms"] = t.first_ms;
  // Earlier names, read by bench/peers and bench/models scripts.
  j["steps"] = o.steps;
  j["ms_per_step"] = med;
  j["p99_ms"] = j["latency_ms"]["p99"];
  j["images_per_s"] = o.batch / (med / 1000.0);
  j["peak_rss_mb"] = ecg::cli::peak_rss_mb();
  j["allocator_peak_mb"] = cpu_allocator().stats().peak_bytes_in_use / 1048576.0;
  if (b.runner) {
    j["int8_kernel"] = b.runner->path_name();
    j["planned_arena_mb"] = b.runner->arena_bytes() / 1e6;
  }
  if (o.device_report) {
    nlohmann::json d = device_report_json(o, b, t);
    j["device_report"] = d;
    d["model"] = b.model_name;
    if (!o.json) print_device_report(o, d, kernel);
  }
  if (o.json)
    std::printf("%s\n", j.dump().c_str());
  else
    print_summary(o, j);
  if (o.profile) write_bench_profile(o, peaks, b.model.get(), b.qmodel.get());
}

}  // namespace

void ecg_cli_bench(CLI::App& app) {
  static BenchOptions o;
  auto* sub = app.add_subcommand("bench", "benchmark a model: images/s, ms/step, peak memory");
  ecg::cli::add_runtime_flags(sub);
  ecg::cli::add_precision_flag(sub);
  auto* model_opt = sub->add_option("--model", o.model, "alexnet, resnet11, resnet20, resnet29")
                        ->capture_default_str();
  sub->add_option("--checkpoint", o.checkpoint,
                  "or: a float model file (.safetensors checkpoint or .onnx graph)")
      ->excludes(model_opt);
  sub->add_option("--mode", o.mode, "train, infer (float) or int8")->capture_default_str();
  sub->add_option("--int8-model", o.int8_model,
                  "with --mode int8: a model file; its network and image size are used and no "
                  "float model is built (default: quantize --model on random images)");
  sub->add_option("--batch", o.batch, "batch size")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  sub->add_option("--image-size", o.image_size,
                  "square input size (default 224, or the --int8-model file's)")
      ->check(CLI::Range(8, 4096));
  sub->add_option("--steps", o.steps, "timed steps")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  sub->add_option("--warmup", o.warmup, "untimed steps first (the first one is reported apart)")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  sub->add_flag("--json", o.json, "print one JSON object");
  auto* profile_flag =
      sub->add_flag("--profile", o.profile,
                    "time the first timed step per layer and op against the peaks measured at "
                    "start-up; print the table and write a Chrome trace");
  sub->add_option("--trace", o.trace, "Chrome trace path (with --profile)")
      ->default_str("ecgcnn-trace.json");
  sub->add_option("--profile-out", o.profile_out,
                  "with --profile: the per-layer rows to FILE.json or FILE.csv")
      ->needs(profile_flag);
  sub->add_option("--roofline", o.roofline,
                  "with --profile: each layer against the measured peaks, to FILE.svg")
      ->needs(profile_flag);
  sub->add_flag("--device-report", o.device_report,
                "print the study's deployment table (size, preprocessing, latency, CPU, memory, "
                "machine); implies --mode int8 unless --mode is given");
  sub->add_option("--image", o.image,
                  "with --device-report: a scan whose preprocessing is timed (default: a "
                  "synthetic report page)");
  sub->callback([sub] {
    if ((o.device_report || !o.int8_model.empty()) && sub->count("--mode") == 0) o.mode = "int8";
    o.image_size_given = sub->count("--image-size") > 0;
    o.model_given = sub->count("--model") > 0;
    run_bench(o);
  });
}
