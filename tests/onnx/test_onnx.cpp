// ONNX in and out (models/onnx.h): export -> onnx::checker -> re-import gives
// the original logits; a ResNet-18-shaped graph imports and matches a forward
// written here with the framework's ops; bad files are one line each.
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/autograd.h"
#include "models/checkpoint.h"
#include "models/onnx.h"
#include "tests/bad_file_checks.h"
#include "tests/models/scratch_dir_test.h"
#include "tests/onnx/onnx_graph_writer.h"

namespace ecg {
namespace {

using testing::OnnxGraphWriter;

class Onnx : public testing::ScratchDirTest {
 protected:
  Onnx() : ScratchDirTest("onnx") {}
};

// Random BN statistics and affine parameters, so that folding or skipping a
// BatchNorm anywhere would change the logits.
void randomize_batch_norms(Model& m, uint64_t seed) {
  for (auto& kv : m.named_buffers()) {
    const bool var = kv.first.find("running_var") != std::string::npos;
    *kv.second = Tensor::uniform(kv.second->shape(), seed++, var ? 0.5 : -0.3, var ? 1.5 : 0.3);
  }
  for (auto& kv : m.named_parameters())
    if (kv.first.find("bn") != std::string::npos)
      kv.second->copy_(Tensor::uniform(kv.second->shape(), seed++, 0.6, 1.4));
}

Tensor logits_of(Model& m, const Tensor& x) {
  NoGradGuard g;
  m.eval();
  return m(x).contiguous();
}

void expect_same_logits(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.shape(), b.shape());
  double largest = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    largest = std::max(largest, std::fabs(static_cast<double>(a.data<float>()[i])));
  for (int64_t i = 0; i < a.numel(); ++i)
    EXPECT_NEAR(a.data<float>()[i], b.data<float>()[i], 1e-6 * largest) << "logit " << i;
}

void export_reimport_matches(const std::string& name, int size, const std::string& path) {
  ModelConfig cfg;
  cfg.name = name;
  cfg.image_size = size;
  auto model = build_model(cfg);
  randomize_batch_norms(*model, 40);
  const nlohmann::json info = {{"classes", default_class_names(4)}};
  export_onnx(*model, info, path);
  EXPECT_NO_THROW(onnx::checker::check_model(path));
  LoadedCheckpoint back = import_onnx(path);
  EXPECT_EQ(back.model->config().name, name);
  EXPECT_EQ(back.model->config().image_size, size);
  EXPECT_EQ(back.info["classes"], info["classes"]);
  EXPECT_EQ(back.model->num_parameters(), model->num_parameters());
  const Tensor x = Tensor::uniform({2, 3, size, size}, 7, 0.0, 1.0);
  expect_same_logits(logits_of(*model, x), logits_of(*back.model, x));
}

TEST_F(Onnx, ExportedResNet11PassesTheCheckerAndReimportsWithItsLogits) {
  export_reimport_matches("resnet11", 40, path("r11.onnx"));
}

TEST_F(Onnx, ExportedResNet20WithOddSizeSamePaddingReimports) {
  // 37 px: every "same" stride-2 layer pads unevenly (the odd pixel bottom/right).
  export_reimport_matches("resnet20", 37, path("r20.onnx"));
}

TEST_F(Onnx, ExportedAlexNetReimports) {
  // ReLU before BatchNorm, BatchNorm1d on the dense layer, max pools, dropout.
  export_reimport_matches("alexnet", 215, path("alexnet.onnx"));
}

// ---- the ResNet-18 layout -------------------------------------------------------

// torchvision's forward written with the framework's ops, reading the weights
// from the imported model: an independent check of the importer's attributes.
Tensor resnet18_reference(const GraphModel& g, const Tensor& x) {
  NoGradGuard no_grad;
  auto w = [&](const std::string& n) { return *g.initializer(n); };
  auto conv_bn = [&](const std::string& name, const Tensor& in, int stride, int pad, bool relu) {
    Tensor y = conv2d(in, w(name + ".weight"), Tensor(),
                      Conv2dOptions::explicit_pad(stride, pad, pad, pad, pad));
    Tensor mean = w(name + ".bn.running_mean"), var = w(name + ".bn.running_var");
    BatchNormOptions o;
    o.eps = 1e-5;
    y = batch_norm(y, w(name + ".bn.weight"), w(name + ".bn.bias"), mean, var, false, o);
    return relu ? ecg::relu(y) : y;
  };
  Tensor h = conv_bn("conv1", x, 2, 3, true);
  Pool2dOptions p = Pool2dOptions::window(3, 2);
  p.padding = Padding::Explicit;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 1;
  h = max_pool2d(h, p);
  for (int stage = 1; stage <= 4; ++stage)
    for (int b = 0; b < 2; ++b) {
      const std::string name = "layer" + std::to_string(stage) + "." + std::to_string(b);
      const int stride = (stage > 1 && b == 0) ? 2 : 1;
      Tensor y =
          conv_bn(name + ".conv2", conv_bn(name + ".conv1", h, stride, 1, true), 1, 1, false);
      Tensor s = g.initializer(name + ".downsample.weight")
                     ? conv_bn(name + ".downsample", h, stride, 0, false)
                     : h;
      h = relu(add(y, s));
    }
  return linear(global_avg_pool(h), w("fc.weight"), w("fc.bias"));
}

TEST_F(Onnx, ResNet18LayoutImportsAt64Pixels) {
  testing::resnet18_graph(64).write(path("resnet18.onnx"));
  LoadedCheckpoint ck = import_onnx(path("resnet18.onnx"));
  auto* g = dynamic_cast<GraphModel*>(ck.model.get());
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->config().image_size, 64);
  EXPECT_EQ(ck.info["classes"].size(), 1000u);
  // torchvision's count for resnet18 (BN running statistics are buffers).
  EXPECT_EQ(g->num_parameters(), 11689512);
  std::vector<LayerInfo> rows = g->summary(1);
  double macs = 0;
  for (const auto& r : rows) macs += r.macs;
  // Counted by hand at 64 px: stem 9633792, layer1 37748736, layers 2-4
  // 33554432 each (with their 1x1 projections), classifier 512000. (At
  // 224 px the same sum gives torchvision's 1.814 GMAC.)
  EXPECT_EQ(macs, 148557824.0);
  const Tensor x = Tensor::uniform({2, 3, 64, 64}, 3, -1.0, 1.0);
  Tensor got = logits_of(*g, x);
  EXPECT_EQ(got.shape(), (Shape{2, 1000}));
  expect_same_logits(resnet18_reference(*g, x), got);
}

