// Winograd F(4,3) against the direct convolution, per layer (issue 14):
//   bench_winograd time [--threads T] [--reps R] [--batch N] [--isa LEVEL]
//     direct vs Winograd milliseconds, forward and backward-data, for every
//     3x3 stride-1 layer of ResNet-11 (and ResNet-20's extra shapes) at 224 px,
//     batch 1 and 16, and AlexNet's conv3-5 (13 px); plus the auto choice.
//   bench_winograd accuracy [--isa LEVEL]
//     max and mean |Winograd - direct| / max |y| per ResNet-11 3x3 layer at
//     224 px, batch 1, He-scaled weights and post-ReLU (half-normal) inputs,
//     and both algorithms' max error against the double scalar reference.
// Output: Markdown tables (bench/RESULTS.md, issue 14). A plain executable,
// not Google Benchmark: each cell is the median of R timed calls after one
// warm-up, the direct and Winograd calls of a layer alternated.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/winograd_choice.h"
#include "kernels/op_table.h"
#include "kernels/ref/conv2d_ref.h"
#include "kernels/runtime.h"

namespace {

using ecg::Conv2dShape;
using ecg::cpu::WinogradMode;

struct Layer {
  const char* name;
  int C, H, K;
  bool same;
};

// ResNet-11's 3x3 stride-1 layers at 224 px (stem, stage0 conv1/conv2,
// stage1/2 conv2), ResNet-20/29's extra block conv1 shapes, AlexNet conv3-5.
const Layer kLayers[] = {
    {"stem_conv 3-16 @224", 3, 224, 16, true},
    {"s0.b0.conv1 16-16 @224", 16, 224, 16, true},
    {"s0.conv2 16-64 @224", 16, 224, 64, true},
    {"s1.conv2 64-128 @112", 64, 112, 128, true},
    {"s2.conv2 128-256 @56", 128, 56, 256, true},
    {"r20 s0.b1.conv1 64-16 @224", 64, 224, 16, true},
    {"r20 s1.b1.conv1 128-64 @112", 128, 112, 64, true},
    {"r20 s2.b1.conv1 256-128 @56", 256, 56, 128, true},
    {"alexnet conv3 256-384 @13", 256, 13, 384, false},
    {"alexnet conv4 384-384 @13", 384, 13, 384, false},
    {"alexnet conv5 384-256 @13", 384, 13, 256, false},
};
constexpr int kResNet11Layers = 5;  // the first five rows

Conv2dShape shape_of(const Layer& l, int N) {
  Conv2dShape s;
  s.N = N, s.C = l.C, s.H = s.W = l.H, s.K = l.K, s.R = s.S = 3;
  if (l.same) s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 1;
  ecg::conv2d_finalize(s);
  return s;
}

// The forward convolution that backward-data of s runs (the choice is made on it).
Conv2dShape backward_data_shape(const Conv2dShape& s) {
  Conv2dShape g = s;
  g.C = s.K, g.K = s.C, g.H = s.P, g.W = s.Q;
  g.pad_top = 2 - s.pad_top, g.pad_left = 2 - s.pad_left;
  g.pad_bottom = 2 - s.pad_bottom, g.pad_right = 2 - s.pad_right;
  ecg::conv2d_finalize(g);
  return g;
}

std::vector<float> normal_vec(size_t n, unsigned seed, double stddev, bool relu) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, static_cast<float>(stddev));
  std::vector<float> v(n);
  for (auto& x : v) x = relu ? std::fabs(d(rng)) : d(rng);
  return v;
}

double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

// Process CPU time (all threads): under load it counts only the time this
// process ran, so with OMP_WAIT_POLICY=passive it measures the work itself.
double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Buffers {
  std::vector<float> x, w, b, y, dy, dx;
  explicit Buffers(const Conv2dShape& s)
      : x(normal_vec(static_cast<size_t>(s.N) * s.C * s.H * s.W, 1, 1.0, true)),
        w(normal_vec(static_cast<size_t>(s.K) * s.C * 9, 2, std::sqrt(2.0 / (s.C * 9)), false)),
        b(normal_vec(static_cast<size_t>(s.K), 3, 0.1, false)),
        y(static_cast<size_t>(s.N) * s.K * s.P * s.Q),
        dy(normal_vec(y.size(), 4, 1.0, false)),
        dx(x.size()) {}
};

struct Timing {
  double direct_ms, wino_ms, direct_cpu_ms, wino_cpu_ms;
};

// Median wall and CPU ms of direct and Winograd for one direction, calls alternated.
Timing time_pair(const Conv2dShape& s, Buffers& b, bool backward, int reps) {
  const auto& t = ecg::ops();
  auto run = [&](WinogradMode m) {
    ecg::cpu::set_winograd_mode(m);
    const double t0 = now_ms(), c0 = cpu_ms();
    if (backward)
      t.conv2d_backward_data.get()(s, b.dy.data(), b.w.data(), b.dx.data());
    else
      t.conv2d_forward.get()(s, b.x.data(), b.w.data(), b.b.data(), b.y.data());
    return std::make_pair(now_ms() - t0, cpu_ms() - c0);
  };
  run(WinogradMode::Off), run(WinogradMode::On);  // warm-up: scratch, caches
  std::vector<double> d, w, dc, wc;
  for (int r = 0; r < reps; ++r) {
    const auto a = run(WinogradMode::Off), b2 = run(WinogradMode::On);
    d.push_back(a.first), dc.push_back(a.second), w.push_back(b2.first), wc.push_back(b2.second);
  }
  return {median(d), median(w), median(dc), median(wc)};
}

