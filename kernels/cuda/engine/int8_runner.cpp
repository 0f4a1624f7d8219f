// The int8 runner's host translation unit (C++17, the host compiler): the
// graph walk of int8_runner_impl.h, which launches its kernels through
// int8_launch.h. In a GPU build it is compiled with ECG_CUDA_HOST_ONLY
// (kernels/cuda/emu/cuda_compat.h: the runtime's types, no kernels); in the
// emulator build against the emulator's headers.
#include "kernels/cuda/engine/int8_runner_impl.h"
