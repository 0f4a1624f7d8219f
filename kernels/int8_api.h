// INT8 kernel contract: the integer arithmetic every int8 kernel (scalar
// reference, AVX2, AVX-512 VNNI, AVX-VNNI, NEON, NEON SDOT, CUDA) implements to
// the byte. Explained in docs/quantization.md.
//
// Layouts at this API
//   activations  int8 NHWC (channels last), contiguous. The int8 graph keeps
//                every tensor channels-last: the reduction of a convolution
//                then reads contiguous bytes, and a flatten before a dense
//                layer follows (h, w, c) order (the quantizer permutes the
//                dense weights from the float model's (c, h, w) order).
//   conv weights int8 OIHW (K, C, R, S), symmetric per output channel, values
//                in [-127, 127] (never -128). Kernels repack them once at load
//                (pack_conv_int8), never per call.
//   dense        x [N, in] int8, weights [out, in] int8; a dense layer is a
//                1x1 convolution over N pixels of one row.
//
// Accumulation: int32, defined modulo 2^32 (two's complement wrap-around), so
// every summation order gives the same bits. Real layers stay far below the
// limit: |x - zp| <= 255 and |w| <= 127 give 32,385 per term, so C*R*S up to
// 66,000 never wraps (ResNet-11's largest is 1,152; AlexNet's 11,616).
//   acc[k] = bias[k] + sum over (c, r, s) in bounds of (x - zp_in) * w[k, c, r, s]
// Spatial padding contributes nothing (it is the real value 0, i.e. zp_in).
// Kernels fold the zero-point term into the bias at pack time:
//   bias'[k] = bias[k] - zp_in * sum(w[k])    (and -128 * sum(w[k]) more for
//   vpdpbusd, which multiplies activations shifted to unsigned, x + 128).
//
// Requantization (the one integer rule): with M = s_in * s_w[k] / s_out
// written M = M0 * 2^-t (see Requant),
//   y = clamp(zp_out + floor((acc * M0 + 2^(t-1)) / 2^t), qmin, qmax)
// computed exactly in int64: a single rounding, half up. ReLU is qmin = zp_out.
//
// Residual add (fused into a conv's epilogue, or standalone int8_add): both
// int8 inputs are rescaled to the common scale s_out * 2^-t by integer
// multipliers A and B and summed in int32 (see AddRequant):
//   out = clamp(zp_out + ((A*(a - zp_a) + B*(b - zp_b) + 2^(t-1)) >> t), qmin, qmax)
// In a fused conv the first input `a` is the conv's own int8 output (the
// tensor the calibrator saw before the add, clamped to [qmin, qmax] of the
// conv), the second the residual tensor.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/kernel_api.h"

