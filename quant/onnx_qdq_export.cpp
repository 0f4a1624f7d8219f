#include "quant/onnx_qdq_export.h"

#include "models/onnx.h"
#include "models/onnx_builders.h"

namespace ecg::quant {

namespace {

class QdqWriter {
 public:
  QdqWriter(const Int8Model& m, onnx::GraphProto* g) : m_(m), g_(g) {}

  void write() {
    std::string x = "input";
    const nlohmann::json& pre = m_.preprocessing;
    if (pre.is_object() && pre.contains("mean")) x = normalize(x, pre);
    value_.assign(m_.tensors.size(), "");
    value_[0] = qdq(x, 0);
    for (size_t i = 0; i < m_.nodes.size(); ++i) node(m_.nodes[i]);
  }

 private:
  onnx::NodeProto* add(const std::string& op, const std::string& name,
                       const std::vector<std::string>& in, const std::string& out) {
    return onnx_io::add_node(g_, op, name, in, {out});
  }
  std::string floats(const std::string& name, const std::vector<float>& v, const Shape& shape) {
    onnx_io::set_float_tensor(g_->add_initializer(), name, v.data(), shape);
    return name;
  }
  std::string int8s(const std::string& name, const std::vector<int8_t>& v, const Shape& shape) {
    onnx_io::set_int8_tensor(g_->add_initializer(), name, v.data(), shape);
    return name;
  }

  // (x - mean) / std as Sub and Div on [1, 3, 1, 1] constants.
  std::string normalize(const std::string& x, const nlohmann::json& pre) {
    floats("input.mean", pre["mean"].get<std::vector<float>>(), {1, 3, 1, 1});
    floats("input.std", pre["std"].get<std::vector<float>>(), {1, 3, 1, 1});
    add("Sub", "input.sub", {x, "input.mean"}, "input.centred");
    add("Div", "input.div", {"input.centred", "input.std"}, "input.normalized");
    return "input.normalized";
  }

  // QuantizeLinear -> DequantizeLinear with (scale, zero point); returns the float value.
  std::string qdq(const std::string& x, const std::string& name, float scale, int32_t zp) {
    floats(name + ".scale", {scale}, {});
    int8s(name + ".zero_point", {static_cast<int8_t>(zp)}, {});
    add("QuantizeLinear", name + ".quantize", {x, name + ".scale", name + ".zero_point"},
        name + ".q");
    add("DequantizeLinear", name + ".dequantize",
        {name + ".q", name + ".scale", name + ".zero_point"}, name + ".dq");
    return name + ".dq";
  }
  std::string qdq(const std::string& x, int tensor) {
    const TensorQ& t = m_.tensors[tensor];
    return qdq(x, t.name, t.scale, t.zero_point);
  }

  // The weights (dequantized int8, or float for a float node) and float bias
  // of a conv or dense node whose input scale is s_in; OIHW or [out, in].
  std::pair<std::string, std::string> weights(const NodeQ& n, const Shape& shape,
                                              const std::vector<int8_t>& q,
                                              const std::vector<float>& f32, float s_in) {
    const int K = static_cast<int>(shape[0]);
    std::vector<float> bias(K);
    if (n.run_float) {
      for (int k = 0; k < K; ++k) bias[k] = n.bias_f32[k];
      return {floats(n.name + ".weight", f32, shape), floats(n.name + ".bias", bias, {K})};
    }
    for (int k = 0; k < K; ++k)
      bias[k] = static_cast<float>(static_cast<double>(n.conv.bias[k]) * s_in * n.weight_scale[k]);
    int8s(n.name + ".weight_q", q, shape);
    floats(n.name + ".weight_scale", n.weight_scale, {K});
    int8s(n.name + ".weight_zero_point", std::vector<int8_t>(K, 0), {K});
    onnx::NodeProto* dq =
        add("DequantizeLinear", n.name + ".weight_dequantize",
            {n.name + ".weight_q", n.name + ".weight_scale", n.name + ".weight_zero_point"},
            n.name + ".weight");
    onnx_io::set_int_attr(dq, "axis", 0);
    return {n.name + ".weight", floats(n.name + ".bias", bias, {K})};
  }

  void node(const NodeQ& n) {
    switch (n.kind) {
      case NodeKind::Conv:
        return conv(n);
      case NodeKind::MaxPool:
      case NodeKind::AvgPool:
        return pool(n);
      case NodeKind::Add: {
        std::string y = n.name + ".sum";
        add("Add", n.name, {value_[n.inputs[0]], value_[n.inputs[1]]}, y);
        if (n.add.qmin > -128 && n.add.qmin == m_.tensors[n.output].zero_point)
          add("Relu", n.name + ".relu", {y}, y = n.name + ".relu.y");
        value_[n.output] = qdq(y, n.output);
        return;
      }
      case NodeKind::Dense:
        return dense(n);
    }
  }

