// Synthetic datasets on disk in the study's folder layout:
//   DIR/train/{NORMAL,HB,MI,PMI}/ecg_NNNNN.jpg and DIR/test/... .
//
// Page j of class c is fully determined by (seed, c, j): its signal comes from
// the stream mix_seed(seed, 1 + c, j), its recording noise and page nuisances
// from mix_seed(seed, 100, 4 j + c). So the same options give the same bytes
// whatever the thread count, and generating more pages per class keeps the
// earlier ones. The first round(per_class * test_fraction) pages of each class
// go to test/ (stratified split), the rest to train/.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>

#include "data/image.h"
#include "data/synth/ecg_signal.h"
#include "data/synth/page.h"

namespace ecg::data::synth {

struct SynthPage {
  EcgClass cls = EcgClass::Normal;
  int index = 0;    // within its class
  EcgRecord clean;  // the signal before recording noise (for checks)
  Image image;
  PageInfo info;
};

// Builds one page in memory (no file I/O).
SynthPage make_page(uint64_t seed, EcgClass cls, int index, const PageOptions& opts);

struct SynthOptions {
  int per_class = 100;
  uint64_t seed = 1;
  double test_fraction = 0.2;
  PageOptions page;
  int threads = 0;  // 0 = hardware threads
  // Called after each page is written (from worker threads, serialised).
  std::function<void(int done, int total)> progress;
};

struct SynthSummary {
  std::array<int, kNumClasses> train{}, test{};
  int64_t bytes = 0;
  double seconds = 0;      // wall clock
  double cpu_seconds = 0;  // process CPU time, all threads (std::clock)
};

// Writes the dataset under `dir` (created if missing). Throws ecg::Error on
// bad options or any I/O failure.
SynthSummary write_synthetic_dataset(const std::string& dir, const SynthOptions& opts);

}  // namespace ecg::data::synth