namespace ecg::int8 {

// Fixed-point multiplier: M = m0 * 2^-shift, m0 in [2^30, 2^31) or 0,
// shift (the t of docs/quantization.md) in [1, 62].
//
// Encoding a real M >= 0 (make_requant):
//  - M = m * 2^-n with m in [0.5, 1); M0 = round(m * 2^31); t = 31 + n.
//  - M0 == 2^31 (m rounds up to 1): stored as M0 = 2^30, t - 1. The same
//    value, and M0 then fits an int32 so SIMD kernels can use signed 32x32
//    multiplies.
//  - Tiny M (t > 62): stored as M0 = 0, t = 31. For any int32 accumulator
//    |acc * M0| < 2^62 <= 2^(t-1), so the exact rule gives 0 anyway; the
//    cap also keeps acc*M0 + 2^(t-1) inside int64.
//  - Huge M (t < 1, i.e. M >= 2^30): stored as M = 2^29 (M0 = 2^30, t = 1).
//    Any nonzero accumulator then moves the output by at least 2^29, far
//    outside int8, so the clamped output equals the exact real-multiplier
//    result; acc = 0 gives zp_out either way.
//  - M <= 0 or not finite: M0 = 0 (output is zp_out). Quantizers must not
//    produce these; see quant/ for finite-scale guarantees.
struct Requant {
  int32_t m0 = 0;
  int32_t shift = 31;
};

Requant make_requant(double multiplier);

// The rule without the clamp: floor((acc * m0 + 2^(t-1)) / 2^t), exact.
// |result| <= 2^61, so it is returned as int64.
inline int64_t requant_round(int32_t acc, Requant r) {
  const int64_t prod = static_cast<int64_t>(acc) * r.m0;
  const int64_t round = int64_t(1) << (r.shift - 1);
  // Arithmetic right shift of a negative int64 is implementation-defined
  // before C++20 but arithmetic on every compiler we target (GCC, Clang,
  // nvcc); floor division is what the rule means.
  return (prod + round) >> r.shift;
}

inline int8_t requantize(int32_t acc, Requant r, int32_t zp_out, int32_t qmin, int32_t qmax) {
  int64_t v = requant_round(acc, r) + zp_out;
  if (v < qmin) v = qmin;
  if (v > qmax) v = qmax;
  return static_cast<int8_t>(v);
}

// Common-scale residual add: out = zp_out + ((A*(a-zp_a) + B*(b-zp_b) + 2^(t-1)) >> t).
// A, B in [0, 2^21) and t in [1, 31] keep every term and the sum inside int32:
// 2 * 255 * (2^21 - 1) + 2^30 < 2^31.
struct AddRequant {
  int32_t zp_a = 0, zp_b = 0;
  int32_t mul_a = 0, mul_b = 0;  // A, B
  int32_t shift = 1;             // t
  int32_t zp_out = 0, qmin = -128, qmax = 127;
};

// A = round(s_a / s_out * 2^t), B likewise, t the largest value <= 31 that
// keeps max(A, B) < 2^21. Ratios of 2^20 or more saturate at A or B = 2^21-1
// with t = 1 (the add then saturates for any nonzero difference).
AddRequant make_add_requant(double s_a, int32_t zp_a, double s_b, int32_t zp_b, double s_out,
                            int32_t zp_out, int32_t qmin, int32_t qmax);

inline int8_t add_requantize(int32_t a, int32_t b, const AddRequant& p) {
  const int32_t sum = p.mul_a * (a - p.zp_a) + p.mul_b * (b - p.zp_b) + (1 << (p.shift - 1));
  int32_t v = p.zp_out + (sum >> p.shift);
  if (v < p.qmin) v = p.qmin;
  if (v > p.qmax) v = p.qmax;
  return static_cast<int8_t>(v);
}

// What a convolution writes.
enum class OutputMode {
  Int8,   // requantized int8 (optionally followed by the residual add)
  Int32,  // acc (bias included) as int32, for a last layer that dequantizes:
          // real = s_in * s_w[k] * acc
};

// Everything a conv / dense kernel needs besides the tensors. The geometry is
// ecg::Conv2dShape (N, C, H, W, K, R, S, strides, asymmetric padding, P, Q),
// read as NHWC in / NPQK out.
struct ConvInt8Params {
  Conv2dShape shape;
  int32_t zp_in = 0;
  std::vector<int32_t> bias;     // [K], scale s_in * s_w[k], zero-point term NOT folded
  std::vector<Requant> requant;  // [K]
  int32_t zp_out = 0, qmin = -128, qmax = 127;
  OutputMode output = OutputMode::Int8;
  bool residual = false;  // fused add of a second NPQK int8 tensor
  AddRequant add;         // used when residual
};

// Which implementation a packed convolution runs.
// Neon: ARMv8.0 SMULL/SMLAL2 + SADALP; NeonDot: ARMv8.2 SDOT (aarch64 builds only).
enum class Int8Kernel { Ref, Generic, Avx2, AvxVnni, Avx512Vnni, Neon, NeonDot };
const char* int8_kernel_name(Int8Kernel k);
// Whether this CPU runs the kernel and this build compiled it.
bool int8_kernel_supported(Int8Kernel k);
// The int8 side of the one dispatcher (kernels/cpu_features.h): the best
// kernel this CPU supports at or below an ISA level. ref: Ref; generic:
// Generic; avx2: AvxVnni, else Avx2; avx512: Avx512Vnni, else the avx2
// choice; neon: NeonDot, else Neon (Generic where the build has none).
Int8Kernel int8_kernel_for(Isa level);
// int8_kernel_for(active_isa()): ECG_ISA or --isa picks the level for every
// CPU kernel, int8 included. Throws when the retired ECG_INT8_KERNEL is set.
Int8Kernel best_int8_kernel();

// Weights packed once for one kernel and one geometry (N may change per call).
class PackedConvInt8 {
 public:
  virtual ~PackedConvInt8() = default;
  virtual Int8Kernel kernel() const = 0;
  // The code path inside the kernel where it has more than one (the AVX2
  // kernel: "avx2-maddubs" where this layer's weights prove vpmaddubsw
  // cannot saturate, else "avx2-maddwd"); otherwise int8_kernel_name(kernel()).
  virtual const char* variant() const { return int8_kernel_name(kernel()); }
  virtual const ConvInt8Params& params() const = 0;
  // Bytes of scratch each thread uses per call (bounded by a few output rows).
  virtual size_t scratch_bytes_per_thread() const = 0;
  // x: N*H*W*C int8 NHWC. y: N*P*Q*K int8 (OutputMode::Int8) or int32 (Int32).
  // residual: N*P*Q*K int8 when params().residual, else ignored. N may differ
  // from params().shape.N. Runs one OpenMP parallel loop over ecg::num_threads().
  virtual void run(int N, const int8_t* x, void* y, const int8_t* residual) const = 0;

