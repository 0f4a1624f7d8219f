// train_config.json: the settings of a run folder, written by `ecgcnn train`
// and read back by `ecgcnn train --resume` (and by tests/fuzz/fuzz_train_config).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "data_sources.h"
#include "train/trainer.h"

namespace ecg::cli {

struct TrainSettings {
  DataConfig data;
  TrainOptions train;
  std::string model = "resnet11", resume;
  std::string init_from;  // fine-tuning: weights and BN statistics from this checkpoint
  int image_size = 0;     // 0 = the model's study default
  bool no_augment = false, flip = false, no_oversample = false, class_weighted = false;
  bool profile = false;
  int profile_step = 1;     // --profile-step: the one step traced
  std::string profile_out;  // --profile-out FILE.json|.csv
  std::string roofline;     // --roofline FILE.svg
};

// The JSON written to train_config.json (the data folder made absolute, so
// that --resume works from any folder).
nlohmann::json train_config_json(const TrainSettings& c);

// Reads `path` into `c` and checks it as a whole: every field present with
// its type, numbers in the ranges the flags accept, a known model. Throws an
// ecg::Error naming the file and the field.
void read_train_config(const std::string& path, TrainSettings& c);

}  // namespace ecg::cli
