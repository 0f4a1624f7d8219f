// NCCL for the device gradients of a data-parallel CUDA run
// (docs/distributed.md): a Collective that does everything through the MPI
// collective it wraps and, in addition, sums device buffers with
// ncclAllReduce on a stream of its own, ordered after the engine's stream.
// Built into the GPU build's engine library when CMake finds NCCL
// (ECG_NCCL); tools/cuda_device.cpp registers it (core/collective.h
// register_device_reductions) and DistributedSession applies it.
#pragma once
#include <memory>
#include <string>

#include "core/collective.h"

namespace ecg {
namespace cuda {

// "NCCL 2.28.9": the version this program was compiled against.
std::string nccl_library();

// `host` with device reductions through NCCL: one communicator over host's
// ranks (rank 0 makes the unique id, host broadcasts it, every rank calls
// ncclCommInitRank on the engine's GPU). Returns `host` unchanged, after one
// line from the rank that objects, when the ranks agree not to use NCCL: ECG_NCCL=0 on any
// rank, or a machine with more ranks than GPUs (NCCL wants one GPU per
// rank); device gradients then go through MPI from host memory.
std::unique_ptr<Collective> with_nccl(std::unique_ptr<Collective> host);

}  // namespace cuda
}  // namespace ecg
