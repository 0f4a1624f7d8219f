// nvcc translation unit of kernels/cuda/l2_penalty.cuh (kernel text shared
// with the CPU emulator); its kernels are not templates, so including the
// header compiles them and the compile matrix reports their resources.
#include "kernels/cuda/l2_penalty.cuh"
