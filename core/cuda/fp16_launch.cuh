// Definitions of fp16_launch.h: the FP16 kernels (conv_fp16.cuh,
// pool_fp16.cuh) launched on the engine's stream. Included after engine.cuh
// by the engine's one kernel translation unit (engine.cu or engine_emu.cpp).
#pragma once

#include "core/cuda/engine.cuh"
#include "core/cuda/fp16_launch.h"
#include "kernels/cuda/conv_fp16.cuh"
#include "kernels/cuda/pool_fp16.cuh"

namespace ecg {
namespace cuda {

void engine_conv_fp16(const ConvFp16Args& args, const void* x, void* y, const void* residual,
                      const char* what) {
  engine_detail::check(conv_fp16(args, static_cast<const __half*>(x), y,
                                 static_cast<const __half*>(residual), engine_detail::stream()),
                       what);
}

void engine_max_pool_fp16(const PoolFp16Args& a, const void* x, void* y) {
  engine_detail::check(max_pool_fp16(a, static_cast<const __half*>(x), static_cast<__half*>(y),
                                     engine_detail::stream()),
                       "max_pool_fp16");
}

void engine_avg_pool_fp16(const PoolFp16Args& a, const void* x, void* y) {
  engine_detail::check(avg_pool_fp16(a, static_cast<const __half*>(x), static_cast<__half*>(y),
                                     engine_detail::stream()),
                       "avg_pool_fp16");
}

void engine_add_fp16(long long n, bool relu, const void* a, const void* b, void* y) {
  engine_detail::check(
      add_fp16(n, relu, static_cast<const __half*>(a), static_cast<const __half*>(b),
               static_cast<__half*>(y), engine_detail::stream()),
      "add_fp16");
}

}  // namespace cuda
}  // namespace ecg
