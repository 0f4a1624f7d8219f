// nvcc translation unit of the CUDA engine (text in engine.cuh, shared with
// the emulator build in engine_emu.cpp): the device allocator, the engine's
// stream and the op-table entries of every float kernel in kernels/cuda.
#include "kernels/cuda/engine/engine.cuh"
