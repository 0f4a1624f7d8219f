// nvcc translation unit of kernels/cuda/conv_int8.cuh (kernel text shared with
// the CPU emulator). For sm_53 the dp4a kernel compiles to a trap body, so the
// Nano's binary contains no __dp4a; the compile jobs check exactly that.
#include "kernels/cuda/conv_int8.cuh"
