// ImageSet: every distinct image of a dataset decoded and resized once and
// kept in memory as 8-bit pixels, optionally persisted in one cache file.
//
// Memory layout: `pixels` holds the images back to back in `samples` order,
// each size*size*channels bytes, HWC (channels 3 = RGB, 1 = grey). At 224 px
// colour that is 150 KB per image (140 MB for the study's 928 scans).
//
// Cache file (little-endian), written atomically (temporary file + rename):
//   char[8] "ECGIMGC1" | u32 version | u32 size | u32 channels | u32 0
//   u64 n_entries | u32 key_len | key (PreprocessOptions::pixel_key())
//   n_entries x { u64 file_size | i64 mtime_ns | i32 label | u8 ok |
//                 u32 path_len | path | u32 error_len | error }
//   pixels of the ok entries, in entry order
//   u64 checksum of everything before it
// The cache is used only if the key and every entry's path, size and mtime
// equal those of the current source files (and its checksum holds); any
// difference rebuilds it. Bad files are remembered with their error, so a
// cached --skip-bad run repeats the same warnings without re-decoding.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/image.h"
#include "data/preprocess.h"

namespace ecg::data {

struct ImageSet {
  int size = 0, channels = 0;
  std::vector<Sample> samples;  // one per stored image, sorted by path, no duplicates
  std::vector<uint8_t> pixels;

  size_t count() const { return samples.size(); }
  size_t image_bytes() const { return static_cast<size_t>(size) * size * channels; }
  const uint8_t* image_data(size_t i) const { return pixels.data() + i * image_bytes(); }
  Image image(size_t i) const;  // a copy
  // Index of each sample's image (by path), skipping samples whose file was bad.
  std::vector<int> indices_of(const std::vector<Sample>& list) const;
};

struct ImageSetReport {
  bool from_cache = false;
  std::string cache_note;             // why the cache was (not) used, one line
  std::vector<std::string> warnings;  // bad files skipped, "path: error"
  int decoded = 0;                    // files decoded in this call
};

// Decodes every distinct path in `samples` with `threads` threads. A bad file
// throws its ecg::Error (naming the file) unless skip_bad, which drops it and
// adds a warning.
ImageSet build_image_set(const std::vector<Sample>& samples, const PreprocessOptions& opts,
                         bool skip_bad, int threads, ImageSetReport* report = nullptr);

// Like build_image_set, but reads `cache_path` when it is valid for these
// files and settings, and otherwise builds and (re)writes it. An empty
// cache_path means no cache. Without skip_bad, a cached bad entry throws.
// A cache that cannot be written (read-only folder) is reported in
// report->cache_note, not thrown.
ImageSet load_image_set(const std::vector<Sample>& samples, const PreprocessOptions& opts,
                        const std::string& cache_path, bool skip_bad, int threads,
                        ImageSetReport* report = nullptr);

}  // namespace ecg::data
