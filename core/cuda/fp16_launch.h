// The FP16 kernels (conv_fp16.cuh, pool_fp16.cuh) as the engine's host code
// sees them: launches on the engine's stream, a failure thrown as an
// ecg::Error naming the op. Declared here, defined in the engine's kernel
// translation unit (fp16_launch.cuh, included by engine.cu or
// engine_emu.cpp), so that the FP16 runner's C++17 host part
// (quant/cuda/fp16_cuda_backend.cpp) compiles apart from the kernels, as the int8 runner's
// does (int8_launch.h). Halves are passed as raw pointers (`void*`: 16-bit
// IEEE half, NHWC). C++14; no CUDA types.
#pragma once

#include "kernels/cuda/fp16_args.h"

namespace ecg {
namespace cuda {

// conv_fp16 (conv_fp16.cuh): x half, y half or float (args.out_float), residual half or null.
void engine_conv_fp16(const ConvFp16Args& args, const void* x, void* y, const void* residual,
                      const char* what);
void engine_max_pool_fp16(const PoolFp16Args& a, const void* x, void* y);
void engine_avg_pool_fp16(const PoolFp16Args& a, const void* x, void* y);
void engine_add_fp16(long long n, bool relu, const void* a, const void* b, void* y);

}  // namespace cuda
}  // namespace ecg
