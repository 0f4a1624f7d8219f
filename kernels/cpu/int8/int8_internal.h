// Internals shared by the int8 units: the per-block epilogue constants and the
// entry points of the ISA units (defined only where they are compiled).
#pragma once
#include <cstdint>
#include <memory>

#include "kernels/int8_api.h"

namespace ecg::int8::detail {

// Epilogue constants of one block of 16 output channels, laid out for SIMD.
// The 64-bit products of the requantization come in two halves: even
// channels (0, 2, ..., 14) and odd ones (1, 3, ..., 15), as vpmuldq produces
// them; an 8-channel (ymm) half h finds its lanes at [4h, 4h + 4).
struct alignas(64) Epilogue {
  int32_t bias[16];  // folded bias (zero point and activation shift removed)
  int32_t m0[16];
  int64_t rnd_e[8], rnd_o[8];  // 2^(t-1)
  int64_t sh_e[8], sh_o[8];    // t
  int64_t off_e[8], off_o[8];  // 2^(63-t): AVX2 has no 64-bit arithmetic shift, so
                               // it shifts v + 2^63 logically and subtracts this
  // AVX-512 fast path, valid when every t of the block is >= 32 (M < 0.5, the
  // usual case): odd lanes shift by t - 32 so their result lands directly in
  // the high dword of the 64-bit lane (floor(floor(v/2^(t-32))/2^32) =
  // floor(v/2^t)), and no clamp is needed before narrowing (|result| < 2^30).
  int32_t m0_odd[16];   // m0 of channel 2i+1 at dword 2i (the dword vpmuldq reads)
  int64_t sh_o_hi[8];   // t - 32 for the odd channels
  int32_t all_t_ge_32;  // 1 when the fast path applies
};

void fill_epilogue(Epilogue& e, const int32_t* bias16, const Requant* rq16);

// Test hook: runs an ISA's vector epilogue on flat arrays, as the conv would
// for one pixel of n channels: out[i] = requantize(acc[i], rq[i]) then, when
// res is not null, the residual add with res[i].
using EpilogueHookFn = void (*)(int n, const int32_t* acc, const Requant* rq, int32_t zp_out,
                                int32_t qmin, int32_t qmax, const int8_t* res,
                                const AddRequant& add, int8_t* out);

// The test hooks' common part: the epilogue's parameters, and its constants
// for each block of 16 channels (zero bias, as the hooks add no bias);
// store(i, nb, e, p) then runs the ISA's epilogue on channels [i, i + nb).
template <class StoreBlock>
void for_each_epilogue_block(int n, const Requant* rq, int32_t zp_out, int32_t qmin, int32_t qmax,
                             bool residual, const AddRequant& add, StoreBlock store) {
  ConvInt8Params p;
  p.zp_out = zp_out;
  p.qmin = qmin;
  p.qmax = qmax;
  p.residual = residual;
  p.add = add;
  const int32_t zero[16] = {};
  for (int i = 0; i < n; i += 16) {
    const int nb = n - i < 16 ? n - i : 16;
    Requant r16[16];
    for (int j = 0; j < nb; ++j) r16[j] = rq[i + j];
    Epilogue e;
    fill_epilogue(e, zero, r16);
    store(i, nb, e, p);
  }
}

std::unique_ptr<PackedConvInt8> pack_conv_int8_generic(const ConvInt8Params& p, const int8_t* w);
#if defined(ECG_INT8_X86)
// Picks the vpmaddubsw path when maddubs_cannot_saturate(shape, w), else vpmaddwd.
std::unique_ptr<PackedConvInt8> pack_conv_int8_avx2(const ConvInt8Params& p, const int8_t* w);
bool maddubs_cannot_saturate(const Conv2dShape& s, const int8_t* w);
std::unique_ptr<PackedConvInt8> pack_conv_int8_avxvnni(const ConvInt8Params& p, const int8_t* w);
std::unique_ptr<PackedConvInt8> pack_conv_int8_avx512vnni(const ConvInt8Params& p, const int8_t* w);
void epilogue_hook_avx2(int n, const int32_t* acc, const Requant* rq, int32_t zp_out, int32_t qmin,
                        int32_t qmax, const int8_t* res, const AddRequant& add, int8_t* out);
void epilogue_hook_avx512(int n, const int32_t* acc, const Requant* rq, int32_t zp_out,
                          int32_t qmin, int32_t qmax, const int8_t* res, const AddRequant& add,
                          int8_t* out);
#endif
#if defined(ECG_INT8_ARM)
std::unique_ptr<PackedConvInt8> pack_conv_int8_neon(const ConvInt8Params& p, const int8_t* w);
void epilogue_hook_neon(int n, const int32_t* acc, const Requant* rq, int32_t zp_out, int32_t qmin,
                        int32_t qmax, const int8_t* res, const AddRequant& add, int8_t* out);
#if defined(ECG_INT8_HAVE_NEON_DOT)
std::unique_ptr<PackedConvInt8> pack_conv_int8_neon_dot(const ConvInt8Params& p, const int8_t* w);
void epilogue_hook_neon_dot(int n, const int32_t* acc, const Requant* rq, int32_t zp_out,
                            int32_t qmin, int32_t qmax, const int8_t* res, const AddRequant& add,
                            int8_t* out);
#endif
#endif

// The hook of a kernel's epilogue (null for the reference).
EpilogueHookFn epilogue_hook(Int8Kernel k);

}  // namespace ecg::int8::detail
