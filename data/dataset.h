// Datasets of ECG report images laid out as class folders.
//
// Accepted layouts under a root directory:
//   root/{train,test}/<class>/*.jpg|jpeg|png   -> the given train and test splits
//   root/{train,val,test}/<class>/...          -> also a given validation split
//   root/<class>/... or root/train/<class>/... -> stratified, seeded train/test split
// Validation is always held apart from test: without val/, it is a
// stratified, seeded fraction of train. Class folder names are matched
// case-insensitively against the aliases below; labels are indices into the
// canonical order 0 Normal, 1 Abnormal heartbeat, 2 MI, 3 History of MI.
// Names starting with '.' and plain files beside the class folders (a
// README) are ignored. An unknown folder or a class folder without images is
// an error; a non-image file inside a class folder is an error too, or with
// skip_bad a warning and a count (as are undecodable images, found when the
// ImageSet is built).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace ecg::data {

constexpr int kNumClasses = 4;
// "Normal", "Abnormal heartbeat", "MI", "History of MI".
const std::array<std::string, kNumClasses>& class_names();
// Short folder names of the study: "NORMAL", "HB", "MI", "PMI".
const std::array<std::string, kNumClasses>& class_short_names();
// Label for a folder name: the short names, the Mendeley long names
// ("Normal Person ECG Images (284x12=3408)", ...), and the canonical names;
// -1 if unknown.
int class_from_folder(const std::string& folder_name);

struct Sample {
  std::string path;
  int label = 0;
};

struct DatasetOptions {
  uint64_t seed = 42;
  double test_fraction = 0.2;  // only when the root has no train/ and test/
  double val_fraction = 0.2;   // of train, only when there is no val/
  bool oversample = false;     // duplicate train samples of smaller classes up to the largest
  bool skip_bad = false;       // warn and count instead of failing on a bad file
};

struct DatasetSplits {
  std::vector<Sample> train, val, test;  // train includes oversampled duplicates
  bool given_test = false;               // train/ and test/ folders were both present
  bool given_val = false;
  std::vector<std::string> warnings;  // one line each: skipped files
  int skipped = 0;
};

// Lists <dir>/<class>/<image> files sorted by path. Throws ecg::Error on an
// unknown folder, a class folder without images, a missing or unreadable dir;
// skip_bad turns a non-image file into a warning (appended to `warnings`).
std::vector<Sample> scan_class_folders(const std::string& dir, bool skip_bad,
                                       std::vector<std::string>* warnings);

DatasetSplits load_dataset(const std::string& root, const DatasetOptions& opts);

// Stratified split: from each class, round(fraction * n) samples (at least
// one when the class has two or more) go to `second`, chosen by a seeded shuffle.
void stratified_split(const std::vector<Sample>& all, double fraction, uint64_t seed,
                      std::vector<Sample>* first, std::vector<Sample>* second);

// Appends seeded random duplicates of each class's samples until every class
// present has as many as the largest. Order: originals, then duplicates.
std::vector<Sample> oversample(const std::vector<Sample>& samples, uint64_t seed);

std::array<int, kNumClasses> class_counts(const std::vector<Sample>& samples);
// Weights for a class-weighted loss: n / (k * count_c) over the k classes
// present (sklearn's "balanced"); 0 for an absent class.
std::array<float, kNumClasses> class_weights(const std::vector<Sample>& samples);

}  // namespace ecg::data
