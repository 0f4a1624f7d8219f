// Convolution forward / backward-data / backward-weights on top of the blocked
// GEMM driver (gemm_driver.h), included by each ISA unit after it.
//
// API layouts: x NCHW, w OIHW (K, C, R, S), y NKPQ; padding may be asymmetric.
// Accumulation in float. Outputs are overwritten.
//
// Algorithms (one per direction, valid for every shape):
//  forward          Y_n[K, PQ] = W[K, CRS] * col_n[CRS, PQ] with an implicit
//                   im2col: the B packer reads the image directly, so only one
//                   KC x NC block of col exists per thread (bounded scratch).
//                   1x1 stride-1 unpadded layers read x as a dense matrix.
//  backward data    stride 1 with pads <= kernel-1: the forward kernel on dy
//                   with spatially flipped, channel-swapped weights (no scatter).
//                   Otherwise dcol = W^T dy in column tiles, then col2im adds.
//  backward weights dW[K, CRS] = sum_n dY_n[K, PQ] * col_n^T[PQ, CRS], implicit
//                   transposed im2col packer; db = row sums of dY. The batch is
//                   cut into at most kDwMaxChunks groups fixed by N, whose partial
//                   dW sums are added in group order: the result does not depend
//                   on the thread count (splitting dW alone made every thread read
//                   and pack all of dY).
//  Winograd F(4,3)  3x3 stride-1 forward and backward-data where
//                   use_winograd() picks it (winograd_impl.h, winograd_choice.h).
// Weights are packed per call: packing costs K*CRS, against K*CRS*N*P*Q
// multiply-adds, under 1 % for every layer of the study's models at batch 1,
// so no cache keyed by pointer (which would go stale on in-place updates).
#pragma once
#include <algorithm>
#include <chrono>
#include <cstring>

#include "kernels/kernel_api.h"

#ifdef _OPENMP
#include <omp.h>
#else
inline int omp_get_thread_num() {
  return 0;
}
inline int omp_get_num_threads() {
  return 1;
}
#endif

#include "kernels/cpu/winograd_impl.h"

