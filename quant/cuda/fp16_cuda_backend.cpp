// The CUDA FP16 backend of the int8 graph walk (fp16_cuda_backend.h): host
// C++17 (the host compiler) that launches its kernels through
// core/cuda/fp16_launch.h (defined in the engine's kernel translation unit),
// as the int8 backend does with int8_launch.h. Halves are converted on the
// host with cuda_fp16.h's host functions (round to nearest even).
#include "kernels/cuda/emu/cuda_compat.h"  // first: the emulator's or the runtime's headers

#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/cuda/engine.h"
#include "core/cuda/fp16_launch.h"
#include "core/tensor.h"
#include "kernels/cuda/conv_fp16_pack.h"
#include "quant/cuda/cuda_backend_common.h"
#include "quant/cuda/fp16_cuda_backend.h"

namespace ecg::cuda {

namespace {

// The ReLU of a conv node as the int8 graph encodes it: its output (after the
// residual add, if any) is clamped at the zero point, i.e. at the real 0.
bool fp16_relu(const quant::NodeQ& n) {
  return n.conv.residual ? n.conv.add.qmin == n.conv.add.zp_out : n.conv.qmin == n.conv.zp_out;
}

// Float NCHW on the host -> half NHWC at `dst` on the device.
void upload_nchw(const float* x, int N, int C, int H, int W, void* dst) {
  std::vector<uint16_t> h(static_cast<size_t>(N) * C * H * W);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < H * W; ++i)
        h[(static_cast<size_t>(n) * H * W + i) * C + c] =
            __half_as_ushort(__float2half_rn(x[(static_cast<size_t>(n) * C + c) * H * W + i]));
  device_allocator().copy_from_host(dst, h.data(), h.size() * 2);
}

class Fp16CudaBackend : public quant::Int8Backend {
 public:
  const char* precision() const override { return "fp16"; }
  const char* path_name() const override { return "cuda-fp16"; }
  // The plan counts one byte per element; halves take two, so every offset
  // and the peak double (tensors that do not overlap still do not).
  int64_t arena_bytes() const override { return 2 * plan_.bytes; }

  void prepare(const quant::Int8Model& m, const quant::ArenaPlan& plan, int max_batch) override {
    std::string why;
    ECG_CHECK(install_engine(&why), "fp16 runner on cuda: ", why);
    model_ = &m;
    plan_ = plan;
    arena_ = Tensor::empty({std::max<int64_t>(2 * plan.bytes, 1)}, DType::I8, Device::cuda());
    nodes_.resize(m.nodes.size());
    int64_t dense_outputs = 1;
    for (size_t i = 0; i < m.nodes.size(); ++i) {
      const quant::NodeQ& n = m.nodes[i];
      Node& d = nodes_[i];
      switch (n.kind) {
        case quant::NodeKind::Conv:
        case quant::NodeKind::Dense:
          if (n.run_float) break;
          pack_conv(m, n, d);
          if (n.kind == quant::NodeKind::Dense)
            dense_outputs = std::max<int64_t>(dense_outputs, n.conv.shape.K);
          break;
        case quant::NodeKind::MaxPool:
          d.pool = pool_args<PoolFp16Args>(n.pool);
          break;
        case quant::NodeKind::AvgPool:
          d.pool = pool_args<PoolFp16Args>(n.avg.shape);
          break;
        case quant::NodeKind::Add:
          break;
      }
    }
    logits_dev_ = Tensor::empty({max_batch * dense_outputs}, DType::F32, Device::cuda());
  }

  void input(const float* images, int N) override {
    const quant::TensorQ& in = model_->tensors[0];
    upload_nchw(images, N, 3, in.H, in.W, ptr(0));
  }

  void conv(int node, int N) override {
    const quant::NodeQ& n = model_->nodes[node];
    ConvFp16Args a = nodes_[node].conv;
    a.N = N;
    engine_conv_fp16(a, ptr(n.inputs[0]), ptr(n.output),
                     n.conv.residual ? ptr(n.inputs[1]) : nullptr, "conv_fp16");
  }

  void max_pool(int node, int N) override { pool(node, N, &engine_max_pool_fp16); }
  void avg_pool(int node, int N) override { pool(node, N, &engine_avg_pool_fp16); }

