// Optimisers against PyTorch's torch.optim (and a Keras Adam written out by
// hand) from tests/golden/optim.bin: four updates of a 37-element parameter
// whose first four gradient entries are ~1e-6 of the rest, where the Keras
// and PyTorch epsilon conventions part most. Checked at three levels: every
// registered update kernel (each ISA) and the f64 reference, the Optimizer
// classes from make_optimizer in f32 and f64, and checkpoint state round trips.
// Also gradient clipping by global norm.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "kernels/op_table.h"
#include "kernels/ref/optimizer_ref.h"
#include "optim/optimizer.h"
#include "tests/golden/golden_test_util.h"

namespace ecg {
namespace {

using golden::GoldenFile;
using golden::Tolerance;

const GoldenFile& optim_file() {
  static const GoldenFile g = GoldenFile::load(golden::golden_path("optim.bin"));
  return g;
}

constexpr int kSteps = 4;

// Float32: the parameter (|p| ~ 1) is rounded at each write, 2^-24 relative:
// once per step, twice for AdamW (decay, then the Adam step), so 8 roundings
// = 4.8e-7 over 4 steps; the update's own few ulps of lr are far smaller.
const Tolerance kF32Update{1e-8, 5e-7, "f32: <= 8 roundings of p"};  // observed 0.40 (AdamW)
// Float64: AdamParams and SgdParams hold lr, betas, momentum and eps as
// float (kernels/kernel_api.h), so lr = 1e-2 runs as 0.00999999977, 0.1 as
// 0.100000001 and momentum 0.9 as 0.899999976: each update is off by ~2e-8 of
// its size, and SGD updates with momentum grow to ~0.4 by step 4 (Nesterov).
const Tolerance kF64Update{5e-8, 1e-12, "f64 update with float hyperparameters"};  // observed 0.26

struct Case {
  const char* name;
  bool adam;
  AdamParams a;
  SgdParams s;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  AdamParams torch;
  torch.lr = 1e-2f;
  torch.eps = 1e-8f;
  torch.keras_eps = false;
  AdamParams l2 = torch;
  l2.weight_decay = 0.1f;
  AdamParams adamw = torch;
  adamw.weight_decay = 1e-2f;
  adamw.decoupled = true;
  AdamParams keras;
  keras.lr = 1e-2f;
  keras.eps = 1e-7f;
  keras.keras_eps = true;
  SgdParams sgd;
  sgd.lr = 0.1f;
  SgdParams momentum = sgd;
  momentum.momentum = 0.9f;
  SgdParams nesterov = momentum;
  nesterov.nesterov = true;
  nesterov.weight_decay = 1e-2f;
  SgdParams damp = momentum;
  damp.dampening = 0.3f;
  out.push_back({"adam_torch", true, torch, {}});
  out.push_back({"adam_torch_l2", true, l2, {}});
  out.push_back({"adamw", true, adamw, {}});
  out.push_back({"adam_keras", true, keras, {}});
  out.push_back({"sgd", false, {}, sgd});
  out.push_back({"sgd_momentum", false, {}, momentum});
  out.push_back({"sgd_nesterov_wd", false, {}, nesterov});
  out.push_back({"sgd_dampening", false, {}, damp});
  return out;
}

// Runs the four updates with `f32` (a kernel) or, when null, the f64 reference.
template <class T>
void run_kernel(const Case& c, AdamUpdateFn adam32, SgdUpdateFn sgd32, const std::string& label) {
  const GoldenFile& g = optim_file();
  std::vector<T> p, m(37, 0), v(37, 0);
  for (double x : g.get("optim/p0").values) p.push_back(static_cast<T>(x));
  for (int step = 1; step <= kSteps; ++step) {
    std::vector<T> grad;
    for (double x : g.get("optim/grad" + std::to_string(step)).values)
      grad.push_back(static_cast<T>(x));
    const int64_t n = static_cast<int64_t>(p.size());
    if (c.adam) {
      AdamParams hp = c.a;
      hp.step = step;
      if constexpr (std::is_same<T, float>::value)
        adam32(n, hp, p.data(), grad.data(), m.data(), v.data());
      else
        ref::adam_update(n, hp, p.data(), grad.data(), m.data(), v.data());
    } else {
      SgdParams hp = c.s;
      hp.first_step = step == 1;
      if constexpr (std::is_same<T, float>::value)
        sgd32(n, hp, p.data(), grad.data(), m.data());
      else
        ref::sgd_update(n, hp, p.data(), grad.data(), m.data());
    }
    const std::string name = std::string("optim/") + c.name + "/step" + std::to_string(step);
    Tensor actual = Tensor::from_vector(std::vector<T>(p.begin(), p.end()), {n});
    golden::expect_close(name + " (" + label + ")", actual, g.get(name),
                         std::is_same<T, float>::value ? kF32Update : kF64Update);
  }
}

TEST(OptimizerKernels, EveryRegisteredVariantMatchesPyTorch) {
  int variants = 0;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    run_kernel<double>(c, nullptr, nullptr, "f64 ref");
    for (int i = 0; i < static_cast<int>(Isa::Count); ++i) {
      const Isa isa = static_cast<Isa>(i);
      AdamUpdateFn a = ops().adam_update.exact(DeviceType::CPU, isa);
      SgdUpdateFn s = ops().sgd_update.exact(DeviceType::CPU, isa);
      if (!isa_supported(isa) || !(c.adam ? a != nullptr : s != nullptr)) continue;
      run_kernel<float>(c, a, s, std::string("f32 ") + isa_name(isa));
      ++variants;
    }
  }
  EXPECT_GE(variants, 8) << "the scalar reference must be registered for every case";
}

// ---- the Optimizer classes ----------------------------------------------------------------

struct ClassCase {
  const char* factory;  // make_optimizer name
  const char* golden;   // optim.bin variant with the same hyperparameters
  double lr;
};

const ClassCase kClassCases[] = {{"adam-torch", "adam_torch", 1e-2},
                                 {"adam", "adam_keras", 1e-2},
                                 {"adamw", "adamw", 1e-2},  // weight decay 1e-2, as torch's default
                                 {"sgd", "sgd_momentum", 0.1}};

class OptimizerClasses : public ::testing::TestWithParam<DType> {};

TEST_P(OptimizerClasses, MatchPyTorchOverFourSteps) {
  const DType dt = GetParam();
  const GoldenFile& g = optim_file();
  for (const ClassCase& c : kClassCases) {
    SCOPED_TRACE(c.factory);
    Tensor p = g.tensor("optim/p0", dt).set_requires_grad(true);
    // A second parameter without a gradient must be left alone.
    Tensor idle = Tensor::full({3}, 2.0, dt).set_requires_grad(true);
    auto opt = make_optimizer(c.factory, {&p, &idle}, c.lr);
    EXPECT_DOUBLE_EQ(opt->lr(), static_cast<float>(c.lr));
    for (int step = 1; step <= kSteps; ++step) {
      p.set_grad(g.tensor("optim/grad" + std::to_string(step), dt));
      opt->step();
      const std::string name = std::string("optim/") + c.golden + "/step" + std::to_string(step);
      golden::expect_close(name + " via make_optimizer(" + c.factory + ")", p, g.get(name),
                           dt == DType::F64 ? kF64Update : kF32Update);
    }
    EXPECT_EQ(opt->steps(), kSteps);
    EXPECT_EQ(idle.to_vector_f64(), std::vector<double>(3, 2.0));
  }
}

// Saving state after two steps and loading it into a fresh optimiser must
// give the same steps 3 and 4 as an uninterrupted run (training resume).
TEST_P(OptimizerClasses, StateRoundTripResumesExactly) {
  const DType dt = GetParam();
  const GoldenFile& g = optim_file();
  for (const ClassCase& c : kClassCases) {
    SCOPED_TRACE(c.factory);
    auto grad = [&](int step) { return g.tensor("optim/grad" + std::to_string(step), dt); };
    Tensor a = g.tensor("optim/p0", dt).set_requires_grad(true);
    auto first = make_optimizer(c.factory, {&a}, c.lr);
    for (int step = 1; step <= 2; ++step) {
      a.set_grad(grad(step));
      first->step();
    }
    std::map<std::string, Tensor> saved;
    for (auto& kv : first->state()) saved[kv.first] = kv.second.clone();
    EXPECT_FALSE(saved.empty());
    Tensor b = a.detach().clone().set_requires_grad(true);
    auto resumed = make_optimizer(c.factory, {&b}, c.lr);
    resumed->load_state(saved, first->steps());
    for (int step = 3; step <= kSteps; ++step) {
      a.set_grad(grad(step));
      b.set_grad(grad(step));
      first->step();
      resumed->step();
    }
    EXPECT_EQ(a.to_vector_f64(), b.to_vector_f64()) << "resumed run differs";
    EXPECT_EQ(resumed->steps(), kSteps);
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, OptimizerClasses, ::testing::Values(DType::F32, DType::F64),
                         [](const ::testing::TestParamInfo<DType>& i) {
                           return std::string(dtype_name(i.param));
                         });

TEST(Optimizer, LoadStateRejectsWrongShape) {
  Tensor p = Tensor::zeros({4}).set_requires_grad(true);
  auto opt = make_optimizer("adam", {&p}, 1e-3);
  std::map<std::string, Tensor> st{{"m.0", Tensor::zeros({5})}, {"v.0", Tensor::zeros({5})}};
  EXPECT_THROW(opt->load_state(st, 1), Error);
}

TEST(Optimizer, SetLrAndUnknownName) {
  Tensor p = Tensor::zeros({2}).set_requires_grad(true);
  auto opt = make_optimizer("sgd", {&p}, 0.5);
  opt->set_lr(0.25);
  EXPECT_DOUBLE_EQ(opt->lr(), 0.25);
  p.set_grad(Tensor::full({2}, 1.0));
  opt->step();  // first step: momentum buffer = gradient, p -= 0.25
  EXPECT_EQ(p.to_vector_f64(), (std::vector<double>{-0.25, -0.25}));
  EXPECT_THROW(make_optimizer("adagrad", {&p}, 0.1), Error);
}

// ---- gradient clipping -------------------------------------------------------------------

TEST(ClipGradNorm, ScalesAllGradientsByTheGlobalNorm) {
  Tensor a = Tensor::zeros({2}, DType::F64).set_requires_grad(true);
  Tensor b = Tensor::zeros({1}, DType::F64).set_requires_grad(true);
  Tensor none = Tensor::zeros({3}, DType::F64).set_requires_grad(true);  // no grad: skipped
  a.set_grad(Tensor::from_vector(std::vector<double>{3, 4}, {2}));
  b.set_grad(Tensor::from_vector(std::vector<double>{12}, {1}));
  // Global norm sqrt(9 + 16 + 144) = 13, as torch.nn.utils.clip_grad_norm_.
  EXPECT_DOUBLE_EQ(clip_grad_norm({&a, &b, &none}, 6.5), 13.0);
  const std::vector<double> ga = a.grad().to_vector_f64(), gb = b.grad().to_vector_f64();
  EXPECT_NEAR(ga[0], 1.5, 1e-15);
  EXPECT_NEAR(ga[1], 2.0, 1e-15);
  EXPECT_NEAR(gb[0], 6.0, 1e-15);
  EXPECT_FALSE(none.grad().defined());
  // Below the threshold nothing changes.
  EXPECT_NEAR(clip_grad_norm({&a, &b}, 100.0), 6.5, 1e-14);
  EXPECT_NEAR(a.grad().to_vector_f64()[1], 2.0, 1e-15);
}

TEST(ClipGradNorm, Float32GradientsAndZeroNorm) {
  Tensor a = Tensor::zeros({3}).set_requires_grad(true);
  a.set_grad(Tensor::zeros({3}));
  EXPECT_EQ(clip_grad_norm({&a}, 1.0), 0.0);  // no division by zero
  a.set_grad(Tensor::full({3}, 2.0));
  EXPECT_NEAR(clip_grad_norm({&a}, 1.0), std::sqrt(12.0), 1e-6);
  EXPECT_EQ(a.grad().dtype(), DType::F32);
  for (double v : a.grad().to_vector_f64()) EXPECT_NEAR(v, 1.0 / std::sqrt(3.0), 1e-7);
}

}  // namespace
}  // namespace ecg
