// Gradient checks of every differentiable op by central differences in
// double, on small random shapes that include odd sizes, stride 2 and
// asymmetric (TensorFlow "same") padding.
#include <gtest/gtest.h>

#include "core/ops.h"
#include "gradcheck.h"

namespace ecg {
namespace {

using testing::gradcheck;

Tensor rnd(const Shape& s, uint64_t seed) {
  return Tensor::randn(s, seed, 1.0, DType::F64);
}

struct ConvCase {
  int N, C, H, W, K, R, S, stride;
  Padding pad;
  bool bias;
};

class ConvGrad : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvGrad, MatchesCentralDifferences) {
  const ConvCase c = GetParam();
  Conv2dOptions opt;
  opt.stride_h = opt.stride_w = c.stride;
  opt.padding = c.pad;
  std::vector<Tensor> in = {rnd({c.N, c.C, c.H, c.W}, 1), rnd({c.K, c.C, c.R, c.S}, 2)};
  if (c.bias) in.push_back(rnd({c.K}, 3));
  gradcheck(
      [&](const std::vector<Tensor>& t) {
        return conv2d(t[0], t[1], t.size() > 2 ? t[2] : Tensor(), opt);
      },
      in);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvGrad,
    ::testing::Values(ConvCase{1, 1, 5, 5, 1, 3, 3, 1, Padding::Valid, false},
                      ConvCase{2, 3, 7, 6, 4, 3, 3, 1, Padding::Same, true},
                      ConvCase{2, 3, 8, 8, 5, 3, 3, 2, Padding::Same,
                               true},  // pads 0 before, 1 after
                      ConvCase{1, 2, 9, 7, 3, 3, 3, 2, Padding::Same, true},  // odd: pads 1 / 1
                      ConvCase{2, 5, 6, 6, 3, 1, 1, 2, Padding::Same, true},  // 1x1 stride 2
                      ConvCase{1, 3, 13, 13, 2, 5, 5, 4, Padding::Valid, true},
                      ConvCase{1, 2, 6, 5, 2, 2, 3, 1, Padding::Same, false}));  // even kernel

TEST(ConvGrad, ExplicitAsymmetricPadding) {
  Conv2dOptions opt = Conv2dOptions::explicit_pad(2, 0, 2, 1, 0);
  gradcheck([&](const std::vector<Tensor>& t) { return conv2d(t[0], t[1], t[2], opt); },
            {rnd({2, 2, 6, 7}, 4), rnd({3, 2, 3, 3}, 5), rnd({3}, 6)});
}

TEST(BatchNormGrad, Train2dAndFusedRelu) {
  for (bool fuse : {false, true}) {
    BatchNormOptions opt;
    opt.fuse_relu = fuse;
    gradcheck(
        [&](const std::vector<Tensor>& t) {
          Tensor rm = Tensor::zeros({3}, DType::F64), rv = Tensor::full({3}, 1.0, DType::F64);
          return batch_norm(t[0], t[1], t[2], rm, rv, true, opt);
        },
        {rnd({3, 3, 3, 5}, 7), rnd({3}, 8), rnd({3}, 9)});
  }
}

TEST(BatchNormGrad, Train1d) {
  gradcheck(
      [&](const std::vector<Tensor>& t) {
        Tensor rm = Tensor::zeros({5}, DType::F64), rv = Tensor::full({5}, 1.0, DType::F64);
        return batch_norm(t[0], t[1], t[2], rm, rv, true, BatchNormOptions{});
      },
      {rnd({7, 5}, 10), rnd({5}, 11), rnd({5}, 12)});
}

TEST(BatchNormGrad, Eval) {
  Tensor rm = rnd({4}, 13), rv = Tensor::uniform({4}, 14, 0.5, 2.0, DType::F64);
  gradcheck(
      [&](const std::vector<Tensor>& t) {
        Tensor m = rm.clone(), v = rv.clone();
        return batch_norm(t[0], t[1], t[2], m, v, false, BatchNormOptions{});
      },
      {rnd({2, 4, 3, 3}, 15), rnd({4}, 16), rnd({4}, 17)});
}

TEST(ElementwiseGrad, ReluAddDropout) {
  gradcheck([](const std::vector<Tensor>& t) { return relu(t[0]); }, {rnd({2, 3, 5, 7}, 18)});
  gradcheck([](const std::vector<Tensor>& t) { return add(t[0], t[1]); },
            {rnd({3, 5}, 19), rnd({3, 5}, 20)});
  gradcheck([](const std::vector<Tensor>& t) { return dropout(t[0], 0.3, true, 99); },
            {rnd({4, 9}, 21)});
}

// Three slopes: PyTorch's default, a steep one and a negative one (the
// backward reads x, so the meaning does not depend on the slope's sign).
TEST(ElementwiseGrad, LeakyRelu) {
  for (double slope : {0.01, 0.3, -0.5})
    gradcheck([slope](const std::vector<Tensor>& t) { return leaky_relu(t[0], slope); },
              {rnd({2, 3, 5, 7}, 40)});
}

TEST(PoolGrad, MaxAvgGlobal) {
  gradcheck(
      [](const std::vector<Tensor>& t) { return max_pool2d(t[0], Pool2dOptions::window(2, 2)); },
      {rnd({2, 3, 7, 6}, 22)});
  gradcheck(
      [](const std::vector<Tensor>& t) { return max_pool2d(t[0], Pool2dOptions::window(3, 2)); },
      {rnd({1, 2, 9, 9}, 23)});
  Pool2dOptions same = Pool2dOptions::window(3, 2);
  same.padding = Padding::Same;
  gradcheck([&](const std::vector<Tensor>& t) { return avg_pool2d(t[0], same); },
            {rnd({2, 2, 8, 7}, 24)});
  gradcheck(
      [](const std::vector<Tensor>& t) { return avg_pool2d(t[0], Pool2dOptions::window(8, 8)); },
      {rnd({1, 2, 16, 17}, 25)});
  gradcheck([](const std::vector<Tensor>& t) { return global_avg_pool(t[0]); },
            {rnd({3, 4, 5, 3}, 26)});
}

TEST(DenseGrad, LinearFlatten) {
  gradcheck([](const std::vector<Tensor>& t) { return linear(t[0], t[1], t[2]); },
            {rnd({3, 7}, 27), rnd({5, 7}, 28), rnd({5}, 29)});
  gradcheck([](const std::vector<Tensor>& t) { return flatten(relu(t[0])); },
            {rnd({2, 3, 2, 3}, 30)});
}

TEST(LossGrad, SoftmaxCrossEntropyAndL2) {
  Tensor target = one_hot({0, 3, 2, 1, 3}, 4, DType::F64);
  gradcheck([&](const std::vector<Tensor>& t) { return softmax_cross_entropy(t[0], target); },
            {rnd({5, 4}, 31)});
  Tensor w = Tensor::from_vector(std::vector<double>{1.0, 2.0, 0.5, 1.5}, {4});
  gradcheck([&](const std::vector<Tensor>& t) { return softmax_cross_entropy(t[0], target, w); },
            {rnd({5, 4}, 32)});
  Tensor soft = Tensor::uniform({5, 4}, 33, 0.0, 1.0, DType::F64);
  gradcheck([&](const std::vector<Tensor>& t) { return softmax_cross_entropy(t[0], soft); },
            {rnd({5, 4}, 34)});
  gradcheck([](const std::vector<Tensor>& t) { return l2_penalty(t[0], 1e-2); },
            {rnd({3, 2, 3, 3}, 35)});
}

}  // namespace
}  // namespace ecg
