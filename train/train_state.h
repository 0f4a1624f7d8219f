// The trainer's state file, out_dir/state.safetensors: model tensors under
// "model.", optimizer moments under "optim." and the loop's counters, plateau
// rule and history as JSON under the key "ecgcnn_train_state", so that
// `ecgcnn train --resume` continues exactly where a run stopped. Loading
// checks the whole file (counters in range, one moment per trainable
// parameter, finite values) before the model or the optimizer changes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/models.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "train/trainer.h"

namespace ecg {

// Everything the loop needs to continue exactly where it stopped.
struct LoopState {
  int epoch = 0;
  int64_t next_batch = 0;
  double loss_sum = 0;
  int64_t seen = 0, correct = 0;
  double epoch_seconds = 0;
  ReduceLrOnPlateau plateau;
  int early_wait = 0;
  TrainResult result;
};

// The history as the JSON array of history.json and of the state file.
nlohmann::json history_json(const std::vector<EpochRecord>& history);

// Writes the model, the optimizer's moments and `s` to `path` (atomically).
void save_train_state(const std::string& path, Model& model, Optimizer& optim,
                      const std::string& optimizer, const LoopState& s);

// Reads a state written by save_train_state into `model`, `optim` and `s`.
// `optim_params`: how many parameters the optimizer updates (the trainable
// ones; frozen parameters have no moments); `batches`: batches per epoch.
// Refused with one message naming the file and the field when anything is off.
void load_train_state(const std::string& path, Model& model, Optimizer& optim,
                      const std::string& optimizer, size_t optim_params, int64_t batches,
                      LoopState& s);

}  // namespace ecg
