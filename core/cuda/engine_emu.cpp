// The CUDA engine built on the host against the CPU emulator
// (kernels/cuda/emu): the same text nvcc compiles in engine.cu, the float
// kernels of the op table and the int8 launches of int8_launch.h. One
// translation unit, because the kernel headers define their __global__
// functions and may be included once per program; the int8 runner's host
// backends are quant/cuda/, as in the GPU build.
#include "core/cuda/engine.cuh"
#include "core/cuda/fp16_launch.cuh"  // the FP16 backend's kernels
#include "core/cuda/int8_launch.cuh"
