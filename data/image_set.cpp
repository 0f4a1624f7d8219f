#include "data/image_set.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "data/file_util.h"
#include "kernels/error.h"

namespace ecg::data {

Image ImageSet::image(size_t i) const {
  ECG_CHECK(i < count(), "ImageSet::image: index ", i, " of ", count());
  Image img(size, size, channels);
  std::memcpy(img.pixels.data(), image_data(i), image_bytes());
  return img;
}

std::vector<int> ImageSet::indices_of(const std::vector<Sample>& list) const {
  std::map<std::string, int> where;
  for (size_t i = 0; i < samples.size(); ++i) where[samples[i].path] = static_cast<int>(i);
  std::vector<int> out;
  out.reserve(list.size());
  for (const Sample& s : list) {
    auto it = where.find(s.path);
    if (it != where.end()) out.push_back(it->second);
  }
  return out;
}

namespace {

struct Entry {
  Sample sample;
  uint64_t file_size = 0;
  int64_t mtime_ns = 0;
  bool ok = false;
  std::string error;
  bool stat_ok = false;
};

std::vector<Entry> unique_entries(const std::vector<Sample>& samples) {
  std::map<std::string, int> labels;
  for (const Sample& s : samples) labels.emplace(s.path, s.label);
  std::vector<Entry> entries;
  entries.reserve(labels.size());
  for (auto& [path, label] : labels) {
    Entry e;
    e.sample = {path, label};
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      e.stat_ok = true;
      e.file_size = static_cast<uint64_t>(st.st_size);
      e.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

// Decodes entries in place; `images` gets one Image per entry (empty if bad).
void decode_entries(std::vector<Entry>& entries, std::vector<Image>& images,
                    const PreprocessOptions& opts, bool skip_bad, int threads) {
  images.assign(entries.size(), Image());
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::string first_error;
  auto work = [&] {
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= entries.size() || stop.load()) return;
      try {
        images[i] = load_preprocessed(entries[i].sample.path, opts);
        entries[i].ok = true;
      } catch (const std::exception& e) {
        entries[i].ok = false;
        entries[i].error = e.what();
        if (!skip_bad) {
          std::lock_guard<std::mutex> lock(mu);
          if (first_error.empty()) first_error = e.what();
          stop = true;
        }
      }
    }
  };
  int n = std::max(1, std::min<int>(threads, static_cast<int>(entries.size())));
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (!first_error.empty()) throw Error(first_error);
}

ImageSet assemble(const std::vector<Entry>& entries, std::vector<Image>& images,
                  const PreprocessOptions& opts, ImageSetReport* report) {
  ImageSet set;
  set.size = opts.size;
  set.channels = opts.stored_channels();
  size_t good = 0;
  for (const Entry& e : entries) good += e.ok;
  set.pixels.resize(good * set.image_bytes());
  size_t k = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!entries[i].ok) {
      if (report) report->warnings.push_back(entries[i].error);
      continue;
    }
    set.samples.push_back(entries[i].sample);
    std::memcpy(set.pixels.data() + k * set.image_bytes(), images[i].pixels.data(),
                set.image_bytes());
    ++k;
  }
  return set;
}

// ---- cache file ----

constexpr char kMagic[8] = {'E', 'C', 'G', 'I', 'M', 'G', 'C', '1'};
constexpr uint32_t kVersion = 1;

// 64-bit multiply-xorshift hash over 8-byte words (fast enough to run over
// 140 MB in a few tens of milliseconds); tail bytes folded in one by one.
uint64_t checksum(const uint8_t* p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdULL;
    h ^= h >> 32;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h ^ (h >> 29);
}

class Writer {
 public:
  std::string buf;
  template <class T>
  void put(T v) {
    buf.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void put_str(const std::string& s) {
    put<uint32_t>(static_cast<uint32_t>(s.size()));
    buf += s;
  }
};

class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  template <class T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string get_str() {
    uint32_t len = get<uint32_t>();
    need(len);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return s;
  }
  const uint8_t* take(size_t len) {
    need(len);
    const uint8_t* q = p_ + pos_;
    pos_ += len;
    return q;
  }
  size_t pos() const { return pos_; }

 private:
  void need(size_t k) {
    if (k > n_ - pos_) throw Error("truncated");
  }
  const uint8_t* p_;
  size_t n_, pos_ = 0;
};

void write_cache(const std::string& path, const std::vector<Entry>& entries, const ImageSet& set,
                 const PreprocessOptions& opts) {
  Writer w;
  w.buf.append(kMagic, 8);
  w.put<uint32_t>(kVersion);
  w.put<uint32_t>(static_cast<uint32_t>(set.size));
  w.put<uint32_t>(static_cast<uint32_t>(set.channels));
  w.put<uint32_t>(0);
  w.put<uint64_t>(entries.size());
  w.put_str(opts.pixel_key());
  for (const Entry& e : entries) {
    w.put<uint64_t>(e.file_size);
    w.put<int64_t>(e.mtime_ns);
    w.put<int32_t>(e.sample.label);
    w.put<uint8_t>(e.ok ? 1 : 0);
    w.put_str(e.sample.path);
    w.put_str(e.error);
  }
  w.buf.append(reinterpret_cast<const char*>(set.pixels.data()), set.pixels.size());
  w.put<uint64_t>(checksum(reinterpret_cast<const uint8_t*>(w.buf.data()), w.buf.size()));
  write_file_atomic(path, w.buf.data(), w.buf.size());
}

