// Body of Int8CudaRunner (int8_runner.h). Host C++17 that launches the int8
// kernels of conv_int8.cuh and pool_int8.cuh on the engine's stream through
// int8_launch.h; compiled by the host compiler in its own translation unit
// (int8_runner.cpp), apart from the kernels, in the GPU and emulator builds.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/allocator.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "core/profiler.h"
#include "kernels/cuda/conv_int8_pack.h"
#include "kernels/cuda/engine/engine.h"
#include "kernels/cuda/engine/int8_launch.h"
#include "kernels/cuda/engine/int8_runner.h"
#include "quant/int8_model.h"
#include "quant/quantize.h"

namespace ecg::cuda {

namespace {

template <class T>
Tensor upload_vector(const std::vector<T>& v, DType dt) {
  Tensor t = Tensor::empty({static_cast<int64_t>(v.size())}, dt, Device::cuda());
  if (!v.empty())
    allocator_for(DeviceType::CUDA).copy_from_host(t.raw_data(), v.data(), v.size() * sizeof(T));
  return t;
}

}  // namespace

struct Int8CudaRunner::Impl {
  // Per node: the packed conv (device copies of its weights and constants),
  // or the pool's and add's scalars.
  struct Node {
    ConvInt8Args conv{};
    Tensor weights, bias, m0, shift;  // device; conv / dense, avg pool (m0, shift)
    PoolInt8Args pool{};
    AddInt8Args add{};
  };

  Impl(const quant::Int8Model& m, int max_batch, bool reuse)
      : model(m),
        max_batch(max_batch),
        plan(quant::plan_arena(m, max_batch, reuse, /*in_place_residual=*/reuse)) {
    std::string why;
    ECG_CHECK(install_engine(&why), "int8 runner on cuda: ", why);
    cc = engine_compute_capability();
    path = cc >= 61 ? ConvInt8Path::kDp4a : ConvInt8Path::kF32;
    arena = Tensor::empty({std::max<int64_t>(plan.bytes, 1)}, DType::I8, Device::cuda());
    nodes.resize(m.nodes.size());
    long long workspace_bytes = 0;
    for (size_t i = 0; i < m.nodes.size(); ++i) {
      const quant::NodeQ& n = m.nodes[i];
      Node& d = nodes[i];
      switch (n.kind) {
        case quant::NodeKind::Conv:
        case quant::NodeKind::Dense: {
          if (n.run_float) break;
          ConvInt8Packed p = ::ecg::cuda::pack_conv_int8(n.conv, n.weights.data());
          d.weights = upload_vector(p.weights, DType::I8);
          d.bias = upload_vector(p.bias, DType::I32);
          d.m0 = upload_vector(p.m0, DType::I32);
          d.shift = upload_vector(p.shift, DType::I32);
          d.conv = p.args;
          d.conv.w = static_cast<const signed char*>(d.weights.raw_data());
          d.conv.bias = d.bias.data<int32_t>();
          d.conv.m0 = d.m0.data<int32_t>();
          d.conv.shift = d.shift.data<int32_t>();
          ConvInt8Args at_max = d.conv;
          at_max.N = max_batch;
          workspace_bytes =
              std::max(workspace_bytes, engine_conv_int8_workspace_bytes(at_max, path));
          if (n.kind == quant::NodeKind::Dense)
            dense_outputs = std::max<int64_t>(dense_outputs, n.conv.shape.K);
          break;
        }
        case quant::NodeKind::MaxPool:
          d.pool = pool_args(n.pool);
          break;
        case quant::NodeKind::AvgPool: {
          d.pool = pool_args(n.avg.shape);
          d.pool.zp_in = n.avg.zp_in, d.pool.zp_out = n.avg.zp_out;
          d.pool.qmin = n.avg.qmin, d.pool.qmax = n.avg.qmax;
          std::vector<int32_t> m0, shift;
          for (const int8::Requant& r : n.avg.requant_by_count)
            m0.push_back(r.m0), shift.push_back(r.shift);
          d.m0 = upload_vector(m0, DType::I32);
          d.shift = upload_vector(shift, DType::I32);
          d.pool.m0 = d.m0.data<int32_t>();
          d.pool.shift = d.shift.data<int32_t>();
          break;
        }
        case quant::NodeKind::Add: {
          const int8::AddRequant& a = n.add;
          d.add = AddInt8Args{a.zp_a, a.zp_b, a.mul_a, a.mul_b, a.shift, a.zp_out, a.qmin, a.qmax};
          break;
        }
      }
    }
    if (workspace_bytes > 0)
      workspace = Tensor::empty({workspace_bytes}, DType::I8, Device::cuda());
    logits_acc = Tensor::empty({std::max<int64_t>(1, max_batch * dense_outputs)}, DType::I32,
                               Device::cuda());
  }

