// Model checkpoints as safetensors: tensor names and layouts follow PyTorch
// (conv weight OIHW, linear weight [out, in], BatchNorm weight/bias/
// running_mean/running_var); a JSON metadata block under the key "ecgcnn"
// records model, classes, input size, preprocessing, recipe and metrics.
// See docs/checkpoints.md for the names.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "models/models.h"

namespace ecg {

// Default class names in the canonical order of the study.
const std::vector<std::string>& default_class_names();
// Names for an n-class model without recorded names: the study's for 4,
// "class 0", "class 1", ... otherwise.
std::vector<std::string> default_class_names(int n);

// Writes parameters and buffers of `model` plus `info` (merged with the model
// config) atomically to `path`.
void save_checkpoint(const std::string& path, Model& model, const nlohmann::json& info);

struct LoadedCheckpoint {
  std::shared_ptr<Model> model;
  nlohmann::json info;  // includes "model", "image_size", "classes" (names)
};

// Validates the whole file, then rebuilds the model named in the metadata and
// loads every tensor. Refused, with one message naming the file and the field
// or tensor: an unknown model, an image_size out of range or unlike the
// recorded data settings, class names that are empty or do not match the
// outputs, missing, extra or mis-shaped tensors, non-float dtypes, non-finite
// values, negative BatchNorm variances (and, in load_safetensors, offsets
// that overlap, leave gaps or trailing bytes). save_checkpoint refuses the
// same, so a diverged model is never written.
LoadedCheckpoint load_checkpoint(const std::string& path);

// Copies tensors by name into an existing model (used by load and resume).
void load_state(Model& model, const std::map<std::string, Tensor>& tensors,
                const std::string& path);

}  // namespace ecg
