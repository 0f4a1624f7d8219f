#include "data/loader.h"

#include <algorithm>
#include <sstream>

#include "core/rng.h"
#include "kernels/error.h"

namespace ecg::data {

namespace {
uint64_t mix(uint64_t a, uint64_t b) {
  // splitmix64 finaliser over a combination: distinct (seed, epoch, pos)
  // triples give unrelated streams.
  uint64_t z = a * 0x9E3779B97F4A7C15ULL + b + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
}  // namespace

DataLoader::DataLoader(const ImageSet& images, std::vector<int> indices, const LoaderOptions& opts)
    : images_(images), indices_(std::move(indices)), opts_(opts) {
  ECG_CHECK(opts_.batch_size > 0, "DataLoader: batch size ", opts_.batch_size);
  ECG_CHECK(opts_.shard_count >= 1 && opts_.shard_rank >= 0 && opts_.shard_rank < opts_.shard_count,
            "DataLoader: shard ", opts_.shard_rank, " of ", opts_.shard_count);
  ECG_CHECK(opts_.preprocess.size == images_.size, "DataLoader: preprocess size ",
            opts_.preprocess.size, " but the images are ", images_.size, " px");
  for (int i : indices_)
    ECG_CHECK(i >= 0 && static_cast<size_t>(i) < images_.count(), "DataLoader: index ", i,
              " outside the image set of ", images_.count());
  opts_.prefetch = std::max(1, opts_.prefetch);
  opts_.workers = std::max(0, opts_.workers);
}

DataLoader::~DataLoader() {
  stop_workers();
}

int64_t DataLoader::num_batches() const {
  int64_t n = static_cast<int64_t>(indices_.size()), b = opts_.batch_size;
  return opts_.drop_last ? n / b : (n + b - 1) / b;
}

void DataLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void DataLoader::start_epoch(int epoch, int64_t first_batch) {
  stop_workers();
  epoch_ = epoch;
  order_ = indices_;
  if (opts_.shuffle) {
    Rng rng(mix(opts_.seed, static_cast<uint64_t>(epoch)));
    for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.below(i)]);
  }
  start_workers(first_batch);
}

void DataLoader::start_workers(int64_t first_batch) {
  stopping_ = false;
  next_claim_ = next_yield_ = std::max<int64_t>(0, first_batch);
  ready_.clear();
  error_ = nullptr;
  for (int t = 0; t < opts_.workers; ++t) workers_.emplace_back([this] { worker_loop(); });
}

bool DataLoader::batch(int64_t index, Batch* out) {
  if (epoch_ < 0) start_epoch(0);
  if (index < 0 || index >= num_batches()) return false;
  if (index != next_yield_) {
    stop_workers();
    start_workers(index);
  }
  return next(out);
}

Batch DataLoader::make_batch(int64_t b) const {
  const int64_t first = b * opts_.batch_size;
  const int64_t last = std::min<int64_t>(first + opts_.batch_size, order_.size());
  const int64_t whole = last - first, shards = opts_.shard_count, r = opts_.shard_rank;
  const int64_t begin = first + whole * r / shards, end = first + whole * (r + 1) / shards;
  const int64_t n = end - begin, s = images_.size;
  Batch batch;
  batch.number = b;
  batch.global_size = whole;
  batch.images = Tensor::empty({n, 3, s, s});
  float* out = batch.images.data<float>();
  Image img(images_.size, images_.size, images_.channels);
  for (int64_t i = 0; i < n; ++i) {
    int idx = order_[static_cast<size_t>(begin + i)];
    batch.indices.push_back(idx);
    batch.labels.push_back(images_.samples[static_cast<size_t>(idx)].label);
    std::copy(images_.image_data(static_cast<size_t>(idx)),
              images_.image_data(static_cast<size_t>(idx)) + images_.image_bytes(),
              img.pixels.begin());
    Rng rng(mix(mix(opts_.seed, static_cast<uint64_t>(epoch_)), static_cast<uint64_t>(begin + i)));
    AugmentParams p = sample_augment(opts_.augment, images_.size, rng);
    augment_to_chw(img, p, opts_.preprocess, out + i * 3 * s * s);
  }
  return batch;
}

void DataLoader::worker_loop() {
  const int64_t total = num_batches();
  for (;;) {
    int64_t b;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return stopping_ || next_claim_ >= total || next_claim_ < next_yield_ + opts_.prefetch;
      });
      if (stopping_ || next_claim_ >= total) return;
      b = next_claim_++;
    }
    Batch batch;
    std::exception_ptr err;
    try {
      batch = make_batch(b);
    } catch (...) {
      err = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (err && !error_) error_ = err;
      ready_[b] = std::move(batch);
    }
    cv_.notify_all();
  }
}

bool DataLoader::next(Batch* out) {
  if (epoch_ < 0) start_epoch(0);
  if (next_yield_ >= num_batches()) return false;
  if (opts_.workers == 0) {
    *out = make_batch(next_yield_++);
    return true;
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return error_ || ready_.count(next_yield_) > 0; });
  if (error_) std::rethrow_exception(error_);
  auto it = ready_.find(next_yield_);
  *out = std::move(it->second);
  ready_.erase(it);
  ++next_yield_;
  lock.unlock();
  cv_.notify_all();
  return true;
}

PreparedData prepare_data(const std::string& root, const DatasetOptions& dataset,
                          const PreprocessOptions& preprocess, const std::string& cache_path,
                          int threads) {
  PreparedData d;
  d.splits = load_dataset(root, dataset);
  std::vector<Sample> all = d.splits.train;
  all.insert(all.end(), d.splits.val.begin(), d.splits.val.end());
  all.insert(all.end(), d.splits.test.begin(), d.splits.test.end());
  d.images = load_image_set(all, preprocess, cache_path, dataset.skip_bad, threads, &d.report);
  d.train = d.images.indices_of(d.splits.train);
  d.val = d.images.indices_of(d.splits.val);
  d.test = d.images.indices_of(d.splits.test);
  for (const std::string& w : d.report.warnings) d.splits.warnings.push_back(w);
  d.splits.skipped = static_cast<int>(d.splits.warnings.size());
  return d;
}

std::string describe(const PreparedData& d) {
  std::ostringstream os;
  os << d.images.count() << " images, train " << d.train.size() << " / val " << d.val.size()
     << " / test " << d.test.size() << " (test "
     << (d.splits.given_test ? "folder" : "split off train") << ", val "
     << (d.splits.given_val ? "folder" : "split off train") << "), " << d.splits.skipped
     << " skipped; cache: " << d.report.cache_note;
  return os.str();
}

}  // namespace ecg::data
