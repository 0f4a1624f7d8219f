// The CPU device's allocator: the caching allocator over 64-byte aligned
// system memory, and the process-wide instance every CPU tensor uses. Apart
// from core/allocator.cpp (the device registry and the caching policy, shared
// with the CUDA engine's allocator) so that each file holds one device's code.
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/allocator.h"
#include "core/caching_allocator.h"
#include "kernels/error.h"

namespace ecg {

namespace {

constexpr size_t kAlignment = 64;

class CpuCachingAllocator final : public CachingAllocator {
 public:
  // 64-byte classes up to 4 KiB: the alignment the vector kernels want.
  CpuCachingAllocator() : CachingAllocator(kAlignment, 4096) {}
  ~CpuCachingAllocator() override { release_cache(); }

  void copy_to_host(void* dst, const void* src, size_t n) const override {
    if (n) std::memcpy(dst, src, n);
  }
  void copy_from_host(void* dst, const void* src, size_t n) const override {
    if (n) std::memcpy(dst, src, n);
  }
  void copy_on_device(void* dst, const void* src, size_t n) const override {
    if (n) std::memmove(dst, src, n);
  }
  void memset_zero(void* dst, size_t n) const override {
    if (n) std::memset(dst, 0, n);
  }

 protected:
  void* system_allocate(size_t bytes) override { return std::aligned_alloc(kAlignment, bytes); }
  void system_free(void* p) override { std::free(p); }
  [[noreturn]] void out_of_memory(size_t nbytes, size_t bytes_in_use) override {
    fail("out of memory allocating ", nbytes, " bytes on the CPU (", bytes_in_use,
         " bytes in use)");
  }
};

}  // namespace

std::unique_ptr<Allocator> new_cpu_caching_allocator() {
  return std::make_unique<CpuCachingAllocator>();
}

Allocator& cpu_allocator() {
  // Intentionally leaked: tensors held by static objects may be freed after
  // any function-local static would have been destroyed.
  static CpuCachingAllocator* a = new CpuCachingAllocator();
  return *a;
}

}  // namespace ecg
