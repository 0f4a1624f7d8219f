#include "cli_common.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/allocator.h"
#include "kernels/cpu/winograd_choice.h"
#include "kernels/cpu_features.h"
#include "kernels/error.h"
#include "kernels/op_table.h"
#include "kernels/runtime.h"
#include "models/checkpoint.h"
#include "models/onnx.h"
#include "quant/int8_runner.h"

namespace ecg::cli {

GlobalOptions& global_options() {
  static GlobalOptions g;
  return g;
}

void add_runtime_flags(CLI::App* sub) {
  auto& g = global_options();
  sub->add_option("--threads", g.threads, "worker threads (default: all cores)")
      ->check(CLI::Range(0, 1024));
  sub->add_option("--isa", g.isa, "force a kernel level: ref, generic, avx2, avx512, neon");
  sub->add_option("--device", g.device, "where tensors and kernels live: cpu (default) or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
}

void add_precision_flag(CLI::App* sub) {
  sub->add_option("--precision", global_options().precision,
                  "int8 model arithmetic on --device cuda: int8 (exact integers, default) or "
                  "fp16 (half2 on the int8 weights)")
      ->check(CLI::IsMember({"int8", "fp16"}));
}

void add_skip_bad_flag(CLI::App* sub, bool& skip_bad) {
  sub->add_flag("--skip-bad", skip_bad,
                "list bad input files (unreadable, corrupt, wrong shape, non-finite) and go on "
                "instead of stopping at the first");
}

InputResults for_each_input(const std::vector<std::string>& inputs, bool skip_bad,
                            const std::function<nlohmann::json(const std::string&)>& one,
                            const std::function<void(const nlohmann::json&)>& print_partial) {
  InputResults out;
  for (const std::string& path : inputs) {
    try {
      for (const auto& r : one(path)) out.results.push_back(r);
    } catch (const Error& e) {
      if (!skip_bad) {
        print_partial(out.results);
        throw;
      }
      std::fprintf(stderr, "warning: skipped: %s\n", e.what());
      out.results.push_back({{"input", path}, {"skipped", true}, {"error", e.what()}});
      out.skipped.push_back(path);
    }
  }
  if (!out.skipped.empty()) {
    std::string names;
    for (const auto& p : out.skipped) names += (names.empty() ? "" : ", ") + p;
    std::fprintf(stderr, "skipped %zu of %zu inputs: %s\n", out.skipped.size(), inputs.size(),
                 names.c_str());
  }
  ECG_CHECK(out.skipped.size() < inputs.size(), "none of the ", inputs.size(),
            " inputs could be used (all skipped)");
  return out;
}

nlohmann::json latency_json(std::vector<double> ms) {
  nlohmann::json j = {{"min", 0.0}, {"median", 0.0}, {"mean", 0.0},
                      {"p99", 0.0}, {"max", 0.0},    {"stddev", 0.0}};
  if (ms.empty()) return j;
  std::sort(ms.begin(), ms.end());
  double sum = 0;
  for (double v : ms) sum += v;
  const double mean = sum / ms.size();
  double var = 0;
  for (double v : ms) var += (v - mean) * (v - mean);
  // The nearest rank: with fewer than 100 samples p99 is the maximum.
  const size_t p99 = std::min(ms.size() - 1, static_cast<size_t>(0.99 * (ms.size() - 1) + 0.5));
  const size_t n = ms.size();
  j["min"] = ms.front();
  j["median"] = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  j["mean"] = mean;
  j["p99"] = ms[p99];
  j["max"] = ms.back();
  j["stddev"] = n > 1 ? std::sqrt(var / (n - 1)) : 0.0;
  return j;
}

nlohmann::json run_json(const std::string& model, const std::string& kernel, int image_size,
                        int64_t batch) {
  return {{"model", model},   {"isa", isa_name(active_isa())},
          {"kernel", kernel}, {"image_size", image_size},
          {"batch", batch},   {"threads", num_threads()}};
}

std::string fp32_kernel_name() {
  if (global_options().device == "cuda") return "cuda";
  const auto& slot = ops().conv2d_forward;
  return slot.available() ? isa_name(slot.resolved_isa_at(DeviceType::CPU, active_isa())) : "none";
}

double peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

void default_training_to_direct_convolution() {
  if (std::getenv("ECG_WINOGRAD") == nullptr) cpu::set_winograd_mode(cpu::WinogradMode::Off);
}

void apply_global_options() {
  auto& g = global_options();
  if (g.threads > 0) set_num_threads(g.threads);
  if (!g.isa.empty()) {
    Isa isa;
    ECG_CHECK(parse_isa(g.isa, isa), "--isa: unknown level '", g.isa,
              "' (expected ref, generic, avx2, avx512 or neon)");
    set_active_isa(isa);
  }
  // A CUDA engine linked into this program (a GPU build, or ecgcnn_cuda_emu
  // with the emulator) installs itself on first use; the plain CPU build has
  // none and says so.
  ECG_CHECK(g.precision == "int8" || g.device == "cuda", "--precision ", g.precision,
            " runs on --device cuda only (the CPU runs int8 models with its integer kernels)");
  if (g.device == "cuda") {
    std::string why;
    ECG_CHECK(install_device(DeviceType::CUDA, &why), "--device cuda: ", why);
  }
}

void require_cpu_device(const char* command) {
  ECG_CHECK(global_options().device != "cuda", command,
            " runs on the CPU only: --device cuda is taken by train, eval, infer and bench");
}

Device selected_device() {
  return global_options().device == "cuda" ? Device::cuda() : Device::cpu();
}

std::unique_ptr<quant::Int8GraphRunner> int8_runner(const quant::Int8Model& m, int max_batch) {
  const GlobalOptions& g = global_options();
  return quant::make_int8_runner(m, {g.device, g.precision}, max_batch);
}

namespace {
bool has_extension(const std::string& path, const std::string& ext) {
  if (path.size() < ext.size()) return false;
  for (size_t i = 0; i < ext.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(path[path.size() - ext.size() + i])) != ext[i])
      return false;
  return true;
}
}  // namespace

LoadedCheckpoint load_float_model(const std::string& path) {
  if (has_extension(path, ".onnx")) return import_onnx(path);
  return load_checkpoint(path);  // validates it as safetensors, whatever its name
}

}  // namespace ecg::cli
