#include "models/graph_model.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/autograd.h"
#include "kernels/kernel_api.h"

namespace ecg {

// ---- attributes ----------------------------------------------------------------

int64_t GraphAttributes::get_int(const std::string& name, int64_t fallback) const {
  auto it = ints.find(name);
  return it == ints.end() || it->second.empty() ? fallback : it->second[0];
}

std::vector<int64_t> GraphAttributes::get_ints(const std::string& name,
                                               std::vector<int64_t> fallback) const {
  auto it = ints.find(name);
  return it == ints.end() ? fallback : it->second;
}

float GraphAttributes::get_float(const std::string& name, float fallback) const {
  auto it = floats.find(name);
  return it == floats.end() ? fallback : it->second;
}

std::string GraphAttributes::get_string(const std::string& name,
                                        const std::string& fallback) const {
  auto it = strings.find(name);
  return it == strings.end() ? fallback : it->second;
}

const std::vector<std::string>& graph_supported_ops() {
  static const std::vector<std::string> ops = {"Conv",
                                               "BatchNormalization",
                                               "Relu",
                                               "Add",
                                               "MaxPool",
                                               "AveragePool",
                                               "GlobalAveragePool",
                                               "Flatten",
                                               "Reshape",
                                               "Gemm",
                                               "MatMul",
                                               "Softmax",
                                               "Identity",
                                               "Dropout"};
  return ops;
}

namespace {

// ---- shapes and broadcasting ---------------------------------------------------

Shape broadcast_shape(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    ECG_CHECK(da == db || da == 1 || db == 1, "shapes ", shape_str(a), " and ", shape_str(b),
              " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// A contiguous copy of `t` expanded to `out` (numpy rules: t's dimensions
// aligned to the right, size-1 dimensions repeated).
Tensor broadcast_to(const Tensor& t_in, const Shape& out) {
  if (t_in.shape() == out) return t_in;
  Tensor t = t_in.contiguous();
  const size_t rank = out.size(), lead = rank - t.shape().size();
  std::vector<int64_t> src_stride(rank, 0);
  int64_t s = 1;
  for (size_t i = rank; i-- > lead;) {
    const int64_t d = t.shape()[i - lead];
    src_stride[i] = d == 1 ? 0 : s;
    s *= d;
  }
  Tensor y = Tensor::empty(out);
  const float* src = t.data<float>();
  float* dst = y.data<float>();
  const int64_t n = y.numel();
  std::vector<int64_t> idx(rank, 0);
  for (int64_t k = 0; k < n; ++k) {
    int64_t off = 0;
    for (size_t i = 0; i < rank; ++i) off += idx[i] * src_stride[i];
    dst[k] = src[off];
    for (size_t i = rank; i-- > 0;) {
      if (++idx[i] < out[i]) break;
      idx[i] = 0;
    }
  }
  return y;
}

Tensor transpose2d(const Tensor& t) {
  ECG_CHECK(t.dim() == 2, "expected a matrix, got ", shape_str(t.shape()));
  return t.permute({1, 0}).contiguous();
}

int64_t normalize_axis(int64_t axis, int64_t rank, const char* what) {
  ECG_CHECK(axis >= -rank && axis < rank + (std::string(what) == "Flatten" ? 1 : 0), what,
            ": axis ", axis, " is out of range for rank ", rank);
  return axis < 0 ? axis + rank : axis;
}

const Tensor& float_input(const std::vector<GraphValue>& in, size_t i, const char* what) {
  ECG_CHECK(i < in.size() && !in[i].is_int64 && in[i].f.defined(), "input ", i, " (", what,
            ") must be a float tensor");
  return in[i].f;
}

bool has_input(const std::vector<GraphValue>& in, size_t i) {
  return i < in.size() && (in[i].is_int64 || in[i].f.defined());
}

// ---- convolution and pooling geometry ------------------------------------------

struct Window2d {
  int kh = 1, kw = 1, sh = 1, sw = 1, top = 0, left = 0, bottom = 0, right = 0;
};

// ONNX pads are [top, left, bottom, right]; auto_pad SAME_UPPER puts the odd
// pixel at the end, SAME_LOWER at the start.
Window2d window_2d(const GraphAttributes& a, int H, int W, int kh, int kw) {
  Window2d w;
  w.kh = kh, w.kw = kw;
  std::vector<int64_t> strides = a.get_ints("strides", {1, 1});
  std::vector<int64_t> pads = a.get_ints("pads", {0, 0, 0, 0});
  ECG_CHECK(strides.size() == 2 && pads.size() == 4, "strides/pads must describe 2 dimensions");
  w.sh = static_cast<int>(strides[0]), w.sw = static_cast<int>(strides[1]);
  ECG_CHECK(w.sh > 0 && w.sw > 0, "strides must be positive");
  const std::string auto_pad = a.get_string("auto_pad", "NOTSET");
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    auto same = [&](int in, int k, int s, int& begin, int& end) {
      const int out = (in + s - 1) / s;
      const int total = std::max(0, (out - 1) * s + k - in);
      begin = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      end = total - begin;
    };
    same(H, kh, w.sh, w.top, w.bottom);
    same(W, kw, w.sw, w.left, w.right);
  } else if (auto_pad == "NOTSET") {
    w.top = static_cast<int>(pads[0]), w.left = static_cast<int>(pads[1]);
    w.bottom = static_cast<int>(pads[2]), w.right = static_cast<int>(pads[3]);
  } else {
    ECG_CHECK(auto_pad == "VALID", "auto_pad '", auto_pad, "' is not one ONNX defines");
  }
  return w;
}

std::vector<GraphValue> run_conv(const GraphNode& n, const std::vector<GraphValue>& in) {
  const Tensor& x = float_input(in, 0, "X");
  const Tensor& w = float_input(in, 1, "W");
  ECG_CHECK(x.dim() == 4 && w.dim() == 4, "only 2-D convolution is supported (X ",
            shape_str(x.shape()), ", W ", shape_str(w.shape()), ")");
  const Window2d g = window_2d(n.attrs, static_cast<int>(x.size(2)), static_cast<int>(x.size(3)),
                               static_cast<int>(w.size(2)), static_cast<int>(w.size(3)));
  Conv2dOptions o = Conv2dOptions::explicit_pad(1, g.top, g.left, g.bottom, g.right);
  o.stride_h = g.sh, o.stride_w = g.sw;
  Tensor b = has_input(in, 2) ? float_input(in, 2, "B") : Tensor();
  return {GraphValue::of(conv2d(x, w, b, o))};
}

std::vector<GraphValue> run_pool(const GraphNode& n, const std::vector<GraphValue>& in) {
  const Tensor& x = float_input(in, 0, "X");
  ECG_CHECK(x.dim() == 4, "only 2-D pooling is supported (X ", shape_str(x.shape()), ")");
  std::vector<int64_t> k = n.attrs.get_ints("kernel_shape", {});
  ECG_CHECK(k.size() == 2, "kernel_shape must have 2 entries");
  const int H = static_cast<int>(x.size(2)), W = static_cast<int>(x.size(3));
  const Window2d g = window_2d(n.attrs, H, W, static_cast<int>(k[0]), static_cast<int>(k[1]));
  Pool2dOptions o;
  o.kernel_h = g.kh, o.kernel_w = g.kw, o.stride_h = g.sh, o.stride_w = g.sw;
  o.padding = Padding::Explicit;
  o.pad_top = g.top, o.pad_left = g.left, o.pad_bottom = g.bottom, o.pad_right = g.right;
  if (n.op == "MaxPool") return {GraphValue::of(max_pool2d(x, o))};
  // The kernels average over the window's pixels inside the image
  // (count_include_pad = 0, ONNX's default); with count_include_pad = 1 the
  // divisor is the whole window, so scale each output by inside / window.
  Tensor y = avg_pool2d(x, o).contiguous();
  if (n.attrs.get_int("count_include_pad", 0) != 0) {
    const int64_t P = y.size(2), Q = y.size(3), planes = y.size(0) * y.size(1);
    float* p = y.data<float>();
    for (int64_t r = 0; r < P; ++r)
      for (int64_t c = 0; c < Q; ++c) {
        const int64_t h0 = r * g.sh - g.top, w0 = c * g.sw - g.left;
        const int64_t hin = std::min<int64_t>(h0 + g.kh, H) - std::max<int64_t>(h0, 0);
        const int64_t win = std::min<int64_t>(w0 + g.kw, W) - std::max<int64_t>(w0, 0);
        const float f = static_cast<float>(hin * win) / static_cast<float>(g.kh * g.kw);
        for (int64_t pl = 0; pl < planes; ++pl) p[(pl * P + r) * Q + c] *= f;
      }
  }
  return {GraphValue::of(y)};
}

// ---- the other operators ---------------------------------------------------------

std::vector<GraphValue> run_batch_norm(const GraphNode& n, const std::vector<GraphValue>& in) {
  const Tensor& x = float_input(in, 0, "X");
  ECG_CHECK(x.dim() >= 2, "X must be [N, C, ...], got ", shape_str(x.shape()));
  Tensor gamma = float_input(in, 1, "scale"), beta = float_input(in, 2, "B");
  Tensor mean = float_input(in, 3, "mean"), var = float_input(in, 4, "var");
  BatchNormOptions o;
  o.eps = n.attrs.get_float("epsilon", 1e-5f);
  // The kernel takes [N, C, H, W] or [N, C]; other ranks fold into H.
  Tensor x4 = x;
  if (x.dim() != 4 && x.dim() != 2)
    x4 = reshape(x, {x.size(0), x.size(1), x.numel() / (x.size(0) * x.size(1)), 1});
  Tensor y = batch_norm(x4, gamma, beta, mean, var, /*training=*/false, o);
  return {GraphValue::of(x.dim() == x4.dim() ? y : reshape(y, x.shape()))};
}

std::vector<GraphValue> run_gemm(const GraphNode& n, const std::vector<GraphValue>& in) {
  Tensor a = float_input(in, 0, "A"), b = float_input(in, 1, "B");
  ECG_CHECK(a.dim() == 2 && b.dim() == 2, "A and B must be matrices, got ", shape_str(a.shape()),
            " and ", shape_str(b.shape()));
  if (n.attrs.get_int("transA", 0)) a = transpose2d(a);
  // linear() takes the weight as [out, in], i.e. B transposed.
  Tensor w = n.attrs.get_int("transB", 0) ? b : transpose2d(b);
  const float alpha = n.attrs.get_float("alpha", 1.f), beta = n.attrs.get_float("beta", 1.f);
  Tensor c = has_input(in, 2) ? float_input(in, 2, "C") : Tensor();
  if (c.defined() && c.dim() == 1 && c.size(0) == w.size(0) && alpha == 1.f && beta == 1.f)
    return {GraphValue::of(linear(a, w, c))};  // the dense layer of a classifier
  Tensor y = linear(a, w, Tensor());
  if (alpha != 1.f) y = mul_scalar(y, alpha);
  if (c.defined() && beta != 0.f) {
    Tensor cb = broadcast_to(c, y.shape());
    y = add(y, beta == 1.f ? cb : mul_scalar(cb, beta));
  }
  return {GraphValue::of(y)};
}

std::vector<GraphValue> run_matmul(const std::vector<GraphValue>& in) {
  Tensor a = float_input(in, 0, "A"), b = float_input(in, 1, "B");
  const bool a1 = a.dim() == 1, b1 = b.dim() == 1;
  if (a1) a = reshape(a, {1, a.size(0)});
  if (b1) b = reshape(b, {b.size(0), 1});
  const int64_t M = a.size(a.dim() - 2), K = a.size(a.dim() - 1), N = b.size(b.dim() - 1);
  ECG_CHECK(b.size(b.dim() - 2) == K, "inner dimensions differ: ", shape_str(a.shape()), " x ",
            shape_str(b.shape()));
  Tensor y;
  if (b.dim() == 2) {
    // [..., M, K] x [K, N]: one matrix product over all leading rows.
    Shape out = a.shape();
    out.back() = N;
    y = reshape(linear(reshape(a, {a.numel() / K, K}), transpose2d(b), Tensor()), out);
  } else {
    Shape batch_a(a.shape().begin(), a.shape().end() - 2);
    Shape batch_b(b.shape().begin(), b.shape().end() - 2);
    Shape batch = broadcast_shape(batch_a, batch_b);
    Shape sa = batch, sb = batch, out = batch;
    sa.insert(sa.end(), {M, K});
    sb.insert(sb.end(), {K, N});
    out.insert(out.end(), {M, N});
    Tensor ea = broadcast_to(a, sa).contiguous(), eb = broadcast_to(b, sb).contiguous();
    const int64_t count = shape_numel(batch);
    y = Tensor::empty(out);
    for (int64_t i = 0; i < count; ++i) {
      Tensor ai = reshape(ea, {count * M, K}).slice(0, i * M, (i + 1) * M);
      Tensor bi = reshape(eb, {count * K, N}).slice(0, i * K, (i + 1) * K);
      Tensor yi = linear(ai.contiguous(), transpose2d(bi), Tensor()).contiguous();
      std::copy(yi.data<float>(), yi.data<float>() + M * N, y.data<float>() + i * M * N);
    }
  }
  Shape final_shape = y.shape();
  if (a1) final_shape.erase(final_shape.end() - 2);
  if (b1) final_shape.erase(final_shape.end() - 1);
  return {GraphValue::of(final_shape == y.shape() ? y : reshape(y, final_shape))};
}

// Opset 13 normalizes along `axis` alone (default -1); earlier opsets over
// all dimensions from `axis` on (default 1), the input seen as a matrix.
std::vector<GraphValue> run_softmax(const GraphNode& n, const std::vector<GraphValue>& in,
                                    int opset) {
  Tensor x = float_input(in, 0, "input").contiguous();
  const int64_t rank = x.dim();
  const int64_t axis =
      normalize_axis(n.attrs.get_int("axis", opset >= 13 ? -1 : 1), rank, "Softmax");
  int64_t outer = 1, len = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.size(d);
  if (opset >= 13) {
    len = x.size(axis);
    for (int64_t d = axis + 1; d < rank; ++d) inner *= x.size(d);
  } else {
    for (int64_t d = axis; d < rank; ++d) len *= x.size(d);
  }
  Tensor y = Tensor::empty(x.shape());
  const float* p = x.data<float>();
  float* q = y.data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * len * inner + i;
      double mx = -INFINITY, sum = 0;
      for (int64_t k = 0; k < len; ++k) mx = std::max(mx, static_cast<double>(p[base + k * inner]));
      for (int64_t k = 0; k < len; ++k) sum += std::exp(p[base + k * inner] - mx);
      for (int64_t k = 0; k < len; ++k)
        q[base + k * inner] = static_cast<float>(std::exp(p[base + k * inner] - mx) / sum);
    }
  return {GraphValue::of(y)};
}

std::vector<GraphValue> run_reshape(const GraphNode& n, const std::vector<GraphValue>& in) {
  const Tensor& x = float_input(in, 0, "data");
  ECG_CHECK(in.size() >= 2 && in[1].is_int64, "input 1 (shape) must be an int64 tensor");
  const bool allow_zero = n.attrs.get_int("allowzero", 0) != 0;
  Shape target = in[1].i64;
  int infer_at = -1;
  int64_t known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == 0 && !allow_zero) {
      ECG_CHECK(i < x.shape().size(), "shape entry ", i, " copies a dimension the input lacks");
      target[i] = x.size(static_cast<int64_t>(i));
    }
    if (target[i] == -1) {
      ECG_CHECK(infer_at < 0, "shape ", shape_str(in[1].i64), " has more than one -1");
      infer_at = static_cast<int>(i);
    } else {
      ECG_CHECK(target[i] >= 0, "shape ", shape_str(in[1].i64), " has a negative entry");
      known *= target[i];
    }
  }
  if (infer_at >= 0) {
    ECG_CHECK(known > 0 && x.numel() % known == 0, "cannot reshape ", shape_str(x.shape()), " to ",
              shape_str(in[1].i64));
    target[infer_at] = x.numel() / known;
  }
  ECG_CHECK(shape_numel(target) == x.numel(), "cannot reshape ", shape_str(x.shape()), " to ",
            shape_str(target));
  return {GraphValue::of(reshape(x, target))};
}

