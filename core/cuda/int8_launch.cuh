// Definitions of int8_launch.h: the int8 kernels (conv_int8.cuh,
// pool_int8.cuh) launched on the engine's stream. Included after engine.cuh
// by the engine's one kernel translation unit (engine.cu or engine_emu.cpp).
#pragma once

#include "core/cuda/engine.cuh"
#include "core/cuda/int8_launch.h"
#include "kernels/cuda/conv_int8.cuh"
#include "kernels/cuda/pool_int8.cuh"

namespace ecg {
namespace cuda {

long long engine_conv_int8_workspace_bytes(const ConvInt8Args& args, ConvInt8Path path) {
  return conv_int8_workspace_bytes(args, path);
}

void engine_conv_int8(const ConvInt8Args& args, ConvInt8Path path, const signed char* x, void* y,
                      const signed char* residual, void* workspace, const char* what) {
  engine_detail::check(conv_int8(args, path, engine_compute_capability(), x, y, residual, workspace,
                                 engine_detail::stream()),
                       what);
}

void engine_max_pool_int8(const PoolInt8Args& a, const signed char* x, signed char* y) {
  engine_detail::check(max_pool_int8(a, x, y, engine_detail::stream()), "max_pool_int8");
}

void engine_avg_pool_int8(const PoolInt8Args& a, const signed char* x, signed char* y) {
  engine_detail::check(avg_pool_int8(a, x, y, engine_detail::stream()), "avg_pool_int8");
}

void engine_add_int8(long long n, const AddInt8Args& p, const signed char* a, const signed char* b,
                     signed char* y) {
  engine_detail::check(add_int8(n, p, a, b, y, engine_detail::stream()), "add_int8");
}

}  // namespace cuda
}  // namespace ecg
