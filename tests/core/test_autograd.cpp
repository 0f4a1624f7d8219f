// Autograd mechanics: fan-out accumulation, reuse of a tensor, no_grad,
// freeing of saved tensors, leaf gradient accumulation and zero_grad.
#include <gtest/gtest.h>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops_common.h"

namespace ecg {
namespace {

Tensor leaf(std::vector<double> v) {
  Tensor t = Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
  t.set_requires_grad(true);
  return t;
}

TEST(Autograd, FanOutAccumulates) {
  Tensor x = leaf({1, -2, 3});
  // y = relu(x) + x  -> dy/dx = [2, 1, 2]
  Tensor y = add(relu(x), x);
  sum(y).backward();
  EXPECT_EQ(x.grad().to_vector_f64(), (std::vector<double>{2, 1, 2}));
}

TEST(Autograd, ReuseOfOneTensorTwiceInOneOp) {
  Tensor x = leaf({1, 2, 3});
  sum(mul(x, x)).backward();  // d(x^2) = 2x
  EXPECT_EQ(x.grad().to_vector_f64(), (std::vector<double>{2, 4, 6}));
}

TEST(Autograd, DiamondGraphRunsEachNodeOnce) {
  Tensor x = leaf({1, 2});
  Tensor a = mul_scalar(x, 3);
  Tensor b = add(relu(a), a);  // a used twice
  sum(mul(b, b)).backward();   // L = (2a)^2 = 4*9 x^2 -> dL/dx = 72 x
  EXPECT_EQ(x.grad().to_vector_f64(), (std::vector<double>{72, 144}));
}

TEST(Autograd, LeafGradientsAccumulateAcrossBackwardCallsUntilZeroGrad) {
  Tensor x = leaf({1, 2});
  sum(mul_scalar(x, 2)).backward();
  sum(mul_scalar(x, 2)).backward();
  EXPECT_EQ(x.grad().to_vector_f64(), (std::vector<double>{4, 4}));
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
  sum(x).backward();
  EXPECT_EQ(x.grad().to_vector_f64(), (std::vector<double>{1, 1}));
}

TEST(Autograd, NoGradRecordsNothing) {
  Tensor x = leaf({1, 2});
  Tensor y;
  {
    NoGradGuard guard;
    y = relu(x);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_FALSE(y.grad_fn());
  EXPECT_TRUE(grad_mode_enabled());
}

TEST(Autograd, SavedTensorsAreFreedAfterBackward) {
  Tensor x = leaf({1, -1, 2});
  Tensor y = relu(x);
  auto node = std::dynamic_pointer_cast<detail::FunctionNode>(y.grad_fn());
  ASSERT_TRUE(node);
  EXPECT_TRUE(node->has_saved());
  sum(y).backward();
  EXPECT_FALSE(node->has_saved());
  // A second backward through the same graph is a clear error, not a crash.
  EXPECT_THROW(sum(y).backward(), Error);
}

TEST(Autograd, OnlyInputsThatNeedGradGetOne) {
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor w = Tensor::from_vector(std::vector<double>{1, 0, -1, 2, 1, 0}, {2, 3});
  w.set_requires_grad(true);
  sum(linear(x, w, Tensor())).backward();
  EXPECT_FALSE(x.grad().defined());
  EXPECT_EQ(w.grad().to_vector_f64(), (std::vector<double>{5, 7, 9, 5, 7, 9}));
}

TEST(Autograd, BackwardOnNonScalarNeedsAGradient) {
  Tensor x = leaf({1, 2});
  Tensor y = relu(x);
  EXPECT_THROW(y.backward(), Error);
  y.backward(Tensor::from_vector(std::vector<double>{3, 4}, {2}));
  EXPECT_EQ(x.grad().to_vector_f64(), (std::vector<double>{3, 4}));
}

TEST(Autograd, DetachedTensorsCarryNoHistory) {
  Tensor x = leaf({1, 2});
  Tensor y = relu(x).detach();
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(y.is_leaf());
}

}  // namespace
}  // namespace ecg
