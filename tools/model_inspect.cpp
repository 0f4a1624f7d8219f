#include "model_inspect.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <vector>

#include "core/autograd.h"

namespace ecg::cli {

namespace {

void collect_paths(Module& m, const std::string& prefix,
                   std::map<const Module*, std::string>& out) {
  for (const auto& child : m.named_children()) {
    const std::string path = prefix.empty() ? child.first : prefix + "." + child.first;
    out[child.second.get()] = path;
    collect_paths(*child.second, path, out);
  }
}

// Every node reachable from `root` through next_edges, once each.
std::vector<const Node*> reachable_nodes(const Node* root) {
  std::vector<const Node*> order, stack{root};
  std::set<const Node*> seen{root};
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    order.push_back(n);
    for (const Edge& e : n->next_edges)
      if (e.node && seen.insert(e.node.get()).second) stack.push_back(e.node.get());
  }
  return order;
}

}  // namespace

std::map<const Module*, std::string> module_paths(Module& root) {
  std::map<const Module*, std::string> out;
  collect_paths(root, "", out);
  return out;
}

ScopedOutputObserver::ScopedOutputObserver(Module::OutputObserver f) {
  Module::output_observer() = std::move(f);
}

ScopedOutputObserver::~ScopedOutputObserver() {
  Module::output_observer() = nullptr;
}

std::string format_tape(const Tensor& root, const std::map<const Node*, std::string>& layer_of,
                        const std::map<const Node*, std::string>& parameter_names) {
  if (!root.grad_fn())
    return "no tape: the tensor was not computed from tensors that need gradients\n";
  std::vector<const Node*> nodes = reachable_nodes(root.grad_fn().get());
  // Parameters' AccumulateGrad nodes are named as inputs, not listed as lines.
  nodes.erase(std::remove_if(nodes.begin(), nodes.end(),
                             [&](const Node* n) { return parameter_names.count(n) > 0; }),
              nodes.end());
  // Backward runs later nodes first (run_backward breaks ties by creation order).
  std::sort(nodes.begin(), nodes.end(),
            [](const Node* a, const Node* b) { return a->sequence_nr > b->sequence_nr; });
  std::string out;
  char line[160];
  std::snprintf(line, sizeof line, "%6s  %-34s %-26s %s\n", "node", "op", "output of layer",
                "inputs");
  out += line;
  for (const Node* n : nodes) {
    std::string inputs;
    for (const Edge& e : n->next_edges) {
      if (!inputs.empty()) inputs += ", ";
      if (!e.node) {
        inputs += "-";
      } else if (parameter_names.count(e.node.get())) {
        inputs += parameter_names.at(e.node.get());
      } else {
        inputs += "#" + std::to_string(e.node->sequence_nr);
      }
    }
    const auto layer = layer_of.find(n);
    std::snprintf(line, sizeof line, "%6s  %-34s %-26s ",
                  ("#" + std::to_string(n->sequence_nr)).c_str(), n->name().c_str(),
                  layer == layer_of.end() ? "" : layer->second.c_str());
    out += line + inputs + "\n";
  }
  out += std::to_string(nodes.size()) + " nodes; backward runs them from the top down.\n";
  return out;
}

}  // namespace ecg::cli
