// The example program of docs/tour.md: a two-layer network (conv -> ReLU ->
// global average pool -> linear) learns to tell bright from dark images in a
// few plain gradient-descent steps, printing the loss and the gradients.
// Build: cmake --build build --target tour_example; run: build/tools/tour_example
#include <cstdio>

#include "core/autograd.h"
#include "core/ops.h"

int main() {
  using namespace ecg;
  // Eight 1-channel 6x6 images: the first four bright (class 1), the rest dark (class 0).
  Tensor x = Tensor::randn({8, 1, 6, 6}, /*seed=*/1, /*stddev=*/0.1);
  for (int n = 0; n < 4; ++n)
    for (int i = 0; i < 36; ++i) x.data<float>()[n * 36 + i] += 1.0f;
  Tensor target = one_hot({1, 1, 1, 1, 0, 0, 0, 0}, 2);

  // Parameters are leaf tensors that require gradients.
  Tensor w1 = Tensor::randn({4, 1, 3, 3}, 2, 0.5).set_requires_grad(true);
  Tensor b1 = Tensor::zeros({4}).set_requires_grad(true);
  Tensor w2 = Tensor::randn({2, 4}, 3, 0.5).set_requires_grad(true);
  Tensor b2 = Tensor::zeros({2}).set_requires_grad(true);

  const float lr = 2.0f;
  for (int step = 0; step < 8; ++step) {
    // Forward: every op records a node on the tape.
    Tensor h = relu(conv2d(x, w1, b1, Conv2dOptions::same()));
    Tensor logits = linear(global_avg_pool(h), w2, b2);
    Tensor loss = softmax_cross_entropy(logits, target);
    // Backward: walks the tape in reverse and fills .grad() of the leaves.
    loss.backward();
    std::printf("step %d  loss %.4f  |dL/dw2| row 0: %+.4f %+.4f %+.4f %+.4f\n", step, loss.item(),
                w2.grad().at({0, 0}), w2.grad().at({0, 1}), w2.grad().at({0, 2}),
                w2.grad().at({0, 3}));
    // Plain gradient descent, outside the tape.
    NoGradGuard no_grad;
    for (Tensor* p : {&w1, &b1, &w2, &b2}) {
      float* v = p->data<float>();
      const float* g = p->grad().data<float>();
      for (int64_t i = 0; i < p->numel(); ++i) v[i] -= lr * g[i];
      p->zero_grad();
    }
  }
  std::printf("learned first-layer filters:\n%s\n", w1.detach().to_string().c_str());
  return 0;
}