  static PoolInt8Args pool_args(const Pool2dShape& s) {
    PoolInt8Args a{};
    a.N = s.N, a.C = s.C, a.H = s.H, a.W = s.W, a.R = s.R, a.S = s.S;
    a.stride_h = s.stride_h, a.stride_w = s.stride_w, a.pad_top = s.pad_top;
    a.pad_left = s.pad_left, a.P = s.P, a.Q = s.Q;
    return a;
  }

  signed char* ptr(int t) const {
    return static_cast<signed char*>(arena.raw_data()) + plan.offset[t];
  }

  Tensor run(const Tensor& images_in) {
    Tensor images = images_in.to(Device::cpu()).contiguous();
    const int S = model.image_size;
    ECG_CHECK(
        images.dim() == 4 && images.size(1) == 3 && images.size(2) == S && images.size(3) == S,
        "int8 model expects images [N, 3, ", S, ", ", S, "], got ", shape_str(images.shape()));
    const int N = static_cast<int>(images.size(0));
    ECG_CHECK(N <= max_batch, "int8 runner was planned for batch ", max_batch, ", got ", N);
    const quant::TensorQ& in = model.tensors[0];
    std::vector<int8_t> q(static_cast<size_t>(in.bytes() / in.N) * N);
    quant::quantize_nchw_to_nhwc(images.data<float>(), N, 3, S, S, {in.scale, in.zero_point},
                                 q.data());
    device_allocator_copy(ptr(0), q.data(), q.size());
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
          ConvInt8Args a = d.conv;
          a.N = N;
          engine_conv_int8(a, path, ptr(n.inputs[0]), ptr(n.output),
                           n.conv.residual ? ptr(n.inputs[1]) : nullptr,
                           workspace.defined() ? workspace.raw_data() : nullptr, "conv_int8");
          break;
        }
        case quant::NodeKind::MaxPool: {
          PoolInt8Args a = d.pool;
          a.N = N;
          engine_max_pool_int8(a, ptr(n.inputs[0]), ptr(n.output));
          break;
        }
        case quant::NodeKind::AvgPool: {
          PoolInt8Args a = d.pool;
          a.N = N;
          engine_avg_pool_int8(a, ptr(n.inputs[0]), ptr(n.output));
          break;
        }
        case quant::NodeKind::Add: {
          const quant::TensorQ& t = model.tensors[n.output];
          engine_add_int8(t.bytes() / t.N * N, d.add, ptr(n.inputs[0]), ptr(n.inputs[1]),
                          ptr(n.output));
          break;
        }
        case quant::NodeKind::Dense: {
          ConvInt8Args a = d.conv;
          a.N = N;
          engine_conv_int8(a, path, ptr(n.inputs[0]), logits_acc.raw_data(), nullptr,
                           workspace.defined() ? workspace.raw_data() : nullptr,
                           "conv_int8 (dense)");
          const int K = n.conv.shape.K;
          std::vector<int32_t> acc(static_cast<size_t>(N) * K);
          device_allocator().copy_to_host(acc.data(), logits_acc.raw_data(), acc.size() * 4);
          // The CPU runner's float arithmetic, term for term, so the logits match to the bit.
          const float s_in = model.tensors[n.inputs[0]].scale;
          float* out = logits.data<float>();
          for (int b = 0; b < N; ++b)
            for (int k = 0; k < K; ++k)
              out[b * K + k] = s_in * n.weight_scale[k] * static_cast<float>(acc[b * K + k]);
          break;
        }
      }
    }
    return logits;
  }

  std::vector<int8_t> download(int t, int N) const {
    const quant::TensorQ& q = model.tensors[t];
    std::vector<int8_t> out(static_cast<size_t>(q.bytes() / q.N) * N);
    device_allocator().copy_to_host(out.data(), ptr(t), out.size());
    return out;
  }

  // The CPU runner's float fallback (quant::Int8Runner::run_float_node) on the
  // host: dequantize -> float layer -> (+ residual) -> quantize and clamp.
  void run_float_node(const quant::NodeQ& n, int N, Tensor* logits) {
    NoGradGuard no_grad;
    const quant::TensorQ& tin = model.tensors[n.inputs[0]];
    const Conv2dShape& s = n.conv.shape;
    const quant::QParams pin{tin.scale, tin.zero_point};
    const std::vector<int8_t> x8 = download(n.inputs[0], N);
    if (n.kind == quant::NodeKind::Dense) {
      const int64_t in = tin.bytes() / tin.N;
      ECG_CHECK(in == static_cast<int64_t>(s.C), "float dense ", n.name, ": input of ", in,
                " values, weights for ", s.C);
      float* out = logits->data<float>();
      for (int b = 0; b < N; ++b)
        for (int k = 0; k < s.K; ++k) {
          double acc = n.bias_f32[k];
          const float* w = n.weights_f32.data() + static_cast<size_t>(k) * in;
          for (int64_t i = 0; i < in; ++i)
            acc += static_cast<double>(w[i]) * quant::dequantize_value(x8[b * in + i], pin);
          out[b * s.K + k] = static_cast<float>(acc);
        }
      return;
    }
    Tensor x = Tensor::empty({N, s.C, s.H, s.W});
    quant::dequantize_nhwc_to_nchw(x8.data(), N, s.C, s.H, s.W, pin, x.data<float>());
    Tensor w = Tensor::from_vector(n.weights_f32, {s.K, s.C, s.R, s.S});
    Tensor bias = Tensor::from_vector(n.bias_f32, {s.K});
    Conv2dOptions o =
        Conv2dOptions::explicit_pad(s.stride_h, s.pad_top, s.pad_left, s.pad_bottom, s.pad_right);
    o.stride_w = s.stride_w;
    Tensor y = conv2d(x, w, bias, o);
    int32_t lo = n.conv.qmin, hi = n.conv.qmax;
    if (n.conv.residual) {
      const quant::TensorQ& tr = model.tensors[n.inputs[1]];
      const std::vector<int8_t> r8 = download(n.inputs[1], N);
      Tensor r = Tensor::empty({N, s.K, s.P, s.Q});
      quant::dequantize_nhwc_to_nchw(r8.data(), N, s.K, s.P, s.Q, {tr.scale, tr.zero_point},
                                     r.data<float>());
      y = add(y, r);
      lo = n.conv.add.qmin, hi = n.conv.add.qmax;
    }
    y = y.contiguous();
    const quant::TensorQ& tout = model.tensors[n.output];
    std::vector<int8_t> out(static_cast<size_t>(N) * s.K * s.P * s.Q);
    quant::quantize_nchw_to_nhwc(y.data<float>(), N, s.K, s.P, s.Q, {tout.scale, tout.zero_point},
                                 out.data());
    for (int8_t& v : out) v = static_cast<int8_t>(std::min<int32_t>(hi, std::max<int32_t>(lo, v)));
    device_allocator_copy(ptr(n.output), out.data(), out.size());
  }

  static void device_allocator_copy(void* dst, const void* src, size_t n) {
    allocator_for(DeviceType::CUDA).copy_from_host(dst, src, n);
  }
  static Allocator& device_allocator() { return allocator_for(DeviceType::CUDA); }

  const quant::Int8Model& model;
  int max_batch;
  quant::ArenaPlan plan;
  int cc = 0;
  ConvInt8Path path = ConvInt8Path::kF32;
  Tensor arena, workspace, logits_acc;
  int64_t dense_outputs = 1;
  std::vector<Node> nodes;
};

Int8CudaRunner::Int8CudaRunner(const quant::Int8Model& m, int max_batch, bool reuse_arena)
    : impl_(std::make_unique<Impl>(m, max_batch, reuse_arena)) {}

Int8CudaRunner::~Int8CudaRunner() = default;

Tensor Int8CudaRunner::run(const Tensor& images) {
  return impl_->run(images);
}

std::vector<int8_t> Int8CudaRunner::tensor_bytes(int tensor_id, int batch) const {
  return impl_->download(tensor_id, batch);
}

const char* Int8CudaRunner::path_name() const {
  return impl_->path == ConvInt8Path::kDp4a ? "cuda-dp4a" : "cuda-f32-exact";
}

int64_t Int8CudaRunner::arena_bytes() const {
  return impl_->plan.bytes;
}

}  // namespace ecg::cuda
