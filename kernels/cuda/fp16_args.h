// Argument types of the FP16 kernels (conv_fp16.cuh, pool_fp16.cuh) and the
// host-side rules about them, apart from the kernels (as int8_args.h for the
// int8 ones): host code that packs or holds these arguments includes only this
// file. C++14, no kernels.
#pragma once

#include "kernels/cuda/fast_divmod.cuh"

namespace ecg {
namespace cuda {

constexpr int kConvFp16StepPairs = 16;  // channel pairs per K step (= terms per lane per fold)

// Everything the kernels read besides x, y and the residual (device pointers).
struct ConvFp16Args {
  int N, C, H, W, K, R, S, stride_h, stride_w, pad_top, pad_left, P, Q;
  int Cp;                   // C rounded up to a multiple of 4 (the int8 packing)
  const signed char* w;     // [K][R][S][Cp] int8
  const unsigned* w_stage;  // [K][2] half2 bits: (2^-e, 2^-e), (-1152 * 2^-e, same)
  const float* scale;       // [K] m = s_w * 2^e
  const float* bias;        // [K] real bias
  int relu;                 // max(0, y) after the residual add
  int residual;             // add an NPQK half tensor
  int out_float;            // write float (logits) instead of half
  // Derived by conv_fp16() before the launch (callers leave them alone):
  FastDivmod pq_div, q_div, cp_div, s_div;  // by P*Q, Q, Cp, S
  int step_c, step_t, step_r, step_off;     // one B step (channels) as (c, t, r) and x offset
  int wrap_c_off, wrap_t_off;               // x offset of a carry: C - Cp, (W - S) * C
};

inline bool conv_fp16_is_dense(const ConvFp16Args& a) {
  return a.H == 1 && a.W == 1 && a.R == 1 && a.S == 1 && a.P == 1 && a.Q == 1;
}

// The tile a launch with K output channels uses.
struct ConvFp16Config {
  int tile_m, tile_n;
};
inline ConvFp16Config conv_fp16_config(int K) {
  if (K <= 16) return ConvFp16Config{16, 256};
  if (K <= 64) return ConvFp16Config{64, 128};
  return ConvFp16Config{128, 64};
}

struct PoolFp16Args {
  int N, C, H, W, R, S, stride_h, stride_w, pad_top, pad_left, P, Q;
};

}  // namespace cuda
}  // namespace ecg
