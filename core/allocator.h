// Device tags and allocators. The CPU allocator caches freed blocks by size
// class (64-byte aligned) so that the large activations of one training step
// are reused by the next instead of going back to the OS: a fresh 200 MB
// buffer per op costs page faults on every step. The CUDA backend registers
// its own Allocator for DeviceType::CUDA through the same interface.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kernels/op_table.h"

namespace ecg {

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::CUDA, i}; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string name() const;  // "cpu" or "cuda:<index>"
};

struct AllocatorStats {
  size_t bytes_in_use = 0;  // handed out and not yet freed
  size_t peak_bytes_in_use = 0;
  size_t bytes_cached = 0;   // freed blocks kept for reuse
  uint64_t allocations = 0;  // calls to allocate()
  uint64_t cache_hits = 0;   // served from the cache
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* p, size_t nbytes) = 0;
  // Returns cached blocks to the system.
  virtual void release_cache() {}
  virtual AllocatorStats stats() const = 0;
  virtual void reset_peak() {}
  // Copies between this device and the host (CPU allocators use memcpy).
  // Both return once the host side may be reused: a device allocator orders
  // them after every kernel already queued and waits for them to finish.
  virtual void copy_to_host(void* host_dst, const void* src, size_t n) const = 0;
  virtual void copy_from_host(void* dst, const void* host_src, size_t n) const = 0;
  // Copy between two blocks of this device, and zero-filling; queued in
  // order with the device's kernels (the defaults go through the host, for
  // allocators that have nothing better).
  virtual void copy_on_device(void* dst, const void* src, size_t n) const;
  virtual void memset_zero(void* dst, size_t n) const;
};

Allocator& allocator_for(DeviceType d);
// A fresh CPU caching allocator, separate from the process-wide one that
// cpu_allocator() returns (tests check its cache policy on a clean state).
std::unique_ptr<Allocator> new_cpu_caching_allocator();
// Installs the allocator of a device (the CUDA backend calls this at start-up).
void register_allocator(DeviceType d, Allocator* a);
bool device_available(DeviceType d);

// A backend that is linked in but started only on request (the CUDA engine:
// starting it opens the GPU) registers an installer; install_device() runs it
// once, on the first `--device cuda`. Without an installer the reason says
// that this build has no support for the device.
using DeviceInstaller = bool (*)(std::string* why);
void set_device_installer(DeviceType d, DeviceInstaller installer);
// True when device d is usable now or its installer succeeds; otherwise false
// with the reason in *why.
bool install_device(DeviceType d, std::string* why);

// The CPU caching allocator; alignment 64 bytes.
Allocator& cpu_allocator();

}  // namespace ecg
