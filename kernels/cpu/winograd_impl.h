// Winograd F(4,3) convolution for 3x3 stride-1 layers (Lavin & Gray 2015),
// included by conv_impl.h in each ISA unit after gemm_driver.h, so avx2,
// avx512, generic and neon each compile it with their own flags and their own
// micro-kernel.
//
// Each output tile of 4x4 pixels needs a 6x6 input patch d and, per
// (output k, input c) pair, the 6x6 transformed filter U = G g G^T:
//   V = B^T d B (input transform), M_xi[K, tiles] = U_xi[K, C] * V_xi[C, tiles]
//   for each of the 36 points xi (the batched GEMM, 36 K C multiply-adds per
//   tile against 144 K C for the direct convolution), Y = A^T M A + bias.
// Transform points 0, +-1, +-2, +-1/2 (those of cuDNN, NNPACK and XNNPACK).
//
// Layouts chosen so the ISA micro-kernel runs without any packing pass:
//  U  [36][K/MR panels][C][MR]  (packed A panels, built once per call)
//  V  [36][tile panels][C][NR]  (packed B panels: the input transform writes
//                                them directly, NR tiles per panel)
//  M  [36][K][tiles]            (GEMM output, read by the output transform)
// Every transform runs over NR tiles at a time, so it vectorises across tiles.
// The weight transform runs every call: 36 + 160 flops per (k, c) filter, about
// 1 / tiles of the GEMM work (ResNet-11 at 224 px: 196 to 3136 tiles per
// image), so no cache keyed by the weight pointer (stale after in-place
// optimizer updates).
//
// Determinism: each output sums its C products in the fixed KC-block order of
// the micro-kernel; how the tiles are split into jobs never changes that, so
// the bytes are the same at any thread count, as for the direct algorithm.
#pragma once
#include <algorithm>

#include "kernels/cpu/winograd_choice.h"
#include "kernels/kernel_api.h"

