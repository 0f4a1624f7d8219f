// Parallel, deterministic dataset writer of data/synth/dataset.h.
#include "data/synth/dataset.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "data/image_io.h"
#include "kernels/error.h"

namespace ecg::data::synth {

SynthPage make_page(uint64_t seed, EcgClass cls, int index, const PageOptions& opts) {
  SynthPage p;
  p.cls = cls;
  p.index = index;
  const int c = static_cast<int>(cls);
  Rng signal_rng(mix_seed(seed, 1 + c, static_cast<uint64_t>(index)));
  Rng page_rng(mix_seed(seed, 100, 4 * static_cast<uint64_t>(index) + c));
  SignalOptions so;
  so.difficulty = opts.difficulty;
  p.clean = synthesize_ecg(cls, signal_rng, so);
  EcgRecord noisy = p.clean;
  NoiseOptions no;
  no.difficulty = opts.difficulty;
  no.mains_hz = page_rng.chance(0.5) ? 50 : 60;
  add_recording_noise(noisy, page_rng, no);
  p.image = render_page(noisy, page_rng, opts, &p.info);
  return p;
}

SynthSummary write_synthetic_dataset(const std::string& dir, const SynthOptions& opts) {
  namespace fs = std::filesystem;
  ECG_CHECK(!dir.empty(), "synth: output folder is empty");
  ECG_CHECK(opts.per_class >= 1 && opts.per_class <= 1000000, "synth: --per-class ", opts.per_class,
            " out of range (1 to 1000000)");
  ECG_CHECK(opts.test_fraction >= 0 && opts.test_fraction < 1, "synth: test fraction ",
            opts.test_fraction, " out of range [0, 1)");
  ECG_CHECK(opts.page.difficulty >= 0 && opts.page.difficulty <= 1, "synth: difficulty ",
            opts.page.difficulty, " out of range [0, 1]");
  const int n_test = static_cast<int>(std::lround(opts.per_class * opts.test_fraction));
  for (const char* split : {"train", "test"})
    for (int c = 0; c < kNumClasses; ++c) {
      fs::path p = fs::path(dir) / split / class_folder(static_cast<EcgClass>(c));
      std::error_code ec;
      fs::create_directories(p, ec);
      ECG_CHECK(!ec, "synth: cannot create ", p.string(), ": ", ec.message());
    }

  const int total = opts.per_class * kNumClasses;
  int threads =
      opts.threads > 0 ? opts.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, std::min(threads, total));
  std::atomic<int> next{0};
  std::mutex mu;
  int done = 0;
  SynthSummary sum;
  std::exception_ptr failure;
  auto t0 = std::chrono::steady_clock::now();
  const std::clock_t cpu0 = std::clock();
  auto worker = [&] {
    for (;;) {
      int k = next.fetch_add(1);
      if (k >= total) return;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (failure) return;
      }
      try {
        // Interleave classes so a partial run is balanced.
        EcgClass cls = static_cast<EcgClass>(k % kNumClasses);
        int j = k / kNumClasses;
        SynthPage page = make_page(opts.seed, cls, j, opts.page);
        bool test = j < n_test;
        char name[32];
        std::snprintf(name, sizeof name, "ecg_%05d.jpg", j);
        fs::path path = fs::path(dir) / (test ? "test" : "train") / class_folder(cls) / name;
        write_jpeg(path.string(), page.image, page.info.jpeg_quality);
        std::error_code ec;
        auto size = fs::file_size(path, ec);
        std::lock_guard<std::mutex> lock(mu);
        (test ? sum.test : sum.train)[static_cast<int>(cls)]++;
        if (!ec) sum.bytes += static_cast<int64_t>(size);
        ++done;
        if (opts.progress) opts.progress(done, total);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!failure) failure = std::current_exception();
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  sum.cpu_seconds = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  return sum;
}

}  // namespace ecg::data::synth
