#include "kernels/cpu/winograd_choice.h"

#include <atomic>
#include <cstdlib>

#include "kernels/error.h"

namespace ecg::cpu {

namespace {
// -1: no override, else the WinogradMode value set by set_winograd_mode().
std::atomic<int> g_override{-1};

WinogradMode mode_from_env() {
  const char* env = std::getenv("ECG_WINOGRAD");
  if (!env || !*env) return WinogradMode::Auto;
  WinogradMode m;
  ECG_CHECK(parse_winograd_mode(env, m), "ECG_WINOGRAD: unknown value '", env,
            "' (expected auto, on or off)");
  return m;
}

// Static cost model, in units of one multiply-add at the GEMM micro-kernel's
// speed (constants measured on the AMD EPYC of the study machine with
// bench/kernels/winograd.sh, see bench/RESULTS.md, issue 14):
//   direct   = 9 K C P Q N * (1 + kIm2colPerK / K)  (the implicit im2col packs
//              9 C P Q values per image, shared by all K rows)
//   winograd = tiles * (36 K C + kInputTransform * C + kOutputTransform * K)
//              + 36 K C * kWeightTransform  (tiles = N ceil(P/4) ceil(Q/4))
struct CostConstants {
  double im2col_per_k, input_transform, output_transform, weight_transform;
};

CostConstants constants_for(Isa level) {
  switch (level) {
    case Isa::Avx512:
      return {8.0, 60.0, 60.0, 4.0};
    case Isa::Avx2:
      return {6.0, 50.0, 50.0, 4.0};
    default:  // generic / neon: narrower micro-kernels, transforms relatively cheaper
      return {4.0, 30.0, 30.0, 4.0};
  }
}
}  // namespace

const char* winograd_mode_name(WinogradMode mode) {
  switch (mode) {
    case WinogradMode::On:
      return "on";
    case WinogradMode::Off:
      return "off";
    default:
      return "auto";
  }
}

bool parse_winograd_mode(const std::string& text, WinogradMode& out) {
  for (WinogradMode m : {WinogradMode::Auto, WinogradMode::On, WinogradMode::Off})
    if (text == winograd_mode_name(m)) {
      out = m;
      return true;
    }
  return false;
}

WinogradMode winograd_mode() {
  const int o = g_override.load(std::memory_order_relaxed);
  if (o >= 0) return static_cast<WinogradMode>(o);
  static const WinogradMode from_env = mode_from_env();
  return from_env;
}

void set_winograd_mode(WinogradMode mode) {
  g_override.store(static_cast<int>(mode), std::memory_order_relaxed);
}

void reset_winograd_mode() {
  g_override.store(-1, std::memory_order_relaxed);
}

bool winograd_geometry(const Conv2dShape& s) {
  return s.R == 3 && s.S == 3 && s.stride_h == 1 && s.stride_w == 1 && s.pad_top <= 2 &&
         s.pad_left <= 2 && s.pad_bottom <= 2 && s.pad_right <= 2 && s.P >= 1 && s.Q >= 1;
}

bool winograd_pays(const Conv2dShape& s, Isa level) {
  if (level == Isa::Ref) return false;
  const CostConstants k = constants_for(level);
  const double C = s.C, K = s.K;
  const double tiles = static_cast<double>(s.N) * ((s.P + 3) / 4) * ((s.Q + 3) / 4);
  const double direct = 9.0 * K * C * s.P * s.Q * s.N * (1.0 + k.im2col_per_k / K);
  const double wino = tiles * (36.0 * K * C + k.input_transform * C + k.output_transform * K) +
                      36.0 * K * C * k.weight_transform;
  return wino < direct;
}

bool use_winograd(const Conv2dShape& s, Isa level) {
  if (level == Isa::Ref || !winograd_geometry(s)) return false;
  switch (winograd_mode()) {
    case WinogradMode::On:
      return true;
    case WinogradMode::Off:
      return false;
    default:
      return winograd_pays(s, level);
  }
}

const char* conv_algorithm_name(const Conv2dShape& s, Isa level) {
  return use_winograd(s, level) ? "winograd-f43" : "direct";
}

}  // namespace ecg::cpu
