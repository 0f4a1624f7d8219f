// The CUDA int8 backend of the int8 graph walk (int8_cuda_backend.h). Host
// C++17 that launches the int8 kernels of conv_int8.cuh and pool_int8.cuh on
// the engine's stream through core/cuda/int8_launch.h; compiled by the host
// compiler apart from the kernels: in a GPU build with ECG_CUDA_HOST_ONLY
// (kernels/cuda/emu/cuda_compat.h: the runtime's types, no kernels), in the
// emulator build against the emulator's headers.
#include "quant/cuda/int8_cuda_backend.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/cuda/engine.h"
#include "core/cuda/int8_launch.h"
#include "core/tensor.h"
#include "kernels/cuda/conv_int8_pack.h"
#include "quant/cuda/cuda_backend_common.h"
#include "quant/quantize.h"

namespace ecg::cuda {

namespace {

class Int8CudaBackend : public quant::Int8Backend {
 public:
  const char* precision() const override { return "int8"; }
  const char* path_name() const override {
    return path_ == ConvInt8Path::kDp4a ? "cuda-dp4a" : "cuda-f32-exact";
  }
  int64_t arena_bytes() const override { return plan_.bytes; }

  void prepare(const quant::Int8Model& m, const quant::ArenaPlan& plan, int max_batch) override {
    std::string why;
    ECG_CHECK(install_engine(&why), "int8 runner on cuda: ", why);
    model_ = &m;
    plan_ = plan;
    path_ = engine_compute_capability() >= 61 ? ConvInt8Path::kDp4a : ConvInt8Path::kF32;
    arena_ = Tensor::empty({std::max<int64_t>(plan.bytes, 1)}, DType::I8, Device::cuda());
    nodes_.resize(m.nodes.size());
    long long workspace_bytes = 0;
    int64_t dense_outputs = 1;
    for (size_t i = 0; i < m.nodes.size(); ++i) {
      const quant::NodeQ& n = m.nodes[i];
      Node& d = nodes_[i];
      switch (n.kind) {
        case quant::NodeKind::Conv:
        case quant::NodeKind::Dense: {
          if (n.run_float) break;
          pack_conv(n, d);
          ConvInt8Args at_max = d.conv;
          at_max.N = max_batch;
          workspace_bytes =
              std::max(workspace_bytes, engine_conv_int8_workspace_bytes(at_max, path_));
          if (n.kind == quant::NodeKind::Dense)
            dense_outputs = std::max<int64_t>(dense_outputs, n.conv.shape.K);
          break;
        }
        case quant::NodeKind::MaxPool:
          d.pool = pool_args<PoolInt8Args>(n.pool);
          break;
        case quant::NodeKind::AvgPool:
          pack_avg_pool(n, d);
          break;
        case quant::NodeKind::Add: {
          const int8::AddRequant& a = n.add;
          d.add = AddInt8Args{a.zp_a, a.zp_b, a.mul_a, a.mul_b, a.shift, a.zp_out, a.qmin, a.qmax};
          break;
        }
      }
    }
    if (workspace_bytes > 0)
      workspace_ = Tensor::empty({workspace_bytes}, DType::I8, Device::cuda());
    logits_acc_ = Tensor::empty({std::max<int64_t>(1, max_batch * dense_outputs)}, DType::I32,
                                Device::cuda());
  }

  void input(const float* images, int N) override {
    const quant::TensorQ& in = model_->tensors[0];
    std::vector<int8_t> q(static_cast<size_t>(in.bytes() / in.N) * N);
    quant::quantize_nchw_to_nhwc(images, N, 3, in.H, in.W, {in.scale, in.zero_point}, q.data());
    device_allocator().copy_from_host(ptr(0), q.data(), q.size());
  }

  void conv(int node, int N) override {
    const quant::NodeQ& n = model_->nodes[node];
    ConvInt8Args a = nodes_[node].conv;
    a.N = N;
    engine_conv_int8(a, path_, ptr(n.inputs[0]), ptr(n.output),
                     n.conv.residual ? ptr(n.inputs[1]) : nullptr, workspace(), "conv_int8");
  }

  void max_pool(int node, int N) override { pool(node, N, &engine_max_pool_int8); }
  void avg_pool(int node, int N) override { pool(node, N, &engine_avg_pool_int8); }

