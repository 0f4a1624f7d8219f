// The trainer's BatchSource interface (train/trainer.h) over a DataLoader,
// so `ecgcnn train --data DIR` can feed image folders to ecg::train():
//
//   auto d = ecg::data::prepare_data(dir, dataset_opts, preprocess, cache, threads);
//   ecg::data::LoaderBatchSource train(d.images, d.train, loader_opts);   // augment on
//   ecg::data::LoaderBatchSource val(d.images, d.val, eval_opts);         // no shuffle/augment
//
// The trainer sits above data/ in the layering, so this adapter is the only
// file of data/ that includes models/.
#pragma once
#include <vector>

#include "data/loader.h"
#include "train/trainer.h"

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
  bool batch(int64_t index, ecg::Batch& out) override {
    if (index != cursor_) loader_.start_epoch(epoch_, index);
    Batch b;
    if (!loader_.next(&b)) return false;
    cursor_ = index + 1;
    out.images = std::move(b.images);
    out.labels = std::move(b.labels);
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
