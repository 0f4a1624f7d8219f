// An imported ONNX graph through the int8 quantizer (quant/folded_graph.h):
// the ResNet-18 layout quantizes, runs on the int8 runner with logits close
// to float, and survives the int8 file round trip.
#include <gtest/gtest.h>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <fstream>

#include "core/autograd.h"
#include "models/onnx.h"
#include "quant/int8_model.h"
#include "quant/int8_runner.h"
#include "quant/onnx_qdq_export.h"
#include "quant/quantize.h"
#include "quant/quantizer.h"
#include "tests/models/scratch_dir_test.h"
#include "tests/onnx/onnx_graph_writer.h"

namespace ecg {
namespace {

class OnnxInt8 : public testing::ScratchDirTest {
 protected:
  OnnxInt8() : ScratchDirTest("onnx_int8") {}
};

double logits_sqnr(const Tensor& ref, const Tensor& got) {
  const Tensor a = ref.contiguous(), b = got.contiguous();
  return quant::sqnr_db(a.data<float>(), b.data<float>(), a.numel());
}

TEST_F(OnnxInt8, ImportedResNet18QuantizesAndRunsCloseToFloat) {
  testing::resnet18_graph(64).write(path("r18.onnx"));
  LoadedCheckpoint ck = import_onnx(path("r18.onnx"));
  quant::QuantizeOptions qo;
  qo.classes = ck.info["classes"].get<std::vector<std::string>>();
  qo.calib.method = quant::CalibMethod::MinMax;
  const std::vector<Tensor> calib = {Tensor::uniform({8, 3, 64, 64}, 11, -1.0, 1.0),
                                     Tensor::uniform({8, 3, 64, 64}, 12, -1.0, 1.0)};
  quant::Int8Model q = quant::quantize_model(*ck.model, calib, qo);
  EXPECT_EQ(q.model_name, "onnx:resnet18");
  EXPECT_EQ(q.image_size, 64);
  // stem, max pool, 16 block convolutions (residual adds fused), 3
  // projections, global pool, dense.
  ASSERT_EQ(q.nodes.size(), 1u + 1 + 16 + 3 + 1 + 1);
  EXPECT_EQ(q.nodes[1].kind, quant::NodeKind::MaxPool);
  EXPECT_EQ(q.nodes.back().kind, quant::NodeKind::Dense);

  const Tensor x = Tensor::uniform({4, 3, 64, 64}, 21, -1.0, 1.0);  // not calibration images
  Tensor ref;
  {
    NoGradGuard g;
    ref = (*ck.model)(x).contiguous();
  }
  quant::Int8Runner runner(q, int8::best_int8_kernel(), 4);
  const Tensor got = runner.run(x);
  EXPECT_GE(logits_sqnr(ref, got), 25.0);

  quant::save_int8_model(path("r18.int8"), q);
  quant::Int8Model back = quant::load_int8_model(path("r18.int8"));
  quant::Int8Runner again(back, int8::best_int8_kernel(), 4);
  const Tensor got2 = again.run(x).contiguous();
  const Tensor g1 = got.contiguous();
  for (int64_t i = 0; i < g1.numel(); ++i) ASSERT_EQ(g1.data<float>()[i], got2.data<float>()[i]);

  // The QDQ export passes the checker (export_onnx_qdq runs it) and holds
  // one QuantizeLinear per int8 tensor and per fused pre-add output.
  quant::export_onnx_qdq(q, path("r18_qdq.onnx"));
  EXPECT_NO_THROW(onnx::checker::check_model(path("r18_qdq.onnx")));
  onnx::ModelProto m;
  std::ifstream f(path("r18_qdq.onnx"), std::ios::binary);
  ASSERT_TRUE(m.ParseFromIstream(&f));
  int quantize = 0, weight_dq = 0;
  for (const auto& n : m.graph().node()) {
    quantize += n.op_type() == "QuantizeLinear";
    weight_dq +=
        n.op_type() == "DequantizeLinear" && n.name().find(".weight_") != std::string::npos;
  }
  EXPECT_EQ(quantize, static_cast<int>(q.tensors.size()) + 8);  // 8 residual convs
  EXPECT_EQ(weight_dq, 21);                                     // 20 convs and the dense layer
}

TEST_F(OnnxInt8, BatchNormAfterAnAddIsRefusedByName) {
  testing::OnnxGraphWriter g;
  g.input("x", {1, 3, 8, 8});
  g.initializer("w", Tensor::uniform({3, 3, 1, 1}, 1, -1, 1));
  auto* c = g.node("Conv", "conv", {"x", "w"}, {"c"});
  testing::OnnxGraphWriter::ints(c, "kernel_shape", {1, 1});
  g.node("Add", "add", {"c", "x"}, {"a"});
  for (const char* n : {"s", "b", "m", "v"}) g.initializer(n, Tensor::full({3}, 1.0));
  g.node("BatchNormalization", "bn", {"a", "s", "b", "m", "v"}, {"bn"});
  g.node("GlobalAveragePool", "gap", {"bn"}, {"p"});
  g.node("Flatten", "flat", {"p"}, {"f"});
  g.initializer("fw", Tensor::uniform({2, 3}, 2, -1, 1));
  auto* fc = g.node("Gemm", "fc", {"f", "fw"}, {"y"});
  testing::OnnxGraphWriter::int1(fc, "transB", 1);
  g.output("y", {1, 2});
  g.write(path("bn_after_add.onnx"));
  LoadedCheckpoint ck = import_onnx(path("bn_after_add.onnx"));
  quant::QuantizeOptions qo;
  qo.classes = {"a", "b"};
  EXPECT_NAMES(testing::load_error_of(
                   [&](const std::string&) {
                     quant::quantize_model(*ck.model, {Tensor::uniform({2, 3, 8, 8}, 3, 0, 1)}, qo);
                   },
                   "bn"),
               "node 'bn' (BatchNormalization)", "folds BatchNormalization");
}

}  // namespace
}  // namespace ecg
