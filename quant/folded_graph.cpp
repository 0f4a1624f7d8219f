#include "quant/folded_graph.h"

#include <map>

#include "core/autograd.h"
#include "models/graph_model.h"
#include "quant/quantize.h"

namespace ecg::quant {

Tensor FoldedConv::forward(const Tensor& x) const {
  Tensor y = conv2d(x, w, b, opt);
  return relu ? ecg::relu(y) : y;
}

Tensor run_folded_step(const FoldedStep& s, const std::vector<Tensor>& in) {
  switch (s.kind) {
    case NodeKind::Conv:
      return s.conv.forward(in[0]);
    case NodeKind::MaxPool:
      return max_pool2d(in[0], s.pool);
    case NodeKind::AvgPool:
      if (s.global_pool) {
        const Tensor& x = in[0];
        return reshape(global_avg_pool(x), {x.size(0), x.size(1), 1, 1});
      }
      return avg_pool2d(in[0], s.pool);
    case NodeKind::Add: {
      Tensor y = add(in[0], in[1]);
      return s.relu ? relu(y) : y;
    }
    case NodeKind::Dense:
      return linear(flatten(in[0]), s.fc_w, s.fc_b);
  }
  fail("folded step ", s.node, ": unknown kind");
}

namespace {

// ---- the study's ResNet-(9n+2) --------------------------------------------------

FoldedConv fold(Conv2d& conv, BatchNorm* bn) {
  FoldedConv f;
  const Conv2dConfig& cfg = conv.config();
  f.opt.stride_h = f.opt.stride_w = cfg.stride;
  f.opt.padding = cfg.padding;
  f.w = conv.weight().detach().clone();
  f.b = conv.bias() ? conv.bias()->detach().clone() : Tensor::zeros({cfg.out});
  if (bn) {
    fold_batch_norm(cfg.out, f.w.numel() / cfg.out, f.w.data<float>(), f.b.data<float>(),
                    bn->gamma().data<float>(), bn->beta().data<float>(),
                    bn->running_mean().data<float>(), bn->running_var().data<float>(),
                    static_cast<float>(bn->eps()));
    f.relu = bn->fuses_relu();
  }
  return f;
}

FoldedStep conv_step(const std::string& name, const std::string& in, FoldedConv c) {
  FoldedStep s;
  s.kind = NodeKind::Conv;
  s.node = s.out = name;
  s.inputs = {in};
  s.conv = std::move(c);
  return s;
}

FoldedGraph fold_resnet(Model& m) {
  FoldedGraph g;
  g.name = m.config().name;
  auto& layers = m.layers();
  ECG_CHECK(g.name.rfind("resnet", 0) == 0, "quantize: model ", g.name,
            " is not supported yet (the int8 graph covers the ResNet-(9n+2) family and imported "
            "ONNX graphs; AlexNet's ReLU-before-BatchNorm order needs BN folded into the next "
            "layer, not implemented)");
  size_t i = 0;
  auto next = [&]() -> ModulePtr {
    ECG_CHECK(i < layers.size(), "quantize: unexpected end of model");
    return layers[i++];
  };
  auto stem_conv = std::dynamic_pointer_cast<Conv2d>(next());
  auto stem_bn = std::dynamic_pointer_cast<BatchNorm>(next());
  ECG_CHECK(stem_conv && stem_bn, "quantize: ResNet stem not found");
  // Steps and tensors carry the layer names `summary` and the float profile
  // print (issue 20): the folded stem is stem_conv, a block's fused conv2 +
  // add + ReLU writes the tensor of its add_relu layer.
  g.steps.push_back(conv_step("stem_conv", "input", fold(*stem_conv, stem_bn.get())));
  std::string h = "stem_conv";
  while (i < layers.size()) {
    auto blk = std::dynamic_pointer_cast<ResidualBlock>(layers[i]);
    if (!blk) break;
    ++i;
    const std::string name = blk->name();
    g.steps.push_back(conv_step(name + ".conv1", h, fold(*blk->conv1, blk->bn1.get())));
    std::string res = h;
    if (blk->shortcut) {
      g.steps.push_back(conv_step(name + ".shortcut", h, fold(*blk->shortcut, nullptr)));
      res = name + ".shortcut";
    }
    FoldedStep c2 = conv_step(name + ".conv2", name + ".conv1", fold(*blk->conv2, blk->bn2.get()));
    c2.conv.relu = false;  // the ReLU comes after the residual add
    c2.residual = c2.relu = true;
    c2.out = name + ".add_relu";
    c2.inputs.push_back(res);
    g.steps.push_back(c2);
    h = c2.out;
  }
  auto pool = std::dynamic_pointer_cast<AvgPool2d>(next());
  ECG_CHECK(pool, "quantize: ResNet head pool not found");
  FoldedStep p;
  p.kind = NodeKind::AvgPool;
  p.node = p.out = "head_pool";
  p.inputs = {h};
  p.pool = pool->options();
  g.steps.push_back(p);
  next();  // flatten
  auto fc = std::dynamic_pointer_cast<Linear>(next());
  ECG_CHECK(fc, "quantize: ResNet dense head not found");
  FoldedStep d;
  d.kind = NodeKind::Dense;
  d.node = "fc";
  d.inputs = {"head_pool"};
  d.fc_w = fc->weight().detach();
  d.fc_b = fc->bias().detach();
  g.steps.push_back(d);
  return g;
}

// ---- imported ONNX graphs ----------------------------------------------------------

class GraphFolder {
 public:
  explicit GraphFolder(const GraphModel& m) : m_(m) {
    for (const GraphNode& n : m.spec().nodes)
      for (const std::string& i : n.inputs) ++uses_[i];
    for (const std::string& o : m.spec().outputs) ++uses_[o];
    tensor_[m.spec().inputs.at(0).name] = "input";
  }

