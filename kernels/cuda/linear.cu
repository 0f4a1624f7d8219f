// nvcc translation unit of kernels/cuda/linear.cuh (kernel text shared with
// the CPU emulator); including the header compiles its kernels.
#include "kernels/cuda/linear.cuh"
