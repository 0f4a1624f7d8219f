// nvcc translation unit of kernels/cuda/conv_fp16.cuh (kernel text shared with
// the CPU emulator): the FP16 (half2) path of sm_53 with int8 weight storage.
#include "kernels/cuda/conv_fp16.cuh"
