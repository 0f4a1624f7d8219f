// The INT8 graph: quantizer, model file round trip and bad files, arena plan,
// bit-exactness of every int8 kernel on the whole network, and agreement
// with the float model after a short training run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/autograd.h"
#include "quant/int8_runner.h"
#include "quant/quantizer.h"
#include "tests/quant/random_resnet.h"
#include "tests/train/quadrant_data.h"
#include "train/trainer.h"

namespace ecg {
namespace {

namespace fs = std::filesystem;

std::string tmp(const std::string& name) {
  return testing::quant_tmp("_", name);
}

using testing::random_resnet;

quant::Int8Model quantize(Model& m, int size = 32) {
  return testing::quantize_on_random(m, size);
}

// `ecgcnn eval --model` runs whole batches (issue 15): a runner planned for
// a batch of 5 gives, for a full batch and for a smaller last batch, the same
// logits bytes as one image at a time through a batch-1 runner.
TEST(Int8Model, BatchedRunMatchesOneAtATime) {
  auto m = random_resnet();
  quant::Int8Model q = quantize(*m);
  quant::Int8Runner batched(q, int8::best_int8_kernel(), 5);
  quant::Int8Runner single(q, int8::best_int8_kernel(), 1);
  for (int n : {5, 3}) {
    const Tensor x = Tensor::uniform({n, 3, 32, 32}, 40 + n, 0.0, 1.0);
    const std::vector<float> all = batched.run(x).to_vector_f32();
    const size_t C = all.size() / n;
    ASSERT_EQ(C, q.classes.size());
    for (int k = 0; k < n; ++k) {
      const std::vector<float> one = single.run(x.slice(0, k, k + 1).contiguous()).to_vector_f32();
      ASSERT_EQ(one.size(), C);
      EXPECT_EQ(std::memcmp(one.data(), all.data() + k * C, C * sizeof(float)), 0)
          << "batch " << n << ", image " << k;
    }
  }
}

TEST(Int8Model, FileRoundTripRunsIdentically) {
  auto m = random_resnet();
  quant::Int8Model q = quantize(*m);
  quant::save_int8_model(tmp("m.int8"), q);
  quant::Int8Model l = quant::load_int8_model(tmp("m.int8"));
  EXPECT_EQ(l.model_name, "resnet11");
  EXPECT_EQ(l.classes, q.classes);
  ASSERT_EQ(l.nodes.size(), q.nodes.size());
  // Scales are written with their shortest decimal form: the same floats back.
  ASSERT_EQ(l.tensors.size(), q.tensors.size());
  for (size_t t = 0; t < q.tensors.size(); ++t) {
    EXPECT_EQ(l.tensors[t].scale, q.tensors[t].scale) << q.tensors[t].name;
    EXPECT_EQ(l.tensors[t].zero_point, q.tensors[t].zero_point) << q.tensors[t].name;
  }
  for (size_t i = 0; i < q.nodes.size(); ++i)
    if (q.nodes[i].conv.residual) {
      EXPECT_EQ(l.nodes[i].pre_add_scale, q.nodes[i].pre_add_scale) << q.nodes[i].name;
      EXPECT_EQ(l.nodes[i].pre_add_zero_point, q.nodes[i].pre_add_zero_point);
    }
  // Version 3 stores scales and derives the integers: they must come back
  // exactly (requantization, residual add, pools, zero points, clamps, shapes).
  for (size_t i = 0; i < q.nodes.size(); ++i) {
    const quant::NodeQ &a = q.nodes[i], &b = l.nodes[i];
    EXPECT_EQ(b.weights, a.weights);
    EXPECT_EQ(b.weight_scale, a.weight_scale);
    EXPECT_EQ(b.conv.bias, a.conv.bias);
    ASSERT_EQ(b.conv.requant.size(), a.conv.requant.size()) << a.name;
    for (size_t k = 0; k < a.conv.requant.size(); ++k) {
      EXPECT_EQ(b.conv.requant[k].m0, a.conv.requant[k].m0) << a.name << " channel " << k;
      EXPECT_EQ(b.conv.requant[k].shift, a.conv.requant[k].shift) << a.name << " channel " << k;
    }
    EXPECT_EQ(0, std::memcmp(&b.conv.shape, &a.conv.shape, sizeof(Conv2dShape))) << a.name;
    EXPECT_EQ(std::vector<int32_t>({b.conv.zp_in, b.conv.zp_out, b.conv.qmin, b.conv.qmax,
                                    b.conv.residual, static_cast<int32_t>(b.conv.output)}),
              std::vector<int32_t>({a.conv.zp_in, a.conv.zp_out, a.conv.qmin, a.conv.qmax,
                                    a.conv.residual, static_cast<int32_t>(a.conv.output)}))
        << a.name;
    const int8::AddRequant &x = a.conv.add, &y = b.conv.add;
    if (a.conv.residual) {
      EXPECT_EQ(std::vector<int32_t>(
                    {y.zp_a, y.zp_b, y.mul_a, y.mul_b, y.shift, y.zp_out, y.qmin, y.qmax}),
                std::vector<int32_t>(
                    {x.zp_a, x.zp_b, x.mul_a, x.mul_b, x.shift, x.zp_out, x.qmin, x.qmax}))
          << a.name;
    }
    ASSERT_EQ(b.avg.requant_by_count.size(), a.avg.requant_by_count.size()) << a.name;
    for (size_t k = 0; k < a.avg.requant_by_count.size(); ++k)
      EXPECT_EQ(b.avg.requant_by_count[k].m0, a.avg.requant_by_count[k].m0) << a.name;
    EXPECT_EQ(0, std::memcmp(&b.avg.shape, &a.avg.shape, sizeof(Pool2dShape))) << a.name;
  }
  // Integers that the scales do not give cannot be written as version 3 (they
  // would change on load); version 2 keeps them.
  quant::Int8Model odd = q;
  odd.nodes[1].conv.requant[0].m0 += 1;
  EXPECT_THROW(quant::save_int8_model(tmp("odd.int8"), odd), Error);
  quant::save_int8_model(tmp("odd.int8"), odd, 2);
  EXPECT_EQ(quant::load_int8_model(tmp("odd.int8")).nodes[1].conv.requant[0].m0,
            odd.nodes[1].conv.requant[0].m0);
  std::remove(tmp("odd.int8").c_str());
  Tensor x = Tensor::uniform({2, 3, 32, 32}, 9, 0.0, 1.0);
  quant::Int8Runner a(q, int8::Int8Kernel::Ref, 2), b(l, int8::Int8Kernel::Ref, 2);
  EXPECT_EQ(a.run(x).to_vector_f32(), b.run(x).to_vector_f32());
  std::remove(tmp("m.int8").c_str());
}

// Layers left in float (quantize --float-layer) keep their float weights in
// the file, in both writable versions, and run as before after loading.
TEST(Int8Model, FloatFallbackNodesRoundTrip) {
  auto m = random_resnet();
  const quant::Int8Model q = quantize(*m);
  std::vector<std::string> names;
  for (const quant::NodeQ& n : q.nodes)
    if (n.kind == quant::NodeKind::Conv || n.kind == quant::NodeKind::Dense)
      names.push_back(n.name);
  ASSERT_GE(names.size(), 3u);
  // The stem, a middle convolution and the dense head.
  const quant::Int8Model qf =
      quant::with_float_nodes(q, {names.front(), names[names.size() / 2], names.back()});
  Tensor x = Tensor::uniform({2, 3, 32, 32}, 9, 0.0, 1.0);
  quant::Int8Runner ra(qf, int8::Int8Kernel::Ref, 2);
  const std::vector<float> expected = ra.run(x).to_vector_f32();
  for (int version : {2, 3}) {
    quant::save_int8_model(tmp("f.int8"), qf, version);
    const quant::Int8Model l = quant::load_int8_model(tmp("f.int8"));
    ASSERT_EQ(l.nodes.size(), qf.nodes.size());
    int floats = 0;
    for (size_t i = 0; i < qf.nodes.size(); ++i) {
      const quant::NodeQ &a = qf.nodes[i], &b = l.nodes[i];
      EXPECT_EQ(b.run_float, a.run_float) << a.name << " version " << version;
      if (!a.run_float) continue;
      ++floats;
      EXPECT_EQ(b.weights_f32, a.weights_f32) << a.name << " version " << version;
      EXPECT_EQ(b.bias_f32, a.bias_f32) << a.name << " version " << version;
    }
    EXPECT_EQ(floats, 3) << "version " << version;
    quant::Int8Runner rb(l, int8::Int8Kernel::Ref, 2);
    EXPECT_EQ(rb.run(x).to_vector_f32(), expected) << "version " << version;
  }
  std::remove(tmp("f.int8").c_str());
}

TEST(Int8Model, BadFilesAreClearErrors) {
  auto m = random_resnet();
  quant::save_int8_model(tmp("g.int8"), quantize(*m));
  std::ifstream in(tmp("g.int8"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto expect = [&](const std::string& content, const std::string& needle) {
    std::ofstream(tmp("b.int8"), std::ios::binary) << content;
    try {
      quant::load_int8_model(tmp("b.int8"));
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("b.int8"), std::string::npos) << e.what();
    }
  };
  expect(bytes.substr(0, bytes.size() - 1000), "truncated");
  expect(bytes.substr(0, 100), "truncated");
  expect("not a model at all", "not an ecgcnn int8 model");
  std::string v = bytes;
  v[8] = 9;
  expect(v, "version");
  // Version 3 derives sizes from the tensors: a kernel geometry that does not
  // map the input tensor to the output tensor is refused (same header length).
  std::string g = bytes;
  const size_t at = g.find("\"shape\":[16,3,3,1,1,1,1,1,1]");
  ASSERT_NE(at, std::string::npos);
  g[at + std::string("\"shape\":[16,3,3,").size()] = '2';  // stride 2: 16x16 out, not 32x32
  expect(g, "does not map");
  EXPECT_THROW(quant::load_int8_model(tmp("missing.int8")), Error);
  std::remove(tmp("g.int8").c_str());
  std::remove(tmp("b.int8").c_str());
}

TEST(Int8Model, ArenaPlanNeverOverlapsLiveTensors) {
  auto m = random_resnet();
  quant::Int8Model q = quantize(*m);
  quant::ArenaPlan p = quant::plan_arena(q, 1);
  EXPECT_LT(p.bytes, p.naive_bytes);
  const int nt = static_cast<int>(q.tensors.size());
  std::vector<int> first(nt, -1), last(nt, -1);
  for (int i = 0; i < static_cast<int>(q.nodes.size()); ++i) {
    if (q.nodes[i].output >= 0) first[q.nodes[i].output] = i;
    for (int t : q.nodes[i].inputs) last[t] = std::max(last[t], i);
  }
  for (int a = 0; a < nt; ++a)
    for (int b = a + 1; b < nt; ++b) {
      bool live_together =
          first[a] <= std::max(last[b], first[b]) && first[b] <= std::max(last[a], first[a]);
      bool overlap = p.offset[a] < p.offset[b] + q.tensors[b].bytes() &&
                     p.offset[b] < p.offset[a] + q.tensors[a].bytes();
      EXPECT_FALSE(live_together && overlap) << q.tensors[a].name << " / " << q.tensors[b].name;
    }
}

TEST(Int8Model, EveryKernelIsBitExactWithTheReferenceOnTheWholeNetwork) {
  auto m = random_resnet(40);  // 40 px: odd spatial sizes after the stride-2 stages (20, 10)
  quant::Int8Model q = quantize(*m, 40);
  Tensor x = Tensor::uniform({2, 3, 40, 40}, 11, 0.0, 1.0);
  quant::Int8Runner ref(q, int8::Int8Kernel::Ref, 2, false);
  Tensor lr = ref.run(x);
  int tested = 0;
  for (auto k : {int8::Int8Kernel::Generic, int8::Int8Kernel::Avx2, int8::Int8Kernel::AvxVnni,
                 int8::Int8Kernel::Avx512Vnni, int8::Int8Kernel::Neon, int8::Int8Kernel::NeonDot}) {
    if (!int8::int8_kernel_supported(k)) continue;
    ++tested;
    quant::Int8Runner r(q, k, 2, false);
    Tensor l = r.run(x);
    for (size_t t = 0; t < q.tensors.size(); ++t)
      EXPECT_EQ(r.tensor_bytes(static_cast<int>(t), 2), ref.tensor_bytes(static_cast<int>(t), 2))
          << int8::int8_kernel_name(k) << " differs at tensor " << q.tensors[t].name;
    EXPECT_EQ(l.to_vector_f32(), lr.to_vector_f32()) << int8::int8_kernel_name(k);
  }
  std::printf("bit-exact against the reference: %d kernels on this CPU\n", tested);
}

TEST(Int8Model, AgreesWithTheFloatModelAfterTraining) {
  // The quadrant task of the trainer tests, at 32 px.
  const int n = 64, S = 32;
  TensorBatchSource data = testing::quadrant_data(n, 21, S);
  // Every sample in one batch, for the float/int8 comparison.
  Batch every;
  testing::quadrant_data(n, 21, S, n).batch(0, every);
  const Tensor x = every.images;
  ModelConfig c;
  c.image_size = S;
  auto m = build_model(c);
  TrainOptions o;
  o.out_dir = tmp("agree");
  o.epochs = 3;
  o.progress = false;
  o.schedule = "constant";
  train(*m, data, nullptr, o, false);
  m->eval();
  quant::Int8Model q = quantize(*m, S);
  quant::Int8Runner r(q, int8::best_int8_kernel(), n);
  Tensor lq = r.run(x), lf;
  {
    NoGradGuard g;
    lf = (*m)(x);
  }
  int agree = 0;
  for (int i = 0; i < n; ++i) {
    int a = 0, b = 0;
    for (int k = 1; k < 4; ++k) {
      if (lq.at({i, k}) > lq.at({i, a})) a = k;
      if (lf.at({i, k}) > lf.at({i, b})) b = k;
    }
    agree += a == b;
  }
  EXPECT_GE(agree, n * 99 / 100) << agree << " of " << n << " top-1 agree";
  fs::remove_all(tmp("agree"));
}

}  // namespace
}  // namespace ecg