namespace ecg::cpu::ECG_CPU_NS {

// Decoded kernel taps of GEMM rows/columns (c, r, t), computed once per pack
// call so the inner loops do no integer division.
struct Taps {
  long chan_off[MicroKernel::KC > kNR ? MicroKernel::KC : kNR];
  int r[MicroKernel::KC > kNR ? MicroKernel::KC : kNR];
  int t[MicroKernel::KC > kNR ? MicroKernel::KC : kNR];
  void decode(const Conv2dShape& sh, int first, int count) {
    const int RS = sh.R * sh.S;
    int c = first / RS, rem = first % RS, r = rem / sh.S, t = rem % sh.S;
    for (int i = 0; i < count; ++i) {
      chan_off[i] = static_cast<long>(c) * sh.H * sh.W, this->r[i] = r, this->t[i] = t;
      if (++t == sh.S) {
        t = 0;
        if (++r == sh.R) r = 0, ++c;
      }
    }
  }
};

// Runs of consecutive output positions (p, q..q+len) inside one output row:
// within a run the source pixels of any tap form one strided line.
constexpr int kMaxRuns = MicroKernel::NC > MicroKernel::KC ? MicroKernel::NC : MicroKernel::KC;
struct Runs {
  int start[kMaxRuns], len[kMaxRuns], ih0[kMaxRuns], iw0[kMaxRuns];
  int count = 0;
  void build(const Conv2dShape& sh, int first_pq, int n) {
    count = 0;
    int p = first_pq / sh.Q, q = first_pq % sh.Q, j = 0;
    while (j < n) {
      const int l = std::min(n - j, sh.Q - q);
      start[count] = j, len[count] = l;
      ih0[count] = p * sh.stride_h - sh.pad_top, iw0[count] = q * sh.stride_w - sh.pad_left;
      ++count;
      j += l, q = 0, ++p;
    }
  }
};

// [lo, hi) of u in [0, n) with 0 <= base + u * stride < W.
inline void valid_span(int base, int stride, int W, int n, int& lo, int& hi) {
  if (stride == 1) {
    lo = std::max(0, -base);
    hi = std::min(n, W - base);
  } else {
    lo = base >= 0 ? 0 : (-base + stride - 1) / stride;
    hi = base >= W ? 0 : (W - base + stride - 1) / stride;
    hi = std::min(hi, n);
  }
  lo = std::min(lo, n);
  hi = std::max(lo, hi);
}

// B(row = (c, r, t), col = (p, q)) = x[c, p*sh - pt + r, q*sw - pl + t] or 0.
// Packing walks each GEMM row across the whole block, one output row (run) at
// a time, and cuts runs only at panel boundaries: per-panel bookkeeping made
// packing cost as much as the FMAs for layers with few output channels.
struct Im2colB {
  const float* x;  // image base
  const Conv2dShape* s;
  int col_base;  // first output position of this job
  void pack(int k0, int j0, int kc, int nc, float* dst) const {
    const Conv2dShape& sh = *s;
    Taps taps;
    taps.decode(sh, k0, kc);
    Runs runs;
    runs.build(sh, col_base + j0, nc);
    const long panel_stride = static_cast<long>(kc) * kNR;
    for (int kk = 0; kk < kc; ++kk) {
      const float* xc = x + taps.chan_off[kk];
      const int r = taps.r[kk], t = taps.t[kk];
      float* row = dst + kk * kNR;
      for (int g = 0; g < runs.count; ++g) {
        const int len = runs.len[g], ih = runs.ih0[g] + r, iw0 = runs.iw0[g] + t;
        int lo = 0, hi = 0;
        if (ih >= 0 && ih < sh.H) valid_span(iw0, sh.stride_w, sh.W, len, lo, hi);
        const float* src = xc + static_cast<long>(ih) * sh.W + iw0;
        // Split the run at panel boundaries.
        int j = runs.start[g], u = 0;
        while (u < len) {
          const int off = j % kNR, chunk = std::min(len - u, kNR - off);
          float* d = row + (j / kNR) * panel_stride + off - u;  // d[u'] for u' in [u, u+chunk)
          const int end = u + chunk;
          const int a = std::min(std::max(lo, u), end), b = std::max(std::min(hi, end), a);
          for (int v = u; v < a; ++v) d[v] = 0.f;
          if (sh.stride_w == 1)
            for (int v = a; v < b; ++v) d[v] = src[v];
          else
            for (int v = a; v < b; ++v) d[v] = src[v * sh.stride_w];
          for (int v = b; v < end; ++v) d[v] = 0.f;
          u = end;
          j += chunk;
        }
      }
      if (nc % kNR)
        for (int u = nc % kNR; u < kNR; ++u) row[(nc / kNR) * panel_stride + u] = 0.f;
    }
  }
};

// B(row = (p, q), col = (c, r, t)) = the same image element: the transpose of
// Im2colB, for dW = dY * col^T.
struct Im2colTB {
  const float* x;
  const Conv2dShape* s;
  int col_base;  // first (c, r, t) column of this job
  void pack(int k0, int j0, int kc, int nc, float* dst) const {
    const Conv2dShape& sh = *s;
    const int CRS = sh.C * sh.R * sh.S;
    Runs runs;
    runs.build(sh, k0, kc);
    Taps taps;
    for (int jp = 0; jp < nc; jp += kNR) {
      const int first = col_base + j0 + jp;
      const int cols = std::min(std::min(kNR, nc - jp), CRS - first);
      taps.decode(sh, first, std::max(cols, 0));
      float* d = dst + static_cast<long>(jp) * kc;
      for (int jj = 0; jj < kNR; ++jj) {
        if (jj >= cols) {
          for (int kk = 0; kk < kc; ++kk) d[kk * kNR + jj] = 0.f;
          continue;
        }
        const float* xc = x + taps.chan_off[jj];
        const int r = taps.r[jj], t = taps.t[jj];
        for (int g = 0; g < runs.count; ++g) {
          float* dd = d + static_cast<long>(runs.start[g]) * kNR + jj;
          const int seg = runs.len[g], ih = runs.ih0[g] + r;
          if (ih < 0 || ih >= sh.H) {
            for (int u = 0; u < seg; ++u) dd[u * kNR] = 0.f;
            continue;
          }
          const int iw0 = runs.iw0[g] + t;
          int lo, hi;
          valid_span(iw0, sh.stride_w, sh.W, seg, lo, hi);
          const float* src = xc + static_cast<long>(ih) * sh.W + iw0;
          for (int u = 0; u < lo; ++u) dd[u * kNR] = 0.f;
          for (int u = lo; u < hi; ++u) dd[u * kNR] = src[u * sh.stride_w];
          for (int u = hi; u < seg; ++u) dd[u * kNR] = 0.f;
        }
      }
    }
  }
};

inline bool is_dense_1x1(const Conv2dShape& s) {
  return s.R == 1 && s.S == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_top == 0 &&
         s.pad_left == 0 && s.P == s.H && s.Q == s.W;
}

inline void conv2d_forward_direct(const Conv2dShape& s, const float* x, const float* w,
                                  const float* bias, float* y) {
  const int PQ = s.P * s.Q, CRS = s.C * s.R * s.S;
  const long HW = static_cast<long>(s.H) * s.W;
  const int threads = std::max(1, ecg::num_threads());
  // Whole images per job when the batch covers the threads; otherwise split
  // each image's output columns so batch 1 still uses every core.
  const int chunks = s.N >= threads ? 1 : std::min((threads + s.N - 1) / s.N, (PQ + kNR - 1) / kNR);
  const int jobs = s.N * chunks;
  const bool dense = is_dense_1x1(s);
  const DenseA pa{w, CRS, false, 1.f};
#pragma omp parallel for num_threads(std::min(threads, jobs)) schedule(dynamic, 1)
  for (int job = 0; job < jobs; ++job) {
    const int n = job / chunks;
    int lo, hi;
    split_range(PQ, chunks, job % chunks, kNR, lo, hi);
    if (hi <= lo) continue;
    float* yn = y + static_cast<long>(n) * s.K * PQ;
    const float* xn = x + static_cast<long>(n) * s.C * HW;
    if (dense)
      gemm_serial(s.K, hi - lo, CRS, pa, DenseB{xn + lo, HW, false}, yn + lo, PQ, false, bias);
    else
      gemm_serial(s.K, hi - lo, CRS, pa, Im2colB{xn, &s, lo}, yn + lo, PQ, false, bias);
  }
}

inline void conv2d_backward_data_direct(const Conv2dShape& s, const float* dy, const float* w,
                                        float* dx) {
  const int RS = s.R * s.S, CRS = s.C * RS, PQ = s.P * s.Q;
  const long HW = static_cast<long>(s.H) * s.W;
  // The flipped-kernel convolution computes H*W outputs over a dy padded by
  // kernel-1-pad, so it does H*W / (P*Q) times the useful multiply-adds: 1
  // for "same" layers, but 2.5x for AlexNet's 11x11 valid conv2 (27x27 from
  // 17x17), where it took half of a training step. Past 1/8 extra work the
  // GEMM-and-scatter path below is cheaper (its scatter is one add per dcol
  // element, against K multiply-adds to make it).
  const bool little_padding_work = HW * 8 <= static_cast<long>(PQ) * 9;
  if (little_padding_work && s.stride_h == 1 && s.stride_w == 1 && s.pad_top <= s.R - 1 &&
      s.pad_bottom <= s.R - 1 && s.pad_left <= s.S - 1 && s.pad_right <= s.S - 1 &&
      s.P + s.R - 1 - s.pad_top - s.pad_bottom == s.H &&
      s.Q + s.S - 1 - s.pad_left - s.pad_right == s.W) {
    // dx = conv(dy, w') with w'[c, k, r, t] = w[k, c, R-1-r, S-1-t] and pads
    // kernel-1-pad: the gradient of a stride-1 convolution is a convolution.
    float* wt = thread_scratch(kScratchWeights, static_cast<size_t>(s.K) * CRS);
    for (int c = 0; c < s.C; ++c)
      for (int k = 0; k < s.K; ++k)
        for (int r = 0; r < s.R; ++r)
          for (int t = 0; t < s.S; ++t)
            wt[((static_cast<long>(c) * s.K + k) * s.R + r) * s.S + t] =
                w[((static_cast<long>(k) * s.C + c) * s.R + (s.R - 1 - r)) * s.S + (s.S - 1 - t)];
    Conv2dShape g;
    g.N = s.N, g.C = s.K, g.H = s.P, g.W = s.Q, g.K = s.C, g.R = s.R, g.S = s.S;
    g.pad_top = s.R - 1 - s.pad_top, g.pad_bottom = s.R - 1 - s.pad_bottom;
    g.pad_left = s.S - 1 - s.pad_left, g.pad_right = s.S - 1 - s.pad_right;
    conv2d_finalize(g);
    conv2d_forward_direct(g, dy, wt, nullptr, dx);
    return;
  }
  // General stride: dcol = W^T dY in column tiles, scattered back with col2im.
  // Jobs own disjoint (image, channel range) pieces of dx, so the scatter never races.
  const int threads = std::max(1, ecg::num_threads());
  const int groups = s.N >= threads ? 1 : std::min(s.C, (threads + s.N - 1) / s.N);
  const int jobs = s.N * groups;
#pragma omp parallel for num_threads(std::min(threads, jobs)) schedule(dynamic, 1)
  for (int job = 0; job < jobs; ++job) {
    const int n = job / groups;
    int c0, c1;
    split_range(s.C, groups, job % groups, 1, c0, c1);
    if (c1 <= c0) continue;
    float* dxn = dx + static_cast<long>(n) * s.C * HW;
    std::memset(dxn + c0 * HW, 0, sizeof(float) * (c1 - c0) * HW);
    const int rows = (c1 - c0) * RS;
    // About 256 KiB of tile stays in L2 between the GEMM and the scatter, but
    // at least 128 columns: each GEMM call packs all of its rows x K block of
    // W^T, so a narrower tile (kNR columns for AlexNet's 96*121 rows) spent as
    // long packing as multiplying. The tile width comes from the whole C*R*S,
    // not this job's rows: the scatter adds into dx in (tile, row) order, so a
    // width that followed the thread count would change the sums' order.
    const int all_rows = CRS;
    int chunk = std::max(round_up(128, kNR), (65536 / std::max(all_rows, 1)) / kNR * kNR);
    chunk = std::min(chunk, round_up(PQ, kNR));
    float* tile = thread_scratch(kScratchTile, static_cast<size_t>(rows) * chunk);
    const DenseA pa{w + static_cast<long>(c0) * RS, CRS, true, 1.f};
    const float* dyn = dy + static_cast<long>(n) * s.K * PQ;
    for (int col0 = 0; col0 < PQ; col0 += chunk) {
      const int nc = std::min(chunk, PQ - col0);
      gemm_serial(rows, nc, s.K, pa, DenseB{dyn + col0, PQ, false}, tile, nc, false);
      for (int row = 0; row < rows; ++row) {
        const int c = c0 + row / RS, r = (row % RS) / s.S, t = row % s.S;
        float* dxc = dxn + c * HW;
        const float* src = tile + static_cast<long>(row) * nc;
        int j = 0, pq = col0;
        while (j < nc) {
          const int p = pq / s.Q, q = pq % s.Q;
          const int seg = std::min(nc - j, s.Q - q);
          const int ih = p * s.stride_h - s.pad_top + r;
          if (ih >= 0 && ih < s.H) {
            const int iw0 = q * s.stride_w - s.pad_left + t;
            int lo, hi;
            valid_span(iw0, s.stride_w, s.W, seg, lo, hi);
            float* dst = dxc + static_cast<long>(ih) * s.W + iw0;
            for (int u = lo; u < hi; ++u) dst[u * s.stride_w] += src[j + u];
          }
          j += seg;
          pq += seg;
        }
      }
    }
  }
}

// ECG_WINOGRAD=measure: the first call of a shape runs both algorithms on the
// real buffers, twice each (the first call of each warms its scratch), and
// records the faster; the output left is that of the last (Winograd) run.
template <class Direct, class Wino>
void measure_and_record(const Conv2dShape& key, Direct direct, Wino wino) {
  using clock = std::chrono::steady_clock;
  double best_direct = 1e300, best_wino = 1e300;
  for (int rep = 0; rep < 2; ++rep) {
    auto t0 = clock::now();
    direct();
    auto t1 = clock::now();
    wino();
    auto t2 = clock::now();
    best_direct = std::min(best_direct, std::chrono::duration<double>(t1 - t0).count());
    best_wino = std::min(best_wino, std::chrono::duration<double>(t2 - t1).count());
  }
  record_measured_choice(key, unit_isa(), best_wino < best_direct);
}

inline bool first_measurement(const Conv2dShape& key) {
  bool known = false;
  return winograd_mode() == WinogradMode::Measure && winograd_geometry(key) &&
         !measured_choice(key, unit_isa(), known);
}

// The op-table entries: Winograd F(4,3) where use_winograd() picks it
// (winograd_choice.h: ECG_WINOGRAD and the static cost model), else direct.
inline void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                           float* y) {
  if (first_measurement(s)) {
    measure_and_record(
        s, [&] { conv2d_forward_direct(s, x, w, bias, y); },
        [&] { wino_conv(s, x, w, /*flip=*/false, bias, y); });
    if (!use_winograd(s, unit_isa())) conv2d_forward_direct(s, x, w, bias, y);
    return;
  }
  if (use_winograd(s, unit_isa()))
    wino_conv(s, x, w, /*flip=*/false, bias, y);
  else
    conv2d_forward_direct(s, x, w, bias, y);
}

