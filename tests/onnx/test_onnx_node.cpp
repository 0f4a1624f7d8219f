// ONNX's own node tests (Debian's libonnx-testdata: a model.onnx and its
// inputs and expected outputs per case) for every operator GraphModel runs:
// one test per case, named OnnxNode.<case>, run through load_onnx_graph and
// GraphModel::run. An external oracle for the importer and the kernels under it.
//
// The cases listed in kRefused use what GraphModel refuses; for those the
// test checks that loading fails with one line (so a refusal that stopped
// working would show), instead of comparing outputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "models/onnx.h"

namespace ecg {
namespace {

namespace fs = std::filesystem;

// The directories of the supported operators' cases (name prefixes), and
// those prefixes that belong to other operators.
const std::vector<std::string> kPrefixes = {
    "test_conv_",    "test_basic_conv_", "test_batchnorm_",   "test_relu",
    "test_add",      "test_maxpool_",    "test_averagepool_", "test_globalaveragepool",
    "test_flatten_", "test_reshape_",    "test_gemm_",        "test_matmul_",
    "test_softmax_", "test_identity",    "test_dropout_",     "test_training_dropout"};
const std::vector<std::string> kOtherOps = {"test_softmax_cross_entropy", "test_reluN"};

// Cases that use what GraphModel refuses, and why.
const std::map<std::string, std::string> kRefused = {
    {"test_add_uint8", "uint8 tensors (float32 only)"},
    {"test_averagepool_1d_default", "1-D window (2-D only)"},
    {"test_averagepool_3d_default", "3-D window (2-D only)"},
    {"test_averagepool_2d_ceil", "ceil_mode=1"},
    {"test_maxpool_1d_default", "1-D window (2-D only)"},
    {"test_maxpool_3d_default", "3-D window (2-D only)"},
    {"test_maxpool_2d_ceil", "ceil_mode=1"},
    {"test_maxpool_2d_dilations", "dilations=2,2"},
    {"test_maxpool_2d_uint8", "uint8 tensors (float32 only)"},
    {"test_maxpool_with_argmax_2d_precomputed_pads", "the Indices output"},
    {"test_maxpool_with_argmax_2d_precomputed_strides", "the Indices output"},
    {"test_batchnorm_epsilon_training_mode", "training_mode=1"},
    {"test_batchnorm_example_training_mode", "training_mode=1"},
    {"test_dropout_default_mask", "the mask output"},
    {"test_dropout_default_mask_ratio", "the mask output"},
    {"test_training_dropout", "a training_mode input"},
    {"test_training_dropout_default", "a training_mode input"},
    {"test_training_dropout_default_mask", "a training_mode input"},
    {"test_training_dropout_mask", "a training_mode input"},
    {"test_training_dropout_zero_ratio", "a training_mode input"},
    {"test_training_dropout_zero_ratio_mask", "a training_mode input"},
    {"test_identity_opt", "optional-typed inputs (tensors only)"},
    {"test_identity_sequence", "sequence-typed inputs (tensors only)"},
};
// "_expanded" cases are the same tests with the operator replaced by its
// ONNX function body (ReduceMax, Exp, Div, ...): operators GraphModel does
// not run, refused the same way.

bool starts_with(const std::string& s, const std::string& p) {
  return s.rfind(p, 0) == 0;
}

bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::vector<std::string> sorted_files(const fs::path& dir, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (starts_with(e.path().filename().string(), prefix)) out.push_back(e.path().string());
  // input_10.pb after input_9.pb
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  return out;
}

void compare(const GraphValue& want, const GraphValue& got, const std::string& what) {
  ASSERT_EQ(want.is_int64, got.is_int64) << what;
  ASSERT_EQ(want.shape(), got.shape()) << what;
  if (want.is_int64) {
    EXPECT_EQ(want.i64, got.i64) << what;
    return;
  }
  const Tensor w = want.f.contiguous(), g = got.f.contiguous();
  int bad = 0;
  for (int64_t i = 0; i < w.numel() && bad < 5; ++i) {
    const float a = w.data<float>()[i], b = g.data<float>()[i];
    // ONNX's backend tests default to rtol 1e-3, atol 1e-7; ours is tighter in rtol.
    if (!(std::fabs(a - b) <= 1e-5f + 1e-4f * std::fabs(a))) {
      ADD_FAILURE() << what << "[" << i << "]: expected " << a << ", got " << b;
      ++bad;
    }
  }
}

void run_case(const fs::path& dir) {
  const std::string name = dir.filename().string();
  const std::string model = (dir / "model.onnx").string();
  auto refused = kRefused.find(name);
  if (refused != kRefused.end() || ends_with(name, "_expanded")) {
    std::string message;
    try {
      load_onnx_graph(model);
    } catch (const Error& e) {
      message = e.what();
    }
    EXPECT_FALSE(message.empty()) << name << " loads, but is listed as refused ("
                                  << (refused != kRefused.end() ? refused->second : "expanded")
                                  << ")";
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return;
  }
  std::shared_ptr<GraphModel> g = load_onnx_graph(model);
  const std::vector<std::string> sets = sorted_files(dir, "test_data_set_");
  ASSERT_FALSE(sets.empty()) << dir;
  for (const std::string& set : sets) {
    const std::vector<std::string> inputs = sorted_files(set, "input_");
    const std::vector<std::string> outputs = sorted_files(set, "output_");
    ASSERT_EQ(inputs.size(), g->spec().inputs.size()) << set;
    std::map<std::string, GraphValue> feeds;
    for (size_t i = 0; i < inputs.size(); ++i)
      feeds[g->spec().inputs[i].name] = read_onnx_tensor_file(inputs[i]);
    std::vector<GraphValue> got = g->run(feeds);
    ASSERT_EQ(got.size(), outputs.size()) << set;
    for (size_t i = 0; i < outputs.size(); ++i)
      compare(read_onnx_tensor_file(outputs[i]), got[i], outputs[i]);
  }
}

bool selected(const std::string& name) {
  for (const auto& p : kOtherOps)
    if (starts_with(name, p)) return false;
  for (const auto& p : kPrefixes)
    if (starts_with(name, p)) return true;
  return false;
}

}  // namespace
}  // namespace ecg

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const std::filesystem::path root = ECG_ONNX_NODE_TESTS;
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(root))
    if (e.is_directory() && ecg::selected(e.path().filename().string()))
      names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    const std::filesystem::path dir = root / n;
    ::testing::RegisterTest("OnnxNode", n.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                            [dir]() -> ::testing::Test* {
                              struct Case : ::testing::Test {
                                explicit Case(std::filesystem::path d) : dir(std::move(d)) {}
                                void TestBody() override { ecg::run_case(dir); }
                                std::filesystem::path dir;
                              };
                              return new Case(dir);
                            });
  }
  return RUN_ALL_TESTS();
}
