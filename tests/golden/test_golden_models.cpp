// The study's models (models/models.cpp) against the same networks written
// out in PyTorch (make_golden.py): one forward and three steps of the study's
// Keras Adam (lr 1e-3, eps 1e-7) on softmax cross-entropy (+ L2 1e-4 on every
// conv kernel for ResNets).
//   ResNet-11: batch 2 at 32x32.
//   AlexNet:   batch 3 at 215x215, its smallest input (one pixel at the
//              last pool); dropout switched off on both sides, since its mask
//              comes from ecg's generator (test_golden_ops checks dropout).
// Checked: loss before each step, logits and every gradient of step 1, every
// parameter and running statistic after step 3. This covers the models'
// wiring (TF-same padding per conv, stride placement, fused BN+ReLU,
// projection shortcuts, head pool and flatten order, regularisation).
//
// Weights (and AlexNet's input) come from a hash of each tensor's name (see
// make_golden.py), computed identically here, so no megabytes of weights are
// committed. Big tensors are compared on 32 samples plus sum and sum of squares.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/ops.h"
#include "kernels/op_table.h"
#include "models/models.h"
#include "optim/optimizer.h"
#include "tests/golden/golden_test_util.h"

namespace ecg::golden {
namespace {

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

double hash_uniform(uint64_t seed, uint64_t i) {
  uint64_t z = seed + i + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1p-53;
}

// make_golden.py's hashed_init: He-like uniform kernels, 1 +- 0.2 BN scales,
// +-0.1 biases, rounded to float32 (then widened for the f64 run).
Tensor hashed_init(const std::string& name, const Shape& shape, DType dt) {
  const int64_t n = shape_numel(shape);
  const uint64_t seed = fnv1a64(name);
  std::vector<double> v(static_cast<size_t>(n));
  const bool bn_scale =
      shape.size() == 1 && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
  for (int64_t i = 0; i < n; ++i) {
    const double u = 2.0 * hash_uniform(seed, static_cast<uint64_t>(i)) - 1.0;
    double x;
    if (shape.size() >= 2)
      x = u * std::sqrt(3.0) * std::sqrt(2.0 / static_cast<double>(n / shape[0]));
    else
      x = bn_scale ? 1.0 + 0.2 * u : 0.1 * u;
    v[i] = static_cast<float>(x);
  }
  Tensor t = Tensor::from_vector(v, shape);
  return dt == DType::F64 ? t : t.to(DType::F32);
}

const GoldenFile& model_file(const std::string& model) {
  static std::map<std::string, GoldenFile> cache;
  auto it = cache.find(model);
  if (it == cache.end())
    it = cache.emplace(model, GoldenFile::load(golden_path(model + ".bin"))).first;
  return it->second;
}

// Compares a whole small tensor, or the stored sample and (sum, sum of squares).
void expect_summary(const GoldenFile& g, const std::string& name, const Tensor& t,
                    const Tolerance& tol, const Tolerance& sums_tol, const std::string& label) {
  const std::vector<double> v = t.to_vector_f64();
  if (g.has(name)) {
    expect_close(name + label, Tensor::from_vector(v, {static_cast<int64_t>(v.size())}),
                 g.get(name), tol);
    return;
  }
  const int64_t n = static_cast<int64_t>(v.size());
  std::vector<double> sample, sums{0, 0};
  for (int k = 0; k < 32; ++k) {
    // numpy.linspace(0, n - 1, 32).round(): round half to even, as numpy does.
    sample.push_back(v[static_cast<size_t>(std::nearbyint((n - 1) * (k / 31.0)))]);
  }
  for (double x : v) sums[0] += x, sums[1] += x * x;
  expect_close(name + "/sample" + label, Tensor::from_vector(sample, {32}), g.get(name + "/sample"),
               tol);
  expect_close(name + "/sum_sumsq" + label, Tensor::from_vector(sums, {2}),
               g.get(name + "/sum_sumsq"), sums_tol);
}

// Per-model tolerances. Observed margins (worst |err|/bound with
// ECG_GOLDEN_MARGINS=1, 2026-11-25, f32 on avx512) are written beside each.
// ResNet-11's input was redrawn on 2026-12-07 so that no ReLU input of the
// reference run lies within 3e-6 of zero (make_golden.py, RELU_MARGIN): the old
// one put a stage-0 pre-activation at 2e-7, where float32 rounding decided the
// gate and AVX2 landed on the other side. Worst margins since, over generic,
// avx2 and avx512: step-3 loss 0.31, step-1 loss 0.21, everything else < 0.08.
struct ModelTolerances {
  Tolerance loss32, loss_updated32, logits32, grad32, grad_sums32, param32, param_sums32,
      noisy_bias32, running32;
  Tolerance loss64, param64, sums64;
};

// Float32 ResNet-11: errors grow through 11 conv layers and three updates.
// Sums of a tensor cancel (the sum of a kernel is ~0 while each term is ~0.1),
// hence the absolute parts.
const ModelTolerances kResNet{
    {0, 1e-5, "f32 forward through 11 convs"},  // observed 0.17
    // After updates: Adam's first steps are nearly sign(g) * lr, so the 1e-4
    // relative f32 error of small gradients moves the loss by ~1e-5.
    {0, 5e-5, "f32 gradient errors steer Adam's early steps"},  // 0.3
    {1e-5, 1e-4, "f32 through 11 convs, |z|~1"},                // observed 0.005
    {1e-5, 1e-3, "f32 backward through 11 convs"},              // observed 0.018
    {1e-4, 1e-3, "f32 sums of gradients"},                      // observed 0.084
    {2e-6, 1e-4, "f32 Adam, 3 steps of lr 1e-3"},               // observed 0.03
    {2e-3, 1e-4, "sums over <= 37k f32 params"},                // observed 0.03
    // Conv biases before batch norm have a zero true gradient (see
    // test_golden_net.cpp): Keras Adam moves them by up to lr per step on f32
    // rounding noise; two paths can part by 2 lr a step, 6e-3 after three.
    {6e-3, 0, "Adam on noise of a zero conv-bias gradient"},  // 0.02
    // Running means average conv outputs (noisy biases included) at 1% per step.
    {1e-4, 1e-4, "1% of conv output and noisy bias per step"},  // 0.015
    // Float64: the reference path, PyTorch's arithmetic up to summation order,
    // except that AdamParams holds lr, betas and eps as float: lr = 1e-3 runs
    // as 1.00000005e-3, 1 - beta2 is off by 1.3e-5 relative, and Adam's
    // updates (~lr each) are off by up to ~1e-6 of their size.
    {1e-12, 3e-7, "f64 after updates with float hyperparameters"},  // 0.2
    {5e-9, 1e-9, "f64 Adam with float hyperparameters"},            // observed 0.3
    {1e-6, 1e-9, "f64 sums of <= 37k such parameters"}};            // observed 0.25

// Float32 AlexNet is badly conditioned on three samples, whatever computes it:
// it amplifies float32 rounding ~1000x. PyTorch's own float32 run of the same
// network (measured with the generator's functions) is off its float64 run by
// 3.7e-5 in the logits, up to 5e-4 in step-1 gradients (conv1.weight, |g| up
// to 4.3), 1.7e-5 in parameters after three steps (Adam flips the sign of
// near-zero gradients: +-lr per step), 1e-5 in running means, and 1.3e-4
// relative in the step-3 loss, by which point the network has fit its 3
// samples (loss 1.6 -> 0.06). How far ecg lands depends on the summation order
// of its reductions: the release build (2026-11-25) is off by 7e-6 in the
// logits, the ASan+UBSan build (all ISAs) by 2.7e-4 (not uninitialised memory:
// changing ASan's malloc fill byte leaves it bit-identical). The bounds cover
// the sanitizer build; the observed margins are release / sanitizer.
const ModelTolerances kAlexNet{
    {0, 1e-4, "f32 forward, ~1000x amplification of rounding"},         // 0.08 / 0.05
    {1e-3, 1e-3, "loss ~0.06 after fitting: compared absolutely"},      // 0.06 / 0.3
    {5e-4, 1e-3, "logits; PyTorch f32 off by 3.7e-5"},                  // 0.013 / 0.45
    {3e-3, 3e-3, "PyTorch's own f32 gradients are off by up to 5e-4"},  // 0.036 / 0.58
    {3e-2, 3e-3, "sums of such gradients"},                             // 0.07 / 0.6
    {6e-5, 1e-4, "Adam flips near-zero gradients: 2 lr x 3 steps"},     // 0.1 / 0.15
    {2e-2, 1e-4, "sums over <= 3M such parameters"},                    // 0.005 / 0.07
    {6e-5, 1e-4, "no conv feeds batch norm directly in AlexNet"},       // unused
    {5e-5, 1e-4, "f32 running statistics (PyTorch f32: 1e-5)"},         // 0.07 / 0.32
    {1e-12, 3e-7, "f64 after updates with float hyperparameters"},      // observed 0.16
    {5e-9, 1e-9, "f64 Adam with float hyperparameters"},                // observed 0.19
    {1e-6, 1e-9, "f64 sums of such parameters"}};                       // observed 0.05

bool ends_with(const std::string& s, const std::string& e) {
  return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
}

// Conv biases that feed batch norm (ResNet convs except the projection shortcuts).
bool feeds_batch_norm(const std::string& model, const std::string& name) {
  return model != "alexnet" && (ends_with(name, "stem_conv.bias") ||
                                ends_with(name, "conv1.bias") || ends_with(name, "conv2.bias"));
}

void run_model(const std::string& model_name, DType dt, const ModelTolerances& tol) {
  const bool f64 = dt == DType::F64;
  const std::string label = f64 ? " (f64)" : std::string(" (f32, ") + isa_name(active_isa()) + ")";
  const GoldenFile& g = model_file(model_name);
  const std::string root = model_name + "/";
  const GoldenTensor& hp = g.get(root + "hparams");  // size, classes, l2, lr
  ModelConfig cfg;
  cfg.name = model_name;
  cfg.image_size = static_cast<int>(hp.values[0]);
  cfg.classes = static_cast<int>(hp.values[1]);
  cfg.l2 = hp.values[2];
  const double lr = hp.values[3];
  std::shared_ptr<Model> model = build_model(cfg);
  model->train();
  for (const auto& layer : model->layers())
    if (layer->kind() == "Dropout") layer->eval();

  // Same parameter names and shapes as the PyTorch network, then the hashed weights.
  auto params = model->named_parameters();
  int stored = 0;
  for (const std::string& n : g.names()) stored += n.rfind(root + "shape/", 0) == 0;
  ASSERT_EQ(static_cast<int>(params.size()), stored);
  for (auto& [name, t] : params) {
    std::vector<int64_t> shape = g.ints(root + "shape/" + name);
    ASSERT_EQ(t->shape(), Shape(shape.begin(), shape.end())) << name;
    *t = hashed_init(name, t->shape(), dt);
    t->set_requires_grad(true);
    const std::vector<double> first = t->to_vector_f64();
    const GoldenTensor& check = g.get(root + "init_check/" + name);
    for (size_t i = 0; i < check.values.size(); ++i)
      ASSERT_EQ(first[i], check.values[i]) << "hashed init differs from Python for " << name;
  }
  for (auto& [name, t] : model->named_buffers()) *t = t->to(dt);

  Tensor x;
  if (g.has(root + "x")) {
    x = g.tensor(root + "x", dt);
  } else {  // make_golden.py's alexnet_input(): hashed noise plus a checkerboard per sample
    const int S = cfg.image_size;
    const int64_t n = 3LL * 3 * S * S;
    std::vector<double> v(static_cast<size_t>(n));
    const uint64_t seed = fnv1a64(model_name + ".input");
    for (int64_t i = 0; i < n; ++i) {
      const int64_t b = i / (3LL * S * S), h = (i / S) % S, w = i % S, period = 8 * (b + 2);
      const double pattern = static_cast<double>((h / period + w / period) % 2);
      const double u = hash_uniform(seed, static_cast<uint64_t>(i));
      v[i] = static_cast<float>(0.4 * u + 0.6 * ((b + 1) / 3.0) * pattern);
    }
    x = Tensor::from_vector(v, {3, 3, S, S});
    if (!f64) x = x.to(DType::F32);
  }
  Tensor target = g.tensor(root + "target", dt);

  std::vector<Tensor*> plist;
  for (auto& kv : params) plist.push_back(kv.second);
  auto opt = make_optimizer("adam", plist, lr);  // Keras epsilon convention, eps 1e-7
  for (int step = 1; step <= 3; ++step) {
    const std::string pre = root + "step" + std::to_string(step) + "/";
    model->zero_grad();
    Tensor logits = (*model)(x);
    Tensor loss = softmax_cross_entropy(logits, target);
    Tensor reg = model->regularization_loss();  // undefined when no layer has L2
    if (reg.defined()) loss = add(loss, reg);
    const Tolerance& loss_tol =
        step == 1 ? (f64 ? kF64 : tol.loss32) : (f64 ? tol.loss64 : tol.loss_updated32);
    expect_close(pre + "loss" + label, loss, g.get(pre + "loss"), loss_tol);
    loss.backward();
    if (step == 1) {
      expect_close(pre + "logits" + label, logits, g.get(pre + "logits"),
                   f64 ? kF64 : tol.logits32);
      for (auto& [name, t] : params)
        expect_summary(g, pre + "grad/" + name, t->grad(), f64 ? kF64 : tol.grad32,
                       f64 ? kF64 : tol.grad_sums32, label);
    }
    opt->step();
  }
  for (auto& [name, t] : params)
    expect_summary(g, root + "after3/param/" + name, *t,
                   f64                                  ? tol.param64
                   : feeds_batch_norm(model_name, name) ? tol.noisy_bias32
                                                        : tol.param32,
                   f64 ? tol.sums64 : tol.param_sums32, label);
  for (auto& [name, t] : model->named_buffers()) {
    const bool mean = ends_with(name, ".running_mean");
    const std::string layer = name.substr(0, name.rfind('.'));
    const std::string key = root + "after3/" + (mean ? "running_mean/" : "running_var/") + layer;
    expect_summary(g, key, *t, f64 ? tol.param64 : tol.running32, f64 ? tol.sums64 : tol.running32,
                   label);
  }
}

// Records which outputs of every ReLU (fused into batch norm, or alone) are
// positive, by wrapping one kernel level's slots of the op table.
class GateRecorder {
 public:
  GateRecorder(Isa isa, std::vector<std::vector<uint8_t>>* out) : isa_(isa) {
    out_ = out;
    bn_ = ops().batch_norm_forward_train.exact(DeviceType::CPU, isa);
    relu_ = ops().relu_forward.exact(DeviceType::CPU, isa);
    ops().batch_norm_forward_train.set(DeviceType::CPU, isa, &bn_hook);
    ops().relu_forward.set(DeviceType::CPU, isa, &relu_hook);
  }
  ~GateRecorder() {
    ops().batch_norm_forward_train.set(DeviceType::CPU, isa_, bn_);
    ops().relu_forward.set(DeviceType::CPU, isa_, relu_);
    out_ = nullptr;
  }