// Backward-data of a 3x3 stride-1 convolution is a 3x3 stride-1 convolution
// of dy with flipped, transposed weights and padding 2 - pad; the choice is
// made on that forward shape.
inline void conv2d_backward_data(const Conv2dShape& s, const float* dy, const float* w, float* dx) {
  if (winograd_geometry(s)) {
    const Conv2dShape g = winograd_backward_data_shape(s);
    if (first_measurement(g)) {
      measure_and_record(
          g, [&] { conv2d_backward_data_direct(s, dy, w, dx); },
          [&] { wino_conv(g, dy, w, /*flip=*/true, nullptr, dx); });
      if (!use_winograd(g, unit_isa())) conv2d_backward_data_direct(s, dy, w, dx);
      return;
    }
  }
  if (use_winograd_backward_data(s, unit_isa())) {
    wino_conv(winograd_backward_data_shape(s), dy, w, /*flip=*/true, nullptr, dx);
    return;
  }
  conv2d_backward_data_direct(s, dy, w, dx);
}

// dW for images [n0, n1) into dwp (row stride CRS), rows [m0, m1), columns [j0, j1).
inline void conv_dw_range(const Conv2dShape& s, const float* x, const float* dy, int n0, int n1,
                          int m0, int m1, int j0, int j1, float* dwp) {
  const int CRS = s.C * s.R * s.S, PQ = s.P * s.Q;
  const long HW = static_cast<long>(s.H) * s.W;
  const bool dense = is_dense_1x1(s);
  for (int n = n0; n < n1; ++n) {
    const float* dyn = dy + static_cast<long>(n) * s.K * PQ;
    const float* xn = x + static_cast<long>(n) * s.C * HW;
    const DenseA pa{dyn + static_cast<long>(m0) * PQ, PQ, false, 1.f};
    float* c = dwp + static_cast<long>(m0) * CRS + j0;
    if (dense)
      gemm_serial(m1 - m0, j1 - j0, PQ, pa, DenseB{xn + j0 * HW, HW, true}, c, CRS, n > n0);
    else
      gemm_serial(m1 - m0, j1 - j0, PQ, pa, Im2colTB{xn, &s, j0}, c, CRS, n > n0);
  }
}

