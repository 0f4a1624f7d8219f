// The CUDA runtime subset of the emulator: memory, copies, streams, events,
// errors and device properties of one emulated sm_53 device (the Jetson
// Nano's limits). Device memory is host memory from posix_memalign, so
// AddressSanitizer sees every out-of-bounds access of a kernel with the exact
// allocation size. Streams and events exist for API compatibility: every
// launch and copy completes before it returns, so stream order always holds.
//
// The functions are defined under their ecg_emu_* names (see the #defines at
// the top of emu.h), with the signatures NVIDIA's header declares.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "kernels/cuda/emu/cuda_compat.h"

namespace ecg::cuda_emu::detail {
namespace {

struct RuntimeState {
  std::mutex mu;
  std::unordered_map<void*, std::size_t> device_allocs;
  std::unordered_map<void*, std::size_t> host_allocs;
  std::size_t device_bytes = 0;
};
RuntimeState& state() {
  static RuntimeState s;
  return s;
}

// Like the GPU, a launch error is sticky for cudaGetLastError until read.
thread_local cudaError_t last_error = cudaSuccess;

cudaError_t fail(cudaError_t e) {
  last_error = e;
  return e;
}

constexpr std::size_t kEmulatedMemory = 4ull << 30;  // the Nano's 4 GB

// Name and message of each error the emulator returns, as the CUDA runtime
// gives them (cudaGetErrorName, cudaGetErrorString).
struct ErrorText {
  cudaError_t error;
  const char* name;
  const char* text;
};

constexpr ErrorText kErrorTexts[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration",
     "invalid configuration argument"},
    {cudaErrorInvalidDevicePointer, "cudaErrorInvalidDevicePointer", "invalid device pointer"},
    {cudaErrorInvalidMemcpyDirection, "cudaErrorInvalidMemcpyDirection",
     "invalid copy direction for memcpy"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle", "invalid resource handle"},
    {cudaErrorLaunchFailure, "cudaErrorLaunchFailure",
     "unspecified launch failure (cuda-emu: see ecg::cuda_emu::last_fault_message())"},
};

// The entry of `error`, or null for one the emulator never returns.
const ErrorText* error_text(cudaError_t error) {
  for (const ErrorText& t : kErrorTexts)
    if (t.error == error) return &t;
  return nullptr;
}

struct EventRecord {
  std::chrono::steady_clock::time_point when;
  bool recorded = false;
};

}  // namespace

void record_launch_error(cudaError_t error) {
  last_error = error;
}

}  // namespace ecg::cuda_emu::detail

using ecg::cuda_emu::detail::error_text;
using ecg::cuda_emu::detail::ErrorText;
using ecg::cuda_emu::detail::fail;
using ecg::cuda_emu::detail::state;

extern "C" {

cudaError_t cudaMalloc(void** ptr, size_t size) {
  if (!ptr) return fail(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (size == 0) return cudaSuccess;
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.device_bytes + size > ecg::cuda_emu::detail::kEmulatedMemory)
    return fail(cudaErrorMemoryAllocation);
  void* p = nullptr;
  if (posix_memalign(&p, 256, size) != 0)
    return fail(cudaErrorMemoryAllocation);  // cudaMalloc aligns to 256
  s.device_allocs[p] = size;
  s.device_bytes += size;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.device_allocs.find(ptr);
  if (it == s.device_allocs.end()) return fail(cudaErrorInvalidDevicePointer);
  s.device_bytes -= it->second;
  s.device_allocs.erase(it);
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** ptr, size_t size) {
  if (!ptr) return fail(cudaErrorInvalidValue);
  void* p = nullptr;
  if (posix_memalign(&p, 256, size ? size : 1) != 0) return fail(cudaErrorMemoryAllocation);
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.host_allocs[p] = size;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* ptr) {
  if (!ptr) return cudaSuccess;
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.host_allocs.erase(ptr) == 0) return fail(cudaErrorInvalidValue);
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind) {
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault)
    return fail(cudaErrorInvalidMemcpyDirection);
  if (count == 0) return cudaSuccess;
  if (!dst || !src) return fail(cudaErrorInvalidValue);
  std::memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t) {
  return cudaMemcpy(dst, src, count, kind);
}

cudaError_t cudaMemset(void* ptr, int value, size_t count) {
  if (count == 0) return cudaSuccess;
  if (!ptr) return fail(cudaErrorInvalidValue);
  std::memset(ptr, value, count);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t) {
  return cudaMemset(ptr, value, count);
}

