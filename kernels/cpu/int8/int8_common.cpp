// Portable part of the int8 kernels: multiplier encoding, packing dispatch
// (which kernel each ISA level runs is kernels/int8_api.cpp), the
// reference-backed packed convolution, pools and add (memory-bound, one
// OpenMP implementation each over the reference's rows).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/int8/int8_internal.h"
#include "kernels/error.h"
#include "kernels/ref/int8_ref.h"
#include "kernels/runtime.h"

namespace ecg::int8 {

Requant make_requant(double multiplier) {
  if (!(multiplier > 0.0) || !std::isfinite(multiplier)) return Requant{0, 31};
  int e = 0;
  const double m = std::frexp(multiplier, &e);  // multiplier = m * 2^e, m in [0.5, 1)
  int64_t m0 = std::llround(m * 2147483648.0);  // in [2^30, 2^31]
  int t = 31 - e;
  if (m0 == (int64_t(1) << 31)) {  // m rounded up to 1: same value as 2^30 * 2^-(t-1)
    m0 = int64_t(1) << 30;
    t -= 1;
  }
  if (t > 62) return Requant{0, 31};               // exact result is 0 for every int32 acc
  if (t < 1) return Requant{int32_t(1) << 30, 1};  // saturates for every nonzero acc
  return Requant{static_cast<int32_t>(m0), t};
}

AddRequant make_add_requant(double s_a, int32_t zp_a, double s_b, int32_t zp_b, double s_out,
                            int32_t zp_out, int32_t qmin, int32_t qmax) {
  AddRequant p;
  p.zp_a = zp_a;
  p.zp_b = zp_b;
  p.zp_out = zp_out;
  p.qmin = qmin;
  p.qmax = qmax;
  auto finite_pos = [](double v) { return v > 0.0 && std::isfinite(v); };
  const double ra = finite_pos(s_a) && finite_pos(s_out) ? s_a / s_out : 0.0;
  const double rb = finite_pos(s_b) && finite_pos(s_out) ? s_b / s_out : 0.0;
  const double big = std::max(ra, rb);
  const int64_t limit = (int64_t(1) << 21) - 1;
  int t = 31;
  if (big > 0.0) {
    // Largest t <= 31 with round(big * 2^t) < 2^21.
    int e = 0;
    std::frexp(big, &e);  // big in [2^(e-1), 2^e)
    t = std::min(31, 21 - e);
    while (t > 1 && std::llround(std::ldexp(big, t)) > limit) --t;
  }
  t = std::max(1, t);
  p.shift = t;
  p.mul_a = static_cast<int32_t>(std::min<int64_t>(limit, std::llround(std::ldexp(ra, t))));
  p.mul_b = static_cast<int32_t>(std::min<int64_t>(limit, std::llround(std::ldexp(rb, t))));
  return p;
}

namespace {

// The reference as a packed kernel: the fallback where no SIMD kernel
// exists, parallel over output rows (each row is the reference's own loop).
class PackedConvRef final : public PackedConvInt8 {
 public:
  PackedConvRef(const ConvInt8Params& p, const int8_t* w)
      : p_(p), w_(w, w + static_cast<int64_t>(p.shape.K) * p.shape.C * p.shape.R * p.shape.S) {}
  Int8Kernel kernel() const override { return Int8Kernel::Ref; }
  const ConvInt8Params& params() const override { return p_; }
  size_t scratch_bytes_per_thread() const override { return 0; }
  void run(int N, const int8_t* x, void* y, const int8_t* residual) const override {
    Conv2dShape g = p_.shape;
    g.N = N;
    run_geometry(g, x, y, residual, true);
  }

