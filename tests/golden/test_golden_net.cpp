// Three Adam steps of a tiny network against PyTorch (tests/golden/net_adam.bin):
//   x [4,3,8,8] -> conv 3x3 same (4 filters, bias) -> batch norm (train,
//   Keras momentum 0.99, eps 1e-3) -> ReLU -> max pool 2/2 -> flatten (64)
//   -> linear 64->3 -> softmax cross-entropy (one-hot) + 1e-3 * sum(conv.w^2)
// with Adam lr 1e-2 in PyTorch's epsilon convention (torch.optim.Adam, eps 1e-8)
// and in Keras' (eps 1e-7 added to sqrt(v), emulated by a manual update in the
// generator). Checked: the loss before each step, every gradient of step 1,
// every parameter and the running statistics after each step.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "core/ops.h"
#include "optim/optimizer.h"
#include "tests/golden/golden_test_util.h"

namespace ecg::golden {
namespace {

const char* const kParams[] = {"conv.w", "conv.b", "bn.gamma", "bn.beta", "fc.w", "fc.b"};

class GoldenNet : public ::testing::TestWithParam<Variant> {};

// Float32 tolerances. The loss and gradients of step 1 come from the same
// sums as the op tests. Adam divides m by sqrt(v): the update size is lr
// times a ratio of order 1 that float32 gets to ~1e-6 relative, so after
// three steps parameters sit within ~1e-7 of PyTorch's, except where a
// gradient is ~0 (see kConvBias).
const Tolerance kLoss{0, 2e-6, "f32 forward through 5 ops, loss ~1"};            // observed 0.13
const Tolerance kGrad{1e-6, 1e-4, "f32 backward through 5 ops"};                 // observed 0.069
const Tolerance kParam{2e-6, 1e-5, "f32 Adam: lr * O(1) ratio, 3 steps"};        // observed 0.012
const Tolerance kRunning{1e-6, 1e-5, "f32 running stats: 0.99 r + 0.01 batch"};  // observed 0.0095
// The conv bias feeds straight into batch norm, which subtracts the batch
// mean: its true gradient is exactly 0, and what any float path computes is
// rounding noise (~1e-9 in f32, ~1e-17 in f64). Adam divides that noise by
// sqrt(v) + eps, and at the first step m/sqrt(v) is +-1 whatever the size of
// the gradient: in float32 the bias moves by about +-lr per step in a direction
// set by rounding, while PyTorch's f64 run moves it by its own noise. Two such
// paths can part by 2 lr per step, 6e-2 after three. Its gradient is checked
// against 0 with an absolute bound, its value with that worst case (observed
// up to 0.45 of it: the f32 path did walk ~lr a step the other way).
// The study's conv units (bias before batch norm) have the same property in Keras.
const Tolerance kConvBiasGrad{1e-6, 0, "true gradient 0; f32 rounding noise"};  // observed 0.16
const Tolerance kConvBias{6e-2, 0, "Adam amplifies f32 noise of a zero gradient"};
// The running mean averages the conv output, bias included, with weight 0.01
// per step: once the bias has moved by noise (above), the running mean
// inherits 0.01 of that: under 0.01 * 6e-2 = 6e-4 after three steps.
const Tolerance kRunningMeanAfterUpdate{6e-4, 0, "inherits 1% of the noisy conv bias"};  // 0.46

// The float64 path cannot match PyTorch's float64 Adam to kF64: AdamParams
// (kernels/kernel_api.h) holds lr, betas and eps as float, so lr = 1e-2 runs
// as 0.00999999977 (2.2e-8 relative) and beta2 = 0.999 as 0.99900001. Every
// update is then off by ~2e-8 of its size (~1e-2): ~2e-10 per step, and the
// loss of steps 2-3 moves by ~1e-8 relative. Reported to the lead; switching
// those fields to double would let this use kF64.
const Tolerance kF64Adam{2e-9, 1e-7, "f64 Adam with float hyperparameters"};  // observed 0.34

Tensor forward(const std::map<std::string, Tensor>& p, const Tensor& x, const Tensor& target,
               Tensor& rm, Tensor& rv, double l2) {
  Tensor h = conv2d(x, p.at("conv.w"), p.at("conv.b"), Conv2dOptions::same(1));
  BatchNormOptions bn;  // momentum 0.99, eps 1e-3 as in the generator
  h = batch_norm(h, p.at("bn.gamma"), p.at("bn.beta"), rm, rv, /*training=*/true, bn);
  h = max_pool2d(relu(h), Pool2dOptions::window(2, 2));
  Tensor z = linear(flatten(h), p.at("fc.w"), p.at("fc.b"));
  return add(softmax_cross_entropy(z, target), l2_penalty(p.at("conv.w"), l2));
}

void run(const Variant& v, const std::string& variant, const std::string& optimizer) {
  ECG_SKIP_IF_CPU_LACKS(v.isa);
  IsaScope isa(v.isa);
  const DType dt = v.dtype;
  static const GoldenFile g = GoldenFile::load(golden_path("net_adam.bin"));
  const GoldenTensor& hp = g.get("net/hparams");  // lr, l2, bn momentum, bn eps
  ASSERT_EQ(hp.values.size(), 4u);
  const double lr = hp.values[0], l2 = hp.values[1];
  ASSERT_EQ(hp.values[2], 0.99);
  ASSERT_EQ(hp.values[3], 1e-3);

  std::map<std::string, Tensor> p;
  std::vector<Tensor*> list;
  for (const char* name : kParams) p[name] = g.tensor(std::string("net/init/") + name, dt);
  for (const char* name : kParams) list.push_back(&p[name].set_requires_grad(true));
  Tensor x = g.tensor("net/x", dt), target = g.tensor("net/target", dt);
  Tensor rm = Tensor::zeros({4}, dt), rv = Tensor::full({4}, 1.0, dt);
  auto opt = make_optimizer(optimizer, list, lr);

  const bool f64 = dt == DType::F64;
  // `updated`: the value depends on an Adam update, so in f64 it carries the
  // float hyperparameters (kF64Adam).
  auto check = [&](const std::string& name, const Tensor& t, const Tolerance& f32, bool updated) {
    expect_close(name + (f64 ? " (f64)" : std::string(" (f32, ") + isa_name(v.isa) + ")"), t,
                 g.get(name), f64 ? (updated ? kF64Adam : kF64) : f32);
  };
  for (int step = 1; step <= 3; ++step) {
    const std::string pre = "net/" + variant + "/step" + std::to_string(step) + "/";
    for (Tensor* t : list) t->zero_grad();
    Tensor loss = forward(p, x, target, rm, rv, l2);
    check(pre + "loss", loss, kLoss, step > 1);
    loss.backward();
    if (step == 1)
      for (const char* name : kParams) {
        const bool bias = std::string(name) == "conv.b";
        // f64 noise of the zero conv-bias gradient is ~1e-17: within kF64's atol.
        check(pre + "grad/" + name, p[name].grad(), bias ? kConvBiasGrad : kGrad, false);
      }
    opt->step();
    for (const char* name : kParams) {
      const bool bias = std::string(name) == "conv.b";
      check(pre + "param/" + name, p[name], bias ? kConvBias : kParam, true);
    }
    // Step 1's batch statistics precede any update; later ones see updated weights.
    check(pre + "running_mean", rm, step > 1 ? kRunningMeanAfterUpdate : kRunning, step > 1);
    check(pre + "running_var", rv, kRunning, step > 1);
  }
  EXPECT_EQ(opt->steps(), 3);
}

TEST_P(GoldenNet, ThreeAdamStepsPyTorchEpsilon) {
  run(GetParam(), "adam_torch", "adam-torch");
}
TEST_P(GoldenNet, ThreeAdamStepsKerasEpsilon) {
  run(GetParam(), "adam_keras", "adam");
}

INSTANTIATE_TEST_SUITE_P(Variants, GoldenNet, ::testing::ValuesIn(all_variants()), variant_name);

}  // namespace
}  // namespace ecg::golden
