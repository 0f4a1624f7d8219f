// GraphModel: a float model that is a graph of ONNX operators, as read from an
// .onnx file by models/onnx.h. It is a `Model`, so predict, eval, summary,
// bench and quantize take it like one of the study's networks; its forward
// walks the nodes in (topological) file order over named values.
//
// Supported operators (opsets up to 17, inference semantics only): Conv (2-D,
// any kernel, stride and padding, dilation 1, group 1), BatchNormalization,
// Relu, Add (with ONNX broadcasting), MaxPool and AveragePool (2-D, floor
// mode), GlobalAveragePool, Flatten, Reshape, Gemm, MatMul, Softmax, Identity
// and Dropout (identity). What a node may not use (dilations, groups,
// ceil_mode, training mode, ...) is refused when the file is read, so the
// forward never meets it.
//
// The graph runs in eval mode whatever train() says: BatchNormalization uses
// its running statistics and Dropout passes values through (it is an
// imported inference graph, not a training one).
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "models/models.h"

namespace ecg {

// A value flowing through the graph: float tensors are Tensors; int64 ones
// (Reshape's shape) are kept as plain integers, the only use they have here.
struct GraphValue {
  Tensor f;
  bool is_int64 = false;
  std::vector<int64_t> i64;
  Shape i64_shape;

  static GraphValue of(Tensor t) {
    GraphValue v;
    v.f = std::move(t);
    return v;
  }
  static GraphValue ints(std::vector<int64_t> v, Shape shape) {
    GraphValue g;
    g.is_int64 = true;
    g.i64 = std::move(v);
    g.i64_shape = std::move(shape);
    return g;
  }
  Shape shape() const { return is_int64 ? i64_shape : f.shape(); }
};

// One node's attributes, parsed: integers (and integer lists), floats and strings.
struct GraphAttributes {
  std::map<std::string, std::vector<int64_t>> ints;
  std::map<std::string, float> floats;
  std::map<std::string, std::string> strings;

  int64_t get_int(const std::string& name, int64_t fallback) const;
  std::vector<int64_t> get_ints(const std::string& name, std::vector<int64_t> fallback) const;
  float get_float(const std::string& name, float fallback) const;
  std::string get_string(const std::string& name, const std::string& fallback) const;
};

struct GraphNode {
  std::string name, op;                      // op: the ONNX op_type
  std::vector<std::string> inputs, outputs;  // value names; "" = an omitted optional input
  GraphAttributes attrs;
};

// A graph input: name and shape (-1 for a dimension the file leaves open).
struct GraphInput {
  std::string name;
  Shape shape;
  bool is_int64 = false;
};

struct GraphSpec {
  std::string name;
  int opset = 13;
  std::vector<GraphInput> inputs;    // the values a caller feeds
  std::vector<std::string> outputs;  // graph outputs, in order
  std::vector<GraphNode> nodes;      // topologically sorted
  std::map<std::string, GraphValue> initializers;
};

// The operators GraphModel runs, in the order `supported` messages list them.
const std::vector<std::string>& graph_supported_ops();

class GraphModel : public Model {
 public:
  GraphModel(ModelConfig cfg, GraphSpec spec);

  // Runs the graph on named inputs; returns the graph's outputs in order.
  // Errors name the node and its operator.
  std::vector<GraphValue> run(const std::map<std::string, GraphValue>& feeds) const;
  // The first output for the first input (an image classifier's logits).
  Tensor forward(const Tensor& x) override;
  // Output shape; rows per node (Conv, Gemm and MatMul count MACs).
  Shape infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) override;

  const GraphSpec& spec() const { return spec_; }
  // ImageNet-style input normalization, (x - mean[c]) / std[c] on the [0, 1]
  // image before the first node (from the file's ecgcnn.mean / ecgcnn.std
  // metadata or `quantize --mean/--std`); empty = none.
  void set_input_normalization(std::vector<float> mean, std::vector<float> std);
  const std::vector<float>& input_mean() const { return mean_; }
  const std::vector<float>& input_std() const { return std_; }
  // A float initializer (weights, BN statistics), or nullptr.
  const Tensor* initializer(const std::string& name) const;

 private:
  GraphSpec spec_;
  std::map<std::string, Tensor*> params_;  // registered float initializers
  std::set<std::string> statistics_;       // those that are BN running statistics (buffers)
  std::vector<float> mean_, std_;
};

// (x - mean[c]) / std[c] over the channels of an NCHW tensor; x itself when
// mean is empty. mean and std have one entry per channel, std > 0.
Tensor normalize_channels(const Tensor& x, const std::vector<float>& mean,
                          const std::vector<float>& std);

// Evaluates one node on its input values (exposed for the quantizer, which
// walks the same graph to observe its tensors).
std::vector<GraphValue> run_graph_node(const GraphNode& node, const std::vector<GraphValue>& in,
                                       int opset);

}  // namespace ecg
