#include "data/dataset.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>

#include "core/rng.h"
#include "kernels/error.h"

namespace fs = std::filesystem;

namespace ecg::data {

const std::array<std::string, kNumClasses>& class_names() {
  static const std::array<std::string, kNumClasses> n{
      {"Normal", "Abnormal heartbeat", "MI", "History of MI"}};
  return n;
}

const std::array<std::string, kNumClasses>& class_short_names() {
  static const std::array<std::string, kNumClasses> n{{"NORMAL", "HB", "MI", "PMI"}};
  return n;
}

namespace {
std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

bool hidden(const fs::path& p) {
  std::string n = p.filename().string();
  return !n.empty() && n[0] == '.';
}

bool image_extension(const fs::path& p) {
  std::string e = lower(p.extension().string());
  return e == ".jpg" || e == ".jpeg" || e == ".png";
}

std::string known_names() {
  return "NORMAL, HB, MI, PMI, or the Mendeley dataset's long folder names";
}
}  // namespace

int class_from_folder(const std::string& folder_name) {
  static const std::map<std::string, int> aliases = {
      {"normal", 0},
      {"hb", 1},
      {"mi", 2},
      {"pmi", 3},
      {"abnormal heartbeat", 1},
      {"history of mi", 3},
      {"normal person ecg images (284x12=3408)", 0},
      {"ecg images of patient that have abnormal heartbeat (233x12=2796)", 1},
      {"ecg images of myocardial infarction patients (240x12=2880)", 2},
      {"ecg images of patient that have history of mi (172x12=2064)", 3},
  };
  std::string key = lower(folder_name);
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
  auto it = aliases.find(key);
  return it == aliases.end() ? -1 : it->second;
}

std::vector<Sample> scan_class_folders(const std::string& dir, bool skip_bad,
                                       std::vector<std::string>* warnings) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(dir, ": not a directory");
  std::vector<Sample> out;
  std::vector<fs::path> entries;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    entries.push_back(it->path());
  if (ec) fail(dir, ": cannot list: ", ec.message());
  std::sort(entries.begin(), entries.end());
  int class_dirs = 0;
  for (const fs::path& entry : entries) {
    if (hidden(entry)) continue;
    if (!fs::is_directory(entry, ec)) continue;  // e.g. a README beside the class folders
    int label = class_from_folder(entry.filename().string());
    if (label < 0) fail(entry.string(), ": unknown class folder; expected ", known_names());
    ++class_dirs;
    std::vector<fs::path> files;
    for (fs::directory_iterator it(entry, ec), end; !ec && it != end; it.increment(ec))
      files.push_back(it->path());
    if (ec) fail(entry.string(), ": cannot list: ", ec.message());
    std::sort(files.begin(), files.end());
    size_t before = out.size();
    for (const fs::path& f : files) {
      if (hidden(f)) continue;
      if (!image_extension(f) || !fs::is_regular_file(f, ec)) {
        std::string msg = f.string() + ": not an image file (expected .jpg, .jpeg or .png)";
        if (!skip_bad) fail(msg);
        if (warnings) warnings->push_back(msg);
        continue;
      }
      out.push_back({f.string(), label});
    }
    if (out.size() == before) fail(entry.string(), ": class folder contains no images");
  }
  if (class_dirs == 0) fail(dir, ": no class folders (expected ", known_names(), ")");
  return out;
}

void stratified_split(const std::vector<Sample>& all, double fraction, uint64_t seed,
                      std::vector<Sample>* first, std::vector<Sample>* second) {
  ECG_CHECK(fraction >= 0 && fraction < 1, "stratified_split: fraction ", fraction,
            " outside [0, 1)");
  first->clear();
  second->clear();
  Rng rng(seed);
  for (int c = 0; c < kNumClasses; ++c) {
    std::vector<Sample> cls;
    for (const Sample& s : all)
      if (s.label == c) cls.push_back(s);
    // Fisher-Yates with our own generator: the same split on every platform.
    for (size_t i = cls.size(); i > 1; --i) std::swap(cls[i - 1], cls[rng.below(i)]);
    size_t k = static_cast<size_t>(std::lround(fraction * cls.size()));
    if (fraction > 0 && k == 0 && cls.size() >= 2) k = 1;
    if (k >= cls.size() && !cls.empty()) k = cls.size() - 1;
    second->insert(second->end(), cls.begin(), cls.begin() + static_cast<long>(k));
    first->insert(first->end(), cls.begin() + static_cast<long>(k), cls.end());
  }
  auto by_path = [](const Sample& a, const Sample& b) { return a.path < b.path; };
  std::sort(first->begin(), first->end(), by_path);
  std::sort(second->begin(), second->end(), by_path);
}

