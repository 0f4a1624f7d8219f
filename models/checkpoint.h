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

// Writes parameters and buffers of `model` plus `info` (merged with the model
// config) atomically to `path`.
void save_checkpoint(const std::string& path, Model& model, const nlohmann::json& info);

struct LoadedCheckpoint {
  std::shared_ptr<Model> model;
  nlohmann::json info;  // includes "model", "image_size", "classes" (names)
};

// Rebuilds the model named in the metadata and loads every tensor; missing,
// extra or mis-shaped tensors are errors naming the tensor and the file.
LoadedCheckpoint load_checkpoint(const std::string& path);

// Copies tensors by name into an existing model (used by load and resume).
void load_state(Model& model, const std::map<std::string, Tensor>& tensors,
                const std::string& path);

}  // namespace ecg
