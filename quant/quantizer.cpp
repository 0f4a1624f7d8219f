#include "quant/quantizer.h"

#include <map>

#include "core/autograd.h"
#include "quant/folded_graph.h"
#include "quant/int8_runner.h"
#include "quant/quantize.h"

namespace ecg::quant {

namespace {

int weight_qmax(const QuantizeOptions& opt) {
  ECG_CHECK(opt.weight_bits == 7 || opt.weight_bits == 8, "quantize: weight bits ", opt.weight_bits,
            " (expected 7 or 8)");
  return (1 << (opt.weight_bits - 1)) - 1;
}

Conv2dShape conv_shape(const FoldedConv& f, const Shape& in_nchw) {
  Conv2dShape s;
  s.N = 1;
  s.C = static_cast<int>(in_nchw[1]);
  s.H = static_cast<int>(in_nchw[2]);
  s.W = static_cast<int>(in_nchw[3]);
  s.K = f.out_channels();
  s.R = static_cast<int>(f.w.size(2));
  s.S = static_cast<int>(f.w.size(3));
  s.stride_h = f.opt.stride_h;
  s.stride_w = f.opt.stride_w;
  if (f.opt.padding == Padding::Same) {
    tf_same_padding(s.H, s.R, s.stride_h, s.pad_top, s.pad_bottom);
    tf_same_padding(s.W, s.S, s.stride_w, s.pad_left, s.pad_right);
  } else if (f.opt.padding == Padding::Explicit) {
    s.pad_top = f.opt.pad_top, s.pad_left = f.opt.pad_left;
    s.pad_bottom = f.opt.pad_bottom, s.pad_right = f.opt.pad_right;
  }
  conv2d_finalize(s);
  return s;
}

Pool2dShape pool_shape(const FoldedStep& st, const Shape& in_nchw) {
  Pool2dShape ps;
  ps.C = static_cast<int>(in_nchw[1]);
  ps.H = static_cast<int>(in_nchw[2]);
  ps.W = static_cast<int>(in_nchw[3]);
  if (st.global_pool) {
    ps.R = ps.stride_h = ps.H;
    ps.S = ps.stride_w = ps.W;
  } else {
    ps.R = st.pool.kernel_h, ps.S = st.pool.kernel_w;
    ps.stride_h = st.pool.stride_h, ps.stride_w = st.pool.stride_w;
    if (st.pool.padding == Padding::Explicit) {
      ps.pad_top = st.pool.pad_top, ps.pad_left = st.pool.pad_left;
      ps.pad_bottom = st.pool.pad_bottom, ps.pad_right = st.pool.pad_right;
    } else if (st.pool.padding == Padding::Same) {
      tf_same_padding(ps.H, ps.R, ps.stride_h, ps.pad_top, ps.pad_bottom);
      tf_same_padding(ps.W, ps.S, ps.stride_w, ps.pad_left, ps.pad_right);
    }
  }
  pool2d_finalize(ps);
  return ps;
}

// The dense layer: the int8 graph flattens NHWC, so the weight columns are
// reordered from the float model's (c, h, w) order to (h, w, c).
NodeQ dense_node(const FoldedStep& st, const Shape& s, QParams pin, int input, int qmax) {
  const int C = static_cast<int>(s[1]);
  const int H = s.size() == 4 ? static_cast<int>(s[2]) : 1;
  const int W = s.size() == 4 ? static_cast<int>(s[3]) : 1;
  const int out = static_cast<int>(st.fc_w.size(0)), in = C * H * W;
  ECG_CHECK(st.fc_w.size(1) == in, "quantize: dense layer ", st.node, " takes ", st.fc_w.size(1),
            " inputs, its input tensor has ", in);
  std::vector<float> wp(static_cast<size_t>(out) * in);
  const Tensor wc = st.fc_w.contiguous();
  const float* w = wc.data<float>();
  for (int o = 0; o < out; ++o)
    for (int c = 0; c < C; ++c)
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
          wp[static_cast<size_t>(o) * in + (y * W + x) * C + c] =
              w[static_cast<size_t>(o) * in + (c * H + y) * W + x];
  NodeQ n;
  n.kind = NodeKind::Dense;
  n.name = st.node;
  n.conv = int8::dense_int8_params(in, out);
  QuantizedWeights qw = quantize_weights_per_channel(wp.data(), out, in, qmax);
  n.weights = qw.q;
  n.weight_scale = qw.scale;
  n.weights_f32 = wp;
  const Tensor bc = st.fc_b.contiguous();
  n.bias_f32 = bc.to_vector_f32();
  n.conv.zp_in = pin.zero_point;
  n.conv.bias = quantize_bias(bc.data<float>(), out, pin.scale, qw.scale.data());
  n.conv.requant.assign(out, int8::make_requant(1.0));
  n.conv.output = int8::OutputMode::Int32;
  n.inputs = {input};
  n.output = -1;
  return n;
}

// Step 1: what the calibration set shows of every tensor the folded graph
// writes, in the order it first writes them.
struct CalibrationStats {
  std::map<std::string, Observer> observers;
  std::map<std::string, Shape> shapes;
  std::map<std::string, std::vector<double>> channel_sum;  // NCHW tensors, per channel
  std::map<std::string, int64_t> channel_count;
  std::vector<std::string> order;
  int64_t images = 0;

