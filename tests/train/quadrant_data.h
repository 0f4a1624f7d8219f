// A tiny 4-class image task for training-loop tests: the class decides which
// quadrant of an otherwise dim image is bright. A ResNet-11 at 32 px learns it
// in a few epochs.
#pragma once
#include <vector>

#include "train/trainer.h"

namespace ecg::testing {

inline TensorBatchSource quadrant_data(int n, uint64_t seed, int size = 32, int batch = 8) {
  Tensor x = Tensor::uniform({n, 3, size, size}, seed, 0.0, 0.2);
  std::vector<int> labels(n);
  float* p = x.data<float>();
  for (int i = 0; i < n; ++i) {
    labels[i] = i % 4;
    int qy = labels[i] / 2, qx = labels[i] % 2;
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < size / 2; ++y)
        for (int v = 0; v < size / 2; ++v)
          p[((i * 3 + c) * size + qy * size / 2 + y) * size + qx * size / 2 + v] += 0.8f;
  }
  return TensorBatchSource(x, labels, batch, true, seed);
}

}  // namespace ecg::testing
