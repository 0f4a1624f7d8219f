// The FP16 runner (quant/cuda/fp16_cuda_backend.h) on the emulator: the
// quantized ResNet-11 at 32 px, batch 2, through the half2 path of sm_53.
//
// Layer by layer: every convolution's output, computed by the device from its
// own half inputs, lies within the per-element bound of the FP16 kernels
// (fp16_reference.h, derived from half rounding) of a double evaluation of
// that layer from the same half inputs and the same dequantized int8 weights;
// the pools and adds are checked the same way (max exact, average within its
// float-and-half rounding, add correctly rounded). So the whole graph runs as
// the kernel tests promise, on the real layer shapes.
//
// End to end, against the float model on the same images (tolerance named
// with its reason): the FP16 logits may differ from float by the int8 weight
// quantization the FP16 path shares with the int8 path, plus half rounding of
// the activations, which is far finer than the int8 path's 8-bit activations.
// So the FP16 logits must lie at least as close to the float ones as the CPU
// int8 runner's, in the largest difference over the batch
// (kInt8ErrorFactor = 1), and pick the same class as the float model for every
// image whose float top-1 margin exceeds twice that largest int8 difference
// (closer calls may flip under any quantization); the observed figures are
// recorded. A graph with one convolution left in float (run on the host)
// meets the same bounds, and the planned arena (in-place residual adds) gives
// the same logits bit for bit. Activations beyond the half range are an error.
#include "kernels/cuda/emu/cuda_compat.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/cuda/engine.h"
#include "core/ops.h"
#include "models/models.h"
#include "quant/cuda/fp16_cuda_backend.h"
#include "quant/int8_model.h"
#include "quant/quantizer.h"
#include "tests/cuda_emu/fp16_reference.h"
#include "tests/quant/random_resnet.h"

namespace {

using namespace ecg;
using ecg::cuda_emu::testing::fp16_conv_reference;
using ecg::cuda_emu::testing::kHalfSubnormalHalfSpacing;
using ecg::cuda_emu::testing::kHalfUnitRoundoff;
using ecg::cuda_emu::testing::pool_window_sums;
using ecg::cuda_emu::testing::PoolWindowSums;

constexpr double kInt8ErrorFactor = 1.0;
constexpr int kBatch = 2;

bool relu_of(const quant::NodeQ& n) {
  return n.conv.residual ? n.conv.add.qmin == n.conv.add.zp_out : n.conv.qmin == n.conv.zp_out;
}

std::vector<double> to_double(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

double half_round(double v) {
  return static_cast<double>(__half2float(__double2half(v)));
}

// Every node of `g` against its double evaluation from the runner's own inputs.
void check_layers(const quant::Int8Model& g, const cuda::Fp16CudaRunner& gpu, int N) {
  for (const quant::NodeQ& n : g.nodes) {
    SCOPED_TRACE(n.name);
    if (n.kind == quant::NodeKind::Dense || n.run_float) continue;  // the logits: end to end
    const std::vector<double> x = to_double(gpu.tensor_values(n.inputs[0], N));
    const std::vector<float> got = gpu.tensor_values(n.output, N);
    std::vector<double> want, bound;
    if (n.kind == quant::NodeKind::Conv) {
      Conv2dShape s = n.conv.shape;
      s.N = N;
      std::vector<float> bias(s.K);
      const float s_in = g.tensors[n.inputs[0]].scale;
      for (int k = 0; k < s.K; ++k)
        bias[k] =
            static_cast<float>(static_cast<double>(n.conv.bias[k]) * s_in * n.weight_scale[k]);
      const std::vector<double> res =
          n.conv.residual ? to_double(gpu.tensor_values(n.inputs[1], N)) : std::vector<double>{};
      const cuda_emu::testing::Fp16Reference r =
          fp16_conv_reference(s, relu_of(n), n.conv.residual, false, n.weights.data(),
                              n.weight_scale.data(), bias.data(), x, res);
      want = r.y, bound = r.bound;
    } else if (n.kind == quant::NodeKind::Add) {
      const std::vector<double> b = to_double(gpu.tensor_values(n.inputs[1], N));
      for (size_t i = 0; i < x.size(); ++i) {
        double v = x[i] + b[i];
        if (n.add.qmin == n.add.zp_out) v = std::max(v, 0.0);
        want.push_back(half_round(v));
        bound.push_back(0);
      }
    } else {  // pools: NHWC, the window over in-bounds elements
      const Pool2dShape& s = n.kind == quant::NodeKind::MaxPool ? n.pool : n.avg.shape;
      for (int b = 0; b < N; ++b)
        for (int p = 0; p < s.P; ++p)
          for (int q = 0; q < s.Q; ++q)
            for (int c = 0; c < s.C; ++c) {
              const PoolWindowSums w =
                  pool_window_sums(s, b, p, q, c, [&](std::size_t i) { return x[i]; });
              const double mx = w.max, sum = w.sum, sum_abs = w.sum_abs;
              const int count = w.count;
              if (n.kind == quant::NodeKind::MaxPool) {
                want.push_back(mx);
                bound.push_back(0);
              } else {
                want.push_back(sum / count);
                bound.push_back(kHalfUnitRoundoff * std::fabs(sum / count) +
                                kHalfSubnormalHalfSpacing +
                                (1 + kHalfUnitRoundoff) * (count + 1) * 0x1p-24 * sum_abs / count);
              }
            }
    }
    ASSERT_EQ(got.size(), want.size());
    size_t bad = 0, worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const double e = std::fabs(got[i] - want[i]);
      if (!(e <= bound[i])) ++bad;
      if (e - bound[i] > std::fabs(got[worst] - want[worst]) - bound[worst]) worst = i;
    }
    EXPECT_EQ(bad, 0u) << bad << " of " << got.size() << " outside the bound; worst #" << worst
                       << " got " << got[worst] << " want " << want[worst] << " bound "
                       << bound[worst];
  }
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i)
    d = std::max(d, std::fabs(static_cast<double>(a[i]) - b[i]));
  return d;
}