  void see(const std::string& name, const Tensor& t) {
    if (!shapes.count(name)) order.push_back(name);
    shapes[name] = t.shape();
    Tensor c = t.contiguous();
    observers[name].observe(c.data<float>(), c.numel());
    if (c.dim() != 4) return;
    const int64_t N = c.size(0), C = c.size(1), HW = c.size(2) * c.size(3);
    std::vector<double>& sum = channel_sum[name];
    sum.resize(C, 0.0);
    const float* p = c.data<float>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t ch = 0; ch < C; ++ch) {
        double acc = 0;
        for (int64_t i = 0; i < HW; ++i) acc += p[(n * C + ch) * HW + i];
        sum[ch] += acc;
      }
    channel_count[name] += N * HW;
  }
};

CalibrationStats observe_calibration(FoldedGraph& f, const std::vector<Tensor>& calib) {
  CalibrationStats st;
  for (const Tensor& x : calib) {
    f.forward(x, [&](const std::string& name, const Tensor& t) { st.see(name, t); });
    st.images += x.size(0);
  }
  return st;
}

// Step 2: the quantization parameters of every tensor, and the record of the
// choice the int8 file keeps (q.calibration).
std::map<std::string, QParams> choose_tensor_params(const FoldedGraph& f, CalibrationStats& st,
                                                    const QuantizeOptions& opt,
                                                    nlohmann::json* record) {
  std::map<std::string, QParams> qp;
  nlohmann::json chosen = nlohmann::json::object();
  for (const std::string& name : st.order) {
    Observer& o = st.observers[name];
    CalibMethod m = opt.calib.method;
    QParams p = calibrate(o, opt.calib, nullptr, &m);
    if (name == "input") p = choose_qparams(o.min(), o.max());  // never clip the image
    qp[name] = p;
    chosen[name] = {{"method", calib_method_name(name == "input" ? CalibMethod::MinMax : m)},
                    {"scale", p.scale},
                    {"zero_point", p.zero_point},
                    {"min", o.min()},
                    {"max", o.max()}};
  }
  // Max pooling moves bytes: its output keeps its input's parameters.
  for (const FoldedStep& s : f.steps)
    if (s.kind == NodeKind::MaxPool) {
      qp[s.out] = qp.at(s.inputs[0]);
      chosen[s.out]["scale"] = qp[s.out].scale;
      chosen[s.out]["zero_point"] = qp[s.out].zero_point;
    }
  *record = {{"method", calib_method_name(opt.calib.method)},
             {"images", st.images},
             {"bias_correction", opt.bias_correction},
             {"tensors", chosen}};
  return qp;
}

// Bias correction (QuantizeOptions::bias_correction): the conv's float bias
// minus the mean output shift its rounded weights cause on an input whose
// per-channel means are sum / count.
std::vector<float> corrected_bias(const FoldedConv& c, const QuantizedWeights& w,
                                  const std::vector<double>& sum, int64_t count) {
  std::vector<float> bias = c.b.to_vector_f32();
  const double n = static_cast<double>(std::max<int64_t>(1, count));
  const int K = c.out_channels();
  const int C = static_cast<int>(c.w.size(1));
  const int RS = static_cast<int>(c.w.size(2) * c.w.size(3));
  const float* wf = c.w.data<float>();
  for (int k = 0; k < K; ++k) {
    double shift = 0;
    for (int ch = 0; ch < C; ++ch) {
      double dw = 0;
      for (int i = 0; i < RS; ++i) {
        const size_t j = (static_cast<size_t>(k) * C + ch) * RS + i;
        dw += static_cast<double>(w.scale[k]) * w.q[j] - wf[j];
      }
      shift += dw * (sum[ch] / n);
    }
    bias[k] = static_cast<float>(bias[k] - shift);
  }
  return bias;
}

// Step 3: the int8 graph, one node per folded step; tensors that hold
// storage get ids in the order they are first written (the pre-add conv
// outputs are fused away).
class Int8GraphBuilder {
 public:
  Int8GraphBuilder(Int8Model& q, const CalibrationStats& st,
                   const std::map<std::string, QParams>& qp, const QuantizeOptions& opt)
      : q_(q), st_(st), qp_(qp), opt_(opt) {
    add_tensor("input");
  }