  void add(int node, int N) override {
    const quant::NodeQ& n = model_->nodes[node];
    engine_add_int8(batch_bytes(n.output, N), nodes_[node].add, ptr(n.inputs[0]), ptr(n.inputs[1]),
                    ptr(n.output));
  }

  void dense(int node, int N, float* logits) override {
    const quant::NodeQ& n = model_->nodes[node];
    ConvInt8Args a = nodes_[node].conv;
    a.N = N;
    engine_conv_int8(a, path_, ptr(n.inputs[0]), logits_acc_.raw_data(), nullptr, workspace(),
                     "conv_int8 (dense)");
    std::vector<int32_t> acc(static_cast<size_t>(N) * n.conv.shape.K);
    device_allocator().copy_to_host(acc.data(), logits_acc_.raw_data(), acc.size() * 4);
    quant::scale_int8_logits(*model_, node, acc.data(), N, logits);
  }

  std::vector<int8_t> tensor_bytes(int t, int N) const override {
    std::vector<int8_t> out(static_cast<size_t>(batch_bytes(t, N)));
    device_allocator().copy_to_host(out.data(), ptr(t), out.size());
    return out;
  }

  std::vector<float> tensor_values(int t, int N) const override {
    const std::vector<int8_t> x = tensor_bytes(t, N);
    return quant::dequantize_tensor(*model_, t, x.data(), static_cast<int64_t>(x.size()));
  }

  // Quantized and clamped like the int8 node, on the host, then uploaded.
  void store_float_output(int node, const float* y, int N) override {
    const quant::NodeQ& n = model_->nodes[node];
    std::vector<int8_t> out(static_cast<size_t>(batch_bytes(n.output, N)));
    quant::quantize_float_output(*model_, node, y, N, out.data());
    device_allocator().copy_from_host(ptr(n.output), out.data(), out.size());
  }

 private:
  // Per node: the packed conv (device copies of its weights and constants),
  // or the pool's and add's scalars.
  struct Node {
    ConvInt8Args conv{};
    Tensor weights, bias, m0, shift;  // device; conv / dense, avg pool (m0, shift)
    PoolInt8Args pool{};
    AddInt8Args add{};
  };

  static void pack_conv(const quant::NodeQ& n, Node& d) {
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
  }

  static void pack_avg_pool(const quant::NodeQ& n, Node& d) {
    d.pool = pool_args<PoolInt8Args>(n.avg.shape);
    d.pool.zp_in = n.avg.zp_in, d.pool.zp_out = n.avg.zp_out;
    d.pool.qmin = n.avg.qmin, d.pool.qmax = n.avg.qmax;
    std::vector<int32_t> m0, shift;
    for (const int8::Requant& r : n.avg.requant_by_count)
      m0.push_back(r.m0), shift.push_back(r.shift);
    d.m0 = upload_vector(m0, DType::I32);
    d.shift = upload_vector(shift, DType::I32);
    d.pool.m0 = d.m0.data<int32_t>();
    d.pool.shift = d.shift.data<int32_t>();
  }

  using PoolLaunch = void (*)(const PoolInt8Args&, const signed char*, signed char*);
  void pool(int node, int N, PoolLaunch launch) {
    const quant::NodeQ& n = model_->nodes[node];
    PoolInt8Args a = nodes_[node].pool;
    a.N = N;
    launch(a, ptr(n.inputs[0]), ptr(n.output));
  }

  signed char* ptr(int t) const {
    return static_cast<signed char*>(arena_.raw_data()) + plan_.offset[t];
  }
  void* workspace() const { return workspace_.defined() ? workspace_.raw_data() : nullptr; }
  int64_t batch_bytes(int t, int N) const {
    const quant::TensorQ& q = model_->tensors[t];
    return q.bytes() / q.N * N;
  }

  const quant::Int8Model* model_ = nullptr;
  quant::ArenaPlan plan_;
  ConvInt8Path path_ = ConvInt8Path::kF32;
  Tensor arena_, workspace_, logits_acc_;
  std::vector<Node> nodes_;
};

}  // namespace

std::unique_ptr<quant::Int8Backend> make_int8_cuda_backend() {
  return std::make_unique<Int8CudaBackend>();
}

}  // namespace ecg::cuda
