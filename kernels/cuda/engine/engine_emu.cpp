// The CUDA engine built on the host against the CPU emulator
// (kernels/cuda/emu): the same text nvcc compiles in engine.cu, plus the
// int8 graph runner. One translation unit, because the kernel headers define
// their __global__ functions and may be included once per program.
#include "kernels/cuda/engine/engine.cuh"
#include "kernels/cuda/engine/int8_runner_impl.h"
