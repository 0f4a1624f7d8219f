// The CUDA engine (core/cuda) on the emulator: tensors on
// Device::cuda(), the op table's CUDA column under autograd, the optimisers'
// device updates, and whole networks against the CPU path.
//
// Float training: ResNet-11 at 32 px, batch 2, three SGD steps, and AlexNet
// at 215 px, batch 2, one step (momentum 0.9, L2 on the ResNet's kernels),
// on the CPU at the best ISA level, on the CPU at
// the scalar reference level, and on the device. SGD keeps the comparison
// meaningful: its update is linear in the gradient, so a parameter's error is
// the learning rate times its gradient's error (Adam's first step is lr *
// sign(g) and turns a last-bit difference of a near-zero gradient into a
// full lr). Tolerance (named, with its reason): the device is a third float
// evaluation with its own summation orders, so each of its values must lie
// within kDeviceSpreadFactor times the largest difference between the two
// CPU evaluations of the same tensor (the network's own amplification of
// rounding, measured rather than guessed), plus kFloorUlps units of float
// roundoff of the tensor's largest magnitude for tensors the two CPU levels
// happen to compute identically.
//
// Int8 inference: the quantized ResNet-11 on the device gives the CPU int8
// runner's bytes for every tensor of the graph, and bit-identical logits.
// The emulator's runtime first (it must precede any CUDA header): the test
// counts kernel launches to know that the device path really ran on it.
#include "kernels/cuda/emu/cuda_compat.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/cuda/engine.h"
#include "core/ops.h"
#include "kernels/cpu_features.h"
#include "models/models.h"
#include "optim/optimizer.h"
#include "quant/cuda/int8_cuda_backend.h"
#include "quant/int8_model.h"
#include "quant/quantizer.h"
#include "tests/quant/random_resnet.h"

