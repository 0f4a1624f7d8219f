#include "quant/quantizer.h"

#include <map>

#include "core/autograd.h"
#include "quant/int8_runner.h"
#include "quant/quantize.h"

namespace ecg::quant {

namespace {

int weight_qmax(const QuantizeOptions& opt) {
  ECG_CHECK(opt.weight_bits == 7 || opt.weight_bits == 8, "quantize: weight bits ", opt.weight_bits,
            " (expected 7 or 8)");
  return (1 << (opt.weight_bits - 1)) - 1;
}

// A convolution with its BatchNorm folded in (float, OIHW).
struct FoldedConv {
  std::string name;
  Conv2dConfig cfg;
  Tensor w, b;  // folded
  bool relu = false;

  Tensor forward(const Tensor& x) const {
    Conv2dOptions o;
    o.stride_h = o.stride_w = cfg.stride;
    o.padding = cfg.padding;
    Tensor y = conv2d(x, w, b, o);
    return relu ? ecg::relu(y) : y;
  }
};

FoldedConv fold(const std::string& name, Conv2d& conv, BatchNorm* bn) {
  FoldedConv f;
  f.name = name;
  f.cfg = conv.config();
  f.w = conv.weight().detach().clone();
  f.b = conv.bias() ? conv.bias()->detach().clone() : Tensor::zeros({f.cfg.out});
  if (bn) {
    fold_batch_norm(f.cfg.out, f.w.numel() / f.cfg.out, f.w.data<float>(), f.b.data<float>(),
                    bn->gamma().data<float>(), bn->beta().data<float>(),
                    bn->running_mean().data<float>(), bn->running_var().data<float>(),
                    static_cast<float>(bn->eps()));
    f.relu = bn->fuses_relu();
  }
  return f;
}

struct Block {
  FoldedConv conv1, conv2;
  bool project = false;
  FoldedConv shortcut;
};

// The float ResNet with BN folded, and the names of the tensors the int8
// graph quantizes, in execution order.
struct FoldedResNet {
  FoldedConv stem;
  std::vector<Block> blocks;
  Pool2dOptions pool;
  Tensor fc_w, fc_b;

