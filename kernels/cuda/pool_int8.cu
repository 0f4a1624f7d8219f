// nvcc translation unit of kernels/cuda/pool_int8.cuh (kernel text shared with
// the CPU emulator); including the header compiles its kernels.
#include "kernels/cuda/pool_int8.cuh"
