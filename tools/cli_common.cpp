#include "cli_common.h"

#include <fstream>
#include <string>

#include "core/allocator.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "core/runtime.h"

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

double peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
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
  // The CUDA kernels (kernels/cuda) are tested on the emulator; running a
  // model on a GPU needs a CUDA allocator and kernels registered for
  // DeviceType::CUDA, which this build may not have.
  ECG_CHECK(g.device != "cuda" || device_available(DeviceType::CUDA),
            "--device cuda: no CUDA device available (no GPU, or this build has no CUDA backend)");
}

}  // namespace ecg::cli