  // Runs the float graph; calls see(name, tensor) at every quantized tensor.
  template <class See>
  Tensor forward(const Tensor& x, See see) const {
    NoGradGuard g;
    see("input", x);
    Tensor h = stem.forward(x);
    see(stem.name, h);
    for (const Block& b : blocks) {
      Tensor a = b.conv1.forward(h);
      see(b.conv1.name, a);
      Tensor c = b.conv2.forward(a);
      see(b.conv2.name + ".pre_add", c);
      Tensor s = h;
      if (b.project) {
        s = b.shortcut.forward(h);
        see(b.shortcut.name, s);
      }
      h = relu(add(s, c));
      see(b.conv2.name + ".out", h);
    }
    Tensor p = avg_pool2d(h, pool);
    see("head_pool", p);
    return linear(flatten(p), fc_w, fc_b);
  }
};

FoldedResNet fold_resnet(Model& m) {
  FoldedResNet r;
  auto& layers = m.layers();
  ECG_CHECK(m.config().name.rfind("resnet", 0) == 0, "quantize: model ", m.config().name,
            " is not supported yet (the int8 graph covers the ResNet-(9n+2) family; AlexNet's "
            "ReLU-before-BatchNorm order needs BN folded into the next layer, not implemented)");
  size_t i = 0;
  auto next = [&]() -> ModulePtr {
    ECG_CHECK(i < layers.size(), "quantize: unexpected end of model");
    return layers[i++];
  };
  auto stem_conv = std::dynamic_pointer_cast<Conv2d>(next());
  auto stem_bn = std::dynamic_pointer_cast<BatchNorm>(next());
  ECG_CHECK(stem_conv && stem_bn, "quantize: ResNet stem not found");
  r.stem = fold("stem", *stem_conv, stem_bn.get());
  while (i < layers.size()) {
    auto blk = std::dynamic_pointer_cast<ResidualBlock>(layers[i]);
    if (!blk) break;
    ++i;
    Block b;
    b.conv1 = fold(blk->name() + ".conv1", *blk->conv1, blk->bn1.get());
    b.conv2 = fold(blk->name() + ".conv2", *blk->conv2, blk->bn2.get());
    b.conv2.relu = false;  // the ReLU comes after the residual add
    if (blk->shortcut) {
      b.project = true;
      b.shortcut = fold(blk->name() + ".shortcut", *blk->shortcut, nullptr);
    }
    r.blocks.push_back(b);
  }
  auto pool = std::dynamic_pointer_cast<AvgPool2d>(next());
  ECG_CHECK(pool, "quantize: ResNet head pool not found");
  r.pool = pool->options();
  next();  // flatten
  auto fc = std::dynamic_pointer_cast<Linear>(next());
  ECG_CHECK(fc, "quantize: ResNet dense head not found");
  r.fc_w = fc->weight().detach();
  r.fc_b = fc->bias().detach();
  return r;
}

Conv2dShape conv_shape(const FoldedConv& f, const Shape& in_nchw) {
  Conv2dShape s;
  s.N = 1;
  s.C = static_cast<int>(in_nchw[1]);
  s.H = static_cast<int>(in_nchw[2]);
  s.W = static_cast<int>(in_nchw[3]);
  s.K = f.cfg.out;
  s.R = s.S = f.cfg.kernel;
  s.stride_h = s.stride_w = f.cfg.stride;
  if (f.cfg.padding == Padding::Same) {
    tf_same_padding(s.H, s.R, s.stride_h, s.pad_top, s.pad_bottom);
    tf_same_padding(s.W, s.S, s.stride_w, s.pad_left, s.pad_right);
  }
  conv2d_finalize(s);
  return s;
}

}  // namespace

Int8Model quantize_model(Model& model, const std::vector<Tensor>& calib,
                         const QuantizeOptions& opt) {
  ECG_CHECK(!calib.empty(), "quantize: no calibration images");
  model.eval();
  FoldedResNet f = fold_resnet(model);
  // 1. Observe every quantized tensor over the calibration set.
  std::map<std::string, Observer> obs;
  std::map<std::string, Shape> shapes;
  std::map<std::string, std::vector<double>> channel_sum;  // NCHW tensors, per channel
  std::map<std::string, int64_t> channel_count;
  std::vector<std::string> order;
  for (const Tensor& x : calib) {
    f.forward(x, [&](const std::string& name, const Tensor& t) {
      if (!shapes.count(name)) order.push_back(name);
      shapes[name] = t.shape();
      Tensor c = t.contiguous();
      obs[name].observe(c.data<float>(), c.numel());
      if (c.dim() == 4) {
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
    });
  }
  // 2. Choose parameters per tensor.
  Int8Model q;
  q.model_name = model.config().name;
  q.image_size = model.config().image_size;
  q.classes = opt.classes;
  q.preprocessing = opt.preprocessing;
  std::map<std::string, QParams> qp;
  nlohmann::json chosen = nlohmann::json::object();
  for (const std::string& name : order) {
    CalibMethod m = opt.calib.method;
    QParams p = calibrate(obs[name], opt.calib, nullptr, &m);
    if (name == "input")
      p = choose_qparams(obs[name].min(), obs[name].max());  // never clip the image
    qp[name] = p;
    chosen[name] = {{"method", calib_method_name(name == "input" ? CalibMethod::MinMax : m)},
                    {"scale", p.scale},
                    {"zero_point", p.zero_point},
                    {"min", obs[name].min()},
                    {"max", obs[name].max()}};
  }
  int64_t images = 0;
  for (const Tensor& x : calib) images += x.size(0);
  q.calibration = {{"method", calib_method_name(opt.calib.method)},
                   {"images", images},
                   {"bias_correction", opt.bias_correction},
                   {"tensors", chosen}};
  // 3. Tensors that hold storage (the pre-add conv outputs are fused away).
  std::map<std::string, int> tid;
  auto add_tensor = [&](const std::string& name) {
    const Shape& s = shapes.at(name);
    TensorQ t;
    t.name = name;
    t.N = 1;
    t.C = static_cast<int>(s[1]);
    t.H = s.size() == 4 ? static_cast<int>(s[2]) : 1;
    t.W = s.size() == 4 ? static_cast<int>(s[3]) : 1;
    t.scale = qp.at(name).scale;
    t.zero_point = qp.at(name).zero_point;
    tid[name] = static_cast<int>(q.tensors.size());
    q.tensors.push_back(t);
    return tid[name];
  };
  add_tensor("input");
  auto conv_node = [&](const FoldedConv& c, const std::string& in, const std::string& out_q,
                       bool relu) {
    NodeQ n;
    n.kind = NodeKind::Conv;
    n.name = c.name;
    const QParams pin = qp.at(in), pout = qp.at(out_q);
    n.conv.shape = conv_shape(c, shapes.at(in));
    QuantizedWeights w = quantize_weights_per_channel(c.w.data<float>(), c.cfg.out,
                                                      c.w.numel() / c.cfg.out, weight_qmax(opt));
    n.weights = w.q;
    n.weight_scale = w.scale;
    n.weights_f32 = c.w.to_vector_f32();
    n.bias_f32 = c.b.to_vector_f32();
    n.conv.zp_in = pin.zero_point;
    std::vector<float> bias = n.bias_f32;
    if (opt.bias_correction && channel_sum.count(in)) {
      const std::vector<double>& sum = channel_sum.at(in);
      const double count = static_cast<double>(std::max<int64_t>(1, channel_count.at(in)));
      const int C = c.cfg.in, RS = c.cfg.kernel * c.cfg.kernel;
      const float* wf = c.w.data<float>();
      for (int k = 0; k < c.cfg.out; ++k) {
        double shift = 0;
        for (int ch = 0; ch < C; ++ch) {
          double dw = 0;
          for (int i = 0; i < RS; ++i) {
            const size_t j = (static_cast<size_t>(k) * C + ch) * RS + i;
            dw += static_cast<double>(w.scale[k]) * w.q[j] - wf[j];
          }
          shift += dw * (sum[ch] / count);
        }
        bias[k] = static_cast<float>(bias[k] - shift);
      }
    }
    n.conv.bias = quantize_bias(bias.data(), c.cfg.out, pin.scale, w.scale.data());
    n.conv.requant = requant_multipliers(c.cfg.out, pin.scale, w.scale.data(), pout.scale);
    n.conv.zp_out = pout.zero_point;
    n.conv.qmin = relu ? pout.zero_point : -128;
    n.conv.qmax = 127;
    n.inputs = {tid.at(in)};
    return n;
  };
  {
    NodeQ n = conv_node(f.stem, "input", "stem", true);
    n.output = add_tensor("stem");
    q.nodes.push_back(n);
  }
  std::string h = "stem";
  for (const Block& b : f.blocks) {
    NodeQ c1 = conv_node(b.conv1, h, b.conv1.name, true);
    c1.output = add_tensor(b.conv1.name);
    q.nodes.push_back(c1);
    std::string res = h;
    if (b.project) {
      NodeQ sc = conv_node(b.shortcut, h, b.shortcut.name, false);
      sc.output = add_tensor(b.shortcut.name);
      q.nodes.push_back(sc);
      res = b.shortcut.name;
    }
    const std::string pre = b.conv2.name + ".pre_add", out = b.conv2.name + ".out";
    NodeQ c2 = conv_node(b.conv2, b.conv1.name, pre, false);
    const QParams pc = qp.at(pre), pr = qp.at(res), po = qp.at(out);
    c2.conv.residual = true;
    c2.conv.add = int8::make_add_requant(pc.scale, pc.zero_point, pr.scale, pr.zero_point, po.scale,
                                         po.zero_point, po.zero_point, 127);
    c2.pre_add_scale = pc.scale;
    c2.pre_add_zero_point = pc.zero_point;
    c2.inputs.push_back(tid.at(res));
    c2.output = add_tensor(out);
    q.nodes.push_back(c2);
    h = out;
  }
  {
    NodeQ n;
    n.kind = NodeKind::AvgPool;
    n.name = "head_pool";
    const Shape& s = shapes.at(h);
    Pool2dShape ps;
    ps.C = static_cast<int>(s[1]);
    ps.H = static_cast<int>(s[2]);
    ps.W = static_cast<int>(s[3]);
    ps.R = f.pool.kernel_h, ps.S = f.pool.kernel_w;
    ps.stride_h = f.pool.stride_h, ps.stride_w = f.pool.stride_w;
    pool2d_finalize(ps);
    const QParams pin = qp.at(h), pout = qp.at("head_pool");
    n.avg = int8::make_avg_pool_int8(ps, pin.scale, pin.zero_point, pout.scale, pout.zero_point);
    n.inputs = {tid.at(h)};
    n.output = add_tensor("head_pool");
    q.nodes.push_back(n);
  }
  {
    // Dense: the int8 graph flattens NHWC, so reorder the weight columns from
    // the float model's (c, h, w) order to (h, w, c).
    const Shape& s = shapes.at("head_pool");
    const int C = static_cast<int>(s[1]), H = static_cast<int>(s[2]), W = static_cast<int>(s[3]);
    const int out = static_cast<int>(f.fc_w.size(0)), in = C * H * W;
    std::vector<float> wp(static_cast<size_t>(out) * in);
    const float* w = f.fc_w.data<float>();
    for (int o = 0; o < out; ++o)
      for (int c = 0; c < C; ++c)
        for (int y = 0; y < H; ++y)
          for (int x = 0; x < W; ++x)
            wp[static_cast<size_t>(o) * in + (y * W + x) * C + c] =
                w[static_cast<size_t>(o) * in + (c * H + y) * W + x];
    NodeQ n;
    n.kind = NodeKind::Dense;
    n.name = "fc";
    n.conv = int8::dense_int8_params(in, out);
    QuantizedWeights qw = quantize_weights_per_channel(wp.data(), out, in, weight_qmax(opt));
    n.weights = qw.q;
    n.weight_scale = qw.scale;
    n.weights_f32 = wp;
    n.bias_f32 = f.fc_b.to_vector_f32();
    const QParams pin = qp.at("head_pool");
    n.conv.zp_in = pin.zero_point;
    n.conv.bias = quantize_bias(f.fc_b.data<float>(), out, pin.scale, qw.scale.data());
    n.conv.requant.assign(out, int8::make_requant(1.0));
    n.conv.output = int8::OutputMode::Int32;
    n.inputs = {tid.at("head_pool")};
    n.output = -1;
    q.nodes.push_back(n);
  }
  return q;
}

std::vector<LayerReport> layer_report(Model& model, const Int8Model& q, const Tensor& images) {
  model.eval();
  FoldedResNet f = fold_resnet(model);
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
