// The blocked int8 convolution shared by the SIMD kernels: packing, the
// bounded input band, the loops and the OpenMP split. Each ISA unit includes
// this file and instantiates PackedConvSimd<Traits> with its own micro-kernel
// (Traits::tile) and element types; the algorithm lives only here.
//
// Packed weights, per block of 16 output channels (K padded to 16 with zero
// weights): [K/16][R*S taps][Cp/G groups][16 channels][G inputs], where G is
// the number of input channels one 32-bit broadcast carries (4 int8 for
// vpdpbusd, 2 int16 for vpmaddwd) and Cp = C rounded up to G (zero weights).
//
// Input band (the scratch, per thread): the padded input rows that one tile of
// TP output rows reads, [rows][W + pad_left + pad_right][Cp] of Traits::Band,
// spatial padding filled with the zero point, channels >= C with the zero
// point too (their weights are zero). Its size depends on W, C and the kernel
// height only, never on H: at most a few tens of KB for the study's layers.
//
// Accumulation: int32 with wrap-around; the bias is folded at pack time:
//   bias' = bias - (zp_in + Traits::kActShift) * sum(w[k])  (uint32 arithmetic)
// which the band's shifted values (x + kActShift) cancel exactly.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/cpu/int8/int8_internal.h"
#include "kernels/error.h"
#include "kernels/int8_api.h"
#include "kernels/runtime.h"

namespace ecg::int8::detail {

template <class T>
struct AlignedAlloc {
  using value_type = T;
  AlignedAlloc() = default;
  template <class U>
  AlignedAlloc(const AlignedAlloc<U>&) {}
  T* allocate(size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64)));
  }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
  bool operator==(const AlignedAlloc&) const { return true; }
  bool operator!=(const AlignedAlloc&) const { return false; }
};
template <class T>
using AVec = std::vector<T, AlignedAlloc<T>>;

// What one micro-kernel call computes: MR consecutive output pixels of one
// output row times NB blocks of 16 output channels, then the epilogue.
template <class Band, class W>
struct TileArgs {
  const Band* src;         // band element of pixel 0 at tap (0, 0), channel 0
  int64_t pix_stride;      // band elements between consecutive output pixels
  const int64_t* tap_off;  // [taps] band offsets of tap (r, s)
  int taps, groups;        // R*S, Cp/G
  const W* w;              // packed weights of the first block
  int64_t w_block;         // elements between consecutive 16-channel blocks
  const Epilogue* ep;      // epilogue of the first block
  int kvalid;              // valid channels from this tile's first (<= 16*NB)
  void* out;               // pixel 0, first channel (int8 or int32 per mode)
  int64_t out_stride;      // elements between output pixels (K)
  const int8_t* res;       // residual at pixel 0 (fused add) or null
};

// Traits::kVariant where a kernel has several code paths, else the kernel's name.
template <class T, class = void>
struct VariantName {
  static const char* get() { return int8_kernel_name(T::kKernel); }
};
template <class T>
struct VariantName<T, std::void_t<decltype(T::kVariant)>> {
  static const char* get() { return T::kVariant; }
};

// The tiles of 1..MR output pixels of one kernel as a table built at compile
// time, so a Traits::dispatch(m, ...) is one indirect call. Tile::run<M>(a, p)
// is the tile of M pixels.
template <class Tile, class Args, size_t... I>
constexpr std::array<void (*)(const Args&, const ConvInt8Params&), sizeof...(I)> tile_table(
    std::index_sequence<I...>) {
  return {{&Tile::template run<static_cast<int>(I) + 1>...}};
}
// Runs the tile of m pixels, 1 <= m <= MR.
template <class Tile, int MR, class Args>
void run_tile(int m, const Args& a, const ConvInt8Params& p) {
  static constexpr auto table = tile_table<Tile, Args>(std::make_index_sequence<MR>{});
  table[m - 1](a, p);
}

template <class Traits>
class PackedConvSimd final : public PackedConvInt8 {
  using Band = typename Traits::Band;
  using W = typename Traits::Weight;
  static constexpr int G = Traits::kGroup;
  static constexpr int MR = Traits::kMR;
  static constexpr int NB = Traits::kBlocks;

