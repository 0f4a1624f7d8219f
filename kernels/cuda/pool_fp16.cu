// nvcc translation unit of kernels/cuda/pool_fp16.cuh (kernel text shared
// with the CPU emulator).
#include "kernels/cuda/pool_fp16.cuh"
