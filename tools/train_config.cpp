#include "train_config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <type_traits>

#include "core/json_checked.h"

namespace ecg::cli {

nlohmann::json train_config_json(const TrainSettings& c) {
  // Absolute, so that --resume works from any folder.
  const std::string data = std::filesystem::absolute(c.data.root).lexically_normal().string();
  nlohmann::json j = {{"data", data},
                      {"model", c.model},
                      {"epochs", c.train.epochs},
                      {"batch", c.train.batch},
                      {"image_size", c.image_size},
                      {"seed", c.train.seed},
                      {"recipe", c.train.recipe},
                      {"optimizer", c.train.optimizer},
                      {"lr", c.train.lr},
                      {"schedule", c.train.schedule},
                      {"warmup_epochs", c.train.warmup_epochs},
                      {"early_stop", c.train.early_stop_patience},
                      {"no_augment", c.no_augment},
                      {"flip", c.flip},
                      {"no_oversample", c.no_oversample},
                      {"class_weighted", c.class_weighted},
                      {"val_fraction", c.data.val_fraction},
                      {"precise_bn", c.train.precise_bn_batches},
                      {"skip_bad", c.data.skip_bad},
                      {"init_from", c.init_from},
                      {"freeze", c.train.freeze},
                      {"freeze_bn", c.train.freeze_bn}};
  // Only when on, so one-process runs write the file they always wrote.
  if (c.train.sync_bn) j["sync_bn"] = true;
  return j;
}

namespace {

// One field of train_config.json; a missing field, one of the wrong type or
// an integer out of T's range is an error naming it.
template <class T>
void field(const nlohmann::json& j, const char* name, T& out) {
  ECG_CHECK(j.is_object() && j.contains(name), "field '", name, "' is missing");
  const nlohmann::json& v = j[name];
  constexpr bool is_bool = std::is_same<T, bool>::value;
  if constexpr (is_bool || std::is_same<T, std::string>::value) {
    ECG_CHECK(is_bool ? v.is_boolean() : v.is_string(), "field '", name, "' is ", v.dump(),
              ", expected a ", is_bool ? "boolean" : "string");
    out = v.get<T>();
  } else if constexpr (std::is_integral<T>::value) {
    out = json_int<T>(v, name);  // range-checked: get<int>() of 1e47 is undefined
  } else {
    out = json_double(v, name);
  }
}

void from_json(const nlohmann::json& j, TrainSettings& c) {
  field(j, "data", c.data.root);
  field(j, "model", c.model);
  field(j, "epochs", c.train.epochs);
  field(j, "batch", c.train.batch);
  field(j, "image_size", c.image_size);
  field(j, "seed", c.train.seed);
  field(j, "recipe", c.train.recipe);
  field(j, "optimizer", c.train.optimizer);
  field(j, "lr", c.train.lr);
  field(j, "schedule", c.train.schedule);
  field(j, "warmup_epochs", c.train.warmup_epochs);
  field(j, "early_stop", c.train.early_stop_patience);
  field(j, "no_augment", c.no_augment);
  field(j, "flip", c.flip);
  field(j, "no_oversample", c.no_oversample);
  field(j, "class_weighted", c.class_weighted);
  field(j, "val_fraction", c.data.val_fraction);
  c.train.precise_bn_batches = 0;  // older files have neither
  c.data.skip_bad = false;
  if (j.contains("precise_bn")) field(j, "precise_bn", c.train.precise_bn_batches);
  if (j.contains("skip_bad")) field(j, "skip_bad", c.data.skip_bad);
  // A resumed fine-tuning run keeps its frozen parts; its weights come from
  // the saved state, so init_from is only a record and is not loaded again.
  c.train.freeze.clear();
  c.train.freeze_bn = false;
  if (j.contains("init_from")) {  // checked as a string, but never loaded again
    std::string record;
    field(j, "init_from", record);
  }
  if (j.contains("freeze")) {
    const nlohmann::json& f = j.at("freeze");
    if (!f.is_array()) fail("field 'freeze' is ", f.dump(), ", expected a list of strings");
    for (const auto& e : f) {
      if (!e.is_string()) fail("field 'freeze' holds ", e.dump(), ", expected a string");
      c.train.freeze.push_back(e.get<std::string>());
    }
  }
  if (j.contains("freeze_bn")) field(j, "freeze_bn", c.train.freeze_bn);
  c.train.sync_bn = false;
  if (j.contains("sync_bn")) field(j, "sync_bn", c.train.sync_bn);
}

// The settings read back from train_config.json, in the ranges the flags
// accept: a damaged or edited file (batch 0, negative epochs, an unknown
// model) would otherwise reach the loader or the loop.
void check_saved_config(const TrainSettings& c, const std::string& file) {
  auto in = [&](const char* field, double v, double lo, double hi) {
    if (!(v >= lo && v <= hi))
      fail("--resume: '", file, "': field '", field, "' is ", v, ", expected a value in [", lo,
           ", ", hi, "]");
  };
  in("epochs", c.train.epochs, 1, 100000);
  in("batch", c.train.batch, 1, 4096);
  if (c.image_size != 0) in("image_size", c.image_size, 8, 4096);
  in("lr", c.train.lr, 1e-300, 1e300);
  in("warmup_epochs", c.train.warmup_epochs, 0, 100000);
  in("early_stop", c.train.early_stop_patience, 0, 100000);
  in("val_fraction", c.data.val_fraction, 0.0, 0.9);
  in("precise_bn", c.train.precise_bn_batches, 0, 1000000);
  const std::vector<std::string> models = model_names();
  if (std::find(models.begin(), models.end(), c.model) == models.end())
    fail("--resume: '", file, "': field 'model' is '", c.model,
         "', expected alexnet, resnet11, resnet20 or resnet29");
  if (c.data.root.empty()) fail("--resume: '", file, "': field 'data' is empty");
}

}  // namespace

void read_train_config(const std::string& path, TrainSettings& c) {
  std::ifstream in(path);
  ECG_CHECK(in, "--resume: cannot open '", path, "'");
  try {
    from_json(nlohmann::json::parse(in), c);
  } catch (const std::exception& e) {
    fail("--resume: '", path, "': ", e.what());
  }
  check_saved_config(c, path);
}

}  // namespace ecg::cli