std::vector<GraphValue> run_flatten(const GraphNode& n, const std::vector<GraphValue>& in) {
  const Tensor& x = float_input(in, 0, "input");
  const int64_t axis = normalize_axis(n.attrs.get_int("axis", 1), x.dim(), "Flatten");
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.size(d);
  return {GraphValue::of(reshape(x, {outer, outer == 0 ? 0 : x.numel() / outer}))};
}

std::vector<GraphValue> run_add(const std::vector<GraphValue>& in) {
  const Tensor& a = float_input(in, 0, "A");
  const Tensor& b = float_input(in, 1, "B");
  if (a.shape() == b.shape()) return {GraphValue::of(add(a, b))};
  const Shape out = broadcast_shape(a.shape(), b.shape());
  return {GraphValue::of(add(broadcast_to(a, out), broadcast_to(b, out)))};
}

}  // namespace

std::vector<GraphValue> run_graph_node(const GraphNode& n, const std::vector<GraphValue>& in,
                                       int opset) {
  try {
    if (n.op == "Conv") return run_conv(n, in);
    if (n.op == "BatchNormalization") return run_batch_norm(n, in);
    if (n.op == "Relu") return {GraphValue::of(relu(float_input(in, 0, "X")))};
    if (n.op == "Add") return run_add(in);
    if (n.op == "MaxPool" || n.op == "AveragePool") return run_pool(n, in);
    if (n.op == "GlobalAveragePool") {
      const Tensor& x = float_input(in, 0, "X");
      Tensor y = global_avg_pool(x);
      return {GraphValue::of(reshape(y, {x.size(0), x.size(1), 1, 1}))};
    }
    if (n.op == "Flatten") return run_flatten(n, in);
    if (n.op == "Reshape") return run_reshape(n, in);
    if (n.op == "Gemm") return run_gemm(n, in);
    if (n.op == "MatMul") return run_matmul(in);
    if (n.op == "Softmax") return run_softmax(n, in, opset);
    if (n.op == "Identity" || n.op == "Dropout") {
      ECG_CHECK(!in.empty(), "no input");
      return {in[0]};
    }
    fail("operator not supported");
  } catch (const Error& e) {
    fail("node '", n.name, "' (", n.op, "): ", e.what());
  }
}