namespace {

using namespace ecg;

constexpr double kDeviceSpreadFactor = 16;
constexpr double kFloorUlps = 64;
constexpr double kFloatRoundoff = 5.96e-8;  // 2^-24

void install() {
  std::string why;
  ASSERT_TRUE(cuda::install_engine(&why)) << why;
}

TEST(CudaEngine, TensorsLiveOnTheDevice) {
  install();
  ASSERT_TRUE(device_available(DeviceType::CUDA));
  Tensor h = Tensor::uniform({3, 5}, 7, -1.0, 1.0);
  Tensor d = h.to(Device::cuda());
  EXPECT_EQ(d.device(), Device::cuda());
  EXPECT_EQ(d.to_vector_f32(), h.to_vector_f32());
  // Layout and dtype changes go through the host; a device copy stays there.
  EXPECT_EQ(d.permute({1, 0}).contiguous().to_vector_f32(),
            h.permute({1, 0}).contiguous().to_vector_f32());
  EXPECT_EQ(d.to(DType::F64).to_vector_f64(), h.to(DType::F64).to_vector_f64());
  Tensor c = d.clone();
  EXPECT_EQ(c.device(), Device::cuda());
  EXPECT_EQ(c.to_vector_f32(), h.to_vector_f32());
  Tensor z = Tensor::zeros({4, 4}, DType::F32, Device::cuda());
  EXPECT_EQ(z.to_vector_f32(), std::vector<float>(16, 0.f));
  z.fill_(2.5);
  EXPECT_EQ(z.to_vector_f32(), std::vector<float>(16, 2.5f));
  // Ops refuse operands on two devices, and f64 on the device.
  EXPECT_THROW(add(d, h), Error);
  EXPECT_THROW(relu(d.to(DType::F64)), Error);
#if !defined(__SANITIZE_ADDRESS__)  // where the cache is on: freed blocks are reused
  const uint64_t hits = allocator_for(DeviceType::CUDA).stats().cache_hits;
  for (int i = 0; i < 3; ++i) Tensor::empty({1000}, DType::F32, Device::cuda());
  EXPECT_GE(allocator_for(DeviceType::CUDA).stats().cache_hits, hits + 2);
#endif
}

// An op added to the op table reaches the device through its CUDA column:
// leaky_relu forward and backward on Device::cuda() run emulated kernels and
// give the CPU's values (a compare and one float product: exact).
TEST(CudaEngine, LeakyReluRunsOnTheDevice) {
  install();
  Tensor xh = Tensor::uniform({4, 33}, 11, -1.0, 1.0), dy = Tensor::uniform({4, 33}, 12, -1.0, 1.0);
  Tensor xd = xh.to(Device::cuda());
  xh.set_requires_grad(true);
  xd.set_requires_grad(true);
  const uint64_t launches = cuda_emu::counters().launches;
  Tensor yd = leaky_relu(xd, 0.1), yh = leaky_relu(xh, 0.1);
  EXPECT_EQ(yd.device(), Device::cuda());
  EXPECT_EQ(yd.to_vector_f32(), yh.to_vector_f32());
  yd.backward(dy.to(Device::cuda()));
  yh.backward(dy);
  EXPECT_EQ(xd.grad().to_vector_f32(), xh.grad().to_vector_f32());
  EXPECT_GE(cuda_emu::counters().launches, launches + 2);
}

struct TrainRun {
  std::vector<double> losses;
  std::map<std::string, std::vector<double>> tensors;  // parameters and buffers after the steps
};

struct TrainSetup {
  std::string model = "resnet11";
  int image_size = 32;
  int batch = 2;
  int steps = 3;
};

TrainRun train(const TrainSetup& t, Device device, Isa isa) {
  const Isa saved = active_isa();
  set_active_isa(isa);
  ModelConfig cfg;
  cfg.name = t.model;
  cfg.image_size = t.image_size;
  auto model = build_model(cfg);
  model->to(device);
  model->train();
  auto opt = make_optimizer("sgd", model->parameters(), 0.05);
  TrainRun r;
  for (int step = 0; step < t.steps; ++step) {
    const int S = t.image_size;
    Tensor x = Tensor::uniform({t.batch, 3, S, S}, 100 + step, 0.0, 1.0).to(device);
    std::vector<int> labels;
    for (int b = 0; b < t.batch; ++b) labels.push_back((step + 2 * b) % 4);
    Tensor target = one_hot(labels, 4);
    Tensor loss = softmax_cross_entropy((*model)(x), target);
    const Tensor l2 = model->regularization_loss();  // undefined for AlexNet (no L2)
    Tensor total = l2.defined() ? add(loss, l2) : loss;
    r.losses.push_back(total.item());
    total.backward();
    opt->step();
    model->zero_grad();
  }
  for (auto& p : model->named_parameters()) r.tensors[p.first] = p.second->to_vector_f64();
  for (auto& b : model->named_buffers()) r.tensors[b.first] = b.second->to_vector_f64();
  set_active_isa(saved);
  return r;
}

// Largest |a - b| and largest |a| of two runs' tensor.
void spread(const std::vector<double>& a, const std::vector<double>& b, double* diff,
            double* magnitude) {
  *diff = *magnitude = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    *diff = std::max(*diff, std::fabs(a[i] - b[i]));
    *magnitude = std::max(*magnitude, std::fabs(a[i]));
  }
}