 public:
  PackedConvSimd(const ConvInt8Params& p, const int8_t* w) : p_(p) {
    const Conv2dShape& s = p_.shape;
    cp_ = (s.C + G - 1) / G * G;
    kb_ = (s.K + 15) / 16;
    taps_ = s.R * s.S;
    const int64_t block = static_cast<int64_t>(taps_) * cp_ * 16;
    w_.assign(block * kb_, W(0));
    std::vector<int32_t> bias(kb_ * 16, 0);
    std::vector<Requant> rq(kb_ * 16);
    for (int k = 0; k < s.K; ++k) {
      uint32_t wsum = 0;
      for (int c = 0; c < s.C; ++c)
        for (int r = 0; r < s.R; ++r)
          for (int t = 0; t < s.S; ++t) {
            const int8_t v = w[((static_cast<int64_t>(k) * s.C + c) * s.R + r) * s.S + t];
            wsum += static_cast<uint32_t>(static_cast<int32_t>(v));
            const int tap = r * s.S + t;
            const int64_t at = (k / 16) * block +
                               ((static_cast<int64_t>(tap) * (cp_ / G) + c / G) * 16 + k % 16) * G +
                               c % G;
            w_[at] = static_cast<W>(v);
          }
      const uint32_t zp = static_cast<uint32_t>(p_.zp_in + Traits::kActShift);
      bias[k] =
          static_cast<int32_t>(static_cast<uint32_t>(p_.bias.empty() ? 0 : p_.bias[k]) - zp * wsum);
      if (!p_.requant.empty()) rq[k] = p_.requant[k];
    }
    ep_.resize(kb_);
    for (int b = 0; b < kb_; ++b) fill_epilogue(ep_[b], &bias[b * 16], &rq[b * 16]);
    // Tiles of a few output rows: enough work items for the threads, and a
    // band that stays in L1/L2 next to one weight block.
    tp_ = std::max(1, std::min(s.P, 4));
    // Band offsets of the taps: W and the left/right padding are the same in
    // every geometry run_geometry sees (only N, H, P and top/bottom change).
    const int wp = s.W + s.pad_left + s.pad_right;
    tap_off_.resize(taps_);
    for (int r = 0; r < s.R; ++r)
      for (int t = 0; t < s.S; ++t)
        tap_off_[r * s.S + t] = (static_cast<int64_t>(r) * wp + t) * cp_;
  }

  Int8Kernel kernel() const override { return Traits::kKernel; }
  const char* variant() const override { return VariantName<Traits>::get(); }
  const ConvInt8Params& params() const override { return p_; }

  size_t scratch_bytes_per_thread() const override {
    const Conv2dShape& s = p_.shape;
    return band_elems(s.W, tp_) * sizeof(Band);
  }

  void run(int N, const int8_t* x, void* y, const int8_t* residual) const override {
    Conv2dShape g = p_.shape;
    g.N = N;
    // A dense layer (1x1 kernel on 1x1 images): the batch becomes one row of
    // N pixels, so the micro-kernel tiles over it and reuses the weights.
    if (g.H == 1 && g.W == 1 && g.R == 1 && g.S == 1 && g.P == 1 && g.Q == 1) {
      g.W = g.Q = N;
      g.N = 1;
      g.stride_h = g.stride_w = 1;  // the stride of a 1x1 image is moot; pixels are adjacent
    }
    run_geometry(g, x, y, residual, true);
  }

 protected:
  void run_geometry(const Conv2dShape& g, const int8_t* x, void* y, const int8_t* residual,
                    bool parallel) const override {
    const int tiles_per_image = (g.P + tp_ - 1) / tp_;
    const int64_t items = static_cast<int64_t>(g.N) * tiles_per_image;
    const int nt =
        parallel ? static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads(), items)))
                 : 1;
    if (nt == 1) {
      // No parallel region: a band of the cross-layer row tiling runs inside
      // the caller's (no nested regions), and one tile needs no team.
      AVec<Band> band(band_elems(g.W, tp_));
      for (int64_t item = 0; item < items; ++item)
        run_item(g, x, y, residual, item, tiles_per_image, band.data());
      return;
    }
