#include "kernels/cpu/winograd_choice.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>

#include "kernels/error.h"
#include "kernels/runtime.h"

namespace ecg::cpu {

namespace {
// -1: no override, else the WinogradMode value set by set_winograd_mode().
std::atomic<int> g_override{-1};

WinogradMode mode_from_env() {
  const char* env = std::getenv("ECG_WINOGRAD");
  if (!env || !*env) return WinogradMode::Auto;
  WinogradMode m;
  ECG_CHECK(parse_winograd_mode(env, m), "ECG_WINOGRAD: unknown value '", env,
            "' (expected auto, on, off or measure)");
  return m;
}

// Static cost model, in units of one multiply-add of the direct convolution
// at the ISA's micro-kernel speed:
//   direct   = 9 K C P Q (1 + im2col_per_k / K)     (the implicit im2col packs
//              9 C values per output pixel, shared by the K rows of the GEMM)
//   winograd = 36 K C round_up(tiles, NR)          (the batched GEMM; the last
//                                                   panel is padded to NR tiles)
//            + per_tile_channel (C + K) tiles       (input and output transforms)
//            + per_filter K C                       (weight transform)
// with tiles = ceil(P/4) ceil(Q/4), for one image (see winograd_pays).
// Constants fitted to single-thread process CPU times (bench/kernels/
// winograd.sh, OMP_WAIT_POLICY=passive, so the load of the shared machine
// does not count) on the study machine's AMD EPYC (Zen 4): ResNet-11/20 3x3
// layers at 224 px and AlexNet conv3-5 at 13 px, batch 1 (bench/RESULTS.md,
// issue 14). In time: the transforms cost about 13 ns per (tile, channel) and
// 33 ns per filter against 45 direct multiply-adds per ns, for AVX2 and
// AVX-512 alike (Zen 4 runs 512-bit FMAs at the 256-bit rate); generic: 10 to
// 18 multiply-adds per ns and 25 ns per (tile, channel), so its transforms
// weigh less in multiply-adds. NEON was not measured: generic constants, its NR.
struct CostConstants {
  int nr;  // tiles per GEMM panel (the micro-kernel's NR)
  double im2col_per_k, per_tile_channel, per_filter;
};

CostConstants constants_for(Isa level) {
  switch (level) {
    case Isa::Avx512:
      return {32, 20.0, 600.0, 1500.0};
    case Isa::Avx2:
      return {24, 20.0, 600.0, 1500.0};
    case Isa::Neon:
      return {12, 10.0, 350.0, 700.0};
    default:
      return {8, 10.0, 350.0, 700.0};
  }
}
}  // namespace

const char* winograd_mode_name(WinogradMode mode) {
  switch (mode) {
    case WinogradMode::On:
      return "on";
    case WinogradMode::Off:
      return "off";
    case WinogradMode::Measure:
      return "measure";
    default:
      return "auto";
  }
}

bool parse_winograd_mode(const std::string& text, WinogradMode& out) {
  for (WinogradMode m :
       {WinogradMode::Auto, WinogradMode::On, WinogradMode::Off, WinogradMode::Measure})
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

// Evaluated for one image whatever N is: the choice must not depend on the
// batch size, or data-parallel ranks (N / ranks images each) would pick
// another algorithm than the one-process run they are compared with, and a
// last partial batch another than the full ones. Per image, both algorithms
// give the same bytes at any N (each tile's sums do not see other images).
bool winograd_pays(const Conv2dShape& s, Isa level) {
  if (level == Isa::Ref) return false;
  const CostConstants k = constants_for(level);
  const double C = s.C, K = s.K;
  const double tiles = static_cast<double>((s.P + 3) / 4) * ((s.Q + 3) / 4);
  const double padded_tiles = std::ceil(tiles / k.nr) * k.nr;
  const double direct = 9.0 * K * C * s.P * s.Q * (1.0 + k.im2col_per_k / K);
  const double wino =
      36.0 * K * C * padded_tiles + k.per_tile_channel * (C + K) * tiles + k.per_filter * K * C;
  return wino < direct;
}

namespace {
using MeasureKey = std::tuple<int, int, int, int, int, int, int, int, int, int, int, int>;
MeasureKey measure_key(const Conv2dShape& s, Isa level) {
  return MeasureKey{s.N,
                    s.C,
                    s.H,
                    s.W,
                    s.K,
                    s.pad_top,
                    s.pad_left,
                    s.pad_bottom,
                    s.pad_right,
                    static_cast<int>(level),
                    ecg::num_threads(),
                    s.R * 16 + s.stride_h};
}
std::mutex g_measured_mutex;
std::map<MeasureKey, bool>& measured_table() {
  static std::map<MeasureKey, bool> table;
  return table;
}
}  // namespace

bool measured_choice(const Conv2dShape& s, Isa level, bool& winograd) {
  std::lock_guard<std::mutex> lock(g_measured_mutex);
  const auto it = measured_table().find(measure_key(s, level));
  if (it == measured_table().end()) return false;
  winograd = it->second;
  return true;
}

void record_measured_choice(const Conv2dShape& s, Isa level, bool winograd) {
  std::lock_guard<std::mutex> lock(g_measured_mutex);
  measured_table()[measure_key(s, level)] = winograd;
}

bool use_winograd(const Conv2dShape& s, Isa level) {
  if (level == Isa::Ref || !winograd_geometry(s)) return false;
  switch (winograd_mode()) {
    case WinogradMode::On:
      return true;
    case WinogradMode::Off:
      return false;
    case WinogradMode::Measure: {
      bool wino = false;
      return measured_choice(s, level, wino) ? wino : winograd_pays(s, level);
    }
    default:
      return winograd_pays(s, level);
  }
}

Conv2dShape winograd_backward_data_shape(const Conv2dShape& s) {
  Conv2dShape g;
  g.N = s.N, g.C = s.K, g.H = s.P, g.W = s.Q, g.K = s.C, g.R = s.R, g.S = s.S;
  g.pad_top = s.R - 1 - s.pad_top, g.pad_bottom = s.R - 1 - s.pad_bottom;
  g.pad_left = s.S - 1 - s.pad_left, g.pad_right = s.S - 1 - s.pad_right;
  conv2d_finalize(g);
  return g;
}

bool use_winograd_backward_data(const Conv2dShape& s, Isa level) {
  return winograd_geometry(s) && use_winograd(winograd_backward_data_shape(s), level);
}

const char* conv_algorithm_name(const Conv2dShape& s, Isa level) {
  return use_winograd(s, level) ? "winograd-f43" : "direct";
}

const char* conv_kernel_name(const Conv2dShape& s, Isa level, bool backward_data) {
  static const char* const kWinogradNames[static_cast<int>(Isa::Count)] = {
      "ref+winograd", "generic+winograd", "avx2+winograd", "avx512+winograd", "neon+winograd"};
  const bool wino = backward_data ? use_winograd_backward_data(s, level) : use_winograd(s, level);
  return wino ? kWinogradNames[static_cast<int>(level)] : isa_name(level);
}

}  // namespace ecg::cpu
