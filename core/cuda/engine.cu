// nvcc translation unit of the CUDA engine (text in engine.cuh, shared with
// the emulator build in engine_emu.cpp): the device allocator, the engine's
// stream, the op-table entries of every float kernel in kernels/cuda, and the
// int8 launches of int8_launch.h (the int8 runner's host part is
// quant/cuda/, compiled by the host compiler), and with ECG_CUDA_CUBLAS
// (the CMake GPU build) the optional cuBLAS GEMMs of engine_cublas.cuh.
#include "core/cuda/engine.cuh"
#include "core/cuda/fp16_launch.cuh"  // the FP16 backend's kernels
#include "core/cuda/int8_launch.cuh"
#if defined(ECG_CUDA_CUBLAS)
#include "core/cuda/engine_cublas.cuh"
#endif
