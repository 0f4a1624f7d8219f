// Body of Fp16CudaRunner (fp16_runner.h): the FP16 runner's host translation
// unit (C++17, the host compiler), which launches its kernels through
// fp16_launch.h (defined in the engine's kernel translation unit), as
// int8_runner.cpp does for the int8 runner. Halves are converted on the host
// with cuda_fp16.h's host functions (round to nearest even).
#include "kernels/cuda/emu/cuda_compat.h"  // first: the emulator's or the runtime's headers

#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/allocator.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "core/profiler.h"
#include "kernels/cuda/conv_fp16_pack.h"
#include "kernels/cuda/engine/engine.h"
#include "kernels/cuda/engine/fp16_launch.h"
#include "kernels/cuda/engine/fp16_runner.h"
#include "quant/int8_model.h"

namespace ecg::cuda {

namespace {

template <class T>
Tensor fp16_upload(const std::vector<T>& v, DType dt) {
  Tensor t = Tensor::empty({static_cast<int64_t>(v.size())}, dt, Device::cuda());
  if (!v.empty())
    allocator_for(DeviceType::CUDA).copy_from_host(t.raw_data(), v.data(), v.size() * sizeof(T));
  return t;
}

// The ReLU of a conv node as the int8 graph encodes it: its output (after the
// residual add, if any) is clamped at the zero point, i.e. at the real 0.
bool fp16_relu(const quant::NodeQ& n) {
  return n.conv.residual ? n.conv.add.qmin == n.conv.add.zp_out : n.conv.qmin == n.conv.zp_out;
}

PoolFp16Args fp16_pool_args(const Pool2dShape& s) {
  PoolFp16Args a{};
  a.N = s.N, a.C = s.C, a.H = s.H, a.W = s.W, a.R = s.R, a.S = s.S;
  a.stride_h = s.stride_h, a.stride_w = s.stride_w, a.pad_top = s.pad_top;
  a.pad_left = s.pad_left, a.P = s.P, a.Q = s.Q;
  return a;
}

}  // namespace

struct Fp16CudaRunner::Impl {
  struct Node {
    ConvFp16Args conv{};
    Tensor weights, stage, scale, bias;  // device
    PoolFp16Args pool{};
  };

  Impl(const quant::Int8Model& m, int max_batch, bool reuse)
      : model(m),
        max_batch(max_batch),
        plan(quant::plan_arena(m, max_batch, reuse, /*in_place_residual=*/reuse)) {
    std::string why;
    ECG_CHECK(install_engine(&why), "fp16 runner on cuda: ", why);
    // The plan counts one byte per element; halves take two, so every offset
    // and the peak double (tensors that do not overlap still do not).
    arena = Tensor::empty({std::max<int64_t>(2 * plan.bytes, 1)}, DType::I8, Device::cuda());
    nodes.resize(m.nodes.size());
    int64_t dense_outputs = 1;
    for (size_t i = 0; i < m.nodes.size(); ++i) {
      const quant::NodeQ& n = m.nodes[i];
      Node& d = nodes[i];
      switch (n.kind) {
        case quant::NodeKind::Conv:
        case quant::NodeKind::Dense: {
          if (n.run_float) break;
          ECG_CHECK(static_cast<int>(n.weight_scale.size()) == n.conv.shape.K, "fp16 runner: node ",
                    n.name, " has ", n.weight_scale.size(), " weight scales for ", n.conv.shape.K,
                    " channels");
          const bool relu = n.kind == quant::NodeKind::Conv && fp16_relu(n);
          ConvFp16Packed p = pack_conv_fp16(n.conv, n.weights.data(), n.weight_scale.data(),
                                            model.tensors[n.inputs[0]].scale, relu);
          d.weights = fp16_upload(p.weights, DType::I8);
          d.stage = fp16_upload(p.stage, DType::I32);
          d.scale = fp16_upload(p.scale, DType::F32);
          d.bias = fp16_upload(p.bias, DType::F32);
          d.conv = p.args;
          d.conv.w = static_cast<const signed char*>(d.weights.raw_data());
          d.conv.w_stage = static_cast<const unsigned*>(d.stage.raw_data());
          d.conv.scale = d.scale.data<float>();
          d.conv.bias = d.bias.data<float>();
          if (n.kind == quant::NodeKind::Dense)
            dense_outputs = std::max<int64_t>(dense_outputs, n.conv.shape.K);
          break;
        }
        case quant::NodeKind::MaxPool:
          d.pool = fp16_pool_args(n.pool);
          break;
        case quant::NodeKind::AvgPool:
          d.pool = fp16_pool_args(n.avg.shape);
          break;
        case quant::NodeKind::Add:
          break;
      }
    }
    logits_dev = Tensor::empty({max_batch * dense_outputs}, DType::F32, Device::cuda());
  }