// ---- GraphModel -------------------------------------------------------------------

GraphModel::GraphModel(ModelConfig cfg, GraphSpec spec)
    : Model(std::move(cfg)), spec_(std::move(spec)) {
  // BatchNormalization's running mean and variance are buffers (statistics,
  // not weights), as in the study's models, so parameter counts compare with
  // PyTorch's.
  std::set<std::string>& statistics = statistics_;
  for (const GraphNode& n : spec_.nodes)
    if (n.op == "BatchNormalization")
      for (size_t i = 3; i < n.inputs.size() && i < 5; ++i) statistics.insert(n.inputs[i]);
  for (auto& kv : spec_.initializers)
    if (!kv.second.is_int64) {
      Tensor& t = statistics.count(kv.first) ? register_buffer(kv.first, kv.second.f)
                                             : register_parameter(kv.first, kv.second.f);
      params_[kv.first] = &t;
      kv.second.f = Tensor();  // the registered copy is the one that runs (and moves)
    }
}

const Tensor* GraphModel::initializer(const std::string& name) const {
  auto it = params_.find(name);
  return it == params_.end() ? nullptr : it->second;
}

std::vector<GraphValue> GraphModel::run(const std::map<std::string, GraphValue>& feeds) const {
  NoGradGuard no_grad;
  std::map<std::string, GraphValue> values;
  for (const auto& kv : spec_.initializers)
    values[kv.first] = kv.second.is_int64 ? kv.second : GraphValue::of(*params_.at(kv.first));
  for (const GraphInput& gi : spec_.inputs) {
    auto it = feeds.find(gi.name);
    ECG_CHECK(it != feeds.end(), "graph input '", gi.name, "' was not given");
    values[gi.name] = it->second;
  }
  for (const GraphNode& n : spec_.nodes) {
    std::vector<GraphValue> in;
    for (const std::string& name : n.inputs) {
      if (name.empty()) {
        in.emplace_back();
        continue;
      }
      auto it = values.find(name);
      ECG_CHECK(it != values.end(), "node '", n.name, "' (", n.op, "): input '", name,
                "' is not produced before it");
      in.push_back(it->second);
    }
    std::vector<GraphValue> out = run_graph_node(n, in, spec_.opset);
    for (size_t i = 0; i < n.outputs.size() && i < out.size(); ++i)
      if (!n.outputs[i].empty()) values[n.outputs[i]] = std::move(out[i]);
  }
  std::vector<GraphValue> result;
  for (const std::string& name : spec_.outputs) {
    auto it = values.find(name);
    ECG_CHECK(it != values.end(), "graph output '", name, "' is never produced");
    result.push_back(it->second);
  }
  return result;
}