  void add(const FoldedStep& s) {
    switch (s.kind) {
      case NodeKind::Conv:
        return q_.nodes.push_back(s.residual ? residual_conv(s) : plain_conv(s));
      case NodeKind::MaxPool:
      case NodeKind::AvgPool:
        return q_.nodes.push_back(pool(s));
      case NodeKind::Add:
        return q_.nodes.push_back(add_node(s));
      case NodeKind::Dense:
        return q_.nodes.push_back(dense_node(s, st_.shapes.at(s.inputs[0]), qp_.at(s.inputs[0]),
                                             tid_.at(s.inputs[0]), weight_qmax(opt_)));
    }
  }

 private:
  int add_tensor(const std::string& name) {
    const Shape& s = st_.shapes.at(name);
    TensorQ t;
    t.name = name;
    t.N = 1;
    t.C = static_cast<int>(s[1]);
    t.H = s.size() == 4 ? static_cast<int>(s[2]) : 1;
    t.W = s.size() == 4 ? static_cast<int>(s[3]) : 1;
    t.scale = qp_.at(name).scale;
    t.zero_point = qp_.at(name).zero_point;
    tid_[name] = static_cast<int>(q_.tensors.size());
    q_.tensors.push_back(t);
    return tid_[name];
  }

  // The convolution of step s from tensor `in` to tensor `out_q`.
  NodeQ conv_node(const FoldedStep& s, const std::string& in, const std::string& out_q,
                  bool relu) const {
    const FoldedConv& c = s.conv;
    const int K = c.out_channels();
    NodeQ n;
    n.kind = NodeKind::Conv;
    n.name = s.node;
    const QParams pin = qp_.at(in), pout = qp_.at(out_q);
    n.conv.shape = conv_shape(c, st_.shapes.at(in));
    QuantizedWeights w =
        quantize_weights_per_channel(c.w.data<float>(), K, c.w.numel() / K, weight_qmax(opt_));
    n.weights = w.q;
    n.weight_scale = w.scale;
    n.weights_f32 = c.w.to_vector_f32();
    n.bias_f32 = c.b.to_vector_f32();
    n.conv.zp_in = pin.zero_point;
    const std::vector<float> bias =
        opt_.bias_correction && st_.channel_sum.count(in)
            ? corrected_bias(c, w, st_.channel_sum.at(in), st_.channel_count.at(in))
            : n.bias_f32;
    n.conv.bias = quantize_bias(bias.data(), K, pin.scale, w.scale.data());
    n.conv.requant = requant_multipliers(K, pin.scale, w.scale.data(), pout.scale);
    n.conv.zp_out = pout.zero_point;
    n.conv.qmin = relu ? pout.zero_point : -128;
    n.conv.qmax = 127;
    n.inputs = {tid_.at(in)};
    return n;
  }

  NodeQ plain_conv(const FoldedStep& s) {
    NodeQ n = conv_node(s, s.inputs[0], s.out, s.conv.relu);
    n.output = add_tensor(s.out);
    return n;
  }

  // conv2 of a block with the residual add (and ReLU) fused.
  NodeQ residual_conv(const FoldedStep& s) {
    const std::string& res = s.inputs[1];
    NodeQ n = conv_node(s, s.inputs[0], s.pre_add(), false);
    const QParams pc = qp_.at(s.pre_add()), pr = qp_.at(res), po = qp_.at(s.out);
    n.conv.residual = true;
    n.conv.add = int8::make_add_requant(pc.scale, pc.zero_point, pr.scale, pr.zero_point, po.scale,
                                        po.zero_point, s.relu ? po.zero_point : -128, 127);
    n.pre_add_scale = pc.scale;
    n.pre_add_zero_point = pc.zero_point;
    n.inputs.push_back(tid_.at(res));
    n.output = add_tensor(s.out);
    return n;
  }

