// Tensor basics: shapes, views sharing storage, contiguous copies, dtype
// conversion, seeded fills, printing, the caching allocator and errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>
#include <random>
#include <vector>

#include "core/allocator.h"
#include "core/tensor.h"
#include "kernels/error.h"

namespace ecg {
namespace {

TEST(Tensor, ShapeStridesAndContiguity) {
  Tensor t = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.strides(), (Shape{12, 4, 1}));
  EXPECT_TRUE(t.is_contiguous());
  Tensor p = t.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_FALSE(p.is_contiguous());
  EXPECT_TRUE(p.contiguous().is_contiguous());
}

TEST(Tensor, ViewsShareStorage) {
  Tensor t = Tensor::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor v = t.view({3, 2});
  v.data<float>()[5] = 50;
  EXPECT_EQ(t.at({1, 2}), 50);
  Tensor s = t.slice(1, 1, 3);
  EXPECT_EQ(s.shape(), (Shape{2, 2}));
  EXPECT_EQ(s.at({1, 0}), 4);
  s.fill_(7);
  EXPECT_EQ(t.at({0, 0}), 0);
  EXPECT_EQ(t.at({0, 1}), 7);
  EXPECT_EQ(t.at({1, 2}), 7);
  Tensor inferred = t.view({-1});
  EXPECT_EQ(inferred.shape(), (Shape{6}));
}

TEST(Tensor, PermuteThenContiguousReordersValues) {
  Tensor t = Tensor::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor c = t.permute({1, 0}).contiguous();
  EXPECT_EQ(c.to_vector_f32(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(Tensor, DtypeConversionRoundTrips) {
  Tensor t = Tensor::from_vector(std::vector<float>{-1.5f, 0.25f, 3.0f, 65504.0f}, {4});
  EXPECT_EQ(t.to(DType::F16).to(DType::F32).to_vector_f32(), t.to_vector_f32());
  EXPECT_EQ(t.to(DType::F64).to(DType::F32).to_vector_f32(), t.to_vector_f32());
  Tensor i = t.to(DType::I32);
  EXPECT_EQ(i.at({2}), 3);
  EXPECT_EQ(half_to_float(float_to_half(1.0f / 3)), 0.333251953125f);  // nearest half
}

TEST(Tensor, SeededFillsAreDeterministic) {
  Tensor a = Tensor::randn({100}, 42), b = Tensor::randn({100}, 42), c = Tensor::randn({100}, 43);
  EXPECT_EQ(a.to_vector_f32(), b.to_vector_f32());
  EXPECT_NE(a.to_vector_f32(), c.to_vector_f32());
  double mean = 0;
  for (float v : Tensor::randn({20000}, 7).to_vector_f32()) mean += v;
  EXPECT_NEAR(mean / 20000, 0.0, 0.03);
}

TEST(Tensor, PrintsReadably) {
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2});
  std::string s = t.to_string();
  EXPECT_NE(s.find("shape=[2, 2]"), std::string::npos);
  EXPECT_NE(s.find("[[1, 2],\n [3, 4]]"), std::string::npos) << s;
  EXPECT_NE(Tensor::zeros({100}).to_string().find("..."), std::string::npos);
}

TEST(Tensor, ErrorsNameTheProblem) {
  Tensor t = Tensor::zeros({2, 3});
  try {
    t.view({4, 2});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[4, 2]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(t.data<double>(), Error);
  EXPECT_THROW(t.permute({0, 0}), Error);
  EXPECT_THROW(t.slice(1, 2, 5), Error);
}

TEST(Allocator, CachesAndReusesBlocks) {
  Allocator& a = cpu_allocator();
  AllocatorStats before = a.stats();
  void* p = a.allocate(1 << 20);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  a.deallocate(p, 1 << 20);
  void* q = a.allocate(1 << 20);
  AllocatorStats after = a.stats();
  a.deallocate(q, 1 << 20);
  EXPECT_EQ(after.allocations, before.allocations + 2);
#if !defined(__SANITIZE_ADDRESS__)
  if (after.cache_hits > before.cache_hits) {
    EXPECT_EQ(p, q);  // cache on (not under ASan)
  }
#endif
}

#if !defined(__SANITIZE_ADDRESS__)
// The cache never lets live plus cached bytes exceed the live peak by more
// than 1/32 plus 32 MiB (core/allocator.cpp), on a random sequence of blocks
// of many distinct sizes; blocks are never touched, so this costs no memory.
TEST(Allocator, CacheStaysWithinTheLivePeak) {
  const char* env = std::getenv("ECG_ALLOCATOR_CACHE");
  if (env && std::strcmp(env, "0") == 0) GTEST_SKIP() << "cache switched off";
  std::unique_ptr<Allocator> a = new_cpu_caching_allocator();
  std::mt19937 rng(7);
  std::vector<std::pair<void*, size_t>> live;
  size_t max_cached = 0;
  for (int op = 0; op < 400; ++op) {
    if (live.size() < 6 && (live.empty() || rng() % 2)) {
      size_t n = (size_t{1} << 20) + rng() % (size_t{64} << 20);
      live.emplace_back(a->allocate(n), n);
    } else {
      size_t i = rng() % live.size();
      a->deallocate(live[i].first, live[i].second);
      live.erase(live.begin() + static_cast<long>(i));
    }
    AllocatorStats s = a->stats();
    max_cached = std::max(max_cached, s.bytes_cached);
    ASSERT_LE(s.bytes_in_use + s.bytes_cached,
              s.peak_bytes_in_use + s.peak_bytes_in_use / 32 + (size_t{32} << 20))
        << "after operation " << op;
  }
  EXPECT_GT(max_cached, 0u);  // it still caches
  for (auto& [p, n] : live) a->deallocate(p, n);
}

// A training loop's fixed pattern of sizes is served from the cache after
// the first step.
TEST(Allocator, RepeatedPatternHitsTheCache) {
  std::unique_ptr<Allocator> a = new_cpu_caching_allocator();
  const size_t sizes[] = {size_t{10} << 20, size_t{20} << 20, size_t{30} << 20, 4096, 100};
  for (int step = 0; step < 3; ++step) {
    AllocatorStats before = a->stats();
    std::vector<void*> blocks;
    for (size_t n : sizes) blocks.push_back(a->allocate(n));
    for (size_t i = 0; i < blocks.size(); ++i) a->deallocate(blocks[i], sizes[i]);
    if (step > 0) {
      EXPECT_EQ(a->stats().cache_hits - before.cache_hits, std::size(sizes));
    }
  }
}
#endif

TEST(Allocator, CudaWithoutBackendIsAClearError) {
  if (device_available(DeviceType::CUDA)) GTEST_SKIP() << "a CUDA device is present";
  try {
    Tensor::empty({4}, DType::F32, Device::cuda());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda"), std::string::npos);
  }
}

}  // namespace
}  // namespace ecg