Tensor normalize_channels(const Tensor& x_in, const std::vector<float>& mean,
                          const std::vector<float>& std) {
  if (mean.empty()) return x_in;
  ECG_CHECK(x_in.dim() == 4 && x_in.size(1) == static_cast<int64_t>(mean.size()) &&
                std.size() == mean.size(),
            "input normalization: ", mean.size(), " channel means for input ",
            shape_str(x_in.shape()));
  Tensor x = x_in.to(Device::cpu()).contiguous();
  Tensor y = Tensor::empty(x.shape());
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  const float* p = x.data<float>();
  float* q = y.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float m = mean[c], inv = 1.f / std[c];
      const int64_t base = (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) q[base + i] = (p[base + i] - m) * inv;
    }
  return y.to(x_in.device());
}

void GraphModel::set_input_normalization(std::vector<float> mean, std::vector<float> std) {
  ECG_CHECK(mean.size() == std.size() && (mean.empty() || mean.size() == 3),
            "input normalization: expected 3 means and 3 standard deviations, got ", mean.size(),
            " and ", std.size());
  for (size_t c = 0; c < mean.size(); ++c)
    ECG_CHECK(std::isfinite(mean[c]) && std::isfinite(std[c]) && std[c] > 0,
              "input normalization: channel ", c, " has mean ", mean[c], " and std ", std[c],
              " (expected finite values, std > 0)");
  mean_ = std::move(mean);
  std_ = std::move(std);
}

