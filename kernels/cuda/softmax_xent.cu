// nvcc translation unit of kernels/cuda/softmax_xent.cuh (kernel text shared with the
// CPU emulator). Its kernels are not templates, so including the header
// compiles every one of them and the compile matrix reports their resources.
#include "kernels/cuda/softmax_xent.cuh"