  FoldedGraph fold() {
    FoldedGraph g;
    g.name = "onnx:" + m_.config().name;
    const auto& nodes = m_.spec().nodes;
    for (size_t i = 0; i < nodes.size(); ++i) {
      const GraphNode& n = nodes[i];
      if (dense_done_) {
        ECG_CHECK(n.op == "Softmax" && i + 1 == nodes.size(), where(n),
                  "the int8 graph ends with its dense layer (only a final Softmax may follow)");
        continue;  // dropped: the int8 model returns logits
      }
      step(n, g);
    }
    ECG_CHECK(dense_done_, "quantize: graph ", m_.config().name,
              " does not end in a Gemm or MatMul classifier");
    return g;
  }

 private:
  static std::string where(const GraphNode& n) {
    return "quantize: node '" + n.name + "' (" + n.op + "): ";
  }
  const std::string& in(const GraphNode& n, size_t i) {
    auto it = tensor_.find(n.inputs.at(i));
    ECG_CHECK(it != tensor_.end(), where(n), "input '", n.inputs[i],
              "' is not an activation of the int8 graph");
    return it->second;
  }
  Tensor weight(const GraphNode& n, size_t i) {
    const Tensor* t = i < n.inputs.size() ? m_.initializer(n.inputs[i]) : nullptr;
    ECG_CHECK(t, where(n), "input ", i, " must be a float initializer (a constant weight)");
    return t->detach().clone();
  }
  // The step that wrote this node's input i, when nothing else reads it.
  FoldedStep* sole_producer(const GraphNode& n, size_t i, FoldedGraph& g) {
    auto it = producer_.find(n.inputs.at(i));
    if (it == producer_.end() || uses_[n.inputs[i]] != 1) return nullptr;
    return &g.steps[it->second];
  }
  void emit(const GraphNode& n, FoldedStep s, FoldedGraph& g) {
    producer_[n.outputs.at(0)] = g.steps.size();
    tensor_[n.outputs[0]] = s.out;
    g.steps.push_back(std::move(s));
  }
  void alias(const GraphNode& n) {
    tensor_[n.outputs.at(0)] = in(n, 0);
    auto p = producer_.find(n.inputs[0]);
    if (p != producer_.end()) producer_[n.outputs[0]] = p->second;
    uses_[n.inputs[0]] += uses_[n.outputs[0]] - 1;  // its readers read the input
  }

  void step(const GraphNode& n, FoldedGraph& g);
  void conv(const GraphNode& n, FoldedGraph& g);
  void batch_norm(const GraphNode& n, FoldedGraph& g);
  void relu(const GraphNode& n, FoldedGraph& g);
  void add(const GraphNode& n, FoldedGraph& g);
  void pool(const GraphNode& n, FoldedGraph& g);
  void dense(const GraphNode& n, FoldedGraph& g);