TEST(CudaEngineFp16, ResNet11LayersWithinTheHalfBoundAndLogitsCloseToFloat) {
  std::string why;
  ASSERT_TRUE(cuda::install_engine(&why)) << why;
  auto model = ecg::testing::random_resnet(32);
  quant::QuantizeOptions qo;
  qo.classes = {"a", "b", "c", "d"};
  qo.calib.method = quant::CalibMethod::MinMax;
  const Tensor images = Tensor::uniform({kBatch, 3, 32, 32}, 11, 0.0, 1.0);
  const quant::Int8Model m = quant::quantize_model(*model, {images}, qo);
  std::string float_conv;
  for (const quant::NodeQ& n : m.nodes)
    if (n.kind == quant::NodeKind::Conv && n.conv.residual) float_conv = n.name;
  ASSERT_FALSE(float_conv.empty());
  const quant::Int8Model mixed = quant::with_float_nodes(m, {float_conv});

  NoGradGuard no_grad;
  const std::vector<float> want = (*model)(images).contiguous().to_vector_f32();
  quant::Int8Runner int8_cpu(m, int8::best_int8_kernel(), kBatch, /*reuse_arena=*/false);
  const std::vector<float> int8_logits = int8_cpu.run(images).to_vector_f32();
  const double int8_err = max_abs_diff(int8_logits, want);
  const int C = m.num_classes();

  for (const quant::Int8Model* g : std::vector<const quant::Int8Model*>{&m, &mixed}) {
    SCOPED_TRACE(g == &m ? "int8 graph" : "one float conv");
    cuda::Fp16CudaRunner gpu(*g, kBatch, /*reuse_arena=*/false);
    EXPECT_STREQ(gpu.path_name(), "cuda-fp16");
    const std::vector<float> got = gpu.run(images.to(Device::cuda())).to_vector_f32();
    ASSERT_EQ(got.size(), want.size());
    check_layers(*g, gpu, kBatch);

    const double err = max_abs_diff(got, want);
    EXPECT_LE(err, kInt8ErrorFactor * int8_err)
        << "fp16 logits further from float than the int8 runner's";
    RecordProperty(g == &m ? "fp16_vs_float" : "fp16_mixed_vs_float", std::to_string(err));
    RecordProperty("int8_vs_float", std::to_string(int8_err));
    int decided = 0;
    for (int b = 0; b < kBatch; ++b) {
      const float* f = want.data() + b * C;
      const int top = static_cast<int>(std::max_element(f, f + C) - f);
      float second = -INFINITY;
      for (int c = 0; c < C; ++c)
        if (c != top) second = std::max(second, f[c]);
      if (f[top] - second <= 2 * int8_err) continue;
      ++decided;
      const float* h = got.data() + b * C;
      EXPECT_EQ(std::max_element(h, h + C) - h, top) << "image " << b;
    }
    RecordProperty("images_with_a_clear_float_top1", std::to_string(decided));

    if (g != &m) continue;
    // Inputs beyond the half range (65,504) give inf: a one-line error, not
    // silent inf or NaN logits.
    EXPECT_THROW(gpu.run(Tensor::uniform({1, 3, 32, 32}, 5, 7e4, 8e4)), Error);
    // The planned arena (lifetimes, in-place residual adds): the same bits.
    cuda::Fp16CudaRunner planned(*g, kBatch, /*reuse_arena=*/true);
    EXPECT_LT(planned.arena_bytes(), gpu.arena_bytes());
    EXPECT_EQ(planned.run(images).to_vector_f32(), got);
  }
}

}  // namespace