// Returns true and fills `set` if the cache matches; otherwise sets `why`.
bool read_cache(const std::string& path, const std::vector<Entry>& entries,
                const PreprocessOptions& opts, ImageSet* set, std::vector<Entry>* cached,
                std::string* why) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    *why = "no cache file yet";
    return false;
  }
  std::vector<uint8_t> bytes;
  try {
    bytes = read_file_bytes(path);
  } catch (const Error& e) {
    *why = std::string("unreadable cache: ") + e.what();
    return false;
  }
  try {
    if (bytes.size() < 8 + 8 || std::memcmp(bytes.data(), kMagic, 8) != 0) {
      *why = "not a cache file";
      return false;
    }
    uint64_t stored_sum;
    std::memcpy(&stored_sum, bytes.data() + bytes.size() - 8, 8);
    if (checksum(bytes.data(), bytes.size() - 8) != stored_sum) {
      *why = "cache checksum mismatch (damaged file)";
      return false;
    }
    Reader r(bytes.data(), bytes.size() - 8);
    r.take(8);
    if (r.get<uint32_t>() != kVersion) {
      *why = "cache version changed";
      return false;
    }
    uint32_t size = r.get<uint32_t>(), channels = r.get<uint32_t>();
    r.get<uint32_t>();
    uint64_t n = r.get<uint64_t>();
    std::string key = r.get_str();
    if (key != opts.pixel_key() || int(size) != opts.size ||
        int(channels) != opts.stored_channels()) {
      *why = "preprocessing settings changed";
      return false;
    }
    if (n != entries.size()) {
      *why = "the set of source files changed";
      return false;
    }
    cached->resize(n);
    size_t good = 0;
    for (size_t i = 0; i < n; ++i) {
      Entry& e = (*cached)[i];
      e.file_size = r.get<uint64_t>();
      e.mtime_ns = r.get<int64_t>();
      e.sample.label = r.get<int32_t>();
      e.ok = r.get<uint8_t>() != 0;
      e.sample.path = r.get_str();
      e.error = r.get_str();
      const Entry& now = entries[i];
      if (e.sample.path != now.sample.path || e.sample.label != now.sample.label) {
        *why = "the set of source files changed";
        return false;
      }
      if (!now.stat_ok || e.file_size != now.file_size || e.mtime_ns != now.mtime_ns) {
        *why = "source file changed: " + now.sample.path;
        return false;
      }
      good += e.ok;
    }
    set->size = static_cast<int>(size);
    set->channels = static_cast<int>(channels);
    const uint8_t* px = r.take(good * set->image_bytes());
    if (r.pos() != bytes.size() - 8) {
      *why = "cache has trailing bytes";
      return false;
    }
    set->pixels.assign(px, px + good * set->image_bytes());
    set->samples.clear();
    for (const Entry& e : *cached)
      if (e.ok) set->samples.push_back(e.sample);
    return true;
  } catch (const Error&) {
    *why = "cache file truncated";
    return false;
  }
}

}  // namespace

ImageSet build_image_set(const std::vector<Sample>& samples, const PreprocessOptions& opts,
                         bool skip_bad, int threads, ImageSetReport* report) {
  std::vector<Entry> entries = unique_entries(samples);
  std::vector<Image> images;
  decode_entries(entries, images, opts, skip_bad, threads);
  if (report) report->decoded += static_cast<int>(entries.size());
  return assemble(entries, images, opts, report);
}

ImageSet load_image_set(const std::vector<Sample>& samples, const PreprocessOptions& opts,
                        const std::string& cache_path, bool skip_bad, int threads,
                        ImageSetReport* report) {
  if (cache_path.empty()) {
    if (report) report->cache_note = "no cache";
    return build_image_set(samples, opts, skip_bad, threads, report);
  }
  std::vector<Entry> entries = unique_entries(samples);
  ImageSet set;
  std::vector<Entry> cached;
  std::string why;
  if (read_cache(cache_path, entries, opts, &set, &cached, &why)) {
    for (const Entry& e : cached) {
      if (e.ok) continue;
      if (!skip_bad) throw Error(e.error);
      if (report) report->warnings.push_back(e.error);
    }
    if (report) {
      report->from_cache = true;
      report->cache_note = "read " + cache_path;
    }
    return set;
  }
  std::vector<Image> images;
  // A failure without skip_bad throws here, before anything is written: the
  // cache never records a run that did not complete.
  decode_entries(entries, images, opts, skip_bad, threads);
  set = assemble(entries, images, opts, report);
  std::string note = "rebuilt " + cache_path + " (" + why + ")";
  try {
    write_cache(cache_path, entries, set, opts);
  } catch (const Error& e) {
    // The cache only saves time: a read-only dataset folder or a full disk
    // must not stop training.
    note = std::string("cache not written: ") + e.what();
  }
  if (report) {
    report->decoded += static_cast<int>(entries.size());
    report->cache_note = note;
  }
  return set;
}

}  // namespace ecg::data
