// Looking inside a model for `ecgcnn predict --dump LAYER` and `ecgcnn
// summary --tape`: every module's dotted name (the names `summary` prints),
// a scoped observer of module outputs, and the autograd tape as text.
#pragma once
#include <functional>
#include <map>
#include <string>

#include "core/tensor.h"
#include "layers/module.h"

namespace ecg::cli {

// Every module under `root` by its dotted path ("stage0.block0.conv1"), the
// root itself excluded: the names `ecgcnn summary` prints for leaf layers.
std::map<const Module*, std::string> module_paths(Module& root);

// Sets Module::output_observer for its lifetime, restores none after (also
// when the forward throws).
class ScopedOutputObserver {
 public:
  explicit ScopedOutputObserver(Module::OutputObserver f);
  ~ScopedOutputObserver();
  ScopedOutputObserver(const ScopedOutputObserver&) = delete;
  ScopedOutputObserver& operator=(const ScopedOutputObserver&) = delete;
};

// The autograd tape under `root` (a loss, say) in the order backward runs
// it: one line per node with its creation number, its op, the layer whose
// output it made (from `layer_of`), and its inputs (other nodes by number,
// parameters by name from `parameter_names`).
std::string format_tape(const Tensor& root, const std::map<const Node*, std::string>& layer_of,
                        const std::map<const Node*, std::string>& parameter_names);

}  // namespace ecg::cli
