// Module API: wiring only, no arithmetic (that lives in core/ops and kernels/).
// A Module owns named parameters (trainable leaves) and buffers (running
// statistics), has train/eval mode, children, and can infer its output shape
// and cost for `ecgcnn summary` without running.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/ops.h"
#include "core/profiler.h"

namespace ecg {

// One row of a model summary.
struct LayerInfo {
  std::string name, kind;
  Shape output;
  int64_t params = 0;
  double macs = 0;
};

class Module {
 public:
  explicit Module(std::string kind) : kind_(std::move(kind)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Runs forward under this module's name, so the profiler attributes op time
  // to layers by the names `summary` prints (the root of a model, no name and
  // children, adds nothing to its children's names; its own span is "-"),
  // then shows the output to the output observer if one is set.
  Tensor operator()(const Tensor& x) {
    if (name_.empty() && !children_.empty()) {
      LayerScope scope(std::string(), LayerScope::Absolute);
      return forward(x);
    }
    LayerScope scope(name_.empty() ? kind_ : name_);
    Tensor y = forward(x);
    if (output_observer()) output_observer()(*this, y);
    return y;
  }

  // Sees every module's output after its forward, inner modules first
  // (`ecgcnn predict --dump`, `ecgcnn summary --tape`). One per process; the
  // caller sets it around a forward and clears it (an empty function) after.
  using OutputObserver = std::function<void(const Module&, const Tensor&)>;
  static OutputObserver& output_observer();
  virtual Tensor forward(const Tensor& x) = 0;

  // Output shape for an input shape; appends summary rows for leaf layers.
  virtual Shape infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix);

  void train(bool on = true);
  void eval() { train(false); }

  // Moves every parameter and buffer (this module and its children) to a
  // device, in place: the Tensor objects keep their addresses, so pointers
  // held by an optimiser stay valid. Gradients are dropped.
  void to(Device device);
  // Where the parameters live (the CPU for a module without any).
  Device device();
  bool is_training() const { return training_; }

  const std::string& kind() const { return kind_; }
  const std::string& name() const { return name_; }

  // Depth-first, with dotted names ("stage0.block0.conv1.weight").
  std::vector<std::pair<std::string, Tensor*>> named_parameters(const std::string& prefix = "");
  std::vector<std::pair<std::string, Tensor*>> named_buffers(const std::string& prefix = "");
  std::vector<Tensor*> parameters();
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const {
    return children_;
  }
  int64_t num_parameters();
  void zero_grad();

  // Sum of the L2 penalties of every layer that declares one (Keras kernel_regularizer).
  Tensor regularization_loss();

 protected:
  Tensor& register_parameter(const std::string& name, Tensor t);
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    m->name_ = name;
    children_.emplace_back(name, m);
    return m;
  }
  virtual void collect_penalties(std::vector<Tensor>& out);
  // Rows for a leaf layer: parameters counted from this module only.
  void add_row(std::vector<LayerInfo>* rows, const std::string& prefix, const Shape& out,
               double macs);

  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;

 private:
  std::string kind_, name_;
  bool training_ = true;
  // unique_ptr keeps each Tensor's address stable as more are registered.
  std::vector<std::pair<std::string, std::unique_ptr<Tensor>>> params_, buffers_;
};

using ModulePtr = std::shared_ptr<Module>;

// Keras He-normal: truncated normal (|z| <= 2) with stddev sqrt(2 / fan_in) / 0.8796,
// the factor restoring the variance lost to truncation.
Tensor he_normal(const Shape& shape, int64_t fan_in, uint64_t seed);

}  // namespace ecg
