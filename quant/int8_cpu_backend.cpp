// The CPU backend of the int8 graph walk (quant/int8_cpu_backend.h).
#include "quant/int8_cpu_backend.h"

#include <algorithm>
#include <cstring>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "core/profiler.h"
#include "kernels/error.h"
#include "kernels/runtime.h"
#include "quant/quantize.h"
#include "quant/row_tiling.h"

namespace ecg::quant {

CpuInt8Backend::CpuInt8Backend(int8::Int8Kernel kernel, const RowTilingOptions& rt)
    : kernel_(kernel), row_tiling_(rt) {
  ECG_CHECK(int8::int8_kernel_supported(kernel), "int8 kernel ", int8::int8_kernel_name(kernel),
            " is not supported by this CPU");
}

void CpuInt8Backend::prepare(const Int8Model& m, const ArenaPlan& plan, int max_batch) {
  model_ = &m;
  plan_ = plan;
  arena_.assign(static_cast<size_t>(plan_.bytes), 0);
  packed_.resize(m.nodes.size());
  for (size_t i = 0; i < m.nodes.size(); ++i) {
    const NodeQ& n = m.nodes[i];
    if ((n.kind == NodeKind::Conv || n.kind == NodeKind::Dense) && !n.run_float)
      packed_[i] = int8::pack_conv_int8(n.conv, n.weights.data(), kernel_);
  }
  logits_acc_.resize(static_cast<size_t>(max_batch) * m.num_classes());
}

int64_t CpuInt8Backend::batch_bytes(int t, int N) const {
  const TensorQ& q = model_->tensors[t];
  return q.bytes() / q.N * N;
}

void CpuInt8Backend::input(const float* images, int N) {
  const TensorQ& in = model_->tensors[0];
  quantize_nchw_to_nhwc(images, N, 3, in.H, in.W, {in.scale, in.zero_point}, ptr(0));
}

namespace {

// The profiler's record of one int8 MAC node: its multiply-adds.
double conv_flops(const NodeQ& n, int N) {
  Conv2dShape cs = n.conv.shape;
  cs.N = N;
  return cs.flops();
}

// ... and the bytes it must move at least: input, weights, output (and the
// residual it adds), one byte each.
double conv_bytes(const NodeQ& n, int N) {
  const Conv2dShape& s = n.conv.shape;
  const double out = double(N) * s.P * s.Q * s.K;
  return double(N) * s.H * s.W * s.C + double(s.K) * s.C * s.R * s.S +
         out * (n.conv.residual ? 2 : 1);
}

int thread_number() {
#if defined(_OPENMP)
  return omp_get_thread_num();
#else
  return 0;
#endif
}

}  // namespace

void CpuInt8Backend::conv(int node, int N) {
  const NodeQ& n = model_->nodes[node];
  OpTimer timer("int8_conv", conv_flops(n, N), conv_bytes(n, N), packed_[node]->variant(), true);
  packed_[node]->run(N, ptr(n.inputs[0]), ptr(n.output),
                     n.conv.residual ? ptr(n.inputs[1]) : nullptr);
}

void CpuInt8Backend::max_pool(int node, int N) {
  const NodeQ& n = model_->nodes[node];
  OpTimer timer(node_kind_name(n.kind), 0, 2.0 * batch_bytes(n.inputs[0], N), "int8-portable",
                false);
  Pool2dShape s = n.pool;
  s.N = N;
  int8::max_pool_int8(s, ptr(n.inputs[0]), ptr(n.output));
}

void CpuInt8Backend::avg_pool(int node, int N) {
  const NodeQ& n = model_->nodes[node];
  OpTimer timer(node_kind_name(n.kind), 0, 2.0 * batch_bytes(n.inputs[0], N), "int8-portable",
                false);
  int8::AvgPoolInt8Params p = n.avg;
  p.shape.N = N;
  int8::avg_pool_int8(p, ptr(n.inputs[0]), ptr(n.output));
}

void CpuInt8Backend::add(int node, int N) {
  const NodeQ& n = model_->nodes[node];
  OpTimer timer(node_kind_name(n.kind), 0, 2.0 * batch_bytes(n.inputs[0], N), "int8-portable",
                false);
  int8::add_int8(batch_bytes(n.output, N), ptr(n.inputs[0]), ptr(n.inputs[1]), n.add,
                 ptr(n.output));
}

void CpuInt8Backend::dense(int node, int N, float* logits) {
  const NodeQ& n = model_->nodes[node];
  OpTimer timer("int8_dense", conv_flops(n, N), conv_bytes(n, N), packed_[node]->variant(), true);
  packed_[node]->run(N, ptr(n.inputs[0]), logits_acc_.data(), nullptr);
  scale_int8_logits(*model_, node, logits_acc_.data(), N, logits);
}

void CpuInt8Backend::row_group(const RowGroup& g, int64_t window_block, int N) {
  const Int8Model& m = *model_;
  // Profiled, each thread times its band calls per layer: the group's wall
  // time is then split among its layers in proportion to their summed band
  // time (what the window shifts cost goes with it), and every band call is
  // a slice on its thread's track.
  Profiler& prof = Profiler::instance();
  const bool profiled = prof.enabled();
  const int layers = g.last - g.first + 1;
  const int threads = std::max(1, std::min(num_threads(), g.slabs));
  std::vector<double> busy_us(static_cast<size_t>(threads) * layers, 0.0);
  const double group_start = profiled ? prof.now_us() : 0.0;
  // One slab per thread, each on its own windows (so one thread runs every
  // image of a slab): no synchronisation inside.
#pragma omp parallel for schedule(static, 1) num_threads(threads)
  for (int slab = 0; slab < g.slabs; ++slab)
    for (int n = 0; n < N; ++n) {
      int8_t* windows = arena_.data() + window_block + g.window_bytes * slab;
      RowWalk walk(m, g, slab);
      // A tensor's row r: in its window (windowed) or in image n of the whole tensor.
      auto row_ptr = [&](int t, int r) {
        const TensorQ& tq = m.tensors[t];
        const int64_t row_bytes = static_cast<int64_t>(tq.W) * tq.C;
        const int w = g.index_of(t);
        if (w >= 0) return windows + g.window_offset[w] + (r - walk.window_of(t).row0) * row_bytes;
        return arena_.data() + plan_.offset[t] + (static_cast<int64_t>(n) * tq.H + r) * row_bytes;
      };
      walk.run(
          [&](int node, int p0, int p1) {
            const NodeQ& nd = m.nodes[node];
            const int x = nd.inputs[0];
            const RowWindow win = walk.window_of(x);
            const double t0 = profiled ? prof.now_us() : 0.0;
            packed_[node]->run_rows(p0, p1, row_ptr(x, win.row0), win.row0, win.rows,
                                    row_ptr(nd.output, p0),
                                    nd.conv.residual ? row_ptr(nd.inputs[1], p0) : nullptr);
            if (profiled) record_band(node, t0, prof.now_us() - t0, busy_us, g.first, layers);
          },
          [&](int t, int rows) {
            const TensorQ& tq = m.tensors[t];
            const int64_t row_bytes = static_cast<int64_t>(tq.W) * tq.C;
            const RowWindow win = walk.window_of(t);
            int8_t* base = windows + g.window_offset[g.index_of(t)];
            std::memmove(base, base + rows * row_bytes, (win.rows - rows) * row_bytes);
          });
    }
  if (profiled) record_group_shares(g, group_start, busy_us, N);
}

void CpuInt8Backend::record_band(int node, double start_us, double dur_us,
                                 std::vector<double>& busy_us, int first, int layers) const {
  const int t = thread_number();
  busy_us[static_cast<size_t>(t) * layers + (node - first)] += dur_us;
  ProfileEvent e;
  e.kind = ProfileEvent::Kind::ThreadSlice;
  e.op = "int8_conv_rows";
  e.layer = model_->nodes[node].name;
  e.kernel = packed_[node]->variant();
  e.start_us = start_us;
  e.dur_us = dur_us;
  Profiler::instance().record(std::move(e));
}

void CpuInt8Backend::record_group_shares(const RowGroup& g, double start_us,
                                         const std::vector<double>& busy_us, int N) const {
  Profiler& prof = Profiler::instance();
  const double wall = prof.now_us() - start_us;
  const int layers = g.last - g.first + 1;
  std::vector<double> per_layer(layers, 0.0);
  double total = 0;
  for (size_t i = 0; i < busy_us.size(); ++i) per_layer[i % layers] += busy_us[i];
  for (double b : per_layer) total += b;
  double at = start_us;
  for (int l = 0; l < layers; ++l) {
    const NodeQ& n = model_->nodes[g.first + l];
    const double share = total > 0 ? wall * per_layer[l] / total : wall / layers;
    prof.record_layer_share(n.name, "int8_conv_rows", at, share, conv_flops(n, N), conv_bytes(n, N),
                            packed_[g.first + l]->variant(), true);
    at += share;
  }
}

std::vector<int8_t> CpuInt8Backend::tensor_bytes(int t, int N) const {
  const int8_t* p = ptr(t);
  return std::vector<int8_t>(p, p + batch_bytes(t, N));
}

std::vector<float> CpuInt8Backend::tensor_values(int t, int N) const {
  return dequantize_tensor(*model_, t, ptr(t), batch_bytes(t, N));
}

void CpuInt8Backend::store_float_output(int node, const float* y, int N) {
  quantize_float_output(*model_, node, y, N, ptr(model_->nodes[node].output));
}

}  // namespace ecg::quant