// __constant__ and __device__ variables are ordinary globals on the host, so a
// symbol is its own address.
cudaError_t cudaMemcpyToSymbol(const void* symbol, const void* src, size_t count, size_t offset,
                               enum cudaMemcpyKind kind) {
  return cudaMemcpy(static_cast<char*>(const_cast<void*>(symbol)) + offset, src, count, kind);
}

cudaError_t cudaMemcpyFromSymbol(void* dst, const void* symbol, size_t count, size_t offset,
                                 enum cudaMemcpyKind kind) {
  return cudaMemcpy(dst, static_cast<const char*>(symbol) + offset, count, kind);
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (free_bytes) *free_bytes = ecg::cuda_emu::detail::kEmulatedMemory - s.device_bytes;
  if (total) *total = ecg::cuda_emu::detail::kEmulatedMemory;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
  // Kernel faults are reported here as on a GPU, without clearing them.
  return ecg::cuda_emu::detail::last_error;
}

cudaError_t cudaDeviceReset(void) {
  ecg::cuda_emu::detail::last_error = cudaSuccess;
  return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
  cudaError_t e = ecg::cuda_emu::detail::last_error;
  ecg::cuda_emu::detail::last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError(void) {
  return ecg::cuda_emu::detail::last_error;
}

const char* cudaGetErrorName(cudaError_t error) {
  const ErrorText* t = error_text(error);
  return t ? t->name : "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t error) {
  const ErrorText* t = error_text(error);
  return t ? t->text : "unknown error";
}

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return fail(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  if (!device) return fail(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice);
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp* prop, int device) {
  if (!prop) return fail(cudaErrorInvalidValue);
  if (device != 0) return fail(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof(*prop));
  std::strncpy(prop->name, "ecgcnn CUDA emulator (sm_53 limits)", sizeof(prop->name) - 1);
  prop->major = 5;
  prop->minor = 3;
  prop->totalGlobalMem = ecg::cuda_emu::detail::kEmulatedMemory;
  prop->sharedMemPerBlock = 48 * 1024;
  prop->sharedMemPerMultiprocessor = 64 * 1024;
  prop->regsPerBlock = 32768;
  prop->regsPerMultiprocessor = 65536;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = 1024;
  prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = 65535;
  prop->maxGridSize[2] = 65535;
  prop->maxThreadsPerMultiProcessor = 2048;
  prop->multiProcessorCount = 1;
  prop->totalConstMem = 64 * 1024;
  prop->integrated = 1;
  prop->canMapHostMemory = 1;
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  if (!stream) return fail(cudaErrorInvalidValue);
  // An opaque, unique, non-null handle; nothing is ever queued on it.
  *stream = reinterpret_cast<cudaStream_t>(new char(0));
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int) {
  return cudaStreamCreate(stream);
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (!stream) return fail(cudaErrorInvalidResourceHandle);
  delete reinterpret_cast<char*>(stream);
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t) {
  return ecg::cuda_emu::detail::last_error;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  if (!event) return fail(cudaErrorInvalidValue);
  *event = reinterpret_cast<cudaEvent_t>(new ecg::cuda_emu::detail::EventRecord());
  return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int) {
  return cudaEventCreate(event);
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  auto* rec = reinterpret_cast<ecg::cuda_emu::detail::EventRecord*>(event);
  rec->when = std::chrono::steady_clock::now();
  rec->recorded = true;
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  return event ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}

// Host time between the records: the emulator's time, not a GPU's.
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms || !start || !end) return fail(cudaErrorInvalidValue);
  auto* a = reinterpret_cast<ecg::cuda_emu::detail::EventRecord*>(start);
  auto* b = reinterpret_cast<ecg::cuda_emu::detail::EventRecord*>(end);
  if (!a->recorded || !b->recorded) return fail(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(b->when - a->when).count();
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  delete reinterpret_cast<ecg::cuda_emu::detail::EventRecord*>(event);
  return cudaSuccess;
}

// Only the dynamic shared memory limit matters to the emulator; sm_53 has no
// opt-in beyond 48 KiB.
cudaError_t cudaFuncSetAttribute(const void* func, enum cudaFuncAttribute attr, int value) {
  if (!func) return fail(cudaErrorInvalidValue);
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize && value > 48 * 1024)
    return fail(cudaErrorInvalidValue);
  return cudaSuccess;
}

}  // extern "C"