// Trains t on the CPU at its best ISA level, at the scalar reference level
// and on the device, and checks every loss, parameter and buffer of the
// device run against the first within the tolerance of the file header.
void expect_device_trains_as_cpu(const TrainSetup& t, uint64_t min_launches) {
  install();
  const TrainRun cpu = train(t, Device::cpu(), best_supported_isa());
  const TrainRun ref = train(t, Device::cpu(), Isa::Ref);
  const uint64_t launches = cuda_emu::counters().launches;
  const TrainRun gpu = train(t, Device::cuda(), best_supported_isa());
  EXPECT_GT(cuda_emu::counters().launches, launches + min_launches);
  auto check = [](const std::string& name, const std::vector<double>& want,
                  const std::vector<double>& other_cpu, const std::vector<double>& got) {
    ASSERT_EQ(want.size(), got.size()) << name;
    double cpu_spread, magnitude, device_diff, unused;
    spread(want, other_cpu, &cpu_spread, &magnitude);
    spread(want, got, &device_diff, &unused);
    const double bound = kDeviceSpreadFactor * cpu_spread + kFloorUlps * kFloatRoundoff * magnitude;
    size_t worst = 0, bad = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const double e = std::fabs(got[i] - want[i]);
      if (e > bound) ++bad;
      if (e > std::fabs(got[worst] - want[worst])) worst = i;
    }
    EXPECT_EQ(bad, 0u) << name << ": " << bad << " of " << want.size()
                       << " values off by more than " << bound << "; worst index " << worst
                       << ": device " << got[worst] << ", cpu " << want[worst]
                       << " (cpu levels differ by " << cpu_spread << ")";
    // The observed margin, for the tolerance's record.
    ::testing::Test::RecordProperty(name, std::to_string(device_diff / std::max(bound, 1e-300)));
  };
  check("losses", cpu.losses, ref.losses, gpu.losses);
  for (const auto& kv : cpu.tensors)
    check(kv.first, kv.second, ref.tensors.at(kv.first), gpu.tensors.at(kv.first));
}

TEST(CudaEngine, ResNet11TrainsOnTheDeviceAsOnTheCpu) {
  // Forward, backward and update kernels of every layer, three times over.
  expect_device_trains_as_cpu(TrainSetup{}, 3 * 50);
}

// AlexNet adds what ResNet-11 lacks: 11x11 stride-4 and valid convolutions,
// 2x2 max pools, ReLU before batch norm, batch norm of a dense layer's
// [N, 512] output, dropout (its mask drawn on the host, so both devices use
// the same one) and the 2-layer dense head. One step at the smallest input
// (215 px): the emulator runs it in about 10 s in Release.
TEST(CudaEngine, AlexNetTrainsOnTheDeviceAsOnTheCpu) {
  TrainSetup t;
  t.model = "alexnet";
  t.image_size = 215;
  t.steps = 1;
  expect_device_trains_as_cpu(t, 40);
}

TEST(CudaEngine, Int8ResNet11MatchesTheCpuRunnerByteForByte) {
  install();
  auto model = ecg::testing::random_resnet(32);
  quant::QuantizeOptions qo;
  qo.classes = {"a", "b", "c", "d"};
  qo.calib.method = quant::CalibMethod::MinMax;
  const Tensor images = Tensor::uniform({2, 3, 32, 32}, 11, 0.0, 1.0);
  quant::Int8Model m = quant::quantize_model(*model, {images}, qo);
  // A second graph with one convolution left in float: the device runs it on the host.
  std::string float_conv;
  for (const quant::NodeQ& n : m.nodes)
    if (n.kind == quant::NodeKind::Conv && n.conv.residual) float_conv = n.name;
  ASSERT_FALSE(float_conv.empty());
  const quant::Int8Model mixed = quant::with_float_nodes(m, {float_conv});
  for (const quant::Int8Model* g : std::vector<const quant::Int8Model*>{&m, &mixed}) {
    quant::Int8Runner cpu(*g, int8::best_int8_kernel(), 2, /*reuse_arena=*/false);
    cuda::Int8CudaRunner gpu(*g, 2, /*reuse_arena=*/false);
    const std::vector<float> want = cpu.run(images).to_vector_f32();
    const std::vector<float> got = gpu.run(images.to(Device::cuda())).to_vector_f32();
    ASSERT_EQ(want.size(), got.size());
    EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
        << "logits differ (" << g->float_nodes().size() << " float nodes)";
    for (int t = 0; t < static_cast<int>(g->tensors.size()); ++t)
      EXPECT_EQ(cpu.tensor_bytes(t, 2), gpu.tensor_bytes(t, 2)) << "tensor " << g->tensors[t].name;
    // The planned arena (in-place residual adds) gives the same logits.
    cuda::Int8CudaRunner planned(*g, 2, /*reuse_arena=*/true);
    EXPECT_EQ(planned.run(images).to_vector_f32(), want);
  }
}

}  // namespace