  // Output rows [p0, p1) of one image from a window of its input rows, on
  // the calling thread only: x holds input rows [x_row0, x_row0 + x_rows)
  // (W*C bytes each, contiguous) and must include every in-bounds row those
  // outputs read; y and residual point at output row p0 (Q*K elements per
  // row). Gives the bytes of those rows of run(): the convolution on the
  // sub-image of the window rows, with the padding rows that fall inside the
  // band. The cross-layer row tiling of quant/ (a few rows of several layers
  // at a time, one band per thread) is built on it.
  void run_rows(int p0, int p1, const int8_t* x, int x_row0, int x_rows, void* y,
                const int8_t* residual) const;

 protected:
  // The kernel on geometry g: params().shape with another N, H, P, pad_top
  // and pad_bottom. parallel: one OpenMP loop over ecg::num_threads(), else
  // the calling thread alone.
  virtual void run_geometry(const Conv2dShape& g, const int8_t* x, void* y, const int8_t* residual,
                            bool parallel) const = 0;
};

// weights OIHW int8 in [-127, 127]. Throws ecg::Error on bad shapes or an
// unsupported kernel.
std::unique_ptr<PackedConvInt8> pack_conv_int8(const ConvInt8Params& p, const int8_t* weights,
                                               Int8Kernel kernel = best_int8_kernel());

// Dense layer as a 1x1 convolution: x [N, in], w [out, in], y [N, out].
ConvInt8Params dense_int8_params(int in, int out);

// ---- pools and add (memory-bound; one portable implementation each) -------

// Max pool on int8 NHWC, the window over in-bounds elements only. The output
// keeps the input's scale and zero-point.
void max_pool_int8(const Pool2dShape& s, const int8_t* x, int8_t* y);

// Average pool on int8 NHWC: sum (x - zp_in) over in-bounds elements in int32,
// then requantize with M = s_in / (s_out * count), count = in-bounds elements
// (TensorFlow semantics). One Requant per possible count.
struct AvgPoolInt8Params {
  Pool2dShape shape;
  int32_t zp_in = 0, zp_out = 0, qmin = -128, qmax = 127;
  std::vector<Requant> requant_by_count;  // [R*S + 1], index = count
};
AvgPoolInt8Params make_avg_pool_int8(const Pool2dShape& s, double s_in, int32_t zp_in, double s_out,
                                     int32_t zp_out);
void avg_pool_int8(const AvgPoolInt8Params& p, const int8_t* x, int8_t* y);

// Elementwise add of two int8 tensors of n elements.
void add_int8(int64_t n, const int8_t* a, const int8_t* b, const AddRequant& p, int8_t* y);

}  // namespace ecg::int8
