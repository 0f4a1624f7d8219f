// Define-by-run reverse-mode autograd. Each differentiable op records a Node
// holding what its backward needs (saved tensors) and edges to the Nodes of
// its inputs. backward() visits Nodes in reverse topological order,
// accumulates gradients where a tensor fans out, writes leaf gradients into
// Tensor::grad() (accumulating across calls until zero_grad), and frees each
// Node's saved tensors once it has run.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ecg {

class Node;

struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;                           // leaves only
  std::shared_ptr<Node> grad_fn;         // null for leaves
  std::weak_ptr<Node> grad_accumulator;  // the AccumulateGrad node of a leaf
};

struct Edge {
  std::shared_ptr<Node> node;  // null: this input needs no gradient
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  virtual ~Node() = default;
  // Gradients w.r.t. each input, in the order of next_edges (undefined = none).
  virtual std::vector<Tensor> apply(const std::vector<Tensor>& grad_outputs) = 0;
  virtual std::string name() const = 0;
  // Drops saved tensors; called after apply() during backward.
  virtual void release_saved() {}

  std::vector<Edge> next_edges;
  int num_outputs = 1;
  uint64_t sequence_nr = 0;  // creation order; later nodes run first on ties
  // The layer that recorded this node (core/profiler.h current_layer()): its
  // backward runs, and is profiled, under the same name.
  std::string layer;
};

// Writes an incoming gradient into a leaf tensor's grad.
class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<AutogradMeta> meta) : meta_(std::move(meta)) {}
  std::vector<Tensor> apply(const std::vector<Tensor>& grads) override;
  std::string name() const override { return "AccumulateGrad"; }

 private:
  std::weak_ptr<AutogradMeta> meta_;
};

// Called by a leaf's AccumulateGrad once the leaf's gradient for this
// backward pass is written (a leaf's node runs once per pass, after every
// consumer delivered its share). Data-parallel training starts reducing a
// gradient bucket there, overlapping the rest of backward
// (train/data_parallel.h). Empty: none. Set by the thread that runs backward.
using GradReadyHook = std::function<void(const AutogradMeta& leaf)>;
void set_grad_ready_hook(GradReadyHook hook);

// Gradient mode: off inside a NoGradGuard (evaluation, optimiser updates).
bool grad_mode_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// True when any input requires grad and grad mode is on.
bool any_requires_grad(const std::vector<Tensor>& inputs);
// The edge through which a gradient flows into `t` (its grad_fn, or its leaf accumulator).
Edge gradient_edge(const Tensor& t);
// Connects `node` to the inputs and marks the outputs as produced by it.
void attach_node(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
                 std::vector<Tensor*> outputs);

// Runs backward from `roots` with the given seed gradients.
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& seeds);

}  // namespace ecg
