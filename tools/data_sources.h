// The bridge between the CLI and data/: opens a dataset folder (real scans or
// synthetic pages) as train / validation / test BatchSources with the
// preprocessing a model expects (colour + area resize for the ResNets, grey
// replicated to 3 channels + bilinear for AlexNet, as in the study).
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/trainer.h"

namespace ecg::cli {

struct DataConfig {
  std::string root;
  int image_size = 224;
  bool grayscale = false;       // AlexNet: read grey, replicate to 3 channels
  std::string resize = "area";  // area (ResNets) or bilinear (AlexNet)
  double val_fraction = 0.2;    // held out of train, stratified
  double test_fraction = 0.2;   // only when the folder has no train/ and test/
  bool oversample = true;       // minority classes duplicated in the train split
  bool augment = true;          // shift, small rotation, brightness/contrast
  bool flip = false;            // horizontal flip reverses time on an ECG: off by default
  bool val_from_test = false;   // the study's ResNet notebooks validated on the test folder
  int batch = 16;
  uint64_t seed = 1;
  bool skip_bad = false;
  bool cache = true;
  bool progress = true;
  // Data-parallel training: the train and validation sources yield this
  // rank's share of every global batch (data/loader.h).
  int shard_rank = 0, shard_count = 1;

  // The settings for `model`, as the study preprocessed its inputs.
  static DataConfig for_model(const std::string& model);
  nlohmann::json json() const;
};

struct DataSplits {
  std::unique_ptr<BatchSource> train, val, test;
  // Every image once (no oversampled duplicates), in file order: `eval --split all`.
  std::unique_ptr<BatchSource> all;
  std::vector<std::string> classes;
  nlohmann::json summary;            // counts per split and class, source folder
  std::vector<std::string> skipped;  // with skip_bad: "path: error" per bad file
  // The file of each image in the order the unshuffled sources (val, test,
  // all) hand them out: which file a wrong prediction came from.
  std::vector<std::string> val_paths, test_paths, all_paths;
};

DataSplits open_splits(const DataConfig& cfg);

// One preprocessed image [1, 3, S, S] (predict, infer). An image under 16
// pixels on a side is an error naming the file; one smaller than the model's
// input is upscaled with a warning on stderr.
Tensor load_image(const std::string& path, const DataConfig& cfg);

// A preprocessed .npy input for predict/infer: float values, all finite (a
// NaN would quantize to an arbitrary int8 or make every probability NaN).
Tensor load_npy_input(const std::string& path);

}  // namespace ecg::cli