Tensor GraphModel::forward(const Tensor& x_raw) {
  const Tensor x = normalize_channels(x_raw, mean_, std_);
  ECG_CHECK(!spec_.inputs.empty() && !spec_.outputs.empty(), "graph ", spec_.name,
            " has no input or no output");
  std::map<std::string, GraphValue> feeds{{spec_.inputs[0].name, GraphValue::of(x)}};
  std::vector<GraphValue> out = run(feeds);
  ECG_CHECK(!out[0].is_int64, "graph output '", spec_.outputs[0], "' is not a float tensor");
  return out[0].f;
}

Shape GraphModel::infer(const Shape& in, std::vector<LayerInfo>* rows, const std::string& prefix) {
  ECG_CHECK(in.size() == 4, "graph ", spec_.name, ": expected an [N, C, H, W] input, got ",
            shape_str(in));
  // Shapes are found by running the graph once on zeros at batch 1 (every
  // supported operator keeps the batch as its first dimension).
  NoGradGuard no_grad;
  const int64_t batch = in[0];
  Shape one = in;
  one[0] = 1;
  std::map<std::string, GraphValue> values;
  for (const auto& kv : spec_.initializers)
    values[kv.first] = kv.second.is_int64 ? kv.second : GraphValue::of(*params_.at(kv.first));
  values[spec_.inputs.at(0).name] = GraphValue::of(Tensor::zeros(one));
  for (const GraphNode& n : spec_.nodes) {
    std::vector<GraphValue> vin;
    int64_t params = 0;
    for (const std::string& name : n.inputs) {
      auto it = name.empty() ? values.end() : values.find(name);
      vin.push_back(it == values.end() ? GraphValue() : it->second);
      if (params_.count(name) && !statistics_.count(name)) params += params_.at(name)->numel();
    }
    std::vector<GraphValue> out = run_graph_node(n, vin, spec_.opset);
    for (size_t i = 0; i < n.outputs.size() && i < out.size(); ++i) values[n.outputs[i]] = out[i];
    if (!rows || out.empty()) continue;
    Shape s = out[0].shape();
    double macs = 0;
    if (n.op == "Conv")  // per output element: C * R * S
      macs = static_cast<double>(shape_numel(s)) * shape_numel(vin[1].shape()) /
             static_cast<double>(vin[1].shape()[0]);
    else if (n.op == "Gemm")  // per output element: the inner dimension
      macs = static_cast<double>(shape_numel(s)) *
             static_cast<double>(vin[0].shape()[n.attrs.get_int("transA", 0) ? 0 : 1]);
    else if (n.op == "MatMul")
      macs = static_cast<double>(shape_numel(s)) * static_cast<double>(vin[0].shape().back());
    if (!s.empty()) s[0] *= batch;
    LayerInfo r;
    r.name = prefix.empty() ? n.name : prefix + "." + n.name;
    r.kind = n.op;
    r.output = s;
    r.params = params;
    r.macs = macs * static_cast<double>(batch);
    rows->push_back(r);
  }
  Shape out = values.at(spec_.outputs.at(0)).shape();
  if (!out.empty()) out[0] *= batch;
  return out;
}

}  // namespace ecg