std::vector<Sample> oversample(const std::vector<Sample>& samples, uint64_t seed) {
  std::array<int, kNumClasses> counts = class_counts(samples);
  int target = *std::max_element(counts.begin(), counts.end());
  std::vector<Sample> out = samples;
  Rng rng(seed ^ 0x6f76657273616d70ULL);
  for (int c = 0; c < kNumClasses; ++c) {
    if (counts[c] == 0 || counts[c] == target) continue;
    std::vector<const Sample*> cls;
    for (const Sample& s : samples)
      if (s.label == c) cls.push_back(&s);
    // Whole extra copies first, then a random subset for the remainder, so no
    // sample is duplicated twice before every sample is duplicated once.
    int need = target - counts[c];
    while (need >= counts[c]) {
      for (const Sample* s : cls) out.push_back(*s);
      need -= counts[c];
    }
    for (size_t i = cls.size(); i > 1; --i) std::swap(cls[i - 1], cls[rng.below(i)]);
    for (int i = 0; i < need; ++i) out.push_back(*cls[static_cast<size_t>(i)]);
  }
  return out;
}

std::array<int, kNumClasses> class_counts(const std::vector<Sample>& samples) {
  std::array<int, kNumClasses> c{};
  for (const Sample& s : samples) {
    ECG_CHECK(s.label >= 0 && s.label < kNumClasses, "bad label ", s.label, " for ", s.path);
    ++c[static_cast<size_t>(s.label)];
  }
  return c;
}

std::array<float, kNumClasses> class_weights(const std::vector<Sample>& samples) {
  std::array<int, kNumClasses> counts = class_counts(samples);
  int present = 0;
  for (int n : counts) present += n > 0;
  std::array<float, kNumClasses> w{};
  for (int c = 0; c < kNumClasses; ++c)
    if (counts[c] > 0)
      w[c] = static_cast<float>(double(samples.size()) / (double(present) * counts[c]));
  return w;
}

DatasetSplits load_dataset(const std::string& root, const DatasetOptions& opts) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) fail(root, ": dataset folder not found");
  DatasetSplits d;
  const fs::path r(root);
  const bool has_train = fs::is_directory(r / "train", ec);
  const bool has_test = fs::is_directory(r / "test", ec);
  const bool has_val = fs::is_directory(r / "val", ec);
  std::vector<Sample> train_all;
  if (has_train && has_test) {
    d.given_test = true;
    train_all = scan_class_folders((r / "train").string(), opts.skip_bad, &d.warnings);
    d.test = scan_class_folders((r / "test").string(), opts.skip_bad, &d.warnings);
  } else if (has_test) {
    fail(root, ": has test/ but not train/");
  } else {
    // Class folders directly in root, or only a train/ folder (as in the
    // 40-scan sample): split a test set off, stratified and seeded.
    std::string pool = has_train ? (r / "train").string() : root;
    std::vector<Sample> all = scan_class_folders(pool, opts.skip_bad, &d.warnings);
    stratified_split(all, opts.test_fraction, opts.seed, &train_all, &d.test);
  }
  if (has_val && d.given_test) {
    d.given_val = true;
    d.train = train_all;
    d.val = scan_class_folders((r / "val").string(), opts.skip_bad, &d.warnings);
  } else {
    // A different stream from the test split so the two are independent.
    stratified_split(train_all, opts.val_fraction, opts.seed + 1, &d.train, &d.val);
  }
  d.skipped = static_cast<int>(d.warnings.size());
  if (opts.oversample) d.train = oversample(d.train, opts.seed);
  return d;
}

}  // namespace ecg::data
