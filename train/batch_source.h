// Where the trainer's batches come from: the BatchSource interface, batches
// from tensors in memory (TensorBatchSource) and from image folders through a
// DataLoader (data::LoaderBatchSource), so `ecgcnn train --data DIR` can feed
// image folders to ecg::train():
//
//   auto d = ecg::data::prepare_data(dir, dataset_opts, preprocess, cache, threads);
//   ecg::data::LoaderBatchSource train(d.images, d.train, loader_opts);   // augment on
//   ecg::data::LoaderBatchSource val(d.images, d.val, eval_opts);         // no shuffle/augment
//
// Every source fills the one ecg::Batch of data/batch.h; the loader's batch is
// moved into the caller's, never copied. train/ sits above data/ in the
// layering, so data/ knows nothing of this interface.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "data/batch.h"
#include "data/loader.h"

namespace ecg {

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t num_samples() const = 0;
  virtual int64_t num_batches() const = 0;
  // Starts epoch `epoch` (0-based) with an order and augmentation fixed by (seed, epoch).
  virtual void begin_epoch(int epoch) = 0;
  // Batch `index` of the current epoch; false when index >= num_batches().
  virtual bool batch(int64_t index, Batch& out) = 0;
};

// Batches from tensors in memory, shuffled per epoch from (seed, epoch);
// used by tests and by `ecgcnn predict` on .npy inputs.
class TensorBatchSource : public BatchSource {
 public:
  TensorBatchSource(Tensor images, std::vector<int> labels, int batch, bool shuffle, uint64_t seed);
  int64_t num_samples() const override { return static_cast<int64_t>(labels_.size()); }
  int64_t num_batches() const override { return (num_samples() + batch_ - 1) / batch_; }
  void begin_epoch(int epoch) override;
  bool batch(int64_t index, Batch& out) override;

 private:
  Tensor images_;
  std::vector<int> labels_;
  int batch_;
  bool shuffle_;
  uint64_t seed_;
  std::vector<int64_t> order_;
};

}  // namespace ecg

namespace ecg::data {

class LoaderBatchSource : public ecg::BatchSource {
 public:
  // `images` must outlive this object.
  LoaderBatchSource(const ImageSet& images, std::vector<int> indices, const LoaderOptions& opts)
      : loader_(images, std::move(indices), opts) {}
  int64_t num_samples() const override { return static_cast<int64_t>(loader_.size()); }
  int64_t num_batches() const override { return loader_.num_batches(); }
  void begin_epoch(int epoch) override {
    epoch_ = epoch;
    cursor_ = -1;
  }
  // Sequential requests take the prefetched path (next()); a jump (a resumed
  // epoch) restarts the epoch at that batch. Either way batch i of epoch e is
  // the same bytes, since it depends only on (seed, e, i).
  bool batch(int64_t index, Batch& out) override {
    if (index != cursor_) loader_.start_epoch(epoch_, index);
    if (!loader_.next(&out)) return false;
    cursor_ = index + 1;
    return true;
  }
  DataLoader& loader() { return loader_; }

 private:
  DataLoader loader_;
  int epoch_ = 0;
  int64_t cursor_ = -1;
};

// Loader settings for evaluation: same preprocessing, no shuffle, no augmentation.
inline LoaderOptions eval_options(LoaderOptions o) {
  o.shuffle = false;
  o.augment.enabled = false;
  o.drop_last = false;
  return o;
}

}  // namespace ecg::data