 protected:
  void run_geometry(const Conv2dShape& g, const int8_t* x, void* y, const int8_t* residual,
                    bool parallel) const override {
    ConvInt8Params p = p_;  // the reference reads the geometry from its parameters
    p.shape = g;
    const int64_t rows = static_cast<int64_t>(g.N) * g.P;
    const int64_t plane = static_cast<int64_t>(g.Q) * g.K;
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (parallel)
    for (int64_t row = 0; row < rows; ++row) {
      const int n = static_cast<int>(row / g.P), pr = static_cast<int>(row % g.P);
      for (int q = 0; q < g.Q; ++q)
        for (int k = 0; k < g.K; ++k) {
          const int64_t o = row * plane + static_cast<int64_t>(q) * g.K + k;
          const int32_t acc = ref::conv_int8_acc(p, w_.data(), x, n, pr, q, k);
          if (p.output == OutputMode::Int32) {
            static_cast<int32_t*>(y)[o] = acc;
            continue;
          }
          int8_t v = requantize(acc, p.requant[k], p.zp_out, p.qmin, p.qmax);
          if (p.residual) v = add_requantize(v, residual[o], p.add);
          static_cast<int8_t*>(y)[o] = v;
        }
    }
  }

 private:
  ConvInt8Params p_;
  std::vector<int8_t> w_;
};

}  // namespace

void PackedConvInt8::run_rows(int p0, int p1, const int8_t* x, int x_row0, int x_rows, void* y,
                              const int8_t* residual) const {
  const Conv2dShape& s = params().shape;
  ECG_CHECK(0 <= p0 && p0 < p1 && p1 <= s.P, "run_rows: rows [", p0, ", ", p1, ") of ", s.P);
  // The input rows these outputs read, [h_first, h_last], some of them padding.
  const int h_first = p0 * s.stride_h - s.pad_top;
  const int h_last = (p1 - 1) * s.stride_h - s.pad_top + s.R - 1;
  const int lo = std::max(0, h_first), hi = std::min(s.H - 1, h_last);
  ECG_CHECK(lo <= hi, "run_rows: output rows [", p0, ", ", p1, ") read only padding");
  ECG_CHECK(x_row0 <= lo && hi < x_row0 + x_rows, "run_rows: output rows [", p0, ", ", p1,
            ") read input rows [", lo, ", ", hi, "], the window holds [", x_row0, ", ",
            x_row0 + x_rows - 1, "]");
  // The same convolution on the sub-image of rows [lo, hi], padded where the
  // band reaches past the image: every output of the band sees the same
  // input values at the same taps, so the bytes are those of run().
  Conv2dShape g = s;
  g.N = 1;
  g.H = hi - lo + 1;
  g.pad_top = lo - h_first;
  g.pad_bottom = h_last - hi;
  g.P = p1 - p0;
  run_geometry(g, x + static_cast<int64_t>(lo - x_row0) * s.W * s.C, y, residual, false);
}

namespace {

void validate(const ConvInt8Params& p, const int8_t* w) {
  const Conv2dShape& s = p.shape;
  ECG_CHECK(s.C > 0 && s.K > 0 && s.R > 0 && s.S > 0 && s.H > 0 && s.W > 0 && s.stride_h > 0 &&
                s.stride_w > 0 && s.pad_top >= 0 && s.pad_left >= 0 && s.pad_bottom >= 0 &&
                s.pad_right >= 0,
            "pack_conv_int8: bad geometry C=", s.C, " K=", s.K, " R=", s.R, " S=", s.S);
  Conv2dShape chk = s;
  ECG_CHECK(conv2d_finalize(chk) && chk.P == s.P && chk.Q == s.Q,
            "pack_conv_int8: P/Q not finalized (call conv2d_finalize)");
  ECG_CHECK(p.bias.empty() || static_cast<int>(p.bias.size()) == s.K, "pack_conv_int8: bias has ",
            p.bias.size(), " entries, K=", s.K);
  ECG_CHECK(p.output == OutputMode::Int32 || static_cast<int>(p.requant.size()) == s.K,
            "pack_conv_int8: requant has ", p.requant.size(), " entries, K=", s.K);
  ECG_CHECK(p.zp_in >= -128 && p.zp_in <= 127, "pack_conv_int8: zp_in ", p.zp_in);
  ECG_CHECK(p.qmin >= -128 && p.qmax <= 127 && p.qmin <= p.qmax, "pack_conv_int8: bad clamp [",
            p.qmin, ", ", p.qmax, "]");
  for (const Requant& r : p.requant)
    ECG_CHECK(r.shift >= 1 && r.shift <= 62 && r.m0 >= 0,
              "pack_conv_int8: requant out of range (m0=", r.m0, ", shift=", r.shift, ")");
  if (p.residual)
    ECG_CHECK(p.add.shift >= 1 && p.add.shift <= 31 && p.add.mul_a >= 0 &&
                  p.add.mul_a < (1 << 21) && p.add.mul_b >= 0 && p.add.mul_b < (1 << 21),
              "pack_conv_int8: add multipliers out of range");
  const int64_t nw = static_cast<int64_t>(s.K) * s.C * s.R * s.S;
  for (int64_t i = 0; i < nw; ++i)
    ECG_CHECK(w[i] != -128, "pack_conv_int8: weight -128 at ", i,
              " (symmetric weights stay in [-127, 127])");
}

}  // namespace

std::unique_ptr<PackedConvInt8> pack_conv_int8(const ConvInt8Params& p, const int8_t* weights,
                                               Int8Kernel kernel) {
  validate(p, weights);
  ECG_CHECK(int8_kernel_supported(kernel), "pack_conv_int8: kernel ", int8_kernel_name(kernel),
            " not available on this CPU/build");
  switch (kernel) {
    case Int8Kernel::Ref:
      return std::make_unique<PackedConvRef>(p, weights);
    case Int8Kernel::Generic:
      return detail::pack_conv_int8_generic(p, weights);
#if defined(ECG_INT8_X86)
    case Int8Kernel::Avx2:
      return detail::pack_conv_int8_avx2(p, weights);
#if defined(ECG_INT8_HAVE_AVXVNNI)
    case Int8Kernel::AvxVnni:
      return detail::pack_conv_int8_avxvnni(p, weights);
#endif
#if defined(ECG_INT8_HAVE_AVX512VNNI)
    case Int8Kernel::Avx512Vnni:
      return detail::pack_conv_int8_avx512vnni(p, weights);
#endif
#endif
#if defined(ECG_INT8_ARM)
    case Int8Kernel::Neon:
      return detail::pack_conv_int8_neon(p, weights);
#if defined(ECG_INT8_HAVE_NEON_DOT)
    case Int8Kernel::NeonDot:
      return detail::pack_conv_int8_neon_dot(p, weights);
#endif
#endif
    default:
      break;
  }
  fail("pack_conv_int8: kernel ", int8_kernel_name(kernel), " not built");
}

ConvInt8Params dense_int8_params(int in, int out) {
  ConvInt8Params p;
  Conv2dShape& s = p.shape;
  s.N = 1;
  s.C = in;
  s.H = s.W = 1;
  s.K = out;
  s.R = s.S = 1;
  conv2d_finalize(s);
  return p;
}

void max_pool_int8(const Pool2dShape& s, const int8_t* x, int8_t* y) {
  const int64_t rows = static_cast<int64_t>(s.N) * s.P;
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (int64_t row = 0; row < rows; ++row)
    ref::max_pool_int8_row(s, x, y, static_cast<int>(row / s.P), static_cast<int>(row % s.P));
}

AvgPoolInt8Params make_avg_pool_int8(const Pool2dShape& s, double s_in, int32_t zp_in, double s_out,
                                     int32_t zp_out) {
  AvgPoolInt8Params p;
  p.shape = s;
  p.zp_in = zp_in;
  p.zp_out = zp_out;
  p.requant_by_count.resize(s.R * s.S + 1);
  for (int c = 1; c <= s.R * s.S; ++c)
    p.requant_by_count[c] =
        s_out > 0.0 && std::isfinite(s_out) ? make_requant(s_in / (s_out * c)) : Requant{0, 31};
  return p;
}

// The reference's sums of (x - zp_in), taken channel-innermost: each window
// tap adds one contiguous run of C bytes into C int32 sums, which the
// compiler vectorises (the reference walks each channel's window with a
// stride of C bytes). Integer sums do not depend on their order, so the
// result is the reference's, bit for bit.
void avg_pool_int8(const AvgPoolInt8Params& p, const int8_t* x, int8_t* y) {
  const Pool2dShape& s = p.shape;
  const int64_t outputs = static_cast<int64_t>(s.N) * s.P * s.Q;
#pragma omp parallel num_threads(num_threads())
  {
    std::vector<int32_t> sum(s.C);
#pragma omp for schedule(static)
    for (int64_t o = 0; o < outputs; ++o) {
      const int n = static_cast<int>(o / (static_cast<int64_t>(s.P) * s.Q));
      const int p_out = static_cast<int>(o / s.Q % s.P), q_out = static_cast<int>(o % s.Q);
      std::fill(sum.begin(), sum.end(), 0);
      int32_t count = 0;
      for_each_window_tap(s, p_out, q_out, [&](int, int, int h, int v) {
        const int8_t* in = x + ((static_cast<int64_t>(n) * s.H + h) * s.W + v) * s.C;
        for (int c = 0; c < s.C; ++c) sum[c] += in[c];
        ++count;
      });
      const int32_t zp_total = count * p.zp_in;
      int8_t* out = y + o * s.C;
      for (int c = 0; c < s.C; ++c)
        out[c] = requantize(sum[c] - zp_total, p.requant_by_count[count], p.zp_out, p.qmin, p.qmax);
    }
  }
}

void add_int8(int64_t n, const int8_t* a, const int8_t* b, const AddRequant& p, int8_t* y) {
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (int64_t i = 0; i < n; ++i) y[i] = add_requantize(a[i], b[i], p);
}

namespace detail {

void fill_epilogue(Epilogue& e, const int32_t* bias16, const Requant* rq16) {
  std::memset(&e, 0, sizeof(e));
  e.all_t_ge_32 = 1;
  for (int j = 0; j < 16; ++j) {
    e.bias[j] = bias16[j];
    e.m0[j] = rq16[j].m0;
    const int t = rq16[j].shift;
    const int half = j / 2;
    int64_t* rnd = (j % 2) ? e.rnd_o : e.rnd_e;
    int64_t* sh = (j % 2) ? e.sh_o : e.sh_e;
    int64_t* off = (j % 2) ? e.off_o : e.off_e;
    rnd[half] = int64_t(1) << (t - 1);
    sh[half] = t;
    off[half] = int64_t(1) << (63 - t);
    if (j % 2) {
      e.m0_odd[2 * half] = rq16[j].m0;
      e.sh_o_hi[half] = t >= 32 ? t - 32 : 0;
    }
    if (t < 32) e.all_t_ge_32 = 0;
  }
}

EpilogueHookFn epilogue_hook(Int8Kernel k) {
  switch (k) {
#if defined(ECG_INT8_X86)
    case Int8Kernel::Avx2:
    case Int8Kernel::AvxVnni:
      return &epilogue_hook_avx2;
#if defined(ECG_INT8_HAVE_AVX512VNNI)
    case Int8Kernel::Avx512Vnni:
      return &epilogue_hook_avx512;
#endif
#endif
#if defined(ECG_INT8_ARM)
    case Int8Kernel::Neon:
      return &epilogue_hook_neon;
#if defined(ECG_INT8_HAVE_NEON_DOT)
    case Int8Kernel::NeonDot:
      return &epilogue_hook_neon_dot;
#endif
#endif
    default:
      return nullptr;
  }
}

}  // namespace detail
}  // namespace ecg::int8
