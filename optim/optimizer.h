// Optimiser interface used by the training loop (train/trainer.cpp).
// Implementations (Adam, AdamW, SGD) keep their state tensors per parameter and
// run the update arithmetic through the op table (ops().adam_update /
// ops().sgd_update), under NoGradGuard.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace ecg {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of every parameter from its .grad() (parameters without a grad are skipped).
  virtual void step() = 0;
  virtual void set_lr(double lr) = 0;
  virtual double lr() const = 0;
  // Number of step() calls so far (Adam's bias correction uses it).
  virtual int64_t steps() const = 0;
  // Named state tensors (e.g. "m.3", "v.3") for checkpoints, and their restore.
  virtual std::vector<std::pair<std::string, Tensor>> state() const = 0;
  virtual void load_state(const std::map<std::string, Tensor>& state, int64_t steps) = 0;
};

// name: "adam" (Keras epsilon convention, eps 1e-7, as the study), "adam-torch"
// (PyTorch's convention), "adamw", "sgd" (momentum 0.9, Nesterov off).
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<Tensor*> params,
                                          double lr);

// Scales all gradients so their global L2 norm is at most max_norm; returns the norm before.
double clip_grad_norm(const std::vector<Tensor*>& params, double max_norm);

}  // namespace ecg
