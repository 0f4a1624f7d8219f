// Helpers shared by the training tests: the model and the options most of
// them train with (a 32 px ResNet-11; batch 8 at a constant rate, quiet).
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "models/models.h"
#include "train/trainer.h"

namespace ecg::testing {

inline std::shared_ptr<Model> small_resnet() {
  ModelConfig c;
  c.image_size = 32;
  return build_model(c);
}

// `epochs` epochs into dir/sub.
inline TrainOptions quiet_options(const std::filesystem::path& dir, const std::string& sub,
                                  int epochs) {
  TrainOptions o;
  o.out_dir = (dir / sub).string();
  o.epochs = epochs;
  o.batch = 8;
  o.progress = false;
  o.schedule = "constant";
  return o;
}

}  // namespace ecg::testing