  NodeQ pool(const FoldedStep& s) {
    NodeQ n;
    n.kind = s.kind;
    n.name = s.node;
    const Pool2dShape ps = pool_shape(s, st_.shapes.at(s.inputs[0]));
    const QParams pin = qp_.at(s.inputs[0]), pout = qp_.at(s.out);
    if (s.kind == NodeKind::MaxPool)
      n.pool = ps;
    else
      n.avg = int8::make_avg_pool_int8(ps, pin.scale, pin.zero_point, pout.scale, pout.zero_point);
    n.inputs = {tid_.at(s.inputs[0])};
    n.output = add_tensor(s.out);
    return n;
  }

  NodeQ add_node(const FoldedStep& s) {
    NodeQ n;
    n.kind = NodeKind::Add;
    n.name = s.node;
    const QParams pa = qp_.at(s.inputs[0]), pb = qp_.at(s.inputs[1]), po = qp_.at(s.out);
    n.add = int8::make_add_requant(pa.scale, pa.zero_point, pb.scale, pb.zero_point, po.scale,
                                   po.zero_point, s.relu ? po.zero_point : -128, 127);
    n.inputs = {tid_.at(s.inputs[0]), tid_.at(s.inputs[1])};
    n.output = add_tensor(s.out);
    return n;
  }

  Int8Model& q_;
  const CalibrationStats& st_;
  const std::map<std::string, QParams>& qp_;
  const QuantizeOptions& opt_;
  std::map<std::string, int> tid_;
};

}  // namespace

Int8Model quantize_model(Model& model, const std::vector<Tensor>& calib,
                         const QuantizeOptions& opt) {
  ECG_CHECK(!calib.empty(), "quantize: no calibration images");
  FoldedGraph f = fold_model(model);
  CalibrationStats stats = observe_calibration(f, calib);
  Int8Model q;
  q.model_name = f.name;
  q.image_size = model.config().image_size;
  q.classes = opt.classes;
  q.preprocessing = opt.preprocessing;
  if (!f.mean.empty()) {  // the runner normalizes its float input the same way
    if (!q.preprocessing.is_object()) q.preprocessing = nlohmann::json::object();
    q.preprocessing["mean"] = f.mean;
    q.preprocessing["std"] = f.std;
  }
  const std::map<std::string, QParams> qp = choose_tensor_params(f, stats, opt, &q.calibration);
  Int8GraphBuilder graph(q, stats, qp, opt);
  for (const FoldedStep& s : f.steps) graph.add(s);
  return q;
}

std::vector<LayerReport> layer_report(Model& model, const Int8Model& q, const Tensor& images) {
  FoldedGraph f = fold_model(model);
  std::map<std::string, Tensor> ref;
  Tensor logits_f =
      f.forward(images, [&](const std::string& n, const Tensor& t) { ref[n] = t.contiguous(); });
  const int N = static_cast<int>(images.size(0));
  Int8Runner runner(q, int8::best_int8_kernel(), N, /*reuse_arena=*/false);
  Tensor logits_q = runner.run(images);
  std::vector<LayerReport> rows;
  for (size_t t = 0; t < q.tensors.size(); ++t) {
    const TensorQ& tq = q.tensors[t];
    auto it = ref.find(tq.name);
    if (it == ref.end()) continue;
    std::vector<int8_t> bytes = runner.tensor_bytes(static_cast<int>(t), N);
    std::vector<float> deq(it->second.numel());
    dequantize_nhwc_to_nchw(bytes.data(), N, tq.C, tq.H, tq.W, {tq.scale, tq.zero_point},
                            deq.data());
    LayerReport r;
    r.tensor = tq.name;
    r.sqnr_db = sqnr_db(it->second.data<float>(), deq.data(), it->second.numel());
    r.cosine = cosine_similarity(it->second.data<float>(), deq.data(), it->second.numel());
    if (q.calibration.contains("tensors") && q.calibration["tensors"].contains(tq.name))
      r.method = q.calibration["tensors"][tq.name].value("method", "");
    rows.push_back(r);
  }
  LayerReport lr;
  lr.tensor = "logits";
  Tensor lf = logits_f.contiguous(), lq = logits_q.contiguous();
  lr.sqnr_db = sqnr_db(lf.data<float>(), lq.data<float>(), lf.numel());
  lr.cosine = cosine_similarity(lf.data<float>(), lq.data<float>(), lf.numel());
  rows.push_back(lr);
  return rows;
}

}  // namespace ecg::quant