// ---- bad files ---------------------------------------------------------------------

std::string import_error(const std::string& path) {
  return testing::load_error_of([](const std::string& p) { import_onnx(p); }, path);
}

// A valid small classifier: Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm.
OnnxGraphWriter small_graph(int opset = 13, int height = 8) {
  OnnxGraphWriter g(opset);
  g.input("x", {-1, 3, height, 8}, "dim");
  g.initializer("w", Tensor::uniform({4, 3, 3, 3}, 1, -1, 1));
  auto* c = g.node("Conv", "conv", {"x", "w"}, {"c"});
  OnnxGraphWriter::ints(c, "kernel_shape", {3, 3});
  g.node("Relu", "relu", {"c"}, {"r"});
  g.node("GlobalAveragePool", "gap", {"r"}, {"p"});
  g.node("Flatten", "flat", {"p"}, {"f"});
  g.initializer("fw", Tensor::uniform({2, 4}, 2, -1, 1));
  g.initializer("fb", Tensor::uniform({2}, 3, -1, 1));
  auto* fc = g.node("Gemm", "fc", {"f", "fw", "fb"}, {"y"});
  OnnxGraphWriter::int1(fc, "transB", 1);
  g.output("y", {-1, 2});
  return g;
}

TEST_F(Onnx, SmallGraphImports) {
  small_graph().write(path("ok.onnx"));
  EXPECT_EQ(import_onnx(path("ok.onnx")).info["classes"].size(), 2u);
}

TEST_F(Onnx, TruncatedFileIsOneLine) {
  small_graph().write(path("ok.onnx"));
  const auto size = std::filesystem::file_size(path("ok.onnx"));
  std::filesystem::copy_file(path("ok.onnx"), path("cut.onnx"));
  std::filesystem::resize_file(path("cut.onnx"), size / 2);
  EXPECT_NAMES(import_error(path("cut.onnx")), "cut.onnx", "not an ONNX model");
  std::ofstream(path("text.onnx")) << "hello";
  EXPECT_NAMES(import_error(path("text.onnx")), "text.onnx", "not an ONNX model");
  EXPECT_NAMES(import_error(path("missing.onnx")), "missing.onnx", "cannot open");
}

TEST_F(Onnx, UnknownOperatorNamesNodeAndOperator) {
  OnnxGraphWriter g = small_graph();
  g.graph().mutable_node(1)->set_op_type("Sigmoid");
  g.write(path("sigmoid.onnx"));
  const std::string m = import_error(path("sigmoid.onnx"));
  EXPECT_NAMES(m, "sigmoid.onnx", "node 'relu' uses operator Sigmoid");
  g.graph().mutable_node(1)->set_op_type("NoSuchOp");
  g.write(path("nosuch.onnx"));
  EXPECT_NAMES(import_error(path("nosuch.onnx")), "nosuch.onnx", "operator NoSuchOp");
}

TEST_F(Onnx, RefusedAttributeNamesNodeAndAttribute) {
  OnnxGraphWriter g = small_graph();
  OnnxGraphWriter::ints(g.graph().mutable_node(0), "dilations", {2, 2});
  g.write(path("dilated.onnx"));
  EXPECT_NAMES(import_error(path("dilated.onnx")), "node 'conv' (Conv)", "dilations=2,2");
}

TEST_F(Onnx, DynamicHeightIsRefused) {
  small_graph(13, -1).write(path("dyn.onnx"));
  EXPECT_NAMES(import_error(path("dyn.onnx")), "dyn.onnx", "dynamic H dimension");
}

TEST_F(Onnx, WrongOpsetIsRefused) {
  small_graph(5).write(path("old.onnx"));
  EXPECT_NAMES(import_error(path("old.onnx")), "node 'relu' (Relu) at opset 5",
               "reads Relu from opset 6");
  small_graph(18).write(path("new.onnx"));
  EXPECT_NAMES(import_error(path("new.onnx")), "new.onnx", "opset 18 is not supported");
}

TEST_F(Onnx, CheckerFailureIsOneLine) {
  OnnxGraphWriter g = small_graph();
  g.graph().mutable_node(2)->set_input(0, "nowhere");  // a dangling input
  g.write(path("dangling.onnx"));
  EXPECT_NAMES(import_error(path("dangling.onnx")), "dangling.onnx", "ONNX checker");
}

TEST_F(Onnx, ExportRefusesALayerWithoutOnnxForm) {
  auto m = std::make_shared<Model>(ModelConfig{});
  m->add("act", std::make_shared<LeakyReLU>(0.1));
  EXPECT_NAMES(testing::load_error_of(
                   [&](const std::string& p) { export_onnx(*m, nlohmann::json::object(), p); },
                   path("leaky.onnx")),
               "'act'", "LeakyReLU");
}

}  // namespace
}  // namespace ecg
