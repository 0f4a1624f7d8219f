// Fine-tuning support for `ecgcnn train --init-from CHECKPOINT --freeze ...`:
// starting a new run from a checkpoint's weights and BatchNorm statistics,
// and freezing parts of the model.
//
// Why BatchNorm gets its own switch: on a few dozen real scans the batch
// statistics differ from the pretraining pages' and are noisy, and letting
// them replace the checkpoint's running statistics collapsed fine-tuning to
// chance in the issue 21 measurements; BN layers in eval mode (running
// statistics used and kept) did not.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/checkpoint.h"
#include "models/models.h"

namespace ecg {

// What init_from_checkpoint did, for the one line the CLI prints.
struct InitFromResult {
  bool head_reinitialised = false;
  std::string head;     // name of the head layer ("fc" for the ResNets)
  std::string message;  // one line when the head was re-initialised, else empty
  int tensors_loaded = 0;
};

// Copies every parameter and buffer of the checkpoint at `path` into `model`.
// The checkpoint must hold the same architecture at the same input size, else
// one error line naming the file and the mismatch. When its class names
// (count or order) differ from `classes`, the head (the last layer with
// parameters) keeps the model's fresh initialisation instead.
InitFromResult init_from_checkpoint(Model& model, const std::string& path,
                                    const std::vector<std::string>& classes);
// The same from a checkpoint already loaded from `path` (the CLI reads it
// early to take its model and input size as defaults).
InitFromResult init_from_checkpoint(Model& model, const LoadedCheckpoint& ck,
                                    const std::string& path,
                                    const std::vector<std::string>& classes);

// The name of the model's head: its last top-level layer with parameters.
std::string head_layer_name(Model& model);

// True when the dotted tensor name `name` starts with one of `prefixes`
// (plain string prefixes: "stem" covers stem_conv and stem_bn, "stage0" every
// block of stage 0).
bool matches_prefix(const std::string& name, const std::vector<std::string>& prefixes);

// Every BatchNorm under `m` with its dotted module name ("stage0.block0.bn1").
std::vector<std::pair<std::string, BatchNorm*>> named_batch_norms(Module& m,
                                                                  const std::string& prefix = "");

// Splits the model's parameters for the optimiser: frozen ones (matching
// `freeze`) stop requiring gradients until the guard is destroyed; the rest
// are returned. A prefix that matches no parameter, or freezing everything,
// is an error listing the model's top-level layer names.
class FreezeGuard {
 public:
  FreezeGuard(Model& model, const std::vector<std::string>& freeze);
  ~FreezeGuard();
  FreezeGuard(const FreezeGuard&) = delete;
  FreezeGuard& operator=(const FreezeGuard&) = delete;
  const std::vector<Tensor*>& trainable() const { return trainable_; }

 private:
  std::vector<Tensor*> trainable_, frozen_;
};

// Puts the BatchNorm layers whose statistics must not change into eval mode
// (running statistics used for normalisation and left untouched): all of
// them with `all_bn`, else those inside a frozen prefix. Call after
// model.train(). Returns how many BN layers were held.
int hold_frozen_batch_norms(Model& model, const std::vector<std::string>& freeze, bool all_bn);

}  // namespace ecg
