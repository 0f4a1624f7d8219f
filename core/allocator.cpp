#include "core/allocator.h"

#include "core/caching_allocator.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "kernels/error.h"

namespace ecg {

std::string Device::name() const {
  return type == DeviceType::CPU ? "cpu" : "cuda:" + std::to_string(index);
}

namespace {

Allocator* g_allocators[kNumDeviceTypes] = {nullptr, nullptr};
DeviceInstaller g_installers[kNumDeviceTypes] = {nullptr, nullptr};
std::mutex g_install_mu;

}  // namespace

bool allocator_cache_enabled_by_default() {
#if defined(__SANITIZE_ADDRESS__)
  return false;
#else
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
  return false;
#endif
#endif
  const char* env = std::getenv("ECG_ALLOCATOR_CACHE");
  return !(env && std::strcmp(env, "0") == 0);
#endif
}

CachingAllocator::CachingAllocator(size_t granule, size_t linear_limit)
    : granule_(granule),
      linear_limit_(linear_limit),
      caching_(allocator_cache_enabled_by_default()) {}

size_t CachingAllocator::size_class(size_t n) const {
  n = std::max<size_t>(n, 1);
  if (n <= linear_limit_) return (n + granule_ - 1) / granule_ * granule_;
  size_t p = 1;
  while (p * 2 <= n) p *= 2;
  const size_t step = p / 4;
  return (n + step - 1) / step * step;
}

void* CachingAllocator::allocate(size_t nbytes) {
  const size_t cls = size_class(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.allocations;
  void* p = nullptr;
  auto it = free_.find(cls);
  if (it != free_.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    stats_.bytes_cached -= cls;
    ++stats_.cache_hits;
  } else {
    trim_before_growing_locked(cls);
    p = system_allocate(cls);
    if (!p) {
      release_locked();
      p = system_allocate(cls);
    }
    if (!p) out_of_memory(nbytes, stats_.bytes_in_use);
  }
  stats_.bytes_in_use += cls;
  stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  high_water_ = std::max(high_water_, stats_.bytes_in_use);
  return p;
}

void CachingAllocator::deallocate(void* p, size_t nbytes) {
  if (!p) return;
  const size_t cls = size_class(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.bytes_in_use -= cls;
  if (caching_) {
    free_[cls].push_back(p);
    stats_.bytes_cached += cls;
  } else {
    system_free(p);
  }
}

void CachingAllocator::release_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_locked();
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_bytes_in_use = stats_.bytes_in_use;
}

void CachingAllocator::release_locked() {
  for (auto& kv : free_)
    for (void* p : kv.second) system_free(p);
  free_.clear();
  stats_.bytes_cached = 0;
}

// The cache keeps live plus cached bytes within the highest live figure seen
// so far, plus 1/32 and a fixed slack. Without the bound, the forward pass's
// temporaries of many distinct sizes sat idle in the cache while the saved
// activations peaked: ResNet-11 training at 224 px, batch 16, was 2,436 MB
// resident against 1,757 MB ever live at once (1,604 MB with no cache at
// all). Only a miss can grow resident memory, so the bound is enforced there:
// cached blocks are freed, largest first, before the new one is taken from
// the system. The steady state of a training loop still hits the cache for
// everything but the blocks freed this way. On a GPU the same bound keeps a
// device training run from holding idle blocks that another model or the
// int8 runner's arena could use.
void CachingAllocator::trim_before_growing_locked(size_t cls) {
  if (!caching_) return;
  const size_t high = std::max(high_water_, stats_.bytes_in_use + cls);
  const size_t limit = high + high / 32 + kCacheSlackBytes;
  size_t total = stats_.bytes_in_use + stats_.bytes_cached + cls;
  for (auto it = free_.rbegin(); it != free_.rend() && total > limit; ++it) {
    std::vector<void*>& blocks = it->second;
    while (!blocks.empty() && total > limit) {
      system_free(blocks.back());
      blocks.pop_back();
      stats_.bytes_cached -= it->first;
      total -= it->first;
    }
  }
}

void Allocator::copy_on_device(void* dst, const void* src, size_t n) const {
  if (n == 0) return;
  std::vector<char> host(n);
  copy_to_host(host.data(), src, n);
  copy_from_host(dst, host.data(), n);
}

void Allocator::memset_zero(void* dst, size_t n) const {
  if (n == 0) return;
  std::vector<char> zero_bytes(n, 0);
  copy_from_host(dst, zero_bytes.data(), n);
}

Allocator& allocator_for(DeviceType d) {
  if (d == DeviceType::CPU) return cpu_allocator();
  Allocator* a = g_allocators[static_cast<int>(d)];
  ECG_CHECK(a, "device cuda is not available: ecgcnn was built without CUDA or no GPU was found");
  return *a;
}

void register_allocator(DeviceType d, Allocator* a) {
  g_allocators[static_cast<int>(d)] = a;
}

bool device_available(DeviceType d) {
  return d == DeviceType::CPU || g_allocators[static_cast<int>(d)] != nullptr;
}

void set_device_installer(DeviceType d, DeviceInstaller installer) {
  std::lock_guard<std::mutex> lock(g_install_mu);
  g_installers[static_cast<int>(d)] = installer;
}

bool install_device(DeviceType d, std::string* why) {
  std::lock_guard<std::mutex> lock(g_install_mu);
  if (device_available(d)) return true;
  DeviceInstaller f = g_installers[static_cast<int>(d)];
  std::string reason;
  const bool ok = f ? f(&reason) : false;
  if (!f) reason = "this build has no CUDA support";
  if (!ok && why) *why = reason;
  return ok && device_available(d);
}

}  // namespace ecg