// db[k] = sum over images (in order) of the row sums of dY: the same order
// whatever the thread count.
inline void conv_db_rows(const Conv2dShape& s, const float* dy, int k0, int k1, float* db) {
  const int PQ = s.P * s.Q;
  for (int k = k0; k < k1; ++k) {
    float acc = 0.f;
    for (int n = 0; n < s.N; ++n) {
      const float* row = dy + (static_cast<long>(n) * s.K + k) * PQ;
#pragma omp simd reduction(+ : acc)
      for (int i = 0; i < PQ; ++i) acc += row[i];
    }
    db[k] = acc;
  }
}

// The batch is cut into this many chunks at most, whatever the thread count.
constexpr int kDwMaxChunks = 8;

inline void conv2d_backward_weights(const Conv2dShape& s, const float* x, const float* dy,
                                    float* dw, float* db) {
  // Deterministic: every dW element is summed in an order fixed by the shape
  // alone. The batch is cut into `chunks` contiguous groups of images (a
  // function of N only); each group's partial dW accumulates its images in
  // order, and the partials are added in group order. Threads take (group,
  // column or row slice) tasks; slicing dW never changes an element's order.
  // So the bytes are the same at 1, 2 or 16 threads (docs/determinism.md).
  const int CRS = s.C * s.R * s.S;
  const long nw = static_cast<long>(s.K) * CRS;
  const int threads = std::max(1, ecg::num_threads());
  const int chunks = std::max(1, std::min(s.N, kDwMaxChunks));
  // Slices per group so that small batches still use every thread: columns
  // when there are enough of them, else rows.
  const int want = std::max(1, (threads + chunks - 1) / chunks);
  const bool split_cols = CRS >= 2 * kNR * want;
  const int slices =
      std::max(1, std::min(want, split_cols ? (CRS + kNR - 1) / kNR : (s.K + kMR - 1) / kMR));
  float* partial = chunks > 1
                       ? thread_scratch(kScratchWeights, static_cast<size_t>(nw) * (chunks - 1))
                       : nullptr;
  const int tasks = chunks * slices;
#pragma omp parallel num_threads(std::min(threads, tasks))
  {
#pragma omp for schedule(dynamic, 1)
    for (int task = 0; task < tasks; ++task) {
      const int g = task / slices, sl = task % slices;
      int n0, n1, m0 = 0, m1 = s.K, j0 = 0, j1 = CRS;
      split_range(s.N, chunks, g, 1, n0, n1);
      if (split_cols)
        split_range(CRS, slices, sl, kNR, j0, j1);
      else
        split_range(s.K, slices, sl, kMR, m0, m1);
      if (m1 <= m0 || j1 <= j0) continue;
      float* mine = g == 0 ? dw : partial + static_cast<long>(g - 1) * nw;
      conv_dw_range(s, x, dy, n0, n1, m0, m1, j0, j1, mine);
    }
    // Implicit barrier: every partial is complete.
    if (chunks > 1) {
#pragma omp for schedule(static)
      for (long i = 0; i < nw; ++i) {
        float acc = dw[i];
        for (int u = 1; u < chunks; ++u) acc += partial[static_cast<long>(u - 1) * nw + i];
        dw[i] = acc;
      }
    }
    if (db) {
      const int T = omp_get_num_threads(), t = omp_get_thread_num();
      int k0, k1;
      split_range(s.K, T, t, 1, k0, k1);
      conv_db_rows(s, dy, k0, k1, db);
    }
  }
}

}  // namespace ecg::cpu::ECG_CPU_NS