 private:
  static void record(const float* y, int64_t n) {
    out_->emplace_back(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out_->back()[static_cast<size_t>(i)] = y[i] > 0.f;
  }
  static void bn_hook(const BatchNormShape& s, const float* x, const float* gamma,
                      const float* beta, float eps, bool fuse_relu, float* y, float* mean,
                      float* invstd, float* var) {
    bn_(s, x, gamma, beta, eps, fuse_relu, y, mean, invstd, var);
    if (fuse_relu) record(y, static_cast<int64_t>(s.N) * s.C * s.HW);
  }
  static void relu_hook(int64_t n, const float* x, float* y) {
    relu_(n, x, y);
    record(y, n);
  }
  Isa isa_;
  static inline std::vector<std::vector<uint8_t>>* out_ = nullptr;
  static inline BatchNormForwardTrainFn bn_ = nullptr;
  static inline ReluForwardFn relu_ = nullptr;
};

// A golden model must not leave a ReLU to float32 rounding: an input a few
// roundings from zero lands on either side depending on summation order, and
// the flipped gate moves gradients by a whole upstream term. The first
// ResNet-11 input had one at 2e-7 (AVX2 zeroed it; generic and AVX-512 did
// not), and the golden test failed at avx2 only, 20x outside its bound. This
// checks the input itself: every gate of the first step agrees at every level.
TEST(GoldenModelsConditioning, ResNet11ReluGatesAgreeAtEveryLevel) {
  std::vector<std::vector<uint8_t>> first;
  Isa first_isa = Isa::Ref;
  for (Isa isa : architecture_levels()) {
    if (!isa_supported(isa)) continue;
    IsaScope scope(isa);
    std::vector<std::vector<uint8_t>> gates;
    {
      GateRecorder recorder(isa, &gates);
      run_model("resnet11", DType::F32, kResNet);
    }
    if (first.empty()) {
      first = std::move(gates), first_isa = isa;
      continue;
    }
    ASSERT_EQ(gates.size(), first.size()) << isa_name(isa);
    ASSERT_EQ(gates.size() % 3, 0u);
    // Step 1 only: its gradients are compared element by element. By step 3
    // the float32 runs have taken two Adam steps on their own gradients (noisy
    // conv biases move by ~lr on rounding), so their activations part by more
    // than rounding; the golden test compares only that step's loss and the
    // parameters after it, with tolerances that allow for it.
    for (size_t call = 0; call < gates.size() / 3; ++call) {
      ASSERT_EQ(gates[call].size(), first[call].size());
      size_t differ = 0, where = 0;
      for (size_t i = 0; i < gates[call].size(); ++i)
        if (gates[call][i] != first[call][i]) where = differ++ ? where : i;
      EXPECT_EQ(differ, 0u) << "ReLU call " << call << ": " << differ << " gates differ between "
                            << isa_name(first_isa) << " and " << isa_name(isa)
                            << ", the first at element " << where;
    }
  }
}

// One suite over every variant: float64 on the reference, float32 at each
// kernel level of the architecture (skipped by name where the CPU lacks it).
class GoldenModels : public VariantTest {};

TEST_P(GoldenModels, ResNet11OneForwardAndThreeKerasAdamSteps) {
  run_model("resnet11", GetParam().dtype, kResNet);
}

// AlexNet on the scalar reference (float64, or float32 at the ref level:
// 3 x 0.9 GMAC per step) takes minutes, too slow for every CI run;
// ECG_GOLDEN_SLOW=1 adds them.
TEST_P(GoldenModels, AlexNetOneForwardAndThreeKerasAdamSteps) {
  if (GetParam().isa == Isa::Ref && !std::getenv("ECG_GOLDEN_SLOW"))
    GTEST_SKIP() << "AlexNet on the scalar reference takes minutes; set ECG_GOLDEN_SLOW=1";
  run_model("alexnet", GetParam().dtype, kAlexNet);
}

INSTANTIATE_TEST_SUITE_P(Variants, GoldenModels, ::testing::ValuesIn(all_variants()), variant_name);

}  // namespace
}  // namespace ecg::golden
