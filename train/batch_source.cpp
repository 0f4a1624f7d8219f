#include "train/batch_source.h"

#include <algorithm>

#include "core/rng.h"
#include "kernels/error.h"

namespace ecg {

TensorBatchSource::TensorBatchSource(Tensor images, std::vector<int> labels, int batch,
                                     bool shuffle, uint64_t seed)
    : images_(images.contiguous()),
      labels_(std::move(labels)),
      batch_(batch),
      shuffle_(shuffle),
      seed_(seed) {
  ECG_CHECK(images_.dim() == 4 && images_.size(0) == static_cast<int64_t>(labels_.size()),
            "TensorBatchSource: ", labels_.size(), " labels for images ",
            shape_str(images_.shape()));
  ECG_CHECK(batch > 0, "TensorBatchSource: batch must be positive");
  begin_epoch(0);
}

void TensorBatchSource::begin_epoch(int epoch) {
  order_.resize(labels_.size());
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<int64_t>(i);
  if (!shuffle_) return;
  Rng rng(seed_ * 1000003ull + static_cast<uint64_t>(epoch));
  for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.below(i)]);
}

bool TensorBatchSource::batch(int64_t index, Batch& out) {
  if (index < 0 || index >= num_batches()) return false;
  const int64_t start = index * batch_;
  const int64_t n = std::min<int64_t>(batch_, num_samples() - start);
  const int64_t per = images_.numel() / std::max<int64_t>(1, images_.size(0));
  out.images = Tensor::empty({n, images_.size(1), images_.size(2), images_.size(3)});
  out.labels.resize(static_cast<size_t>(n));
  out.indices.resize(static_cast<size_t>(n));
  out.number = index;
  const float* src = images_.data<float>();
  float* dst = out.images.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    int64_t k = order_[static_cast<size_t>(start + i)];
    std::copy(src + k * per, src + (k + 1) * per, dst + i * per);
    out.labels[static_cast<size_t>(i)] = labels_[static_cast<size_t>(k)];
    out.indices[static_cast<size_t>(i)] = static_cast<int>(k);
  }
  return true;
}

}  // namespace ecg
