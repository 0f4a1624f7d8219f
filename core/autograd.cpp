#include "core/autograd.h"

#include "core/profiler.h"

#include <algorithm>
#include <atomic>
#include <queue>
#include <unordered_map>

#include "core/ops.h"

namespace ecg {

namespace {
thread_local bool t_grad_enabled = true;
std::atomic<uint64_t> g_sequence{0};
GradReadyHook g_grad_ready_hook;

// Adds b into a (same shape), returning a fresh tensor so saved buffers are never aliased.
Tensor accumulate(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  NoGradGuard guard;
  return add(a, b);
}
}  // namespace

void set_grad_ready_hook(GradReadyHook hook) {
  g_grad_ready_hook = std::move(hook);
}

bool grad_mode_enabled() {
  return t_grad_enabled;
}
NoGradGuard::NoGradGuard() : prev_(t_grad_enabled) {
  t_grad_enabled = false;
}
NoGradGuard::~NoGradGuard() {
  t_grad_enabled = prev_;
}

std::vector<Tensor> AccumulateGrad::apply(const std::vector<Tensor>& grads) {
  auto meta = meta_.lock();
  if (meta && grads.size() == 1 && grads[0].defined()) {
    // A fresh copy, so later in-place optimiser updates never touch a buffer
    // that some other node still holds.
    Tensor g = meta->grad.defined() ? accumulate(meta->grad, grads[0]) : grads[0].clone();
    meta->grad = g;
    if (g_grad_ready_hook) g_grad_ready_hook(*meta);
  }
  return {};
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!grad_mode_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return Edge{};
  if (t.grad_fn()) return Edge{t.grad_fn()};
  Edge e{t.grad_accumulator()};
  // A parameter's gradient is accumulated under the layer that first uses it.
  if (e.node->layer.empty()) e.node->layer = current_layer();
  return e;
}

void attach_node(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
                 std::vector<Tensor*> outputs) {
  node->sequence_nr = g_sequence++;
  node->layer = current_layer();
  node->next_edges.clear();
  for (const Tensor& t : inputs) node->next_edges.push_back(gradient_edge(t));
  for (Tensor* out : outputs) out->set_grad_fn(node);
}

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& seeds) {
  // The engine's own work (ordering, gradient maps) is the "(autograd)" row;
  // each node runs in a span of its layer.
  PhaseScope phase("backward");
  LayerScope engine("(autograd)", LayerScope::Absolute);
  ECG_CHECK(roots.size() == seeds.size(), "backward: ", roots.size(), " roots, ", seeds.size(),
            " seeds");
  // Gradients flowing into each node, keyed by node identity.
  std::unordered_map<Node*, Tensor> pending;
  std::unordered_map<Node*, int> dependencies;
  std::vector<std::shared_ptr<Node>> start;
  for (size_t i = 0; i < roots.size(); ++i) {
    Edge e = gradient_edge(roots[i]);
    ECG_CHECK(e.node, "backward: tensor does not require grad and has no grad_fn");
    ECG_CHECK(seeds[i].shape() == roots[i].shape(), "backward: gradient of shape ",
              shape_str(seeds[i].shape()), " for tensor of shape ", shape_str(roots[i].shape()));
    pending[e.node.get()] = accumulate(pending[e.node.get()], seeds[i]);
    start.push_back(e.node);
  }
  // Count, for each node, how many edges of the reachable graph point at it,
  // so a node runs only after all its consumers have delivered gradients.
  std::vector<Node*> stack;
  std::unordered_map<Node*, bool> seen;
  for (auto& n : start)
    if (!seen[n.get()]) {
      seen[n.get()] = true;
      stack.push_back(n.get());
    }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges) {
      if (!e.node) continue;
      ++dependencies[e.node.get()];
      if (!seen[e.node.get()]) {
        seen[e.node.get()] = true;
        stack.push_back(e.node.get());
      }
    }
  }
  auto later_first = [](const std::shared_ptr<Node>& a, const std::shared_ptr<Node>& b) {
    return a->sequence_nr < b->sequence_nr;
  };
  std::priority_queue<std::shared_ptr<Node>, std::vector<std::shared_ptr<Node>>,
                      decltype(later_first)>
      ready(later_first);
  for (auto& n : start)
    if (dependencies[n.get()] == 0) ready.push(n);
  std::unordered_map<Node*, bool> queued;
  while (!ready.empty()) {
    std::shared_ptr<Node> node = ready.top();
    ready.pop();
    if (queued[node.get()]) continue;
    queued[node.get()] = true;
    LayerScope layer(node->layer, LayerScope::Absolute);
    Tensor g = pending[node.get()];
    pending.erase(node.get());
    std::vector<Tensor> in_grads = node->apply({g});
    node->release_saved();
    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.node) continue;
      if (i < in_grads.size() && in_grads[i].defined())
        pending[e.node.get()] = accumulate(pending[e.node.get()], in_grads[i]);
      if (--dependencies[e.node.get()] == 0) ready.push(e.node);
    }
  }
}

}  // namespace ecg
