// Datasets: class aliases in both layouts, split and oversampling counts,
// class weights, folder errors, and --skip-bad.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "data/dataset.h"
#include "data/image_io.h"
#include "kernels/error.h"
#include "tests/data/test_util.h"

namespace ecg::data {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::write_text;

// Makes dir/<folder>/img<i>.jpg for each (folder, count).
void make_tree(const std::string& dir, const std::vector<std::pair<std::string, int>>& classes) {
  for (auto& [folder, n] : classes) {
    fs::create_directories(fs::path(dir) / folder);
    for (int i = 0; i < n; ++i)
      write_jpeg((fs::path(dir) / folder / ("img(" + std::to_string(i) + ").jpg")).string(),
                 testing::pattern_image(24, 16, 3, static_cast<uint32_t>(i)), 80);
  }
}

using Counts = std::array<int, 4>;

// Per-class sample counts of the test, val and train parts of a split.
void expect_split_counts(const DatasetSplits& d, const Counts& test, const Counts& val,
                         const Counts& train) {
  EXPECT_EQ(class_counts(d.test), test);
  EXPECT_EQ(class_counts(d.val), val);
  EXPECT_EQ(class_counts(d.train), train);
}

template <class Fn>
void expect_error(Fn fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error, expected " << needle;
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(Dataset, AliasesMapBothLayouts) {
  EXPECT_EQ(class_from_folder("NORMAL"), 0);
  EXPECT_EQ(class_from_folder("HB"), 1);
  EXPECT_EQ(class_from_folder("mi"), 2);
  EXPECT_EQ(class_from_folder("PMI"), 3);
  EXPECT_EQ(class_from_folder("Normal Person ECG Images (284x12=3408)"), 0);
  EXPECT_EQ(class_from_folder("ECG Images of Patient that have abnormal heartbeat (233x12=2796)"),
            1);
  EXPECT_EQ(class_from_folder("ECG Images of Myocardial Infarction Patients (240x12=2880)"), 2);
  EXPECT_EQ(class_from_folder("ECG Images of Patient that have History of MI (172x12=2064)"), 3);
  EXPECT_EQ(class_from_folder("History of MI"), 3);
  EXPECT_EQ(class_from_folder("cats"), -1);
  EXPECT_EQ(class_names()[1], "Abnormal heartbeat");
}

TEST(Dataset, MendeleyLayoutWithStratifiedSplit) {
  TempDir dir("mendeley");
  make_tree(dir.str(), {{"Normal Person ECG Images (284x12=3408)", 10},
                        {"ECG Images of Patient that have abnormal heartbeat (233x12=2796)", 8},
                        {"ECG Images of Myocardial Infarction Patients (240x12=2880)", 6},
                        {"ECG Images of Patient that have History of MI (172x12=2064)", 5}});
  write_text(dir.file("README.txt"), "a file beside the class folders is ignored");
  DatasetOptions o;
  o.seed = 7;
  DatasetSplits d = load_dataset(dir.str(), o);
  EXPECT_FALSE(d.given_test);
  // test: round(0.2 n) per class = 2, 2, 1, 1; val: round(0.2 * rest) = 2, 1, 1, 1.
  expect_split_counts(d, {2, 2, 1, 1}, {2, 1, 1, 1}, {6, 5, 4, 3});
  // Disjoint, complete.
  std::set<std::string> seen;
  for (auto* part : {&d.train, &d.val, &d.test})
    for (const Sample& s : *part) EXPECT_TRUE(seen.insert(s.path).second) << s.path;
  EXPECT_EQ(seen.size(), 29u);
  // Seeded: same seed, same split; another seed, another split.
  DatasetSplits again = load_dataset(dir.str(), o);
  for (size_t i = 0; i < d.test.size(); ++i) EXPECT_EQ(d.test[i].path, again.test[i].path);
  o.seed = 8;
  DatasetSplits other = load_dataset(dir.str(), o);
  bool differs = false;
  for (size_t i = 0; i < d.test.size(); ++i) differs |= d.test[i].path != other.test[i].path;
  EXPECT_TRUE(differs);
}

TEST(Dataset, TrainTestFoldersAndOversampling) {
  TempDir dir("study");
  make_tree(dir.file("train"), {{"NORMAL", 10}, {"HB", 8}, {"MI", 8}, {"PMI", 3}});
  make_tree(dir.file("test"), {{"NORMAL", 2}, {"HB", 2}, {"MI", 2}, {"PMI", 2}});
  DatasetOptions o;
  o.val_fraction = 0.25;
  DatasetSplits d = load_dataset(dir.str(), o);
  EXPECT_TRUE(d.given_test);
  // val from train only: round(.25 n) = 3 (2.5 rounds away), 2, 2, 1.
  expect_split_counts(d, {2, 2, 2, 2}, {3, 2, 2, 1}, {7, 6, 6, 2});
  for (const Sample& s : d.val) EXPECT_NE(s.path.find("/train/"), std::string::npos);
  auto w = class_weights(d.train);
  EXPECT_NEAR(w[3], 21.0 / (4 * 2), 1e-6);
  EXPECT_NEAR(w[0], 21.0 / (4 * 7), 1e-6);

  o.oversample = true;
  DatasetSplits os = load_dataset(dir.str(), o);
  EXPECT_EQ(class_counts(os.train), (std::array<int, 4>{7, 7, 7, 7}));
  EXPECT_EQ(class_counts(os.val), (std::array<int, 4>{3, 2, 2, 1}));  // untouched
  EXPECT_EQ(class_counts(os.test), (std::array<int, 4>{2, 2, 2, 2}));
  // PMI 2 -> 7: every original appears 3 or 4 times (whole copies first).
  std::map<std::string, int> times;
  for (const Sample& s : os.train)
    if (s.label == 3) ++times[s.path];
  ASSERT_EQ(times.size(), 2u);
  for (auto& [p, n] : times) EXPECT_TRUE(n == 3 || n == 4) << p << " " << n;
}

TEST(Dataset, ValFolderIsUsedWhenPresent) {
  TempDir dir("val");
  make_tree(dir.file("train"), {{"NORMAL", 3}, {"MI", 3}});
  make_tree(dir.file("val"), {{"NORMAL", 1}, {"MI", 1}});
  make_tree(dir.file("test"), {{"NORMAL", 1}, {"MI", 2}});
  DatasetSplits d = load_dataset(dir.str(), {});
  EXPECT_TRUE(d.given_val);
  EXPECT_EQ(d.train.size(), 6u);
  EXPECT_EQ(d.val.size(), 2u);
  EXPECT_EQ(d.test.size(), 3u);
}

TEST(Dataset, RealSampleLayout) {
  // The sample has train/ only: scan its class folders directly.
  std::vector<Sample> all = scan_class_folders(testing::sample_dir() + "/train", false, nullptr);
  EXPECT_EQ(all.size(), 40u);
  EXPECT_EQ(class_counts(all), (std::array<int, 4>{10, 10, 10, 10}));
  DatasetOptions o;
  DatasetSplits d = load_dataset(testing::sample_dir(), o);  // train/ only: split
  EXPECT_FALSE(d.given_test);
  expect_split_counts(d, {2, 2, 2, 2}, {2, 2, 2, 2}, {6, 6, 6, 6});
}

TEST(Dataset, FolderErrors) {
  TempDir dir("errors");
  make_tree(dir.str(), {{"NORMAL", 2}, {"cats", 1}});
  expect_error([&] { load_dataset(dir.str(), {}); }, "cats: unknown class folder");
  fs::remove_all(dir.file("cats"));
  fs::create_directories(dir.file("MI"));
  expect_error([&] { load_dataset(dir.str(), {}); }, "MI: class folder contains no images");
  write_text(dir.file("MI/.hidden.jpg"), "ignored");
  expect_error([&] { load_dataset(dir.str(), {}); }, "contains no images");
  write_text(dir.file("MI/x.jpg"), "");  // bad content is found at decode time
  EXPECT_NO_THROW(load_dataset(dir.str(), {}));
  write_text(dir.file("MI/notes.txt"), "not an image");
  expect_error([&] { load_dataset(dir.str(), {}); }, "notes.txt: not an image file");
  DatasetOptions skip;
  skip.skip_bad = true;
  DatasetSplits d = load_dataset(dir.str(), skip);
  EXPECT_EQ(d.skipped, 1);
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_NE(d.warnings[0].find("notes.txt"), std::string::npos);
  expect_error([&] { load_dataset(dir.file("nowhere"), {}); }, "dataset folder not found");
  TempDir empty("empty");
  expect_error([&] { load_dataset(empty.str(), {}); }, "no class folders");
  TempDir half("half");
  make_tree(half.file("test"), {{"NORMAL", 2}});
  expect_error([&] { load_dataset(half.str(), {}); }, "has test/ but not train/");
}

}  // namespace
}  // namespace ecg::data