  void* ptr(int t) const { return static_cast<char*>(arena.raw_data()) + 2 * plan.offset[t]; }

  Tensor run(const Tensor& images_in) {
    Tensor images = images_in.to(Device::cpu()).contiguous();
    const int S = model.image_size;
    ECG_CHECK(
        images.dim() == 4 && images.size(1) == 3 && images.size(2) == S && images.size(3) == S,
        "int8 model expects images [N, 3, ", S, ", ", S, "], got ", shape_str(images.shape()));
    const int N = static_cast<int>(images.size(0));
    ECG_CHECK(N <= max_batch, "fp16 runner was planned for batch ", max_batch, ", got ", N);
    upload_nchw(images.data<float>(), N, 3, S, S, ptr(0));
    Tensor logits = Tensor::empty({N, model.num_classes()});
    for (size_t i = 0; i < model.nodes.size(); ++i) {
      const quant::NodeQ& n = model.nodes[i];
      const Node& d = nodes[i];
      LayerScope layer(n.name);
      const bool mac = n.kind == quant::NodeKind::Conv || n.kind == quant::NodeKind::Dense;
      if (mac && n.run_float) {
        run_float_node(n, N, &logits);
        continue;
      }
      switch (n.kind) {
        case quant::NodeKind::Conv: {
          ConvFp16Args a = d.conv;
          a.N = N;
          engine_conv_fp16(a, ptr(n.inputs[0]), ptr(n.output),
                           n.conv.residual ? ptr(n.inputs[1]) : nullptr, "conv_fp16");
          break;
        }
        case quant::NodeKind::MaxPool:
        case quant::NodeKind::AvgPool: {
          PoolFp16Args a = d.pool;
          a.N = N;
          if (n.kind == quant::NodeKind::MaxPool)
            engine_max_pool_fp16(a, ptr(n.inputs[0]), ptr(n.output));
          else
            engine_avg_pool_fp16(a, ptr(n.inputs[0]), ptr(n.output));
          break;
        }
        case quant::NodeKind::Add: {
          const quant::TensorQ& t = model.tensors[n.output];
          engine_add_fp16(t.bytes() / t.N * N, n.add.qmin == n.add.zp_out, ptr(n.inputs[0]),
                          ptr(n.inputs[1]), ptr(n.output));
          break;
        }
        case quant::NodeKind::Dense: {
          ConvFp16Args a = d.conv;
          a.N = N;
          engine_conv_fp16(a, ptr(n.inputs[0]), logits_dev.raw_data(), nullptr,
                           "conv_fp16 (dense)");
          allocator_for(DeviceType::CUDA)
              .copy_to_host(logits.data<float>(), logits_dev.raw_data(),
                            logits.numel() * sizeof(float));
          break;
        }
      }
    }
    // Half holds at most 65,504: a layer whose outputs (or the partial sums of
    // a K step) exceed that gives inf, which reaches the logits.
    const float* l = logits.data<float>();
    for (int64_t i = 0; i < logits.numel(); ++i)
      ECG_CHECK(std::isfinite(l[i]), "fp16 runner: non-finite logits (an activation left the half ",
                "range, |x| > 65504); run this model with --precision int8");
    return logits;
  }

