// The float network as the int8 graph will run it: BatchNorm folded into the
// convolutions, ReLU as a flag, the residual add fused into a convolution,
// pools, and one dense layer last. The quantizer observes its tensors over
// the calibration set and turns each step into an int8 node
// (quant/quantizer.cpp); the per-layer report compares against it.
//
// Two sources give one: the study's ResNet-(9n+2) (fold_model on a Model
// built by models/models.h) and an imported ONNX graph (fold_model on a
// GraphModel: Conv [+ BatchNormalization] [+ Relu], Add [+ Relu], MaxPool,
// AveragePool, GlobalAveragePool, Flatten/Reshape, Gemm/MatMul, Identity,
// Dropout, and a final Softmax, which is dropped: the int8 model returns
// logits, as every ecgcnn model does).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "models/graph_model.h"
#include "models/models.h"
#include "quant/int8_model.h"

namespace ecg::quant {

// A convolution with its BatchNorm folded in (float, OIHW).
struct FoldedConv {
  Tensor w, b;  // folded
  Conv2dOptions opt;
  bool relu = false;

  int out_channels() const { return static_cast<int>(w.size(0)); }
  Tensor forward(const Tensor& x) const;
};

struct FoldedStep {
  NodeKind kind = NodeKind::Conv;
  std::string node;                 // node name in the int8 model
  std::string out;                  // the tensor it writes ("" for the dense logits)
  std::vector<std::string> inputs;  // tensors it reads (a fused add: {x, residual})
  FoldedConv conv;                  // Conv
  bool residual = false;            // Conv: out = relu?(residual + conv(x)); writes pre_add() too
  bool relu = false;                // Add, and a Conv with a residual: ReLU after the add
  Pool2dOptions pool;               // MaxPool, AvgPool
  bool global_pool = false;         // AvgPool over the whole input
  Tensor fc_w, fc_b;                // Dense: [out, in] over the float (c, h, w) flatten order

  std::string pre_add() const { return node + ".pre_add"; }
};

struct FoldedGraph {
  std::string name;  // the int8 model's "model"
  std::vector<FoldedStep> steps;
  // Input normalization before "input" (a GraphModel's; empty = none).
  std::vector<float> mean, std;

  // Runs the graph in float; calls see(name, tensor) at "input" and every
  // tensor the int8 graph quantizes, in execution order. Returns the logits.
  template <class See>
  Tensor forward(const Tensor& x, See see) const;
};

// The model as a FoldedGraph; refuses, naming the layer or node, what the
// int8 graph cannot express (AlexNet's ReLU-before-BatchNorm order, a
// BatchNormalization after anything but a convolution, weights that are not
// initializers, ...).
FoldedGraph fold_model(Model& model);

// The per-step float computation, shared by forward().
Tensor run_folded_step(const FoldedStep& s, const std::vector<Tensor>& in);

template <class See>
Tensor FoldedGraph::forward(const Tensor& x, See see) const {
  NoGradGuard no_grad;
  std::map<std::string, Tensor> v;
  v["input"] = normalize_channels(x, mean, std);
  see("input", v["input"]);
  for (const FoldedStep& s : steps) {
    std::vector<Tensor> in;
    for (const std::string& name : s.inputs) in.push_back(v.at(name));
    if (s.kind == NodeKind::Conv && s.residual) {
      Tensor pre = s.conv.forward(in[0]);
      see(s.pre_add(), pre);
      Tensor y = add(in[1], pre);
      v[s.out] = s.relu ? relu(y) : y;
      see(s.out, v[s.out]);
      continue;
    }
    Tensor y = run_folded_step(s, in);
    if (s.kind == NodeKind::Dense) return y;
    v[s.out] = y;
    see(s.out, y);
  }
  fail("folded graph ", name, " has no dense layer");
}

}  // namespace ecg::quant
