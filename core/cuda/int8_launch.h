// The int8 kernels as the engine's host code sees them: launches on the
// engine's stream, a failure thrown as an ecg::Error naming the op. Declared
// here, defined in the engine's kernel translation unit (int8_launch.cuh,
// included by engine.cu or engine_emu.cpp), so that the int8 runner's C++17
// host part (quant/cuda/int8_cuda_backend.cpp) compiles with the host compiler, apart from
// the kernels: nvcc 10.2 (the Jetson Nano's) takes C++14 at most, and the
// kernel headers define their __global__ functions once per program.
// C++14; no CUDA types.
#pragma once

#include "kernels/cuda/int8_args.h"

namespace ecg {
namespace cuda {

// conv_int8_workspace_bytes of conv_int8.cuh.
long long engine_conv_int8_workspace_bytes(const ConvInt8Args& args, ConvInt8Path path);
// conv_int8 on the engine's device (its compute capability) and stream.
void engine_conv_int8(const ConvInt8Args& args, ConvInt8Path path, const signed char* x, void* y,
                      const signed char* residual, void* workspace, const char* what);
void engine_max_pool_int8(const PoolInt8Args& a, const signed char* x, signed char* y);
void engine_avg_pool_int8(const PoolInt8Args& a, const signed char* x, signed char* y);
void engine_add_int8(long long n, const AddInt8Args& p, const signed char* a, const signed char* b,
                     signed char* y);

}  // namespace cuda
}  // namespace ecg