void time_table(int reps, const std::vector<int>& batches) {
  const ecg::Isa isa = ecg::active_isa();
  std::printf(
      "ISA %s, %d threads, median of %d calls (ms; GFLOP/s in direct-convolution FLOPs)\n\n",
      ecg::isa_name(isa), ecg::num_threads(), reps);
  std::printf(
      "| layer | batch | dir | direct ms | Winograd ms | speed-up | direct cpu ms | "
      "Winograd cpu ms | cpu speed-up | direct GFLOP/s | Winograd eff. GFLOP/s | auto picks "
      "|\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (int N : batches) {
    for (const Layer& l : kLayers) {
      const Conv2dShape s = shape_of(l, N);
      Buffers b(s);
      for (bool bwd : {false, true}) {
        const Timing tm = time_pair(s, b, bwd, reps);
        const double dm = tm.direct_ms, wm = tm.wino_ms;
        ecg::cpu::set_winograd_mode(WinogradMode::Auto);
        const bool pick = ecg::cpu::use_winograd(bwd ? backward_data_shape(s) : s, isa);
        std::printf(
            "| %s | %d | %s | %.3f | %.3f | %.2fx | %.3f | %.3f | %.2fx | %.1f | %.1f | %s |\n",
            l.name, N, bwd ? "bwd-data" : "fwd", dm, wm, dm / wm, tm.direct_cpu_ms, tm.wino_cpu_ms,
            tm.direct_cpu_ms / tm.wino_cpu_ms, s.flops() / dm * 1e-6, s.flops() / wm * 1e-6,
            pick ? "winograd" : "direct");
        std::fflush(stdout);
      }
    }
  }
}

void accuracy_table() {
  const ecg::Isa isa = ecg::active_isa();
  std::printf("ISA %s; errors relative to max |y| of the layer (batch 1, 224 px)\n\n",
              ecg::isa_name(isa));
  std::printf(
      "| layer | max abs(W-D)/max abs(y) | mean abs(W-D)/max abs(y) | "
      "max abs(W-ref)/max abs(y) | max abs(D-ref)/max abs(y) |\n|---|---|---|---|---|\n");
  const auto& t = ecg::ops();
  for (int i = 0; i < kResNet11Layers; ++i) {
    const Conv2dShape s = shape_of(kLayers[i], 1);
    Buffers b(s);
    std::vector<float> yd(b.y.size()), yw(b.y.size());
    ecg::cpu::set_winograd_mode(WinogradMode::Off);
    t.conv2d_forward.get()(s, b.x.data(), b.w.data(), b.b.data(), yd.data());
    ecg::cpu::set_winograd_mode(WinogradMode::On);
    t.conv2d_forward.get()(s, b.x.data(), b.w.data(), b.b.data(), yw.data());
    std::vector<double> xd(b.x.begin(), b.x.end()), wd(b.w.begin(), b.w.end()),
        bd(b.b.begin(), b.b.end()), yr(b.y.size());
    ecg::ref::conv2d_forward<double>(s, xd.data(), wd.data(), bd.data(), yr.data());
    double ymax = 0, max_wd = 0, sum_wd = 0, max_wr = 0, max_dr = 0;
    for (size_t j = 0; j < yr.size(); ++j) {
      ymax = std::max(ymax, std::fabs(yr[j]));
      const double e = std::fabs(static_cast<double>(yw[j]) - yd[j]);
      max_wd = std::max(max_wd, e), sum_wd += e;
      max_wr = std::max(max_wr, std::fabs(yw[j] - yr[j]));
      max_dr = std::max(max_dr, std::fabs(yd[j] - yr[j]));
    }
    std::printf("| %s | %.2e | %.2e | %.2e | %.2e |\n", kLayers[i].name, max_wd / ymax,
                sum_wd / yr.size() / ymax, max_wr / ymax, max_dr / ymax);
    std::fflush(stdout);
  }
}

int usage() {
  std::fprintf(
      stderr,
      "usage: bench_winograd time|accuracy [--threads T] [--reps R] [--batch N] [--isa LEVEL]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string mode = argv[1];
  int reps = 5;
  std::vector<int> batches = {1, 16};
  try {
    for (int i = 2; i < argc; i += 2) {
      if (i + 1 >= argc) return usage();
      const std::string flag = argv[i], value = argv[i + 1];
      if (flag == "--threads") {
        ecg::set_num_threads(std::stoi(value));
      } else if (flag == "--batch") {
        batches = {std::max(1, std::stoi(value))};
      } else if (flag == "--reps") {
        reps = std::max(1, std::stoi(value));
      } else if (flag == "--isa") {
        ecg::Isa level;
        if (!ecg::parse_isa(value, level)) {
          std::fprintf(stderr, "bench_winograd: unknown ISA level '%s'\n", value.c_str());
          return 2;
        }
        ecg::set_active_isa(level);
      } else {
        return usage();
      }
    }
    if (mode == "time")
      time_table(reps, batches);
    else if (mode == "accuracy")
      accuracy_table();
    else
      return usage();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_winograd: %s\n", e.what());
    return 1;
  }
  return 0;
}