  // Float NCHW on the host -> half NHWC at `dst` on the device.
  static void upload_nchw(const float* x, int N, int C, int H, int W, void* dst) {
    std::vector<uint16_t> h(static_cast<size_t>(N) * C * H * W);
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c)
        for (int i = 0; i < H * W; ++i)
          h[(static_cast<size_t>(n) * H * W + i) * C + c] =
              __half_as_ushort(__float2half_rn(x[(static_cast<size_t>(n) * C + c) * H * W + i]));
    allocator_for(DeviceType::CUDA).copy_from_host(dst, h.data(), h.size() * 2);
  }

  std::vector<float> download(int t, int N) const {
    const quant::TensorQ& q = model.tensors[t];
    std::vector<uint16_t> h(static_cast<size_t>(q.bytes() / q.N) * N);
    allocator_for(DeviceType::CUDA).copy_to_host(h.data(), ptr(t), h.size() * 2);
    std::vector<float> out(h.size());
    for (size_t i = 0; i < h.size(); ++i) out[i] = __half2float(__ushort_as_half(h[i]));
    return out;
  }

  // A float node on the host: its half input(s) come back, the CPU float
  // layer runs, and the output goes to the device as half (or to the logits).
  void run_float_node(const quant::NodeQ& n, int N, Tensor* logits) {
    NoGradGuard no_grad;
    const Conv2dShape& s = n.conv.shape;
    const std::vector<float> x = download(n.inputs[0], N);  // NHWC
    if (n.kind == quant::NodeKind::Dense) {
      const int64_t in = static_cast<int64_t>(x.size()) / N;
      ECG_CHECK(in == static_cast<int64_t>(s.C), "float dense ", n.name, ": input of ", in,
                " values, weights for ", s.C);
      float* out = logits->data<float>();
      for (int b = 0; b < N; ++b)
        for (int k = 0; k < s.K; ++k) {
          double acc = n.bias_f32[k];
          const float* w = n.weights_f32.data() + static_cast<size_t>(k) * in;
          for (int64_t i = 0; i < in; ++i) acc += static_cast<double>(w[i]) * x[b * in + i];
          out[b * s.K + k] = static_cast<float>(acc);
        }
      return;
    }
    Tensor xt = nhwc_to_nchw(x, N, s.C, s.H, s.W);
    Tensor w = Tensor::from_vector(n.weights_f32, {s.K, s.C, s.R, s.S});
    Tensor bias = Tensor::from_vector(n.bias_f32, {s.K});
    Conv2dOptions o =
        Conv2dOptions::explicit_pad(s.stride_h, s.pad_top, s.pad_left, s.pad_bottom, s.pad_right);
    o.stride_w = s.stride_w;
    Tensor y = conv2d(xt, w, bias, o);
    if (n.conv.residual) y = add(y, nhwc_to_nchw(download(n.inputs[1], N), N, s.K, s.P, s.Q));
    if (fp16_relu(n)) y = relu(y);
    y = y.contiguous();
    upload_nchw(y.data<float>(), N, s.K, s.P, s.Q, ptr(n.output));
  }

  static Tensor nhwc_to_nchw(const std::vector<float>& v, int N, int C, int H, int W) {
    Tensor t = Tensor::empty({N, C, H, W});
    float* p = t.data<float>();
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < H * W; ++i)
        for (int c = 0; c < C; ++c)
          p[(static_cast<size_t>(n) * C + c) * H * W + i] =
              v[(static_cast<size_t>(n) * H * W + i) * C + c];
    return t;
  }

  const quant::Int8Model& model;
  int max_batch;
  quant::ArenaPlan plan;
  Tensor arena, logits_dev;
  std::vector<Node> nodes;
};

Fp16CudaRunner::Fp16CudaRunner(const quant::Int8Model& m, int max_batch, bool reuse_arena)
    : impl_(std::make_unique<Impl>(m, max_batch, reuse_arena)) {}

Fp16CudaRunner::~Fp16CudaRunner() = default;

Tensor Fp16CudaRunner::run(const Tensor& images) {
  return impl_->run(images);
}

std::vector<float> Fp16CudaRunner::tensor_values(int tensor_id, int batch) const {
  return impl_->download(tensor_id, batch);
}

int64_t Fp16CudaRunner::arena_bytes() const {
  return 2 * impl_->plan.bytes;
}

}  // namespace ecg::cuda