  void add(int node, int N) override {
    const quant::NodeQ& n = model_->nodes[node];
    const quant::TensorQ& t = model_->tensors[n.output];
    engine_add_fp16(t.bytes() / t.N * N, n.add.qmin == n.add.zp_out, ptr(n.inputs[0]),
                    ptr(n.inputs[1]), ptr(n.output));
  }

  void dense(int node, int N, float* logits) override {
    const quant::NodeQ& n = model_->nodes[node];
    ConvFp16Args a = nodes_[node].conv;
    a.N = N;
    engine_conv_fp16(a, ptr(n.inputs[0]), logits_dev_.raw_data(), nullptr, "conv_fp16 (dense)");
    device_allocator().copy_to_host(logits, logits_dev_.raw_data(),
                                    static_cast<size_t>(N) * model_->num_classes() * sizeof(float));
  }

  // Half holds at most 65,504: a layer whose outputs (or the partial sums of
  // a K step) exceed that gives inf, which reaches the logits.
  void check_logits(const Tensor& logits) const override {
    const float* l = logits.data<float>();
    for (int64_t i = 0; i < logits.numel(); ++i)
      ECG_CHECK(std::isfinite(l[i]), "fp16 runner: non-finite logits (an activation left the half ",
                "range, |x| > 65504); run this model with --precision int8");
  }

  std::vector<float> tensor_values(int t, int N) const override {
    const quant::TensorQ& q = model_->tensors[t];
    std::vector<uint16_t> h(static_cast<size_t>(q.bytes() / q.N) * N);
    device_allocator().copy_to_host(h.data(), ptr(t), h.size() * 2);
    std::vector<float> out(h.size());
    for (size_t i = 0; i < h.size(); ++i) out[i] = __half2float(__ushort_as_half(h[i]));
    return out;
  }

  // The node's ReLU on the host, then rounded to half on the device.
  void store_float_output(int node, const float* y, int N) override {
    const quant::NodeQ& n = model_->nodes[node];
    const Conv2dShape& s = n.conv.shape;
    if (!fp16_relu(n)) return upload_nchw(y, N, s.K, s.P, s.Q, ptr(n.output));
    std::vector<float> r(y, y + static_cast<size_t>(N) * s.K * s.P * s.Q);
    for (float& v : r) v = v > 0.f ? v : 0.f;
    upload_nchw(r.data(), N, s.K, s.P, s.Q, ptr(n.output));
  }

 private:
  struct Node {
    ConvFp16Args conv{};
    Tensor weights, stage, scale, bias;  // device
    PoolFp16Args pool{};
  };

  static void pack_conv(const quant::Int8Model& m, const quant::NodeQ& n, Node& d) {
    ECG_CHECK(static_cast<int>(n.weight_scale.size()) == n.conv.shape.K, "fp16 runner: node ",
              n.name, " has ", n.weight_scale.size(), " weight scales for ", n.conv.shape.K,
              " channels");
    const bool relu = n.kind == quant::NodeKind::Conv && fp16_relu(n);
    ConvFp16Packed p = pack_conv_fp16(n.conv, n.weights.data(), n.weight_scale.data(),
                                      m.tensors[n.inputs[0]].scale, relu);
    d.weights = upload_vector(p.weights, DType::I8);
    d.stage = upload_vector(p.stage, DType::I32);
    d.scale = upload_vector(p.scale, DType::F32);
    d.bias = upload_vector(p.bias, DType::F32);
    d.conv = p.args;
    d.conv.w = static_cast<const signed char*>(d.weights.raw_data());
    d.conv.w_stage = static_cast<const unsigned*>(d.stage.raw_data());
    d.conv.scale = d.scale.data<float>();
    d.conv.bias = d.bias.data<float>();
  }

  using PoolLaunch = void (*)(const PoolFp16Args&, const void*, void*);
  void pool(int node, int N, PoolLaunch launch) {
    const quant::NodeQ& n = model_->nodes[node];
    PoolFp16Args a = nodes_[node].pool;
    a.N = N;
    launch(a, ptr(n.inputs[0]), ptr(n.output));
  }

  void* ptr(int t) const { return static_cast<char*>(arena_.raw_data()) + 2 * plan_.offset[t]; }

  const quant::Int8Model* model_ = nullptr;
  quant::ArenaPlan plan_;
  Tensor arena_, logits_dev_;
  std::vector<Node> nodes_;
};

}  // namespace

std::unique_ptr<quant::Int8Backend> make_fp16_cuda_backend() {
  return std::make_unique<Fp16CudaBackend>();
}

}  // namespace ecg::cuda
