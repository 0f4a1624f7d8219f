// The CUDA engine: what lets the engine's tensors and ops live on a GPU.
// install_engine() opens device 0, creates the stream every kernel and copy
// of the engine is queued on, registers a caching device allocator for
// DeviceType::CUDA (so Tensor::empty(..., Device::cuda()) and Tensor::to work)
// and fills the op table's CUDA column with the kernels of kernels/cuda.
//
// The same text (engine.cuh) builds two ways: engine.cu under nvcc for a GPU,
// and engine_emu.cpp on the host against the CPU emulator (kernels/cuda/emu),
// where a "device" pointer is host memory and every launch runs to completion
// before it returns. This header holds no CUDA types, so host code of either
// build can include it; it is C++14 like every file nvcc reads.
#pragma once
#include <string>

namespace ecg {
namespace cuda {

// Idempotent. False, with the reason in *why, when no CUDA device is found.
bool install_engine(std::string* why);
bool engine_installed();
// Of the device the engine opened (valid after install_engine succeeded).
std::string engine_device_name();
int engine_compute_capability();  // 10 * major + minor (53 on the Jetson Nano)
// Waits for every kernel and copy queued on the engine's stream.
void engine_synchronize();
// The engine's stream (a cudaStream_t; void* because this header holds no
// CUDA types), for work that must be ordered with the engine's: the NCCL
// reductions of core/cuda/nccl_collective.cpp.
void* engine_stream_handle();
// The GPU the engine opened: 0, or under mpirun the rank's local rank modulo
// the device count, so that the ranks of one machine spread over its GPUs.
int engine_device_index();

}  // namespace cuda
}  // namespace ecg