  void conv(const NodeQ& n) {
    const Conv2dShape& s = n.conv.shape;
    const TensorQ& tin = m_.tensors[n.inputs[0]];
    const auto wb = weights(n, {s.K, s.C, s.R, s.S}, n.weights, n.weights_f32, tin.scale);
    std::string y = n.name + ".conv";
    onnx::NodeProto* c = add("Conv", n.name, {value_[n.inputs[0]], wb.first, wb.second}, y);
    onnx_io::set_ints_attr(c, "kernel_shape", {s.R, s.S});
    onnx_io::set_ints_attr(c, "strides", {s.stride_h, s.stride_w});
    onnx_io::set_ints_attr(c, "pads", {s.pad_top, s.pad_left, s.pad_bottom, s.pad_right});
    const TensorQ& tout = m_.tensors[n.output];
    if (n.conv.residual) {
      // The conv's own output is quantized (pre_add), then added and clamped.
      y = qdq(y, n.name + ".pre_add", n.pre_add_scale, n.pre_add_zero_point);
      add("Add", n.name + ".add", {y, value_[n.inputs[1]]}, n.name + ".sum");
      y = n.name + ".sum";
      if (n.conv.add.qmin > -128 && n.conv.add.qmin == tout.zero_point)
        add("Relu", n.name + ".relu", {y}, y = n.name + ".relu.y");
    } else if (n.conv.qmin > -128 && n.conv.qmin == tout.zero_point) {
      add("Relu", n.name + ".relu", {y}, y = n.name + ".relu.y");
    }
    value_[n.output] = qdq(y, n.output);
  }

  void pool(const NodeQ& n) {
    const Pool2dShape& s = n.kind == NodeKind::MaxPool ? n.pool : n.avg.shape;
    const std::string y = n.name + ".pool";
    const bool global = n.kind == NodeKind::AvgPool && s.R == s.H && s.S == s.W && s.pad_top == 0 &&
                        s.pad_left == 0 && s.pad_bottom == 0 && s.pad_right == 0;
    if (global) {
      add("GlobalAveragePool", n.name, {value_[n.inputs[0]]}, y);
    } else {
      onnx::NodeProto* p = add(n.kind == NodeKind::MaxPool ? "MaxPool" : "AveragePool", n.name,
                               {value_[n.inputs[0]]}, y);
      onnx_io::set_ints_attr(p, "kernel_shape", {s.R, s.S});
      onnx_io::set_ints_attr(p, "strides", {s.stride_h, s.stride_w});
      onnx_io::set_ints_attr(p, "pads", {s.pad_top, s.pad_left, s.pad_bottom, s.pad_right});
    }
    value_[n.output] = qdq(y, n.output);
  }

  // The int8 graph flattens NHWC; the ONNX graph flattens NCHW, so the
  // columns go back from (h, w, c) to (c, h, w).
  void dense(const NodeQ& n) {
    const TensorQ& tin = m_.tensors[n.inputs[0]];
    const int C = tin.C, H = tin.H, W = tin.W, in = C * H * W, out = n.conv.shape.K;
    std::vector<int8_t> q(n.weights.size());
    std::vector<float> f(n.weights_f32.size());
    for (int o = 0; o < out; ++o)
      for (int c = 0; c < C; ++c)
        for (int y = 0; y < H; ++y)
          for (int x = 0; x < W; ++x) {
            const size_t from = static_cast<size_t>(o) * in + (y * W + x) * C + c;
            const size_t to = static_cast<size_t>(o) * in + (c * H + y) * W + x;
            if (!q.empty()) q[to] = n.weights[from];
            if (!f.empty()) f[to] = n.weights_f32[from];
          }
    const auto wb = weights(n, {out, in}, q, f, tin.scale);
    onnx::NodeProto* fl =
        add("Flatten", n.name + ".flatten", {value_[n.inputs[0]]}, n.name + ".flat");
    onnx_io::set_int_attr(fl, "axis", 1);
    onnx::NodeProto* gemm = add("Gemm", n.name, {n.name + ".flat", wb.first, wb.second}, "logits");
    onnx_io::set_int_attr(gemm, "transB", 1);
  }

  const Int8Model& m_;
  onnx::GraphProto* g_;
  std::vector<std::string> value_;  // int8 tensor id -> its dequantized float value
};

}  // namespace

void export_onnx_qdq(const Int8Model& q, const std::string& path) {
  validate_int8_model(q, path);
  onnx::ModelProto m;
  onnx_io::start_export_model(&m,
                              "int8 model of " + q.model_name + " in QDQ form, exported by ecgcnn");
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name(q.model_name + "_int8");
  onnx_io::set_batched_float_value(g->add_input(), "input", {1, 3, q.image_size, q.image_size});
  QdqWriter(q, g).write();
  onnx_io::set_batched_float_value(g->add_output(), "logits", {1, q.num_classes()});
  onnx_io::add_metadata(&m, "ecgcnn.model", q.model_name);
  onnx_io::add_metadata(&m, "ecgcnn.image_size", std::to_string(q.image_size));
  onnx_io::add_metadata(&m, "ecgcnn.classes", nlohmann::json(q.classes).dump());
  onnx_io::add_metadata(&m, "ecgcnn.int8", "qdq");
  onnx_io::check_and_write(m, path);
}

}  // namespace ecg::quant
