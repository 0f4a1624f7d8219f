// Float-fallback layers and the quantizer's accuracy reports: a layer run in
// float matches the float computation on its dequantized input, the model
// file keeps float layers (and still reads version 1), the fallback picks the
// layer that breaks accuracy, and the stability report calibrates on three
// disjoint subsets.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/autograd.h"
#include "quant/int8_runner.h"
#include "quant/quantize.h"
#include "quant/reports.h"
#include "tests/quant/random_resnet.h"
#include "train/trainer.h"

namespace ecg {
namespace {

namespace fs = std::filesystem;

std::string tmp(const std::string& name) {
  return testing::quant_tmp("_rep_", name);
}

using testing::random_resnet;

quant::QuantizeOptions options(quant::CalibMethod method = quant::CalibMethod::Auto) {
  return testing::four_class_options(method);
}

quant::Int8Model quantize(Model& m, int size = 32) {
  return testing::quantize_on_random(m, size);
}

// Loading `path` throws an Error that names `needle`; `loaded` is the
// failure when it loads.
void expect_load_error(const std::string& path, const std::string& needle, const char* loaded) {
  try {
    quant::load_int8_model(path);
    ADD_FAILURE() << loaded;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

std::vector<std::string> weighted_layers(const quant::Int8Model& q) {
  std::vector<std::string> r;
  for (const auto& n : q.nodes)
    if (n.kind == quant::NodeKind::Conv || n.kind == quant::NodeKind::Dense) r.push_back(n.name);
  return r;
}

// The float layer recomputed in double from the int8 bytes around it:
// dequantize input (and residual), convolve with the folded float weights,
// quantize with the output tensor's parameters and the node's clamp.
std::vector<int8_t> float_layer_reference(const quant::Int8Model& q, const quant::NodeQ& n,
                                          const std::vector<int8_t>& x,
                                          const std::vector<int8_t>& res, int N) {
  const Conv2dShape& s = n.conv.shape;
  const quant::TensorQ& ti = q.tensors[n.inputs[0]];
  const quant::TensorQ& to = q.tensors[n.output];
  const quant::QParams pin{ti.scale, ti.zero_point}, pout{to.scale, to.zero_point};
  std::vector<int8_t> y(static_cast<size_t>(N) * s.P * s.Q * s.K);
  for (int b = 0; b < N; ++b)
    for (int p = 0; p < s.P; ++p)
      for (int v = 0; v < s.Q; ++v)
        for (int k = 0; k < s.K; ++k) {
          double acc = n.bias_f32[k];
          for (int c = 0; c < s.C; ++c)
            for (int r = 0; r < s.R; ++r)
              for (int t = 0; t < s.S; ++t) {
                const int h = p * s.stride_h - s.pad_top + r, w = v * s.stride_w - s.pad_left + t;
                if (h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
                acc += static_cast<double>(n.weights_f32[((k * s.C + c) * s.R + r) * s.S + t]) *
                       quant::dequantize_value(x[((b * s.H + h) * s.W + w) * s.C + c], pin);
              }
          const size_t o = ((static_cast<size_t>(b) * s.P + p) * s.Q + v) * s.K + k;
          int lo = n.conv.qmin, hi = n.conv.qmax;
          if (n.conv.residual) {
            const quant::TensorQ& tr = q.tensors[n.inputs[1]];
            acc += quant::dequantize_value(res[o], {tr.scale, tr.zero_point});
            lo = n.conv.add.qmin, hi = n.conv.add.qmax;
          }
          const double qv = std::nearbyint(acc / pout.scale) + pout.zero_point;
          y[o] = static_cast<int8_t>(std::min<double>(hi, std::max<double>(lo, qv)));
        }
  return y;
}

TEST(Int8FloatFallback, FloatLayerMatchesTheFloatComputationWithinOneStep) {
  auto m = random_resnet();
  quant::Int8Model q = quantize(*m);
  const int N = 1;
  Tensor x = Tensor::uniform({N, 3, 32, 32}, 9, 0.0, 1.0);
  int layers = 0;
  for (const std::string& name : weighted_layers(q)) {
    quant::Int8Model qf = quant::with_float_nodes(q, {name});
    quant::Int8Runner run(qf, int8::best_int8_kernel(), N, /*reuse_arena=*/false);
    Tensor logits = run.run(x);
    const quant::NodeQ& n = *std::find_if(qf.nodes.begin(), qf.nodes.end(),
                                          [&](const quant::NodeQ& v) { return v.name == name; });
    ASSERT_TRUE(n.run_float);
    // The float weights are the ones the int8 weights were rounded from.
    const int64_t per = static_cast<int64_t>(n.weights_f32.size()) / n.conv.shape.K;
    for (int k = 0; k < n.conv.shape.K; ++k)
      for (int64_t i = 0; i < per; ++i) {
        const float s = n.weight_scale[k];
        ASSERT_LE(std::fabs(n.weights_f32[k * per + i] - s * n.weights[k * per + i]),
                  0.5f * s * (1 + 1e-5f))
            << name << " channel " << k;
      }
    std::vector<int8_t> in = run.tensor_bytes(n.inputs[0], N);
    if (n.kind == quant::NodeKind::Dense) {
      // Dense runs in double in the runner too: only the final float rounding differs.
      const quant::TensorQ& ti = q.tensors[n.inputs[0]];
      const int64_t C = n.conv.shape.C;
      for (int b = 0; b < N; ++b)
        for (int k = 0; k < n.conv.shape.K; ++k) {
          double acc = n.bias_f32[k];
          for (int64_t i = 0; i < C; ++i)
            acc += static_cast<double>(n.weights_f32[k * C + i]) *
                   quant::dequantize_value(in[b * C + i], {ti.scale, ti.zero_point});
          EXPECT_NEAR(logits.at({b, k}), acc, 1e-5 * (1 + std::fabs(acc))) << name;
        }
      ++layers;
      continue;
    }
    std::vector<int8_t> res;
    if (n.conv.residual) res = run.tensor_bytes(n.inputs[1], N);
    std::vector<int8_t> want = float_layer_reference(qf, n, in, res, N);
    std::vector<int8_t> got = run.tensor_bytes(n.output, N);
    ASSERT_EQ(got.size(), want.size());
    // Tolerance: the float conv sums in float32 in its own order, the
    // reference in double, so an output within float rounding of a half-step
    // boundary may land one step away; nothing may be further.
    int64_t off_by_one = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const int d = std::abs(int(got[i]) - int(want[i]));
      ASSERT_LE(d, 1) << name << " at " << i << ": " << int(got[i]) << " vs " << int(want[i]);
      off_by_one += d;
    }
    EXPECT_LE(off_by_one * 100, static_cast<int64_t>(got.size()))
        << name << ": " << off_by_one << " of " << got.size() << " outputs one step away";
    ++layers;
  }
  EXPECT_EQ(layers, 11);  // ResNet-11: stem, 3 x (conv1, conv2, shortcut), fc
}

TEST(Int8FloatFallback, AllLayersInFloatTrackFloatBetterThanInt8) {
  auto m = random_resnet();
  quant::Int8Model q = quantize(*m);
  quant::Int8Model qf = quant::with_float_nodes(q, weighted_layers(q));
  EXPECT_EQ(qf.float_nodes().size(), 11u);
  Tensor x = Tensor::uniform({4, 3, 32, 32}, 10, 0.0, 1.0);
  Tensor lf;
  {
    NoGradGuard g;
    lf = (*m)(x).contiguous();
  }
  quant::Int8Runner ri(q, int8::best_int8_kernel(), 4), rf(qf, int8::best_int8_kernel(), 4);
  Tensor li = ri.run(x).contiguous(), lff = rf.run(x).contiguous();
  const double s_int8 = quant::sqnr_db(lf.data<float>(), li.data<float>(), lf.numel());
  const double s_float = quant::sqnr_db(lf.data<float>(), lff.data<float>(), lf.numel());
  std::printf("logits SQNR against float: int8 %.2f dB, float layers on int8 activations %.2f dB\n",
              s_int8, s_float);
  // Only the activation rounding is left: weight rounding must have cost something.
  EXPECT_GT(s_float, s_int8);
}

TEST(Int8FloatFallback, FileKeepsFloatLayersAndReadsVersionsOneAndTwo) {
  auto m = random_resnet();
  quant::Int8Model q = quantize(*m);
  quant::Int8Model qf = quant::with_float_nodes(q, {"stem_conv", "fc"});
  const std::string path = tmp("f.int8");
  quant::save_int8_model(path, qf);
  quant::Int8Model l = quant::load_int8_model(path);
  EXPECT_EQ(l.float_nodes(), (std::vector<std::string>{"stem_conv", "fc"}));
  EXPECT_EQ(l.nodes[0].weights_f32, qf.nodes[0].weights_f32);
  EXPECT_EQ(l.nodes.back().bias_f32, qf.nodes.back().bias_f32);
  Tensor x = Tensor::uniform({2, 3, 32, 32}, 9, 0.0, 1.0);
  quant::Int8Runner a(qf, int8::Int8Kernel::Ref, 2), b(l, int8::Int8Kernel::Ref, 2);
  EXPECT_EQ(a.run(x).to_vector_f32(), b.run(x).to_vector_f32());
  // A loaded int8 node has no float weights: asking for it in float is an error.
  EXPECT_THROW(quant::with_float_nodes(l, {"stage0.block0.conv1"}), Error);
  EXPECT_THROW(quant::with_float_nodes(q, {"no_such_layer"}), Error);
  EXPECT_THROW(quant::with_float_nodes(q, {"head_pool"}), Error);

  auto set_version = [](const std::string& file, uint32_t v) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    f.write(reinterpret_cast<const char*>(&v), 4);
  };
  // Versions 1 (before float layers) and 2 (every integer stored) still load
  // and run the same, with the same integers as version 3 derives.
  const std::string v1 = tmp("v1.int8"), v2 = tmp("v2.int8"), v2f = tmp("v2f.int8");
  quant::save_int8_model(v1, q, 1);
  quant::save_int8_model(v2, q, 2);
  quant::save_int8_model(v2f, qf, 2);
  quant::Int8Model l1 = quant::load_int8_model(v1), l2 = quant::load_int8_model(v2),
                   l2f = quant::load_int8_model(v2f);
  quant::Int8Runner c(q, int8::Int8Kernel::Ref, 2), d(l1, int8::Int8Kernel::Ref, 2),
      e2(l2, int8::Int8Kernel::Ref, 2), f2(l2f, int8::Int8Kernel::Ref, 2);
  const std::vector<float> lq = c.run(x).to_vector_f32();
  EXPECT_EQ(lq, d.run(x).to_vector_f32());
  EXPECT_EQ(lq, e2.run(x).to_vector_f32());
  EXPECT_EQ(a.run(x).to_vector_f32(), f2.run(x).to_vector_f32());
  EXPECT_EQ(l2f.float_nodes(), (std::vector<std::string>{"stem_conv", "fc"}));
  EXPECT_LT(fs::file_size(tmp("f.int8")), fs::file_size(v2f));
  // A float node in a version 1 file (written or relabelled), or a version
  // from the future: clear errors.
  EXPECT_THROW(quant::save_int8_model(v1, qf, 1), Error);
  set_version(v2f, 1);
  expect_load_error(v2f, "float node", "a float node in a version 1 file loaded");
  set_version(path, 4);
  expect_load_error(path, "version 4", "version 4 loaded");
  fs::remove(path);
  fs::remove(v1);
  fs::remove(v2);
  fs::remove(v2f);
}

// A ResNet-11 trained on the quadrant task at 32 px, and its images.
struct Trained {
  std::shared_ptr<Model> model;
  quant::LabeledImages set;
};
// The quadrant task of the trainer tests: the class decides which quadrant of
// a dim image is bright.
Trained train_quadrants() {
  const int n = 64, S = 32;
  Tensor x = Tensor::uniform({n, 3, S, S}, 21, 0.0, 0.2);
  std::vector<int> labels(n);
  float* p = x.data<float>();
  for (int i = 0; i < n; ++i) {
    labels[i] = i % 4;
    const int qy = labels[i] / 2, qx = labels[i] % 2;
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < S / 2; ++y)
        for (int v = 0; v < S / 2; ++v)
          p[((i * 3 + c) * S + qy * S / 2 + y) * S + qx * S / 2 + v] += 0.8f;
  }
  TensorBatchSource data(x, labels, 8, true, 3);
  ModelConfig c;
  c.image_size = S;
  Trained t;
  t.model = build_model(c);
  TrainOptions o;
  o.out_dir = tmp("train");
  o.epochs = 3;
  o.progress = false;
  o.schedule = "constant";
  o.precise_bn_batches = 8;  // evaluate on settled BN statistics, not momentum-0.99 stale ones
  train(*t.model, data, nullptr, o, false);
  t.model->eval();
  fs::remove_all(o.out_dir);
  t.set.images = x;
  t.set.labels = labels;
  return t;
}

TEST(Int8FloatFallback, FallbackPicksTheLayerThatBreaksAccuracy) {
  Trained t = train_quadrants();
  quant::FloatReference ref = quant::float_reference(*t.model, t.set, 64);
  ASSERT_GE(ref.accuracy, 0.9) << "the quadrant task did not train";
  std::vector<Tensor> calib = {t.set.images.slice(0, 0, 32).contiguous(),
                               t.set.images.slice(0, 32, 64).contiguous()};
  quant::Int8Model q = quant::quantize_model(*t.model, calib, options());
  // An undamaged model within a generous budget keeps every layer int8.
  quant::SensitivityReport s0 = quant::layer_sensitivity(q, t.set, ref, 64);
  EXPECT_EQ(s0.rows.size(), 11u);
  quant::FallbackResult f0 = quant::fallback_to_budget(q, s0, t.set, ref, 100.0, 64);
  EXPECT_TRUE(f0.budget_met);
  EXPECT_TRUE(f0.layers.empty());
  EXPECT_TRUE(f0.tried.empty());
  EXPECT_TRUE(f0.model.float_nodes().empty());
  const double undamaged_drop = 100.0 * (ref.accuracy - s0.int8.accuracy);

  // Break one layer's int8 weights (sign flipped; its float weights intact):
  // that layer alone in float repairs the model, so it must rank first and be
  // the first to fall back.
  const std::string broken = "stage1.block0.conv1";
  auto it = std::find_if(q.nodes.begin(), q.nodes.end(),
                         [&](const quant::NodeQ& n) { return n.name == broken; });
  ASSERT_NE(it, q.nodes.end());
  for (int8_t& w : it->weights) w = static_cast<int8_t>(-w);
  quant::SensitivityReport s = quant::layer_sensitivity(q, t.set, ref, 64);
  ASSERT_LT(s.int8.accuracy, ref.accuracy - 0.1) << "the damage did not hurt accuracy";
  EXPECT_EQ(s.rows[0].layer, broken);
  EXPECT_NEAR(s.rows[0].with_float.accuracy, s0.int8.accuracy, 2.0 / 64)
      << "float " << broken << " should repair the model to about its undamaged accuracy";
  const double budget = std::max(0.5, undamaged_drop + 2 * 100.0 / 64);
  quant::FallbackResult f = quant::fallback_to_budget(q, s, t.set, ref, budget, 64);
  EXPECT_TRUE(f.budget_met);
  ASSERT_FALSE(f.layers.empty());
  EXPECT_EQ(f.layers[0], broken);
  EXPECT_EQ(f.path.size(), f.tried.size() + 1);
  EXPECT_EQ(f.layers, f.tried);  // budget met: every layer tried is kept
  EXPECT_LE(100.0 * (ref.accuracy - f.path.back().accuracy), budget + 1e-9);
  EXPECT_EQ(f.model.float_nodes(), f.layers);
  // An unreachable budget tries every layer but keeps only the shortest
  // prefix with the best accuracy, never the whole model in float.
  quant::FloatReference unreachable = ref;
  unreachable.accuracy = 2.0;
  quant::FallbackResult fu = quant::fallback_to_budget(q, s, t.set, unreachable, 0.5, 64);
  EXPECT_FALSE(fu.budget_met);
  EXPECT_EQ(fu.tried.size(), 11u);
  ASSERT_FALSE(fu.layers.empty());
  EXPECT_EQ(fu.layers[0], broken);
  double best = 0;
  for (const auto& e : fu.path) best = std::max(best, e.accuracy);
  EXPECT_EQ(fu.path[fu.layers.size()].accuracy, best);
  for (size_t i = 0; i < fu.layers.size(); ++i) EXPECT_LT(fu.path[i].accuracy, best);
  EXPECT_EQ(fu.model.float_nodes(), fu.layers);
  // The fallback model runs from a file as it ran in memory.
  const std::string path = tmp("fb.int8");
  quant::save_int8_model(path, f.model);
  quant::Int8Model l = quant::load_int8_model(path);
  quant::Int8Eval le = quant::evaluate_int8(l, t.set, ref, 64);
  EXPECT_EQ(le.accuracy, f.path.back().accuracy);
  fs::remove(path);
}

TEST(Int8BiasCorrection, RemovesTheMeanShiftOfWeightRoundingOnAFlatPage) {
  // A page that is mostly a flat light background: each stem output is a
  // small difference of large weights times about the same level, so weight
  // rounding shifts its mean. Bias correction must cut the stem's error, and
  // change nothing else about the weights.
  auto m = random_resnet();
  Tensor page = Tensor::uniform({8, 3, 32, 32}, 41, 0.85, 0.9);
  quant::QuantizeOptions on = options(quant::CalibMethod::MinMax), off = on;
  off.bias_correction = false;
  quant::Int8Model qa = quant::quantize_model(*m, {page}, on);
  quant::Int8Model qb = quant::quantize_model(*m, {page}, off);
  ASSERT_EQ(qa.nodes.size(), qb.nodes.size());
  for (size_t i = 0; i < qa.nodes.size(); ++i) EXPECT_EQ(qa.nodes[i].weights, qb.nodes[i].weights);
  EXPECT_NE(qa.nodes[0].conv.bias, qb.nodes[0].conv.bias);
  auto stem_sqnr = [&](const quant::Int8Model& q) {
    for (const auto& r : quant::layer_report(*m, q, page))
      if (r.tensor == "stem_conv") return r.sqnr_db;
    return -1.0;
  };
  const double with = stem_sqnr(qa), without = stem_sqnr(qb);
  std::printf("stem SQNR on a flat page: %.2f dB with bias correction, %.2f dB without\n", with,
              without);
  EXPECT_GT(with, without);
  EXPECT_EQ(qa.calibration["bias_correction"], true);
}

TEST(Int8Arena, InPlaceResidualPlanIsSmallerAndRunsBitExactly) {
  auto m = random_resnet(40);  // 40 px: odd sizes after the stride-2 stages
  quant::Int8Model q = quantize(*m, 40);
  const int B = 2;
  const quant::ArenaPlan sep = quant::plan_arena(q, B, true, false);
  const quant::ArenaPlan inp = quant::plan_arena(q, B, true, true);
  std::printf("arena at 40 px, batch 2: %lld bytes in place, %lld without\n",
              static_cast<long long>(inp.bytes), static_cast<long long>(sep.bytes));
  EXPECT_LT(inp.bytes, sep.bytes);
  // Only a residual and the output of the conv that adds it may share bytes while alive.
  const int nt = static_cast<int>(q.tensors.size());
  std::vector<int> first(nt, -1), last(nt, -1);
  for (int i = 0; i < static_cast<int>(q.nodes.size()); ++i) {
    if (q.nodes[i].output >= 0) first[q.nodes[i].output] = i;
    for (int t : q.nodes[i].inputs) last[t] = std::max(last[t], i);
  }
  auto in_place_pair = [&](int a, int b) {
    for (const auto& n : q.nodes)
      if (n.conv.residual && n.inputs.size() == 2 &&
          ((n.inputs[1] == a && n.output == b) || (n.inputs[1] == b && n.output == a)))
        return true;
    return false;
  };
  int shared = 0;
  for (int a = 0; a < nt; ++a)
    for (int b = a + 1; b < nt; ++b) {
      const int64_t sa = q.tensors[a].bytes() * B, sb = q.tensors[b].bytes() * B;
      const bool live =
          first[a] <= std::max(last[b], first[b]) && first[b] <= std::max(last[a], first[a]);
      const bool overlap = inp.offset[a] < inp.offset[b] + sb && inp.offset[b] < inp.offset[a] + sa;
      if (live && overlap) {
        EXPECT_TRUE(in_place_pair(a, b)) << q.tensors[a].name << " / " << q.tensors[b].name;
        ++shared;
      }
    }
  EXPECT_EQ(shared, 3);  // one per block of ResNet-11
  // Every kernel, and a float-fallback residual conv, give the reference's bytes in place.
  Tensor x = Tensor::uniform({B, 3, 40, 40}, 12, 0.0, 1.0);
  quant::Int8Runner ref(q, int8::Int8Kernel::Ref, B, /*reuse_arena=*/false);
  const std::vector<float> want = ref.run(x).to_vector_f32();
  for (auto k : {int8::Int8Kernel::Ref, int8::Int8Kernel::Generic, int8::Int8Kernel::Avx2,
                 int8::Int8Kernel::AvxVnni, int8::Int8Kernel::Avx512Vnni, int8::Int8Kernel::Neon,
                 int8::Int8Kernel::NeonDot}) {
    if (!int8::int8_kernel_supported(k)) continue;
    quant::Int8Runner r(q, k, B, true, quant::RowTilingOptions::off());
    EXPECT_EQ(r.plan().bytes, inp.bytes);
    EXPECT_EQ(r.run(x).to_vector_f32(), want) << int8::int8_kernel_name(k);
    // The default runner adds row tiling (quant/row_tiling.h) where it pays.
    quant::Int8Runner rt(q, k, B);
    EXPECT_EQ(rt.plan().bytes,
              quant::plan_arena(q, B, true, true, quant::RowTilingOptions::per_thread()).bytes);
    EXPECT_EQ(rt.run(x).to_vector_f32(), want) << int8::int8_kernel_name(k) << ", row tiling";
  }
  quant::Int8Model qf = quant::with_float_nodes(q, {"stage0.block0.conv2"});
  quant::Int8Runner fa(qf, int8::best_int8_kernel(), B, true, quant::RowTilingOptions::off()),
      fb(qf, int8::best_int8_kernel(), B, false), fc(qf, int8::best_int8_kernel(), B);
  EXPECT_EQ(fa.run(x).to_vector_f32(), fb.run(x).to_vector_f32());
  EXPECT_EQ(fc.run(x).to_vector_f32(), fb.run(x).to_vector_f32());
}

TEST(Int8Stability, CalibratesOnThreeDisjointClassBalancedSubsets) {
  auto m = random_resnet();
  quant::LabeledImages calib;
  calib.images = Tensor::uniform({12, 3, 32, 32}, 31, 0.0, 1.0);
  calib.labels = {0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3};
  quant::LabeledImages eval;
  eval.images = Tensor::uniform({8, 3, 32, 32}, 32, 0.0, 1.0);
  eval.labels = {0, 1, 2, 3, 0, 1, 2, 3};
  quant::FloatReference ref = quant::float_reference(*m, eval);
  // Min/max calibration: the report does not depend on the method, and it is the quickest.
  const quant::QuantizeOptions mm = options(quant::CalibMethod::MinMax);
  quant::StabilityReport r = quant::stability_report(*m, calib, mm, eval, ref, 3, 3);
  EXPECT_EQ(r.subset_images, (std::vector<int64_t>{4, 4, 4}));
  ASSERT_EQ(r.evals.size(), 3u);
  EXPECT_GT(r.tensors.size(), 10u);
  for (const auto& s : r.tensors) {
    EXPECT_TRUE(std::isfinite(s.spread) && s.spread >= 0) << s.tensor;
    EXPECT_LE(s.min_scale, s.max_scale) << s.tensor;
  }
  EXPECT_GT(r.max_scale_spread, 0) << "different images should give different ranges";
  EXPECT_GE(r.accuracy_spread_points, 0);
  EXPECT_LE(r.accuracy_spread_points, 100);

  // Three subsets holding the same images (each class's images are copies,
  // dealt one to each subset) give identical models: zero spread.
  quant::LabeledImages same;
  same.images = Tensor::empty({12, 3, 32, 32});
  same.labels = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3};
  const int64_t per = 3 * 32 * 32;
  for (int i = 0; i < 12; ++i)
    std::memcpy(same.images.data<float>() + i * per, calib.images.data<float>() + (i / 3) * per,
                sizeof(float) * per);
  quant::StabilityReport z = quant::stability_report(*m, same, mm, eval, ref);
  EXPECT_EQ(z.max_scale_spread, 0);
  EXPECT_EQ(z.accuracy_spread_points, 0);
  EXPECT_EQ(z.agreement_spread_points, 0);
  EXPECT_THROW(quant::stability_report(*m, same, mm, eval, ref, 13), Error);
}

// Issue 20: one name per layer everywhere. Every int8 node (what the int8
// profile, the sensitivity report and --float-layers name) and every int8
// tensor (the per-tensor SQNR table) but the input is a layer `summary`
// prints for the same model: the folded stem is stem_conv, a block's fused
// conv2 + add + ReLU writes its add_relu layer's tensor.
TEST(Int8Names, EveryNodeAndTensorIsALayerSummaryPrints) {
  for (const char* name : {"resnet11", "resnet20", "resnet29"}) {
    ModelConfig c;
    c.name = name;
    c.image_size = 32;
    auto m = build_model(c);
    m->eval();
    std::set<std::string> layers;
    for (const LayerInfo& l : m->summary()) layers.insert(l.name);
    const quant::Int8Model q =
        quant::quantize_model(*m, {Tensor::uniform({2, 3, 32, 32}, 7, 0.0, 1.0)}, options());
    for (const auto& n : q.nodes) EXPECT_EQ(layers.count(n.name), 1u) << name << " node " << n.name;
    for (const auto& t : q.tensors) {
      if (t.name == "input") continue;
      EXPECT_EQ(layers.count(t.name), 1u) << name << " tensor " << t.name;
    }
    EXPECT_EQ(q.nodes.front().name, "stem_conv") << name;
  }
}

}  // namespace
}  // namespace ecg