  const GraphModel& m_;
  std::map<std::string, std::string> tensor_;  // ONNX value -> int8 tensor name
  std::map<std::string, size_t> producer_;     // ONNX value -> step index
  std::map<std::string, int> uses_;            // ONNX value -> readers
  bool dense_done_ = false;
  std::string flatten_of_;  // the tensor a Flatten/Reshape before the dense layer reads
};

void GraphFolder::step(const GraphNode& n, FoldedGraph& g) {
  if (n.op == "Conv") return conv(n, g);
  if (n.op == "BatchNormalization") return batch_norm(n, g);
  if (n.op == "Relu") return relu(n, g);
  if (n.op == "Add") return add(n, g);
  if (n.op == "MaxPool" || n.op == "AveragePool" || n.op == "GlobalAveragePool") return pool(n, g);
  if (n.op == "Gemm" || n.op == "MatMul") return dense(n, g);
  if (n.op == "Identity" || n.op == "Dropout" || n.op == "Softmax") return alias(n);
  if (n.op == "Flatten" || n.op == "Reshape") {
    flatten_of_ = in(n, 0);
    tensor_[n.outputs.at(0)] = "flatten:" + flatten_of_;
    return;
  }
  fail(where(n), "has no int8 form");
}

void GraphFolder::conv(const GraphNode& n, FoldedGraph& g) {
  ECG_CHECK(n.attrs.get_string("auto_pad", "NOTSET") == "NOTSET" ||
                n.attrs.get_string("auto_pad", "") == "VALID",
            where(n), "auto_pad is not supported by the int8 graph (give explicit pads)");
  FoldedStep s;
  s.kind = NodeKind::Conv;
  s.node = s.out = n.name;
  s.inputs = {in(n, 0)};
  s.conv.w = weight(n, 1);
  s.conv.b = n.inputs.size() > 2 && !n.inputs[2].empty() ? weight(n, 2)
                                                         : Tensor::zeros({s.conv.w.size(0)});
  const std::vector<int64_t> st = n.attrs.get_ints("strides", {1, 1});
  const std::vector<int64_t> p = n.attrs.get_ints("pads", {0, 0, 0, 0});
  s.conv.opt = Conv2dOptions::explicit_pad(1, static_cast<int>(p[0]), static_cast<int>(p[1]),
                                           static_cast<int>(p[2]), static_cast<int>(p[3]));
  s.conv.opt.stride_h = static_cast<int>(st[0]);
  s.conv.opt.stride_w = static_cast<int>(st[1]);
  emit(n, std::move(s), g);
}

void GraphFolder::batch_norm(const GraphNode& n, FoldedGraph& g) {
  FoldedStep* c = sole_producer(n, 0, g);
  ECG_CHECK(c && c->kind == NodeKind::Conv && !c->residual && !c->conv.relu, where(n),
            "the int8 graph folds BatchNormalization into the convolution before it, and its "
            "input is not such a convolution's only use");
  Tensor gamma = weight(n, 1), beta = weight(n, 2), mean = weight(n, 3), var = weight(n, 4);
  const int K = c->conv.out_channels();
  ECG_CHECK(gamma.numel() == K, where(n), "has ", gamma.numel(), " channels, the convolution ", K);
  fold_batch_norm(K, c->conv.w.numel() / K, c->conv.w.data<float>(), c->conv.b.data<float>(),
                  gamma.data<float>(), beta.data<float>(), mean.data<float>(), var.data<float>(),
                  n.attrs.get_float("epsilon", 1e-5f));
  alias(n);
}

void GraphFolder::relu(const GraphNode& n, FoldedGraph& g) {
  FoldedStep* s = sole_producer(n, 0, g);
  if (s && s->kind == NodeKind::Conv && !s->residual && !s->conv.relu) {
    s->conv.relu = true;
  } else if (s && ((s->kind == NodeKind::Conv && s->residual) || s->kind == NodeKind::Add) &&
             !s->relu) {
    s->relu = true;
  } else {
    fail(where(n),
         "the int8 graph applies ReLU inside the convolution or add before it, and "
         "its input is not such a node's only use");
  }
  alias(n);
}

void GraphFolder::add(const GraphNode& n, FoldedGraph& g) {
  // Fuse into whichever input convolution runs later, so the other input
  // (the residual) exists when it runs.
  FoldedStep* a = sole_producer(n, 0, g);
  FoldedStep* b = sole_producer(n, 1, g);
  auto fusable = [](const FoldedStep* s) {
    return s && s->kind == NodeKind::Conv && !s->residual && !s->conv.relu;
  };
  FoldedStep* conv = nullptr;
  size_t other = 0;
  if (fusable(a) && (!fusable(b) || a > b)) conv = a, other = 1;
  if (!conv && fusable(b)) conv = b, other = 0;
  if (conv) {
    conv->residual = true;
    conv->inputs.push_back(in(n, other));
    conv->out = conv->node + ".out";
    producer_[n.outputs.at(0)] = static_cast<size_t>(conv - g.steps.data());
    tensor_[n.outputs[0]] = conv->out;
    return;
  }
  FoldedStep s;
  s.kind = NodeKind::Add;
  s.node = s.out = n.name;
  s.inputs = {in(n, 0), in(n, 1)};
  emit(n, std::move(s), g);
}

void GraphFolder::pool(const GraphNode& n, FoldedGraph& g) {
  FoldedStep s;
  s.kind = n.op == "MaxPool" ? NodeKind::MaxPool : NodeKind::AvgPool;
  s.node = s.out = n.name;
  s.inputs = {in(n, 0)};
  if (n.op == "GlobalAveragePool") {
    s.global_pool = true;
    return emit(n, std::move(s), g);
  }
  ECG_CHECK(n.attrs.get_string("auto_pad", "NOTSET") == "NOTSET" ||
                n.attrs.get_string("auto_pad", "") == "VALID",
            where(n), "auto_pad is not supported by the int8 graph (give explicit pads)");
  const std::vector<int64_t> k = n.attrs.get_ints("kernel_shape", {});
  const std::vector<int64_t> st = n.attrs.get_ints("strides", {1, 1});
  const std::vector<int64_t> p = n.attrs.get_ints("pads", {0, 0, 0, 0});
  const bool padded = p[0] || p[1] || p[2] || p[3];
  ECG_CHECK(n.op == "MaxPool" || !padded || n.attrs.get_int("count_include_pad", 0) == 0, where(n),
            "count_include_pad=1 with padding has no int8 form");
  s.pool.kernel_h = static_cast<int>(k[0]), s.pool.kernel_w = static_cast<int>(k[1]);
  s.pool.stride_h = static_cast<int>(st[0]), s.pool.stride_w = static_cast<int>(st[1]);
  s.pool.padding = Padding::Explicit;
  s.pool.pad_top = static_cast<int>(p[0]), s.pool.pad_left = static_cast<int>(p[1]);
  s.pool.pad_bottom = static_cast<int>(p[2]), s.pool.pad_right = static_cast<int>(p[3]);
  emit(n, std::move(s), g);
}

void GraphFolder::dense(const GraphNode& n, FoldedGraph& g) {
  const std::string& x = in(n, 0);
  ECG_CHECK(x.rfind("flatten:", 0) == 0, where(n),
            "the int8 dense layer reads a flattened [N, C, H, W] tensor (Flatten or Reshape)");
  Tensor w = weight(n, 1);
  ECG_CHECK(w.dim() == 2, where(n), "weight must be a matrix");
  const bool transposed = n.op == "Gemm" && n.attrs.get_int("transB", 0) != 0;
  if (!transposed) w = w.permute({1, 0}).contiguous();  // to [out, in]
  if (n.op == "Gemm")
    ECG_CHECK(n.attrs.get_int("transA", 0) == 0 && n.attrs.get_float("alpha", 1.f) == 1.f &&
                  n.attrs.get_float("beta", 1.f) == 1.f,
              where(n), "transA, alpha and beta other than 0, 1, 1 have no int8 form");
  FoldedStep s;
  s.kind = NodeKind::Dense;
  s.node = n.name;
  s.inputs = {flatten_of_};
  s.fc_w = w;
  const bool bias = n.op == "Gemm" && n.inputs.size() > 2 && !n.inputs[2].empty();
  s.fc_b = bias ? weight(n, 2).view({w.size(0)}) : Tensor::zeros({w.size(0)});
  g.steps.push_back(std::move(s));
  dense_done_ = true;
}

}  // namespace

FoldedGraph fold_model(Model& model) {
  model.eval();
  if (auto* g = dynamic_cast<GraphModel*>(&model)) {
    FoldedGraph f = GraphFolder(*g).fold();
    f.mean = g->input_mean();
    f.std = g->input_std();
    return f;
  }
  return fold_resnet(model);
}

}  // namespace ecg::quant
