// Argument types of the int8 kernels (conv_int8.cuh, pool_int8.cuh) and the
// host-side rules about them, apart from the kernels: host code that packs or
// holds these arguments (conv_int8_pack.h, the int8 runner of
// quant/cuda) includes only this file, so in a GPU build it compiles
// with the host compiler (C++17) while the kernels stay in nvcc's C++14
// translation unit. C++14, no kernels.
#pragma once

#include "kernels/cuda/fast_divmod.cuh"

namespace ecg {
namespace cuda {

// Everything the kernels read besides x, y and the residual (device pointers).
struct ConvInt8Args {
  int N, C, H, W, K, R, S, stride_h, stride_w, pad_top, pad_left, P, Q;
  int Cp;                // C rounded up to a multiple of 4
  int zp_in;             // value of a padding tap
  const signed char* w;  // [K][R][S][Cp]
  const int* bias;       // [K], zero-point term folded in
  const int* m0;         // [K] requantization multipliers (int8_api.h Requant)
  const int* shift;      // [K]
  int zp_out, qmin, qmax;
  int out_int32;  // write the accumulator (int32) instead of int8
  int residual;   // fused residual add (int8_api.h AddRequant)
  int add_zp_a, add_zp_b, add_mul_a, add_mul_b, add_shift, add_zp_out, add_qmin, add_qmax;
  // Derived by conv_int8() before the launch (callers leave them alone):
  FastDivmod pq_div, q_div, cp_div, s_div;  // by P*Q, Q, Cp, S
  int step_c, step_t, step_r, step_off;     // one float-path b_next as (c, t, r) and x offset
};

inline bool conv_int8_is_dense(const ConvInt8Args& a) {
  return a.H == 1 && a.W == 1 && a.R == 1 && a.S == 1 && a.P == 1 && a.Q == 1;
}

enum class ConvInt8Path { kF32, kDp4a };

// The dp4a path needs compute capability 6.1 or newer.
inline bool conv_int8_path_supported(ConvInt8Path path, int compute_capability) {
  return path == ConvInt8Path::kF32 || compute_capability >= 61;
}

struct PoolInt8Args {
  int N, C, H, W, R, S, stride_h, stride_w, pad_top, pad_left, P, Q;
  int zp_in, zp_out, qmin, qmax;  // average pool only
  const int* m0;                  // [R*S + 1] by window count (average pool)
  const int* shift;               // [R*S + 1]
};

struct AddInt8Args {
  int zp_a, zp_b, mul_a, mul_b, shift, zp_out, qmin, qmax;  // int8_api.h AddRequant
};

}  // namespace cuda
}  // namespace ecg
