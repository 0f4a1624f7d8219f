// The size-class cache that the CPU allocator and the CUDA engine's device
// allocator share (core/caching_allocator.h), over a fake device whose
// "system memory" is a byte budget: blocks are never touched, so large
// figures cost nothing, and running out can be forced.
#include "core/caching_allocator.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kernels/error.h"

namespace {

using namespace ecg;

class FakeDevice final : public CachingAllocator {
 public:
  explicit FakeDevice(size_t capacity) : CachingAllocator(512, 8192), capacity_(capacity) {}
  ~FakeDevice() override { release_cache(); }

  void copy_to_host(void*, const void*, size_t) const override {}
  void copy_from_host(void*, const void*, size_t) const override {}

  size_t system_bytes = 0;  // held from the "system": live plus cached
  int system_calls = 0;
  std::set<uintptr_t> outstanding;

 protected:
  void* system_allocate(size_t bytes) override {
    ++system_calls;
    if (system_bytes + bytes > capacity_) return nullptr;
    system_bytes += bytes;
    const uintptr_t p = next_;
    next_ += bytes;
    outstanding.insert(p);
    sizes_.emplace_back(p, bytes);
    return reinterpret_cast<void*>(p);
  }
  void system_free(void* p) override {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    ASSERT_EQ(outstanding.erase(a), 1u) << "freed twice or never allocated";
    for (auto& s : sizes_)
      if (s.first == a) system_bytes -= s.second;
  }
  [[noreturn]] void out_of_memory(size_t nbytes, size_t in_use) override {
    fail("out of memory allocating ", nbytes, " bytes on fake:0 (", in_use, " bytes in use)");
  }

 private:
  size_t capacity_;
  uintptr_t next_ = 4096;
  std::vector<std::pair<uintptr_t, size_t>> sizes_;
};

bool cache_on() {
  return allocator_cache_enabled_by_default();
}

TEST(CachingAllocator, SizeClassesAreAtMostAQuarterLarger) {
  FakeDevice d(size_t{1} << 40);
  EXPECT_EQ(d.size_class(1), 512u);
  EXPECT_EQ(d.size_class(8192), 8192u);
  EXPECT_EQ(d.size_class(8193), 10240u);
  for (size_t n = 1; n < (size_t{1} << 30); n = n * 3 + 7) {
    const size_t c = d.size_class(n);
    EXPECT_GE(c, n);
    EXPECT_EQ(c % 512, 0u) << n;
    if (n > 8192) {
      EXPECT_LE(c, n + n / 4) << n;
    }
  }
}

TEST(CachingAllocator, ReusesFreedBlocksAndCountsThem) {
  if (!cache_on()) GTEST_SKIP() << "cache switched off (ASan or ECG_ALLOCATOR_CACHE=0)";
  FakeDevice d(size_t{1} << 40);
  void* p = d.allocate(100000);
  d.deallocate(p, 100000);
  void* q = d.allocate(99000);  // same class
  EXPECT_EQ(p, q);
  EXPECT_EQ(d.system_calls, 1);
  AllocatorStats s = d.stats();
  EXPECT_EQ(s.allocations, 2u);
  EXPECT_EQ(s.cache_hits, 1u);
  EXPECT_EQ(s.bytes_in_use, d.size_class(100000));
  EXPECT_EQ(s.bytes_cached, 0u);
  d.deallocate(q, 99000);
  EXPECT_EQ(d.stats().bytes_cached, d.size_class(100000));
  d.release_cache();
  EXPECT_EQ(d.stats().bytes_cached, 0u);
  EXPECT_TRUE(d.outstanding.empty());
}

// The bound that keeps a training run's idle blocks from growing resident
// memory (core/allocator.cpp), on the device's size classes this time.
TEST(CachingAllocator, LivePlusCachedStaysWithinTheLivePeak) {
  if (!cache_on()) GTEST_SKIP() << "cache switched off (ASan or ECG_ALLOCATOR_CACHE=0)";
  FakeDevice d(size_t{1} << 40);
  std::mt19937 rng(11);
  std::vector<std::pair<void*, size_t>> live;
  size_t max_cached = 0;
  for (int op = 0; op < 600; ++op) {
    if (live.size() < 8 && (live.empty() || rng() % 2)) {
      const size_t n = (size_t{1} << 16) + rng() % (size_t{96} << 20);
      live.emplace_back(d.allocate(n), n);
    } else {
      const size_t i = rng() % live.size();
      d.deallocate(live[i].first, live[i].second);
      live.erase(live.begin() + static_cast<long>(i));
    }
    const AllocatorStats s = d.stats();
    max_cached = std::max(max_cached, s.bytes_cached);
    ASSERT_EQ(d.system_bytes, s.bytes_in_use + s.bytes_cached) << "after operation " << op;
    ASSERT_LE(s.bytes_in_use + s.bytes_cached,
              s.peak_bytes_in_use + s.peak_bytes_in_use / 32 + CachingAllocator::kCacheSlackBytes)
        << "after operation " << op;
  }
  EXPECT_GT(max_cached, 0u);
  for (auto& b : live) d.deallocate(b.first, b.second);
}

// Running out empties the cache and retries once before it reports, so idle
// cached blocks never cause an out-of-memory error; a request that still
// does not fit names its size and what is in use.
TEST(CachingAllocator, OutOfMemoryReleasesTheCacheThenReports) {
  const size_t MiB = size_t{1} << 20;
  FakeDevice d(10 * MiB);  // far below the bound's slack, so only running out frees the cache
  void* a = d.allocate(6 * MiB);
  d.deallocate(a, 6 * MiB);  // cached when the cache is on
  void* b = d.allocate(7 * MiB);
  EXPECT_NE(b, nullptr);
  EXPECT_EQ(d.stats().bytes_cached, 0u);
  EXPECT_EQ(d.system_bytes, 7 * MiB);
  try {
    d.allocate(5 * MiB);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("out of memory allocating 5242880 bytes on fake:0 (7340032 bytes in use)"),
              std::string::npos)
        << msg;
  }
  // A failed request leaves the statistics as they were.
  EXPECT_EQ(d.stats().bytes_in_use, 7 * MiB);
  d.deallocate(b, 7 * MiB);
  EXPECT_EQ(d.stats().bytes_in_use, 0u);
}

}  // namespace
