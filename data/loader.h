// DataLoader: batches from an in-memory ImageSet, assembled by background
// threads while the caller trains on the previous ones.
//
// Determinism: batch b of epoch e depends only on (seed, e, b): the epoch's
// order is a seeded shuffle of the index list, and each sample's augmentation
// draws from its own Rng seeded by (seed, e, position). Thread count and
// timing change nothing but speed.
//
// prepare_data() is the one-call path from a dataset folder to an ImageSet
// plus the train/val/test index lists that DataLoaders take.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/augment.h"
#include "data/batch.h"
#include "data/dataset.h"
#include "data/image_set.h"
#include "data/preprocess.h"

namespace ecg::data {

struct LoaderOptions {
  int batch_size = 16;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 42;
  int workers = 1;   // background threads; 0 = assemble each batch in next()
  int prefetch = 4;  // batches ready ahead of the consumer, at most
  AugmentOptions augment;
  PreprocessOptions preprocess;  // mean/stddev used; size must equal the ImageSet's
  // Data-parallel training: batch b is the same global batch as in one
  // process (same order, same augmentation, which depends on the position in
  // the epoch), and this loader yields rank `shard_rank`'s contiguous share of
  // it, images [n*r/R, n*(r+1)/R) of its n (uneven splits differ by one).
  int shard_rank = 0, shard_count = 1;
};

class DataLoader {
 public:
  // `indices` index into `images` and may repeat (oversampling); `images`
  // must outlive the loader.
  DataLoader(const ImageSet& images, std::vector<int> indices, const LoaderOptions& opts);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Begins epoch `epoch` at batch `first_batch` (a resumed run starts mid-
  // epoch); any earlier epoch's pending batches are dropped.
  void start_epoch(int epoch, int64_t first_batch = 0);
  // Next batch of the current epoch; false once the epoch is exhausted. Calls
  // start_epoch(0) if no epoch was started. Rethrows a worker's exception.
  bool next(Batch* out);
  // Batch `index` of the current epoch; false if index >= num_batches().
  // Sequential indices are served from the prefetch queue; a jump restarts
  // the workers at `index`. The result is the same either way.
  bool batch(int64_t index, Batch* out);

  int64_t num_batches() const;
  size_t size() const { return indices_.size(); }
  const std::vector<int>& indices() const { return indices_; }

 private:
  Batch make_batch(int64_t b) const;
  void stop_workers();
  void start_workers(int64_t first_batch);
  void worker_loop();

  const ImageSet& images_;
  std::vector<int> indices_;
  LoaderOptions opts_;
  std::vector<int> order_;  // this epoch's order (values are indices into images_)
  int epoch_ = -1;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int64_t next_claim_ = 0, next_yield_ = 0;
  std::map<int64_t, Batch> ready_;
  std::exception_ptr error_;
  std::vector<std::thread> workers_;
};

struct PreparedData {
  DatasetSplits splits;
  ImageSet images;
  std::vector<int> train, val, test;  // indices into images; train may repeat
  ImageSetReport report;              // cache use, skipped files
};

// Scans `root` (dataset.h), decodes every image once (through `cache_path`
// if not empty), and maps the splits to image indices. Bad files throw
// unless dataset.skip_bad; then they are listed in splits.warnings /
// report.warnings, counted, and left out.
PreparedData prepare_data(const std::string& root, const DatasetOptions& dataset,
                          const PreprocessOptions& preprocess, const std::string& cache_path,
                          int threads);

// One line for the CLI: "40 images, train 24 / val 8 / test 8 (split 80/20,
// seed 42), 0 skipped; cache: ...". Skipped files are in splits.warnings.
std::string describe(const PreparedData& d);

}  // namespace ecg::data
