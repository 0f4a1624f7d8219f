// The size-class cache shared by the CPU allocator (core/allocator.cpp) and
// the CUDA engine's device allocator (core/cuda/engine.cuh): freed
// blocks are kept by size class and handed out again, because fresh memory is
// slow on both (page faults for a new 200 MB host buffer on every step;
// cudaMalloc synchronises the whole device). A device supplies how to get and
// return system memory and how to report running out; the cache, its bound,
// its lock and its statistics are written once, here.
//
// C++14: the engine includes this header under nvcc (the Nano's CUDA 10.2).
#pragma once
#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

#include "core/allocator.h"

namespace ecg {

// False under AddressSanitizer (a block freed to the system lets ASan see
// every use after free, and every overflow against the exact allocation
// size) and when ECG_ALLOCATOR_CACHE=0.
bool allocator_cache_enabled_by_default();

class CachingAllocator : public Allocator {
 public:
  // Size classes: multiples of `granule` up to `linear_limit` bytes, then four
  // steps per power of two, so a cached block is at most 25 % larger than the
  // request.
  CachingAllocator(size_t granule, size_t linear_limit);

  void* allocate(size_t nbytes) final;
  void deallocate(void* p, size_t nbytes) final;
  void release_cache() final;
  AllocatorStats stats() const final;
  void reset_peak() final;

  size_t size_class(size_t nbytes) const;

  // Live plus cached bytes stay within the highest live figure seen, plus
  // 1/32 of it and this slack (see trim_before_growing_locked).
  static constexpr size_t kCacheSlackBytes = size_t{32} << 20;

 protected:
  // Memory from the system, or nullptr when there is none (the cache is then
  // emptied and the call retried once).
  virtual void* system_allocate(size_t bytes) = 0;
  virtual void system_free(void* p) = 0;
  // Throws ecg::Error naming the device, the request and what is in use.
  [[noreturn]] virtual void out_of_memory(size_t nbytes, size_t bytes_in_use) = 0;

 private:
  void release_locked();
  void trim_before_growing_locked(size_t cls);

  const size_t granule_;
  const size_t linear_limit_;
  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  size_t high_water_ = 0;  // highest bytes_in_use ever (reset_peak() leaves it)
  AllocatorStats stats_;
  const bool caching_;
};

}  // namespace ecg
