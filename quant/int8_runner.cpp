// The one int8 graph walk (quant/int8_runner.h) and the backend registry the
// CLI asks by device and precision.
#include "quant/int8_runner.h"

#include "models/graph_model.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/profiler.h"
#include "kernels/error.h"
#include "quant/quantize.h"

namespace ecg::quant {

void Int8Backend::row_group(const RowGroup&, int64_t, int) {
  fail("the ", path_name(), " int8 backend runs no row groups");
}

std::vector<int8_t> Int8Backend::tensor_bytes(int, int) const {
  fail("the ", path_name(), " backend holds no quantized bytes (", precision(), " activations)");
}

void scale_int8_logits(const Int8Model& m, int node, const int32_t* acc, int N, float* logits) {
  const NodeQ& n = m.nodes[node];
  const float s_in = m.tensors[n.inputs[0]].scale;
  const int K = n.conv.shape.K;
  for (int b = 0; b < N; ++b)
    for (int k = 0; k < K; ++k)
      logits[b * K + k] = s_in * n.weight_scale[k] * static_cast<float>(acc[b * K + k]);
}

std::vector<float> dequantize_tensor(const Int8Model& m, int t, const int8_t* bytes,
                                     int64_t count) {
  const QParams p{m.tensors[t].scale, m.tensors[t].zero_point};
  std::vector<float> v(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) v[i] = dequantize_value(bytes[i], p);
  return v;
}

void quantize_float_output(const Int8Model& m, int node, const float* y, int N, int8_t* out) {
  const NodeQ& n = m.nodes[node];
  const Conv2dShape& s = n.conv.shape;
  const TensorQ& tout = m.tensors[n.output];
  const int32_t lo = n.conv.residual ? n.conv.add.qmin : n.conv.qmin;
  const int32_t hi = n.conv.residual ? n.conv.add.qmax : n.conv.qmax;
  quantize_nchw_to_nhwc(y, N, s.K, s.P, s.Q, {tout.scale, tout.zero_point}, out);
  const int64_t count = static_cast<int64_t>(N) * s.K * s.P * s.Q;
  for (int64_t i = 0; i < count; ++i)
    out[i] = static_cast<int8_t>(std::min<int32_t>(hi, std::max<int32_t>(lo, out[i])));
}

Int8GraphRunner::Int8GraphRunner(const Int8Model& m, std::unique_ptr<Int8Backend> backend,
                                 int max_batch, bool reuse_arena)
    : model_(m), backend_(std::move(backend)), max_batch_(max_batch) {
  plan_ = plan_arena(m, max_batch, reuse_arena, /*in_place_residual=*/reuse_arena,
                     backend_->row_tiling());
  backend_->prepare(m, plan_, max_batch);
}

Tensor Int8GraphRunner::run(const Tensor& images_in) {
  Tensor images = images_in.to(Device::cpu()).contiguous();
  // An imported graph's ImageNet-style normalization, before quantization.
  if (model_.preprocessing.is_object() && model_.preprocessing.contains("mean"))
    images = normalize_channels(images, model_.preprocessing["mean"].get<std::vector<float>>(),
                                model_.preprocessing["std"].get<std::vector<float>>());
  const int S = model_.image_size;
  ECG_CHECK(images.dim() == 4 && images.size(1) == 3 && images.size(2) == S && images.size(3) == S,
            "int8 model expects images [N, 3, ", S, ", ", S, "], got ", shape_str(images.shape()));
  const int N = static_cast<int>(images.size(0));
  ECG_CHECK(N <= max_batch_, backend_->precision(), " runner was planned for batch ", max_batch_,
            ", got ", N);
  {
    LayerScope scope("input_quantize", LayerScope::Absolute);
    backend_->input(images.data<float>(), N);
  }
  Tensor logits = Tensor::empty({N, model_.num_classes()});
  size_t next_group = 0;
  for (int i = 0; i < static_cast<int>(model_.nodes.size()); ++i) {
    if (next_group < plan_.row_groups.size() && plan_.row_groups[next_group].first == i) {
      const RowGroup& g = plan_.row_groups[next_group];
      backend_->row_group(g, plan_.window_block[next_group], N);
      ++next_group;
      i = g.last;
      continue;
    }
    run_node(i, N, logits.data<float>());
  }
  backend_->check_logits(logits);
  return logits;
}

void Int8GraphRunner::run_node(int i, int N, float* logits) {
  const NodeQ& n = model_.nodes[i];
  LayerScope layer(n.name);
  if ((n.kind == NodeKind::Conv || n.kind == NodeKind::Dense) && n.run_float) {
    Conv2dShape cs = n.conv.shape;
    cs.N = N;
    std::optional<OpTimer> timer;
    if (backend_->host_op_timers()) timer.emplace("float_conv", cs.flops(), 0, active_isa());
    run_float_node(i, N, logits);
    return;
  }
  switch (n.kind) {
    case NodeKind::Conv:
      backend_->conv(i, N);
      break;
    case NodeKind::MaxPool:
      backend_->max_pool(i, N);
      break;
    case NodeKind::AvgPool:
      backend_->avg_pool(i, N);
      break;
    case NodeKind::Add:
      backend_->add(i, N);
      break;
    case NodeKind::Dense:
      backend_->dense(i, N, logits);
      break;
  }
}

namespace {

Tensor nhwc_to_nchw(const std::vector<float>& v, int N, int C, int H, int W) {
  Tensor t = Tensor::empty({N, C, H, W});
  float* p = t.data<float>();
  for (int n = 0; n < N; ++n)
    for (int i = 0; i < H * W; ++i)
      for (int c = 0; c < C; ++c)
        p[(static_cast<size_t>(n) * C + c) * H * W + i] =
            v[(static_cast<size_t>(n) * H * W + i) * C + c];
  return t;
}

}  // namespace

// The layer in float on the host: real-valued input(s) -> float conv (the
// float path's kernels) or dense (in double) -> (+ residual) -> the backend
// stores it with the node's activation.
void Int8GraphRunner::run_float_node(int i, int N, float* logits) {
  NoGradGuard no_grad;
  const NodeQ& n = model_.nodes[i];
  const Conv2dShape& s = n.conv.shape;
  const std::vector<float> x = backend_->tensor_values(n.inputs[0], N);  // NHWC
  if (n.kind == NodeKind::Dense) {
    // The flattened NHWC input against the reordered float weights, in double.
    const int64_t in = static_cast<int64_t>(x.size()) / N;
    ECG_CHECK(in == static_cast<int64_t>(s.C), "float dense ", n.name, ": input of ", in,
              " values, weights for ", s.C);
    for (int b = 0; b < N; ++b)
      for (int k = 0; k < s.K; ++k) {
        double acc = n.bias_f32[k];
        const float* w = n.weights_f32.data() + static_cast<size_t>(k) * in;
        for (int64_t j = 0; j < in; ++j) acc += static_cast<double>(w[j]) * x[b * in + j];
        logits[b * s.K + k] = static_cast<float>(acc);
      }
    return;
  }
  Tensor w = Tensor::from_vector(n.weights_f32, {s.K, s.C, s.R, s.S});
  Tensor bias = Tensor::from_vector(n.bias_f32, {s.K});
  Conv2dOptions o =
      Conv2dOptions::explicit_pad(s.stride_h, s.pad_top, s.pad_left, s.pad_bottom, s.pad_right);
  o.stride_w = s.stride_w;
  Tensor y = conv2d(nhwc_to_nchw(x, N, s.C, s.H, s.W), w, bias, o);
  if (n.conv.residual)
    y = add(y, nhwc_to_nchw(backend_->tensor_values(n.inputs[1], N), N, s.K, s.P, s.Q));
  y = y.contiguous();
  backend_->store_float_output(i, y.data<float>(), N);
}

Int8Runner::Int8Runner(const Int8Model& m, int8::Int8Kernel kernel, int max_batch, bool reuse_arena,
                       const RowTilingOptions& rt)
    : Int8GraphRunner(m, std::make_unique<CpuInt8Backend>(kernel, rt), max_batch, reuse_arena),
      kernel_(kernel) {}

namespace {

std::map<std::pair<std::string, std::string>, Int8BackendFactory>& int8_backends() {
  static std::map<std::pair<std::string, std::string>, Int8BackendFactory> backends;
  return backends;
}

}  // namespace

void register_int8_backend(const Int8Target& target, Int8BackendFactory factory) {
  int8_backends()[{target.device, target.precision}] = factory;
}

std::unique_ptr<Int8GraphRunner> make_int8_runner(const Int8Model& m, const Int8Target& target,
                                                  int max_batch) {
  if (target.device == "cpu" && target.precision == "int8")
    return std::make_unique<Int8Runner>(m, int8::best_int8_kernel(), max_batch);
  auto it = int8_backends().find({target.device, target.precision});
  ECG_CHECK(it != int8_backends().end(), "--device ", target.device,
            ": this build cannot run int8 models there");
  return std::make_unique<Int8GraphRunner>(m, it->second(), max_batch);
}

}  // namespace ecg::quant