namespace ecg::cpu::ECG_CPU_NS {

constexpr int kWinoOut = 4;      // output tile side (F(4,3))
constexpr int kWinoPatch = 6;    // input patch side = 4 + 3 - 1
constexpr int kWinoPoints = 36;  // transform points per tile

// The ISA level this unit registered as (register_into sets it), for the cost model.
inline Isa& unit_isa() {
  static Isa level = Isa::Generic;
  return level;
}

// G g G^T for `lanes` filters at once: g[9][NR] (taps r*3+t), u[36][NR].
inline void wino_filter_transform(const float* g, float* u, int lanes) {
  alignas(64) float t[6 * 3 * kNR];  // G g: 6 rows x 3 columns
  for (int col = 0; col < 3; ++col) {
    const float *g0 = g + (0 * 3 + col) * kNR, *g1 = g + (1 * 3 + col) * kNR,
                *g2 = g + (2 * 3 + col) * kNR;
    float* o = t + col * kNR;  // row i at t + (i*3 + col)*NR
#pragma omp simd
    for (int j = 0; j < lanes; ++j) {
      const float a = g0[j], b = g1[j], c = g2[j];
      o[0 * 3 * kNR + j] = 0.25f * a;
      o[1 * 3 * kNR + j] = (-a - b - c) * (1.f / 6);
      o[2 * 3 * kNR + j] = (-a + b - c) * (1.f / 6);
      o[3 * 3 * kNR + j] = a * (1.f / 24) + b * (1.f / 12) + c * (1.f / 6);
      o[4 * 3 * kNR + j] = a * (1.f / 24) - b * (1.f / 12) + c * (1.f / 6);
      o[5 * 3 * kNR + j] = c;
    }
  }
  for (int row = 0; row < 6; ++row) {
    const float *t0 = t + (row * 3 + 0) * kNR, *t1 = t + (row * 3 + 1) * kNR,
                *t2 = t + (row * 3 + 2) * kNR;
    float* o = u + row * 6 * kNR;
#pragma omp simd
    for (int j = 0; j < lanes; ++j) {
      const float a = t0[j], b = t1[j], c = t2[j];
      o[0 * kNR + j] = 0.25f * a;
      o[1 * kNR + j] = (-a - b - c) * (1.f / 6);
      o[2 * kNR + j] = (-a + b - c) * (1.f / 6);
      o[3 * kNR + j] = a * (1.f / 24) + b * (1.f / 12) + c * (1.f / 6);
      o[4 * kNR + j] = a * (1.f / 24) - b * (1.f / 12) + c * (1.f / 6);
      o[5 * kNR + j] = c;
    }
  }
}

// U for the K panels [p0, p1) (MR output channels each): filter (o, i) is
// w[o][i] (forward) or, with flip, the spatially flipped w[i][o] of the
// convolution whose backward-data this is. MR filters x NR input channels are
// transformed at once and written panel-contiguously: scattering each filter's
// 36 values across the 36 point matrices (36 pages apart) cost 260 cycles per
// filter, 3x the whole direct convolution for AlexNet's 13 px layers.
inline void wino_transform_weights(int K, int C, const float* w, bool flip, int p0, int p1,
                                   float* up) {
  const long point_stride = static_cast<long>(round_up(K, kMR)) * C;
  alignas(64) float g[9 * kNR], u[kMR][kWinoPoints * kNR];
  for (int panel = p0; panel < p1; ++panel) {
    for (int c0 = 0; c0 < C; c0 += kNR) {
      const int lanes = std::min(kNR, C - c0);
      for (int i = 0; i < kMR; ++i) {
        const int k = panel * kMR + i;
        if (k >= K) {  // rows past K: zero, so the micro-kernel reads defined values
          std::fill(u[i], u[i] + kWinoPoints * kNR, 0.f);
          continue;
        }
        for (int j = 0; j < lanes; ++j) {
          const int c = c0 + j;
          const float* src = flip ? w + (static_cast<long>(c) * K + k) * 9
                                  : w + (static_cast<long>(k) * C + c) * 9;
          for (int q = 0; q < 9; ++q) g[q * kNR + j] = src[flip ? 8 - q : q];
        }
        wino_filter_transform(g, u[i], lanes);
      }
      for (int xi = 0; xi < kWinoPoints; ++xi) {
        float* dst = up + xi * point_stride + (static_cast<long>(panel) * C + c0) * kMR;
        for (int j = 0; j < lanes; ++j)
          for (int i = 0; i < kMR; ++i) dst[j * kMR + i] = u[i][xi * kNR + j];
      }
    }
  }
}

// Lanes [start, start + len) of a panel that hold consecutive tiles of one
// tile row: their patches (or output blocks) sit side by side, 4 pixels apart.
struct LaneRuns {
  int start[kNR], len[kNR];
  int count = 0;
  bool covered[kNR];  // lane belongs to one of the runs
};

// Where each of the NR tiles of a panel reads its patch and writes its
// output: image, top row, left column. `inner` runs have their whole 6x6
// patches inside the image, `full` runs their whole 4x4 outputs inside y:
// those are gathered and scattered with vector (de)interleaves, the others
// pixel by pixel with bounds checks.
struct WinoLanes {
  long img_off[kNR];  // the image index n
  int row[kNR], col[kNR];
  int count = 0;  // valid tiles (the rest are padding lanes)
  LaneRuns inner, full;
};

template <class Pred>
void find_runs(const WinoLanes& l, Pred ok, LaneRuns& runs) {
  runs.count = 0;
  for (int j = 0; j < kNR; ++j) runs.covered[j] = false;
  for (int j = 0; j < l.count;) {
    if (!ok(j)) {
      ++j;
      continue;
    }
    const int start = j;
    while (j + 1 < l.count && ok(j + 1) && l.img_off[j + 1] == l.img_off[j] &&
           l.row[j + 1] == l.row[j] && l.col[j + 1] == l.col[j] + kWinoOut)
      ++j;
    runs.start[runs.count] = start, runs.len[runs.count] = j - start + 1, ++runs.count;
    for (int u = start; u <= j; ++u) runs.covered[u] = true;
    ++j;
  }
}

inline void wino_decode(const Conv2dShape& s, long first_tile, int count, int tiles_w,
                        int tiles_per_image, WinoLanes& l) {
  l.count = count;
  for (int j = 0; j < count; ++j) {
    const long t = first_tile + j;
    const int n = static_cast<int>(t / tiles_per_image),
              rem = static_cast<int>(t % tiles_per_image);
    l.img_off[j] = n;
    l.row[j] = (rem / tiles_w) * kWinoOut;
    l.col[j] = (rem % tiles_w) * kWinoOut;
  }
  find_runs(
      l,
      [&](int j) {
        const int ih0 = l.row[j] - s.pad_top, iw0 = l.col[j] - s.pad_left;
        return ih0 >= 0 && iw0 >= 0 && ih0 + kWinoPatch <= s.H && iw0 + kWinoPatch <= s.W;
      },
      l.inner);
  find_runs(
      l, [&](int j) { return l.row[j] + kWinoOut <= s.P && l.col[j] + kWinoOut <= s.Q; }, l.full);
}

// 1-D B^T over six strided inputs: in k at in + k * stride, out k at out + k * ostride.
inline void wino_bt(const float* in, long stride, float* out, long ostride) {
#pragma omp simd
  for (int j = 0; j < kNR; ++j) {
    const float d0 = in[j], d1 = in[stride + j], d2 = in[2 * stride + j], d3 = in[3 * stride + j],
                d4 = in[4 * stride + j], d5 = in[5 * stride + j];
    out[j] = 4.f * d0 - 5.f * d2 + d4;
    out[ostride + j] = -4.f * (d1 + d2) + d3 + d4;
    out[2 * ostride + j] = 4.f * (d1 - d2) - d3 + d4;
    out[3 * ostride + j] = 2.f * (d3 - d1) - d2 + d4;
    out[4 * ostride + j] = 2.f * (d1 - d3) - d2 + d4;
    out[5 * ostride + j] = 4.f * d1 - 5.f * d3 + d5;
  }
}

// 1-D A^T: six strided inputs to four outputs.
inline void wino_at(const float* in, long stride, float* out, long ostride) {
#pragma omp simd
  for (int j = 0; j < kNR; ++j) {
    const float m0 = in[j], m1 = in[stride + j], m2 = in[2 * stride + j], m3 = in[3 * stride + j],
                m4 = in[4 * stride + j], m5 = in[5 * stride + j];
    const float a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
    out[j] = m0 + a + c;
    out[ostride + j] = b + 2.f * d;
    out[2 * ostride + j] = a + 4.f * c;
    out[3 * ostride + j] = b + 8.f * d + m5;
  }
}

// Gathers channel c's 6x6 patches of the panel's tiles into patch[36][NR]
// (zeros outside the image and in padding lanes). Inner runs: columns 0-3 of
// each patch row are a stride-4 de-interleave of the image row (vectorised),
// columns 4 and 5 are columns 0 and 1 of the next tile.
inline void wino_gather(const Conv2dShape& s, const float* x, int c, const WinoLanes& l,
                        float* patch) {
  const long HW = static_cast<long>(s.H) * s.W;
  for (int g = 0; g < l.inner.count; ++g) {
    const int j0 = l.inner.start[g], len = l.inner.len[g];
    const float* xc = x + (l.img_off[j0] * s.C + c) * HW;
    const float* src0 =
        xc + static_cast<long>(l.row[j0] - s.pad_top) * s.W + (l.col[j0] - s.pad_left);
    for (int r = 0; r < kWinoPatch; ++r) {
      const float* src = src0 + static_cast<long>(r) * s.W;
      float* p0 = patch + (r * 6) * kNR + j0;
      float *p1 = p0 + kNR, *p2 = p0 + 2 * kNR, *p3 = p0 + 3 * kNR, *p4 = p0 + 4 * kNR,
            *p5 = p0 + 5 * kNR;
#pragma omp simd
      for (int u = 0; u < len; ++u) {
        p0[u] = src[4 * u], p1[u] = src[4 * u + 1];
        p2[u] = src[4 * u + 2], p3[u] = src[4 * u + 3];
      }
      for (int u = 0; u + 1 < len; ++u) p4[u] = p0[u + 1], p5[u] = p1[u + 1];
      p4[len - 1] = src[4 * (len - 1) + 4], p5[len - 1] = src[4 * (len - 1) + 5];
    }
  }
  for (int j = 0; j < kNR; ++j) {
    if (l.inner.covered[j]) continue;
    if (j >= l.count) {
      for (int q = 0; q < kWinoPoints; ++q) patch[q * kNR + j] = 0.f;
      continue;
    }
    const float* xc = x + (l.img_off[j] * s.C + c) * HW;
    const int ih0 = l.row[j] - s.pad_top, iw0 = l.col[j] - s.pad_left;
    for (int r = 0; r < kWinoPatch; ++r) {
      const int ih = ih0 + r;
      const bool row_in = ih >= 0 && ih < s.H;
      for (int t = 0; t < kWinoPatch; ++t) {
        const int iw = iw0 + t;
        patch[(r * 6 + t) * kNR + j] =
            row_in && iw >= 0 && iw < s.W ? xc[static_cast<long>(ih) * s.W + iw] : 0.f;
      }
    }
  }
}

// Input transform of one panel for every channel into V (packed B layout).
inline void wino_input_panel(const Conv2dShape& s, const float* x, const WinoLanes& l, int panel,
                             int panels, float* v) {
  alignas(64) float patch[kWinoPoints * kNR], tmp[kWinoPoints * kNR];
  const long point_stride = static_cast<long>(panels) * s.C * kNR;
  for (int c = 0; c < s.C; ++c) {
    wino_gather(s, x, c, l, patch);
    // Columns: for each patch column t, B^T down the rows.
    for (int t = 0; t < kWinoPatch; ++t) wino_bt(patch + t * kNR, 6 * kNR, tmp + t * kNR, 6 * kNR);
    // Rows: for each row r, B^T across the columns, straight into V.
    float* dst = v + (static_cast<long>(panel) * s.C + c) * kNR;
    for (int r = 0; r < kWinoPatch; ++r)
      wino_bt(tmp + r * 6 * kNR, kNR, dst + r * 6 * point_stride, point_stride);
  }
}

// Output transform of one panel for every output channel: Y = A^T M A + bias.
inline void wino_output_panel(const Conv2dShape& s, const float* m, long ldm, int panel,
                              const WinoLanes& l, const float* bias, float* y) {
  alignas(64) float tmp[4 * 6 * kNR], out[16 * kNR];
  const long point_stride = static_cast<long>(s.K) * ldm;
  const long PQ = static_cast<long>(s.P) * s.Q;
  for (int k = 0; k < s.K; ++k) {
    const float* src = m + k * ldm + static_cast<long>(panel) * kNR;
    for (int t = 0; t < kWinoPatch; ++t)
      wino_at(src + t * point_stride, 6 * point_stride, tmp + t * kNR, 6 * kNR);
    for (int r = 0; r < kWinoOut; ++r) wino_at(tmp + r * 6 * kNR, kNR, out + r * 4 * kNR, kNR);
    const float b = bias ? bias[k] : 0.f;
    // Full runs: the 4x4 blocks of consecutive tiles interleave into whole
    // output rows (vectorised stores); the rest pixel by pixel.
    for (int g = 0; g < l.full.count; ++g) {
      const int j0 = l.full.start[g], len = l.full.len[g];
      float* yk = y + (l.img_off[j0] * s.K + k) * PQ;
      for (int r = 0; r < kWinoOut; ++r) {
        float* dst = yk + static_cast<long>(l.row[j0] + r) * s.Q + l.col[j0];
        const float* o0 = out + (r * 4) * kNR + j0;
        const float *o1 = o0 + kNR, *o2 = o0 + 2 * kNR, *o3 = o0 + 3 * kNR;
#pragma omp simd
        for (int u = 0; u < len; ++u) {
          dst[4 * u] = o0[u] + b, dst[4 * u + 1] = o1[u] + b;
          dst[4 * u + 2] = o2[u] + b, dst[4 * u + 3] = o3[u] + b;
        }
      }
    }
    for (int j = 0; j < l.count; ++j) {
      if (l.full.covered[j]) continue;
      float* yk = y + (l.img_off[j] * s.K + k) * PQ;
      const int rows = std::min(kWinoOut, s.P - l.row[j]),
                cols = std::min(kWinoOut, s.Q - l.col[j]);
      for (int r = 0; r < rows; ++r) {
        float* dst = yk + static_cast<long>(l.row[j] + r) * s.Q + l.col[j];
        for (int t = 0; t < cols; ++t) dst[t] = out[(r * 4 + t) * kNR + j] + b;
      }
    }
  }
}

// M[xi] = U[xi] * V[xi] for the job's panels, through the unit's micro-kernel
// in KC blocks of C (the panels are already in its packed layouts).
inline void wino_batched_gemm(const Conv2dShape& s, const float* up, const float* v, int panels,
                              int tiles, float* m, long ldm) {
  const int C = s.C, K = s.K, KC = MicroKernel::KC;
  const long u_point = static_cast<long>(round_up(K, kMR)) * C;
  const long v_point = static_cast<long>(panels) * C * kNR;
  for (int xi = 0; xi < kWinoPoints; ++xi) {
    const float* uxi = up + xi * u_point;
    const float* vxi = v + xi * v_point;
    float* mxi = m + static_cast<long>(xi) * K * ldm;
    for (int jp = 0; jp < panels; ++jp) {
      const int n = std::min(kNR, tiles - jp * kNR);
      const float* vp = vxi + static_cast<long>(jp) * C * kNR;
      for (int pc = 0; pc < C; pc += KC) {
        const int kc = std::min(KC, C - pc);
        for (int ir = 0; ir < K; ir += kMR)
          MicroKernel::run(kc, uxi + static_cast<long>(ir) * C + static_cast<long>(pc) * kMR,
                           vp + static_cast<long>(pc) * kNR, mxi + ir * ldm + jp * kNR, ldm, pc > 0,
                           std::min(kMR, K - ir), n);
      }
    }
  }
}

// Panels of NR tiles per job: V and M of one job (36 (C + K) floats per tile)
// fit in about 512 KiB of L2, at least one panel, at most four.
inline int wino_panels_per_job(const Conv2dShape& s) {
  const long per_panel = static_cast<long>(kWinoPoints) * (s.C + s.K) * kNR * 4;
  return static_cast<int>(std::max(1L, std::min(4L, (512L << 10) / per_panel)));
}

// y = conv(x, w) + bias for a 3x3 stride-1 shape s (winograd_geometry). With
// flip, w holds the weights [s.C][s.K][3][3] of the convolution whose
// backward-data this is, used flipped and transposed.
inline void wino_conv(const Conv2dShape& s, const float* x, const float* w, bool flip,
                      const float* bias, float* y) {
  const int tiles_h = (s.P + kWinoOut - 1) / kWinoOut, tiles_w = (s.Q + kWinoOut - 1) / kWinoOut;
  const int per_image = tiles_h * tiles_w;
  const long tiles = static_cast<long>(s.N) * per_image;
  const long total_panels = (tiles + kNR - 1) / kNR;
  const int threads = std::max(1, ecg::num_threads());
  const int job_panels = static_cast<int>(
      std::max(1L, std::min<long>(wino_panels_per_job(s), (total_panels + threads - 1) / threads)));
  const long jobs = (total_panels + job_panels - 1) / job_panels;
  float* up =
      thread_scratch(kScratchWeights, static_cast<size_t>(kWinoPoints) * round_up(s.K, kMR) * s.C);
  const int team = static_cast<int>(std::min<long>(threads, std::max<long>(jobs, 1)));
#pragma omp parallel num_threads(team)
  {
    const int T = omp_get_num_threads(), me = omp_get_thread_num();
    int p0, p1;
    split_range((s.K + kMR - 1) / kMR, T, me, 1, p0, p1);
    if (p1 > p0) wino_transform_weights(s.K, s.C, w, flip, p0, p1, up);
#pragma omp barrier
    const long ldm = static_cast<long>(job_panels) * kNR;
    float* v = thread_scratch(kScratchPackB, static_cast<size_t>(kWinoPoints) * s.C * ldm);
    float* m = thread_scratch(kScratchTile, static_cast<size_t>(kWinoPoints) * s.K * ldm);
#pragma omp for schedule(dynamic, 1)
    for (long job = 0; job < jobs; ++job) {
      const long first = job * job_panels * kNR;
      const int count = static_cast<int>(std::min<long>(ldm, tiles - first));
      const int panels = (count + kNR - 1) / kNR;
      WinoLanes lanes[4];
      for (int p = 0; p < panels; ++p) {
        wino_decode(s, first + p * kNR, std::min(kNR, count - p * kNR), tiles_w, per_image,
                    lanes[p]);
        wino_input_panel(s, x, lanes[p], p, panels, v);
      }
      wino_batched_gemm(s, up, v, panels, count, m, ldm);
      for (int p = 0; p < panels; ++p) wino_output_panel(s, m, ldm, p, lanes[p], bias, y);
    }
  }
}

}  // namespace ecg::cpu::ECG_CPU_NS
