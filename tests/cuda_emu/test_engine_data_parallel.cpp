// The gradient reducer of data-parallel training (train/data_parallel.cpp)
// with its parameters on the CUDA engine, here on the emulator: the device
// path packs the gradients into device buckets and hands them to the
// collective's device reduction (NCCL in the GPU build), the fallback copies
// them to host buckets and reduces through the host calls (MPI). Both must
// write the sums back as the parameters' gradients, on the device.
//
// No second process: a stand-in collective of two ranks whose other rank
// holds the same gradients, so every sum is twice the buffer (exact in
// float). On the emulator device memory is host memory, so the stand-in
// doubles the device bucket where it lies, as ncclAllReduce would in place.
#include "kernels/cuda/emu/cuda_compat.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/collective.h"
#include "core/cuda/engine.h"
#include "core/tensor.h"
#include "train/data_parallel.h"

namespace {

using namespace ecg;

class TwoEqualRanks final : public Collective {
 public:
  explicit TwoEqualRanks(bool on_device) : on_device_(on_device) {}
  int rank() const override { return 0; }
  int size() const override { return 2; }
  bool reduces_device_memory() const override { return on_device_; }
  void allreduce_sum(float* data, size_t n) override {
    ++host_calls;
    twice(data, n);
  }
  Request start_allreduce_sum(float* data, size_t n) override {
    ++host_calls;
    twice(data, n);
    return 0;
  }
  Request start_allreduce_sum_device(float* data, size_t n) override {
    ++device_calls;
    cuda::engine_synchronize();  // the packing copies are queued on the engine's stream
    twice(data, n);
    return 0;
  }
  int host_calls = 0, device_calls = 0;

 private:
  static void twice(float* data, size_t n) {
    for (size_t i = 0; i < n; ++i) data[i] *= 2;
  }
  bool on_device_;
};

// Installs `c` for the test's lifetime (the process's collective is global).
struct Installed {
  TwoEqualRanks* c;
  explicit Installed(bool on_device) {
    auto owned = std::make_unique<TwoEqualRanks>(on_device);
    c = owned.get();
    set_collective(std::move(owned));
  }
  ~Installed() { set_collective(nullptr); }
};

struct Params {
  std::vector<Tensor> tensors;
  std::vector<std::vector<float>> grads;  // as set before the reduction ({} for none)
  std::vector<Tensor*> pointers() {
    std::vector<Tensor*> p;
    for (Tensor& t : tensors) p.push_back(&t);
    return p;
  }
};

// Three device parameters of 300, 7 and 1000 floats; the middle one took no
// part in the loss (no gradient: the reducer must sum zeros for it).
Params device_params() {
  std::string why;
  EXPECT_TRUE(cuda::install_engine(&why)) << why;
  Params p;
  const std::vector<int64_t> sizes{300, 7, 1000};
  for (size_t k = 0; k < sizes.size(); ++k) {
    Tensor t = Tensor::zeros({sizes[k]}, DType::F32, Device::cuda());
    t.set_requires_grad(true);
    std::vector<float> g;
    if (k != 1) {
      for (int64_t i = 0; i < sizes[k]; ++i) g.push_back(0.25f * static_cast<float>(i) - 3.f * k);
      t.set_grad(Tensor::from_vector(g, {sizes[k]}).to(Device::cuda()));
    }
    p.tensors.push_back(t);
    p.grads.push_back(g);
  }
  return p;
}

void expect_doubled_on_device(Params& p) {
  for (size_t k = 0; k < p.tensors.size(); ++k) {
    const Tensor& g = p.tensors[k].grad();
    ASSERT_TRUE(g.defined()) << k;
    EXPECT_EQ(g.device().type, DeviceType::CUDA) << k;
    const std::vector<float> got = g.to(Device::cpu()).to_vector_f32();
    ASSERT_EQ(got.size(), static_cast<size_t>(p.tensors[k].numel())) << k;
    for (size_t i = 0; i < got.size(); ++i) {
      const float want = p.grads[k].empty() ? 0.f : 2 * p.grads[k][i];
      ASSERT_EQ(got[i], want) << "parameter " << k << " element " << i;
    }
  }
}

// 0.001 MiB buckets: 262 floats, so each parameter gets a bucket of its own
// (from the last: 1000, then 7 and 300 do not fit together).
TEST(CudaDataParallel, DeviceBucketsReduceOnTheDevice) {
  Params p = device_params();
  Installed world(/*on_device=*/true);
  GradientReducer reducer(p.pointers(), 0.001);
  EXPECT_TRUE(reducer.reduces_on_device());
  EXPECT_EQ(reducer.num_buckets(), 3);
  for (int step = 1; step <= 2; ++step) {  // the buckets are reused
    for (size_t k = 0; k < p.tensors.size(); ++k)
      if (!p.grads[k].empty())
        p.tensors[k].set_grad(
            Tensor::from_vector(p.grads[k], {p.tensors[k].numel()}).to(Device::cuda()));
      else
        p.tensors[k].set_grad(Tensor());
    reducer.begin_backward(step);
    reducer.finish();
    expect_doubled_on_device(p);
  }
  EXPECT_EQ(world.c->device_calls, 6);
  EXPECT_EQ(world.c->host_calls, 0);
}

// One step with `bucket_mb` through a collective with (or without) device
// reductions: the sums on the device, and how many reductions of each kind.
void one_step(bool device_reductions, double bucket_mb, int buckets, int want_device_calls,
              int want_host_calls) {
  Params p = device_params();
  Installed world(device_reductions);
  GradientReducer reducer(p.pointers(), bucket_mb);
  EXPECT_EQ(reducer.reduces_on_device(), device_reductions);
  EXPECT_EQ(reducer.num_buckets(), buckets);
  reducer.begin_backward(1);
  reducer.finish();
  expect_doubled_on_device(p);
  EXPECT_EQ(world.c->device_calls, want_device_calls);
  EXPECT_EQ(world.c->host_calls, want_host_calls);
}

// --bucket-mb 0: one device reduction after backward.
TEST(CudaDataParallel, OneDeviceBucketAfterBackward) {
  one_step(/*device_reductions=*/true, 0, 1, 1, 0);
}

// A collective without device reductions (MPI alone): through host buckets,
// and the sums still land on the device.
TEST(CudaDataParallel, WithoutDeviceReductionsGoesThroughTheHost) {
  one_step(/*device_reductions=*/false, 0.001, 3, 0, 3);
}

}  // namespace