#pragma omp parallel num_threads(nt)
    {
      AVec<Band> band(band_elems(g.W, tp_));
#pragma omp for schedule(static)
      for (int64_t item = 0; item < items; ++item)
        run_item(g, x, y, residual, item, tiles_per_image, band.data());
    }
  }

 private:
  int64_t band_rows(int tile_rows) const {
    return static_cast<int64_t>(tile_rows - 1) * p_.shape.stride_h + p_.shape.R;
  }
  int64_t band_elems(int W, int tile_rows) const {
    const Conv2dShape& s = p_.shape;
    return band_rows(tile_rows) * (W + s.pad_left + s.pad_right) * cp_;
  }

  // One tile: output rows [p0, p0 + tp_) of one image, every output channel.
  void run_item(const Conv2dShape& g, const int8_t* x, void* y, const int8_t* residual,
                int64_t item, int tiles_per_image, Band* band) const {
    const int wp = g.W + g.pad_left + g.pad_right;
    const bool out32 = p_.output == OutputMode::Int32;
    const int n = static_cast<int>(item / tiles_per_image);
    const int p0 = static_cast<int>(item % tiles_per_image) * tp_;
    const int p1 = std::min(g.P, p0 + tp_);
    fill_band(g, x, n, p0, p1, band);
    for (int b = 0; b < kb_; b += NB) {
      TileArgs<Band, W> a;
      a.pix_stride = static_cast<int64_t>(g.stride_w) * cp_;
      a.tap_off = tap_off_.data();
      a.taps = taps_;
      a.groups = cp_ / G;
      a.w = w_.data() + static_cast<int64_t>(b) * taps_ * cp_ * 16;
      a.w_block = static_cast<int64_t>(taps_) * cp_ * 16;
      a.ep = &ep_[b];
      a.kvalid = std::min(16 * NB, g.K - 16 * b);
      a.out_stride = g.K;
      const bool two = NB == 2 && b + 1 < kb_;
      for (int p = p0; p < p1; ++p) {
        const int64_t row_out = ((static_cast<int64_t>(n) * g.P + p) * g.Q) * g.K + 16 * b;
        const Band* row_src = band + static_cast<int64_t>(p - p0) * g.stride_h * wp * cp_;
        for (int q0 = 0; q0 < g.Q; q0 += MR) {
          const int m = std::min(MR, g.Q - q0);
          a.src = row_src + q0 * a.pix_stride;
          const int64_t o = row_out + static_cast<int64_t>(q0) * g.K;
          a.out = out32 ? static_cast<void*>(static_cast<int32_t*>(y) + o)
                        : static_cast<void*>(static_cast<int8_t*>(y) + o);
          a.res = p_.residual ? residual + o : nullptr;
          Traits::dispatch(m, two, a, p_);
        }
      }
    }
  }

  void fill_band(const Conv2dShape& g, const int8_t* x, int n, int p0, int p1, Band* band) const {
    const int wp = g.W + g.pad_left + g.pad_right;
    const Band pad = Traits::convert(static_cast<int8_t>(p_.zp_in));
    const int rows = static_cast<int>(band_rows(p1 - p0));
    for (int br = 0; br < rows; ++br) {
      const int h = p0 * g.stride_h + br - g.pad_top;
      Band* dst = band + static_cast<int64_t>(br) * wp * cp_;
      if (h < 0 || h >= g.H) {
        std::fill(dst, dst + static_cast<int64_t>(wp) * cp_, pad);
        continue;
      }
      std::fill(dst, dst + static_cast<int64_t>(g.pad_left) * cp_, pad);
      const int8_t* src = x + ((static_cast<int64_t>(n) * g.H + h) * g.W) * g.C;
      Band* d = dst + static_cast<int64_t>(g.pad_left) * cp_;
      if (cp_ == g.C) {
        Traits::convert_run(src, d, static_cast<int64_t>(g.W) * g.C);
      } else {
        // Channels not a multiple of G (the 3-channel stem): element by element,
        // a call per pixel costs more than the copy itself.
        for (int v = 0; v < g.W; ++v) {
          const int8_t* sp = src + static_cast<int64_t>(v) * g.C;
          Band* dp = d + static_cast<int64_t>(v) * cp_;
          for (int c = 0; c < g.C; ++c) dp[c] = Traits::convert(sp[c]);
          for (int c = g.C; c < cp_; ++c) dp[c] = pad;
        }
      }
      Band* right = d + static_cast<int64_t>(g.W) * cp_;
      std::fill(right, right + static_cast<int64_t>(g.pad_right) * cp_, pad);
    }
  }

  ConvInt8Params p_;
  int cp_ = 0, kb_ = 0, taps_ = 0, tp_ = 1;
  std::vector<int64_t> tap_off_;
  AVec<W> w_;
  AVec<Epilogue> ep_;
};

}  // namespace ecg::int8::detail
